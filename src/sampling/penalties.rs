//! Repetition / frequency / presence penalties over the last N accepted tokens.

use std::collections::{HashMap, VecDeque};

use super::candidates::{Candidates, TokenId};
use super::{SamplerState, Stage};

#[derive(Clone, Debug)]
pub struct Penalties {
    last_n: usize,
    repeat: f32,
    freq: f32,
    present: f32,
    penalize_nl: bool,
    newline: Option<TokenId>,
    window: VecDeque<TokenId>,
    counts: HashMap<TokenId, u32>,
    missing: Vec<TokenId>,
}

impl Penalties {
    /// `last_n` is the already-resolved window size (0 disables).
    pub fn new(
        last_n: usize,
        repeat: f32,
        freq: f32,
        present: f32,
        penalize_nl: bool,
        newline: Option<TokenId>,
    ) -> Self {
        Self {
            last_n,
            repeat,
            freq,
            present,
            // no newline token known: nothing to restore
            penalize_nl: penalize_nl || newline.is_none(),
            newline,
            window: VecDeque::with_capacity(last_n.min(1 << 16)),
            counts: HashMap::new(),
            missing: Vec::new(),
        }
    }

    pub fn window(&self) -> impl Iterator<Item = TokenId> + '_ {
        self.window.iter().copied()
    }

    fn penalize(&self, logit: &mut f32, count: u32) {
        if *logit <= 0.0 {
            *logit *= self.repeat;
        } else {
            *logit /= self.repeat;
        }
        *logit -= count as f32 * self.freq + if count > 0 { self.present } else { 0.0 };
    }
}

impl Stage for Penalties {
    fn name(&self) -> &'static str {
        "penalties"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if self.last_n == 0
            || self.counts.is_empty()
            || (self.repeat == 1.0 && self.freq == 0.0 && self.present == 0.0)
        {
            return;
        }
        let find = |c: &Candidates, tok: TokenId| -> Option<usize> {
            let i = tok as usize;
            if i < c.data.len() && c.data[i].id == tok {
                Some(i)
            } else {
                c.data.iter().position(|t| t.id == tok)
            }
        };
        let saved_nl = if self.penalize_nl {
            None
        } else {
            self.newline
                .and_then(|nl| find(c, nl))
                .map(|i| (i, c.data[i].logit))
        };

        self.missing.clear();
        for (&tok, &count) in &self.counts {
            let i = tok as usize;
            if i < c.data.len() && c.data[i].id == tok {
                let mut l = c.data[i].logit;
                self.penalize(&mut l, count);
                c.data[i].logit = l;
            } else {
                self.missing.push(tok);
            }
        }
        if !self.missing.is_empty() {
            // Candidates were reordered: one pass with map lookups.
            for idx in 0..c.data.len() {
                let id = c.data[idx].id;
                if let Some(&count) = self.counts.get(&id) {
                    if self.missing.contains(&id) {
                        let mut l = c.data[idx].logit;
                        self.penalize(&mut l, count);
                        c.data[idx].logit = l;
                    }
                }
            }
        }
        if let Some((i, l)) = saved_nl {
            c.data[i].logit = l;
        }
        c.logits_changed();
    }

    fn accept(&mut self, token: TokenId) {
        if self.last_n == 0 {
            return;
        }
        self.window.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
        while self.window.len() > self.last_n {
            let old = self.window.pop_front().unwrap();
            if let Some(n) = self.counts.get_mut(&old) {
                *n -= 1;
                if *n == 0 {
                    self.counts.remove(&old);
                }
            }
        }
    }

    fn reset(&mut self) {
        self.window.clear();
        self.counts.clear();
    }

    fn save_state(&self, st: &mut SamplerState) {
        st.recent_tokens = self.window.iter().copied().collect();
    }

    fn load_state(&mut self, st: &SamplerState) {
        self.reset();
        for &t in &st.recent_tokens {
            self.accept(t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp test-sampling.cpp `test_penalties` cases: probabilities of
    /// tokens 0..5 after penalising, softmax, sorted descending.
    #[test]
    fn llama_cpp_cases() {
        let cases: &[(&[u32], &[f32], f32, f32, f32)] = &[
            (&[0], &[0.25, 0.25, 0.25, 0.25, 0.0], 50.0, 0.0, 0.0),
            (&[0, 1, 2], &[0.5, 0.5, 0.0, 0.0, 0.0], 50.0, 0.0, 0.0),
            (&[0, 1, 2, 0, 0], &[0.5, 0.5, 0.0, 0.0, 0.0], 50.0, 0.0, 0.0),
            (
                &[0],
                &[0.249997, 0.249997, 0.249997, 0.249997, 0.000011],
                1.0,
                5.0,
                5.0,
            ),
            (
                &[0, 1, 2],
                &[0.499966, 0.499966, 0.000023, 0.000023, 0.000023],
                1.0,
                5.0,
                5.0,
            ),
            (
                &[0, 1, 2, 0, 0],
                &[0.499977, 0.499977, 0.000023, 0.000023, 0.000000],
                1.0,
                5.0,
                5.0,
            ),
        ];
        for &(last, expected, rep, freq, pres) in cases {
            let mut c = Candidates::from_probs(&[0.2; 5]);
            let mut s = Penalties::new(last.len(), rep, freq, pres, true, None);
            for &t in last {
                s.accept(t);
            }
            s.apply(&mut c);
            c.sort();
            c.softmax();
            for (t, e) in c.data.iter().zip(expected) {
                assert!(
                    (t.p - e).abs() < 1e-3,
                    "{last:?}: {:?} vs {expected:?}",
                    c.data
                );
            }
        }
    }

    #[test]
    fn newline_restored_unless_penalize_nl() {
        for (penalize_nl, expect_changed) in [(false, false), (true, true)] {
            let mut c = Candidates::from_logits(&[1.0, 2.0, 3.0]);
            let mut s = Penalties::new(64, 2.0, 0.0, 0.0, penalize_nl, Some(1));
            s.accept(1);
            s.accept(2);
            s.apply(&mut c);
            assert_eq!(c.data[1].logit != 2.0, expect_changed);
            assert_eq!(c.data[2].logit, 1.5);
            assert_eq!(c.data[0].logit, 1.0);
        }
    }

    #[test]
    fn negative_logits_multiplied_and_window_slides() {
        let mut s = Penalties::new(2, 2.0, 0.0, 0.0, true, None);
        s.accept(0);
        s.accept(1);
        s.accept(2); // token 0 leaves the window
        let mut c = Candidates::from_logits(&[-1.0, -1.0, 4.0]);
        s.apply(&mut c);
        assert_eq!(c.data[0].logit, -1.0);
        assert_eq!(c.data[1].logit, -2.0);
        assert_eq!(c.data[2].logit, 2.0);
        assert_eq!(s.window().collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn works_on_reordered_candidates() {
        let mut s = Penalties::new(8, 1.0, 1.0, 0.5, true, None);
        s.accept(0);
        s.accept(0);
        let mut c = Candidates::from_logits(&[3.0, 2.0, 1.0]);
        c.data.reverse();
        s.apply(&mut c);
        let t0 = c.data.iter().find(|t| t.id == 0).unwrap();
        assert_eq!(t0.logit, 3.0 - 2.0 - 0.5);
    }
}
