//! Top-k: keep the k most likely candidates (k <= 0 disables).

use super::candidates::Candidates;
use super::Stage;

#[derive(Clone, Debug)]
pub struct TopK {
    pub k: i32,
}

impl TopK {
    pub fn new(k: i32) -> Self {
        Self { k }
    }
}

impl Stage for TopK {
    fn name(&self) -> &'static str {
        "top-k"
    }

    /// Uses partial selection, never a full sort of the vocabulary. Unlike
    /// llama.cpp, `k <= 0` leaves the list untouched (llama.cpp sorts it; the
    /// kept set is the same).
    fn apply(&mut self, c: &mut Candidates) {
        if self.k > 0 {
            c.top_k(self.k as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::tests::{assert_probs, run_stage};

    #[test]
    fn llama_cpp_cases() {
        let base = [0.1, 0.2, 0.3, 0.4];
        let cases: &[(i32, &[f32])] = &[
            (1, &[0.4]),
            (3, &[0.4, 0.3, 0.2]),
            (4, &[0.4, 0.3, 0.2, 0.1]),
            (0, &[0.4, 0.3, 0.2, 0.1]),
            (10, &[0.4, 0.3, 0.2, 0.1]),
        ];
        for &(k, exp) in cases {
            assert_probs(&run_stage(&mut TopK::new(k), &base), exp);
        }
    }

    #[test]
    fn large_vocab_matches_sort() {
        let logits: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 5003) as f32 * 0.01)
            .collect();
        for k in [1usize, 5, 40, 300, 700, 4999] {
            let mut c = Candidates::from_logits(&logits);
            c.top_k(k);
            let mut all = logits.clone();
            all.sort_by(|a, b| b.total_cmp(a));
            let got: Vec<f32> = c.data.iter().map(|t| t.logit).collect();
            assert_eq!(got, all[..k].to_vec());
            assert!(c.sorted);
        }
    }

    #[test]
    fn ties_and_neg_inf() {
        let mut c = Candidates::from_logits(&[f32::NEG_INFINITY; 10]);
        c.top_k(3);
        assert_eq!(c.len(), 3);
        let mut c = Candidates::from_logits(&[1.0; 100]);
        c.top_k(5);
        assert_eq!(c.len(), 5);
    }
}
