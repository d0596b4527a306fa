//! Min-p: keep candidates whose probability is at least p times the
//! probability of the most likely one (at least `min_keep`).

use super::candidates::Candidates;
use super::Stage;

#[derive(Clone, Debug)]
pub struct MinP {
    pub p: f32,
    pub min_keep: usize,
}

impl MinP {
    pub fn new(p: f32, min_keep: usize) -> Self {
        Self { p, min_keep }
    }
}

impl Stage for MinP {
    fn name(&self) -> &'static str {
        "min-p"
    }

    /// Works on logits (p_i >= p * p_max  <=>  l_i >= l_max + ln p), so it
    /// needs neither a softmax nor a sort.
    fn apply(&mut self, c: &mut Candidates) {
        if self.p <= 0.0 || c.is_empty() {
            return;
        }
        let min_keep = self.min_keep.max(1);
        let min_logit = c.max_logit() + self.p.ln();
        if !c.sorted {
            // The max always passes, so with min_keep 1 no counting pass.
            let count = if min_keep <= 1 {
                min_keep
            } else {
                c.data.iter().filter(|t| t.logit >= min_logit).count()
            };
            if count >= min_keep {
                c.retain(|t| t.logit >= min_logit);
                return;
            }
            c.top_k(min_keep);
            return;
        }
        let mut i = 1;
        while i < c.len() {
            if c.data[i].logit < min_logit && i >= min_keep {
                break;
            }
            i += 1;
        }
        c.truncate(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::tests::{assert_probs, run_stage, run_stage_sorted};

    #[test]
    fn llama_cpp_cases() {
        let base = [0.1, 0.2, 0.3, 0.4];
        let all: &[f32] = &[0.4, 0.3, 0.2, 0.1];
        let three: &[f32] = &[0.4, 0.3, 0.2];
        let two: &[f32] = &[0.4, 0.3];
        let one: &[f32] = &[0.4];
        let cases: &[(f32, &[f32])] = &[
            (0.0, all),
            (0.24, all),
            (0.26, three),
            (0.49, three),
            (0.51, two),
            (0.74, two),
            (0.76, one),
            (1.0, one),
        ];
        for &(p, exp) in cases {
            assert_probs(&run_stage(&mut MinP::new(p, 1), &base), exp);
            assert_probs(&run_stage_sorted(&mut MinP::new(p, 1), &base), exp);
        }
    }

    #[test]
    fn min_keep_and_edge_cases() {
        let base = [0.1, 0.2, 0.3, 0.4];
        assert_probs(&run_stage(&mut MinP::new(1.0, 2), &base), &[0.4, 0.3]);
        assert_probs(
            &run_stage_sorted(&mut MinP::new(1.0, 2), &base),
            &[0.4, 0.3],
        );
        assert_probs(&run_stage(&mut MinP::new(0.5, 1), &[1.0]), &[1.0]);
        // all equal: everything survives
        assert_probs(&run_stage(&mut MinP::new(0.9, 1), &[0.25; 4]), &[0.25; 4]);
        // -inf never survives unless min_keep forces it
        let mut c = Candidates::from_logits(&[0.0, f32::NEG_INFINITY]);
        MinP::new(0.01, 1).apply(&mut c);
        assert_eq!(c.len(), 1);
    }
}
