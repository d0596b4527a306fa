//! Sampler chain (issue 3): llama.cpp's classic samplers as small stages.
//!
//! Default chain: logit bias → repetition/frequency/presence penalties →
//! top-k → tail-free → typical → top-p → min-p → temperature → dist.
//! The middle part follows `SamplerSettings::samplers`; Mirostat replaces it
//! with temperature → mirostat; temperature <= 0 replaces it with greedy.
//!
//! ```ignore
//! let mut s = Sampler::new(settings, n_vocab, &eos_ids, Some(newline))?;
//! let tok = s.sample(&logits);
//! s.accept(tok);
//! ```

use serde::{Deserialize, Serialize};

mod args;
mod candidates;
mod chain;
mod dist;
mod greedy;
mod guidance;
mod logit_bias;
mod min_p;
mod mirostat;
mod mirostat_state;
mod mirostat_v2;
mod penalties;
mod rng;
mod sampler;
mod settings;
mod tail_free;
mod temperature;
mod top_k;
mod top_p;
mod typical;

#[cfg(test)]
pub(crate) mod tests;

pub use args::SamplingArgs;
pub use candidates::{Candidates, TokenData, TokenId};
pub use chain::Chain;
pub use dist::Dist;
pub use greedy::Greedy;
pub use guidance::apply_guidance;
pub use logit_bias::LogitBiasStage;
pub use min_p::MinP;
pub use mirostat::Mirostat;
pub use mirostat_v2::MirostatV2;
pub use penalties::Penalties;
pub use rng::{Rng, RngState};
pub use sampler::{build_chain, stage_for, Sampler, DEFAULT_CONTEXT_SIZE, MIROSTAT_M};
pub use settings::{
    format_sampler_order, parse_sampler_order, preset, preset_names, LogitBias, SamplerKind,
    SamplerSettings, SettingsError, DEFAULT_SAMPLERS, PRESETS,
};
pub use tail_free::TailFree;
pub use temperature::Temperature;
pub use top_k::TopK;
pub use top_p::TopP;
pub use typical::Typical;

/// One stage of the chain (the chain itself is one too).
pub trait Stage: Send + std::fmt::Debug {
    fn name(&self) -> &'static str;
    /// Transform the candidate list (filter, rescale, or pick).
    fn apply(&mut self, cands: &mut Candidates);
    /// A token was accepted into the output.
    fn accept(&mut self, _token: TokenId) {}
    /// Back to the initial state (reseeds RNGs).
    fn reset(&mut self) {}
    /// Write this stage's mutable state into `state`.
    fn save_state(&self, _state: &mut SamplerState) {}
    /// Restore from `state` (fields that are `None`/absent are left alone).
    fn load_state(&mut self, _state: &SamplerState) {}
}

/// Exportable sampler state: restoring it reproduces subsequent picks exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplerState {
    /// RNG of the pick stage (dist / mirostat).
    pub rng: Option<RngState>,
    /// The resolved seed of the pick stage (the actual one when seed = -1).
    pub seed: Option<u64>,
    /// Mirostat's current μ.
    pub mirostat_mu: Option<f32>,
    /// Penalty window, oldest first.
    pub recent_tokens: Vec<TokenId>,
}
