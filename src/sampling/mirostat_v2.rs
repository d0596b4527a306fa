//! Mirostat v2: drop candidates whose surprise (-log2 p) exceeds μ (at least
//! one always survives), pick, update μ toward the target surprise τ.

use super::candidates::Candidates;
use super::dist::sample_index;
use super::rng::{resolve_seed, Rng};
use super::{SamplerState, Stage};

#[derive(Clone, Debug)]
pub struct MirostatV2 {
    tau: f32,
    eta: f32,
    mu: f32,
    seed: i64,
    seed_cur: u64,
    rng: Rng,
}

impl MirostatV2 {
    pub fn new(seed: i64, tau: f32, eta: f32) -> Self {
        let seed_cur = resolve_seed(seed);
        Self {
            tau,
            eta,
            mu: 2.0 * tau,
            seed,
            seed_cur,
            rng: Rng::seed_from_u64(seed_cur),
        }
    }

    pub fn mu(&self) -> f32 {
        self.mu
    }
}

impl Stage for MirostatV2 {
    fn name(&self) -> &'static str {
        "mirostat-v2"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if c.is_empty() {
            return;
        }
        c.ensure_probs();
        // -log2(p) > mu  <=>  p < 2^-mu : a filter, no sort needed
        // -log2(p) <= mu  <=>  p >= 2^-mu (no per-candidate logarithm)
        let min_p = (-self.mu).exp2();
        let keep = |p: f32| p >= min_p;
        let count = c.data.iter().filter(|t| keep(t.p)).count();
        if count == 0 {
            let i = c.argmax().unwrap();
            c.data.swap(0, i);
            c.truncate(1);
            c.sorted = true;
        } else {
            c.retain(|t| keep(t.p));
        }
        c.ensure_probs();
        let idx = sample_index(&c.data, &mut self.rng).unwrap();
        c.selected = Some(idx);
        let surprise = -c.data[idx].p.log2();
        self.mu -= self.eta * (surprise - self.tau);
    }

    fn reset(&mut self) {
        self.mu = 2.0 * self.tau;
        self.seed_cur = resolve_seed(self.seed);
        self.rng = Rng::seed_from_u64(self.seed_cur);
    }

    fn save_state(&self, st: &mut SamplerState) {
        st.rng = Some(self.rng.state());
        st.seed = Some(self.seed_cur);
        st.mirostat_mu = Some(self.mu);
    }

    fn load_state(&mut self, st: &SamplerState) {
        if let Some(r) = st.rng {
            self.rng = Rng::from_state(r);
        }
        if let Some(s) = st.seed {
            self.seed_cur = s;
        }
        if let Some(mu) = st.mirostat_mu {
            self.mu = mu;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_by_mu_keeps_at_least_one() {
        // p = 0.5, 0.25, 0.125, 0.125 -> surprises 1, 2, 3, 3 bits
        let probs = [0.5f32, 0.25, 0.125, 0.125];
        let mut s = MirostatV2::new(1, 1.0, 0.0); // eta 0: mu fixed at 2
        let mut c = Candidates::from_probs(&probs);
        s.apply(&mut c);
        assert_eq!(c.len(), 2);
        assert!((c.data.iter().map(|t| t.p).sum::<f32>() - 1.0).abs() < 1e-6);
        let mut s = MirostatV2::new(1, 0.1, 0.0); // mu 0.2 < every surprise
        let mut c = Candidates::from_probs(&probs);
        s.apply(&mut c);
        assert_eq!(c.len(), 1);
        assert_eq!(c.selected_token(), Some(0));
    }

    #[test]
    fn mu_update() {
        let mut s = MirostatV2::new(1, 5.0, 0.1);
        let mut c = Candidates::from_probs(&[1.0]);
        s.apply(&mut c);
        // surprise 0: mu = 10 - 0.1 * (0 - 5)
        assert!((s.mu() - 10.5).abs() < 1e-6);
        s.reset();
        assert_eq!(s.mu(), 10.0);
    }
}
