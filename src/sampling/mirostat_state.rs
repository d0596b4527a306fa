//! What both Mirostat versions share: the target surprise τ, learning rate η, the running μ and
//! the seeded RNG of the pick, plus the pick-then-update-μ step.

use super::candidates::Candidates;
use super::dist::sample_index;
use super::rng::{resolve_seed, Rng};
use super::SamplerState;

#[derive(Clone, Debug)]
pub struct MuState {
    pub tau: f32,
    pub eta: f32,
    pub mu: f32,
    seed: i64,
    seed_cur: u64,
    rng: Rng,
}

impl MuState {
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

    /// Picks from the (already truncated) candidates and moves μ toward τ.
    pub fn pick(&mut self, c: &mut Candidates) {
        c.ensure_probs();
        let idx = sample_index(&c.data, &mut self.rng).unwrap();
        c.selected = Some(idx);
        let surprise = -c.data[idx].p.log2();
        self.mu -= self.eta * (surprise - self.tau);
    }

    pub fn reset(&mut self) {
        self.mu = 2.0 * self.tau;
        self.seed_cur = resolve_seed(self.seed);
        self.rng = Rng::seed_from_u64(self.seed_cur);
    }

    pub fn save(&self, st: &mut SamplerState) {
        st.rng = Some(self.rng.state());
        st.seed = Some(self.seed_cur);
        st.mirostat_mu = Some(self.mu);
    }

    pub fn load(&mut self, st: &SamplerState) {
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
