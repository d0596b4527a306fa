//! Mirostat v2: drop candidates whose surprise (-log2 p) exceeds μ (at least
//! one always survives), pick, update μ toward the target surprise τ.

use super::candidates::Candidates;
use super::mirostat_state::MuState;
use super::{SamplerState, Stage};

#[derive(Clone, Debug)]
pub struct MirostatV2 {
    state: MuState,
}

impl MirostatV2 {
    pub fn new(seed: i64, tau: f32, eta: f32) -> Self {
        Self {
            state: MuState::new(seed, tau, eta),
        }
    }

    pub fn mu(&self) -> f32 {
        self.state.mu
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
        let min_p = (-self.state.mu).exp2();
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
