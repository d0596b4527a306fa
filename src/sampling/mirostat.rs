//! Mirostat v1 (Basu et al.): estimate the Zipf exponent from the top `m`
//! candidates, derive k from the target surprise μ, top-k, pick, update μ.

use super::candidates::{desc, Candidates};
use super::mirostat_state::MuState;
use super::{SamplerState, Stage};

#[derive(Clone, Debug)]
pub struct Mirostat {
    n_vocab: usize,
    m: usize,
    state: MuState,
}

impl Mirostat {
    pub fn new(n_vocab: usize, seed: i64, tau: f32, eta: f32, m: usize) -> Self {
        Self {
            n_vocab,
            m: m.max(2),
            state: MuState::new(seed, tau, eta),
        }
    }

    pub fn mu(&self) -> f32 {
        self.state.mu
    }

    /// The k mirostat would use for a list whose top logits are `top`
    /// (sorted descending).
    fn estimate_k(&self, top: &[f32], n: usize) -> usize {
        let (mut sum_ti_bi, mut sum_ti_sq) = (0.0f32, 0.0f32);
        for i in 0..top.len().saturating_sub(1) {
            // ln(p_i / p_{i+1}) == l_i - l_{i+1}
            let b_i = top[i] - top[i + 1];
            if !b_i.is_finite() {
                break;
            }
            let t_i = ((i + 2) as f32 / (i + 1) as f32).ln();
            sum_ti_bi += t_i * b_i;
            sum_ti_sq += t_i * t_i;
        }
        if sum_ti_sq == 0.0 {
            return 1;
        }
        let s_hat = sum_ti_bi / sum_ti_sq;
        let eps = s_hat - 1.0;
        let nv = self.n_vocab.max(2) as f32;
        let k = if eps.abs() < 1e-6 {
            // limit eps -> 0 of eps / (1 - N^-eps) = 1 / ln N
            2f32.powf(self.state.mu) / nv.ln()
        } else {
            ((eps * 2f32.powf(self.state.mu)) / (1.0 - nv.powf(-eps))).powf(1.0 / s_hat)
        };
        if k.is_nan() {
            n
        } else {
            (k as usize).clamp(1, n) // float -> int casts saturate
        }
    }
}

impl Stage for Mirostat {
    fn name(&self) -> &'static str {
        "mirostat"
    }

    fn apply(&mut self, c: &mut Candidates) {
        let n = c.len();
        if n == 0 {
            return;
        }
        // Sort only the top m (in place, the rest stays as a permutation).
        let m = self.m.min(n);
        if !c.sorted {
            if m < n {
                c.data.select_nth_unstable_by(m - 1, desc);
            }
            c.data[..m].sort_unstable_by(desc);
            if m == n {
                c.sorted = true;
            }
        }
        let top: Vec<f32> = c.data[..m].iter().map(|t| t.logit).collect();
        let k = self.estimate_k(&top, n);
        if k <= m {
            c.sorted = true; // prefix of length k is sorted
            c.truncate(k);
        } else {
            c.top_k(k);
        }
        self.state.pick(c);
    }

    fn reset(&mut self) {
        self.state.reset();
    }

    fn save_state(&self, st: &mut SamplerState) {
        self.state.save(st);
    }

    fn load_state(&mut self, st: &SamplerState) {
        self.state.load(st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zipf(n: usize, s: f32) -> Vec<f32> {
        (0..n).map(|i| -s * ((i + 1) as f32).ln()).collect()
    }

    #[test]
    fn k_from_zipf_exponent() {
        let ms = Mirostat::new(1000, 1, 5.0, 0.1, 100);
        // exact Zipf curve: s_hat recovers s
        let logits = zipf(1000, 1.5);
        let k = ms.estimate_k(&logits[..100], 1000);
        let eps = 0.5f32;
        let expect = ((eps * 2f32.powf(10.0)) / (1.0 - 1000f32.powf(-eps))).powf(1.0 / 1.5);
        assert_eq!(k, expect as usize);
        // eps == 0 uses the analytic limit, not NaN
        let k1 = ms.estimate_k(&zipf(1000, 1.0)[..100], 1000);
        assert_eq!(k1, (2f32.powf(10.0) / 1000f32.ln()) as usize);
    }

    #[test]
    fn mu_tracks_target_surprise() {
        let logits = zipf(2000, 1.1);
        let mut ms = Mirostat::new(2000, 3, 3.0, 0.1, 100);
        let mut surprises = vec![];
        for _ in 0..400 {
            let mut c = Candidates::from_logits(&logits);
            ms.apply(&mut c);
            let i = c.selected.unwrap();
            surprises.push(-c.data[i].p.log2());
        }
        let mean: f32 = surprises[100..].iter().sum::<f32>() / 300.0;
        assert!((mean - 3.0).abs() < 0.75, "mean surprise {mean}");
    }

    #[test]
    fn single_candidate_and_reset() {
        let mut ms = Mirostat::new(10, 3, 5.0, 0.1, 100);
        let mut c = Candidates::from_logits(&[0.5]);
        ms.apply(&mut c);
        assert_eq!(c.selected_token(), Some(0));
        assert!((ms.mu() - (10.0 - 0.1 * (0.0 - 5.0))).abs() < 1e-6);
        ms.reset();
        assert_eq!(ms.mu(), 10.0);
    }
}
