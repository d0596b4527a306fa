//! Tail-free sampling (z): cut where the normalised |second derivative| of the
//! sorted probability curve accumulates past z. Same indexing as llama.cpp.

use super::candidates::Candidates;
use super::Stage;

#[derive(Clone, Debug)]
pub struct TailFree {
    pub z: f32,
    pub min_keep: usize,
    d2: Vec<f32>,
}

impl TailFree {
    pub fn new(z: f32, min_keep: usize) -> Self {
        Self {
            z,
            min_keep,
            d2: Vec::new(),
        }
    }
}

impl Stage for TailFree {
    fn name(&self) -> &'static str {
        "tail-free"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if self.z >= 1.0 || c.len() <= 2 {
            return;
        }
        // Needs the sorted curve; after top-k this is a no-op, with top-k
        // disabled it sorts once and the flag keeps later stages cheap.
        c.sort();
        c.ensure_probs();
        let n = c.len();
        self.d2.clear();
        self.d2.extend((0..n - 2).map(|i| {
            let d1a = c.data[i].p - c.data[i + 1].p;
            let d1b = c.data[i + 1].p - c.data[i + 2].p;
            (d1a - d1b).abs()
        }));
        let sum: f32 = self.d2.iter().sum();
        if sum > 1e-6 {
            for v in &mut self.d2 {
                *v /= sum;
            }
        } else {
            let u = 1.0 / self.d2.len() as f32;
            self.d2.iter_mut().for_each(|v| *v = u);
        }
        let mut cum = 0.0f32;
        let mut last = n;
        for (i, v) in self.d2.iter().enumerate() {
            cum += v;
            if cum > self.z && i >= self.min_keep {
                last = i;
                break;
            }
        }
        // At least one candidate always survives (a peaked curve can pass z at i = 0).
        c.truncate(last.max(self.min_keep).max(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::tests::{assert_probs, run_stage};

    #[test]
    fn llama_cpp_cases() {
        let base = [0.1, 0.15, 0.2, 0.25, 0.3];
        let cases: &[(f32, &[f32])] = &[
            (0.25, &[0.3]),
            (0.75, &[0.3, 0.25]),
            (0.99, &[0.3, 0.25]),
            (1.0, &[0.3, 0.25, 0.2, 0.15, 0.1]),
        ];
        for &(z, exp) in cases {
            assert_probs(&run_stage(&mut TailFree::new(z, 1), &base), exp);
        }
    }

    #[test]
    fn a_peaked_curve_keeps_one_candidate() {
        let mut base = vec![0.97f32];
        base.extend(std::iter::repeat(0.0005).take(60));
        let out = run_stage(&mut TailFree::new(0.5, 0), &base);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn small_lists_untouched() {
        assert_probs(&run_stage(&mut TailFree::new(0.1, 1), &[1.0]), &[1.0]);
        assert_probs(
            &run_stage(&mut TailFree::new(0.1, 1), &[0.6, 0.4]),
            &[0.6, 0.4],
        );
    }

    #[test]
    fn sharp_knee() {
        // big drop after the 2nd token: |d2| = .41, .40, 0, 0 -> normalised
        // .506, .494; llama.cpp keeps `i` tokens where the cumsum passes z
        // (i >= min_keep), so z = 0.5 keeps 1 and z = 0.9999 keeps 2.
        let base = [0.45, 0.45, 0.04, 0.03, 0.02, 0.01];
        assert_probs(&run_stage(&mut TailFree::new(0.5, 1), &base), &[0.45]);
        let all4 = [0.45, 0.45, 0.04, 0.03];
        assert_probs(&run_stage(&mut TailFree::new(0.9999, 2), &base), &all4[..2]);
    }
}
