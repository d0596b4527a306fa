//! Final pick: draw from the candidate distribution with a seeded RNG.

use super::candidates::{Candidates, TokenData};
use super::rng::{resolve_seed, Rng};
use super::{SamplerState, Stage};

/// Draw an index proportionally to `p` (must be valid). Consumes exactly one
/// RNG value. Returns `None` for an empty list.
pub(crate) fn sample_index(data: &[TokenData], rng: &mut Rng) -> Option<usize> {
    if data.is_empty() {
        return None;
    }
    let u = rng.next_f64();
    let total: f64 = data.iter().map(|t| t.p as f64).sum();
    let target = u * total;
    let mut cum = 0.0f64;
    let mut last_nonzero = 0;
    for (i, t) in data.iter().enumerate() {
        if t.p > 0.0 {
            cum += t.p as f64;
            last_nonzero = i;
            if cum > target {
                return Some(i);
            }
        }
    }
    Some(last_nonzero)
}

#[derive(Clone, Debug)]
pub struct Dist {
    seed: i64,
    seed_cur: u64,
    rng: Rng,
}

impl Dist {
    /// `seed < 0` draws a random seed.
    pub fn new(seed: i64) -> Self {
        let seed_cur = resolve_seed(seed);
        Self {
            seed,
            seed_cur,
            rng: Rng::seed_from_u64(seed_cur),
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed_cur
    }
}

impl Stage for Dist {
    fn name(&self) -> &'static str {
        "dist"
    }

    fn apply(&mut self, c: &mut Candidates) {
        c.ensure_probs();
        c.selected = sample_index(&c.data, &mut self.rng);
    }

    fn reset(&mut self) {
        self.seed_cur = resolve_seed(self.seed);
        self.rng = Rng::seed_from_u64(self.seed_cur);
    }

    fn save_state(&self, st: &mut SamplerState) {
        st.rng = Some(self.rng.state());
        st.seed = Some(self.seed_cur);
    }

    fn load_state(&mut self, st: &SamplerState) {
        if let Some(r) = st.rng {
            self.rng = Rng::from_state(r);
        }
        if let Some(s) = st.seed {
            self.seed_cur = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_certain() {
        let mut d = Dist::new(1);
        let mut c = Candidates::from_logits(&[0.3]);
        d.apply(&mut c);
        assert_eq!(c.selected_token(), Some(0));
        let mut c = Candidates::from_logits(&[f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY]);
        for _ in 0..100 {
            d.apply(&mut c);
            assert_eq!(c.selected_token(), Some(1));
        }
        let mut c = Candidates::from_logits(&[]);
        d.apply(&mut c);
        assert_eq!(c.selected, None);
    }

    #[test]
    fn reset_replays_sequence() {
        let mut d = Dist::new(99);
        let mut c = Candidates::from_probs(&[0.25; 4]);
        let mut a = vec![];
        for _ in 0..20 {
            d.apply(&mut c);
            a.push(c.selected_token().unwrap());
        }
        d.reset();
        let mut b = vec![];
        for _ in 0..20 {
            d.apply(&mut c);
            b.push(c.selected_token().unwrap());
        }
        assert_eq!(a, b);
        assert!(a.iter().any(|&t| t != a[0]));
    }
}
