//! Top-p (nucleus): keep the smallest set of most likely candidates whose
//! cumulative probability reaches p (at least `min_keep`).

use super::candidates::{desc, mass_prefix_select, Candidates, TokenData};
use super::Stage;

/// Histogram buckets over the logit range (below the max) for the unsorted path.
const NB: usize = 4096;
/// Buckets per unit of logit; logits more than NB / SCALE = 32 below the max
/// (p < 1.3e-14 each) share the last bucket.
const SCALE: f32 = 128.0;

#[derive(Clone, Debug)]
pub struct TopP {
    pub p: f32,
    pub min_keep: usize,
    mass: Vec<f64>,
    count: Vec<u32>,
    boundary: Vec<TokenData>,
}

impl TopP {
    pub fn new(p: f32, min_keep: usize) -> Self {
        Self {
            p,
            min_keep,
            mass: vec![0.0; NB],
            count: vec![0; NB],
            boundary: Vec::new(),
        }
    }

    /// Unsorted list: bucket the probability mass by logit distance from the
    /// max, find the bucket where the cumulative mass reaches p, keep every
    /// candidate above it and sort only that boundary bucket. O(n), no sort
    /// of the vocabulary. Returns false when it cannot decide (caller falls
    /// back to the weighted quickselect).
    fn apply_histogram(&mut self, c: &mut Candidates, target: f64, min_keep: usize) -> bool {
        let max = c.max_logit();
        if !max.is_finite() {
            return false;
        }
        let inv_w = SCALE;
        let bucket = |l: f32| (((max - l) * inv_w) as usize).min(NB - 1);
        self.mass.iter_mut().for_each(|m| *m = 0.0);
        self.count.iter_mut().for_each(|m| *m = 0);
        // The softmax loop vectorises; the histogram pass cannot (scatter).
        if !c.probs_valid_raw() {
            c.softmax();
        }
        let mut total = 0.0f64;
        for t in &c.data {
            let b = bucket(t.logit);
            self.mass[b] += t.p as f64;
            self.count[b] += 1;
            total += t.p as f64;
        }
        let target = target * total;
        let mut cum = 0.0f64;
        let mut before = 0usize;
        let mut boundary = None;
        for b in 0..NB {
            if cum + self.mass[b] >= target {
                boundary = Some(b);
                break;
            }
            cum += self.mass[b];
            before += self.count[b] as usize;
        }
        let Some(bb) = boundary else {
            return true; // never reaches p (rounding): keep everything
        };
        if before + 1 < min_keep {
            return false;
        }
        self.boundary.clear();
        let mut w = 0;
        for r in 0..c.data.len() {
            let t = c.data[r];
            let b = bucket(t.logit);
            if b < bb {
                c.data[w] = t;
                w += 1;
            } else if b == bb {
                self.boundary.push(t);
            }
        }
        self.boundary.sort_unstable_by(desc);
        let mut take = self.boundary.len();
        for (i, t) in self.boundary.iter().enumerate() {
            cum += t.p as f64;
            if cum >= target {
                take = i + 1;
                break;
            }
        }
        c.data.truncate(w);
        c.data.extend_from_slice(&self.boundary[..take]);
        c.sorted = false;
        c.mark_truncated();
        true
    }
}

impl Stage for TopP {
    fn name(&self) -> &'static str {
        "top-p"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if self.p >= 1.0 || c.is_empty() {
            return;
        }
        let n = c.len();
        let min_keep = self.min_keep.max(1).min(n);
        let target = self.p as f64;
        // "reaches p" is measured against the actual total (f32 probabilities
        // sum to 1 only up to rounding), identically on every path.
        if c.sorted {
            c.ensure_probs();
            let total: f64 = c.data.iter().map(|t| t.p as f64).sum();
            let target = target * total;
            let mut cum = 0.0f64;
            let mut last = n;
            for (i, t) in c.data.iter().enumerate() {
                cum += t.p as f64;
                if cum >= target && i + 1 >= min_keep {
                    last = i + 1;
                    break;
                }
            }
            c.truncate(last);
        } else if !self.apply_histogram(c, target, min_keep) {
            // Degenerate cases: weighted quickselect over the unsorted list.
            c.ensure_probs();
            let total: f64 = c.data.iter().map(|t| t.p as f64).sum();
            let target = target * total;
            let m_p = mass_prefix_select(&mut c.data, |t| t.logit, |t| t.p, target, false);
            let m = m_p.max(min_keep);
            if m > m_p && m < n {
                c.data[m_p..].select_nth_unstable_by(m - m_p - 1, desc);
            }
            c.truncate(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::tests::{assert_probs, run_stage, run_stage_sorted};

    #[test]
    fn llama_cpp_cases() {
        let base = [0.1, 0.2, 0.3, 0.4];
        let cases: &[(f32, &[f32])] = &[
            (0.0, &[0.4]),
            (0.7, &[0.4, 0.3]),
            (0.8, &[0.4, 0.3, 0.2]),
            (1.0, &[0.4, 0.3, 0.2, 0.1]),
        ];
        for &(p, exp) in cases {
            assert_probs(&run_stage(&mut TopP::new(p, 1), &base), exp);
            assert_probs(&run_stage_sorted(&mut TopP::new(p, 1), &base), exp);
        }
    }

    #[test]
    fn min_keep_respected() {
        let base = [0.1, 0.2, 0.3, 0.4];
        assert_probs(&run_stage(&mut TopP::new(0.0, 3), &base), &[0.4, 0.3, 0.2]);
        assert_probs(
            &run_stage_sorted(&mut TopP::new(0.0, 3), &base),
            &[0.4, 0.3, 0.2],
        );
    }

    #[test]
    fn single_candidate_and_neg_inf() {
        assert_probs(&run_stage(&mut TopP::new(0.5, 1), &[1.0]), &[1.0]);
        // -inf tokens have p = 0 and are never needed to reach p
        let mut c = Candidates::from_logits(&[0.0, f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY]);
        TopP::new(0.99, 1).apply(&mut c);
        assert_eq!(c.len(), 2);
        assert!(c.data.iter().all(|t| t.logit == 0.0));
    }

    #[test]
    fn large_unsorted_matches_sorted_definition() {
        let logits: Vec<f32> = (0..20_000)
            .map(|i| (((i * 7919) % 20011) as f32 / 20011.0) * 12.0)
            .collect();
        for p in [0.1f32, 0.5, 0.9, 0.95, 0.999] {
            // same probabilities (same summation order) for both paths
            let mut a = Candidates::from_logits(&logits);
            a.softmax();
            let mut b = a.clone();
            b.sort();
            TopP::new(p, 1).apply(&mut a);
            TopP::new(p, 1).apply(&mut b);
            assert_eq!(
                a.len(),
                b.len(),
                "p={p} total={}",
                b.data.iter().map(|t| t.p as f64).sum::<f64>()
            );
            let mut la: Vec<f32> = a.data.iter().map(|t| t.logit).collect();
            la.sort_by(|x, y| y.total_cmp(x));
            let lb: Vec<f32> = b.data.iter().map(|t| t.logit).collect();
            assert_eq!(la, lb);
        }
    }
}
