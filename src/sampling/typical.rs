//! Locally typical sampling (p): keep the candidates whose surprise is closest
//! to the entropy until their mass exceeds p.

use super::candidates::{mass_prefix_select, Candidates, TokenData};
use super::Stage;

#[derive(Clone, Copy, Debug)]
struct Scored {
    neg_score: f32,
    p: f32,
    idx: u32,
}

#[derive(Clone, Debug)]
pub struct Typical {
    pub p: f32,
    pub min_keep: usize,
    scored: Vec<Scored>,
    out: Vec<TokenData>,
}

impl Typical {
    pub fn new(p: f32, min_keep: usize) -> Self {
        Self {
            p,
            min_keep,
            scored: Vec::new(),
            out: Vec::new(),
        }
    }
}

impl Stage for Typical {
    fn name(&self) -> &'static str {
        "typical"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if self.p >= 1.0 || c.is_empty() {
            return;
        }
        c.ensure_probs();
        // p = 0 terms contribute 0 to the entropy (llama.cpp would get NaN).
        let entropy: f32 = c
            .data
            .iter()
            .filter(|t| t.p > 0.0)
            .map(|t| -t.p * t.p.ln())
            .sum();
        self.scored.clear();
        self.scored
            .extend(c.data.iter().enumerate().map(|(i, t)| Scored {
                neg_score: -(-t.p.ln() - entropy).abs(),
                p: t.p,
                idx: i as u32,
            }));
        let n = self.scored.len();
        let m_p = mass_prefix_select(
            &mut self.scored,
            |s| s.neg_score,
            |s| s.p,
            self.p as f64,
            true,
        );
        let m = m_p.max(self.min_keep.max(1)).min(n);
        if m > m_p {
            self.scored[m_p..]
                .select_nth_unstable_by(m - m_p - 1, |a, b| b.neg_score.total_cmp(&a.neg_score));
        }
        // Kept set ordered by typicality like llama.cpp.
        self.scored[..m].sort_unstable_by(|a, b| b.neg_score.total_cmp(&a.neg_score));
        self.out.clear();
        self.out
            .extend(self.scored[..m].iter().map(|s| c.data[s.idx as usize]));
        std::mem::swap(&mut c.data, &mut self.out);
        c.sorted = false;
        c.mark_truncated();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::tests::{assert_probs, run_stage};

    #[test]
    fn llama_cpp_cases() {
        assert_probs(
            &run_stage(&mut Typical::new(0.5, 1), &[0.97, 0.01, 0.01, 0.01]),
            &[0.97],
        );
        assert_probs(
            &run_stage(&mut Typical::new(0.5, 1), &[0.4, 0.2, 0.2, 0.2]),
            &[0.2, 0.2, 0.2],
        );
        assert_probs(
            &run_stage(&mut Typical::new(1.0, 1), &[0.4, 0.2, 0.2, 0.2]),
            &[0.4, 0.2, 0.2, 0.2],
        );
    }

    #[test]
    fn edge_cases() {
        assert_probs(&run_stage(&mut Typical::new(0.5, 1), &[1.0]), &[1.0]);
        // p = 0: one (the most typical) candidate survives
        let c = run_stage(&mut Typical::new(0.0, 1), &[0.4, 0.2, 0.2, 0.2]);
        assert_eq!(c.len(), 1);
        // all equal: every candidate is equally typical
        assert_eq!(run_stage(&mut Typical::new(0.6, 1), &[0.25; 4]).len(), 3);
        // -inf candidates are maximally atypical and not NaN-poisoning
        let mut c = Candidates::from_logits(&[0.0, 0.0, f32::NEG_INFINITY]);
        Typical::new(0.9, 1).apply(&mut c);
        assert_eq!(c.len(), 2);
    }
}
