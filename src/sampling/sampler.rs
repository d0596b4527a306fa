//! `Sampler`: the chain built from settings plus a reused candidate buffer.

use super::candidates::{Candidates, TokenId};
use super::chain::Chain;
use super::dist::Dist;
use super::greedy::Greedy;
use super::logit_bias::LogitBiasStage;
use super::min_p::MinP;
use super::mirostat::Mirostat;
use super::mirostat_v2::MirostatV2;
use super::penalties::Penalties;
use super::settings::{SamplerKind, SamplerSettings, SettingsError};
use super::tail_free::TailFree;
use super::temperature::Temperature;
use super::top_k::TopK;
use super::top_p::TopP;
use super::typical::Typical;
use super::{SamplerState, Stage};

/// Penalty window used for `repeat_last_n = -1` until the engine tells the
/// sampler the real context size ([`Sampler::set_context_size`]).
pub const DEFAULT_CONTEXT_SIZE: usize = 4096;

/// Mirostat v1's `m` (number of candidates used to estimate s), as llama.cpp.
pub const MIROSTAT_M: usize = 100;

/// Build the classic llama.cpp chain:
/// logit bias → penalties → (greedy | order stages… → dist | temp → mirostat).
pub fn build_chain(
    s: &SamplerSettings,
    n_vocab: usize,
    eos_ids: &[TokenId],
    newline: Option<TokenId>,
    n_ctx: usize,
) -> Result<Chain, SettingsError> {
    s.validate()?;
    let order = s.sampler_order()?;
    let mut biases = Vec::with_capacity(s.logit_bias.len() + eos_ids.len());
    for lb in &s.logit_bias {
        if lb.token as usize >= n_vocab {
            return Err(SettingsError::BiasTokenOutOfVocab {
                token: lb.token,
                n_vocab,
            });
        }
        biases.push((lb.token, lb.bias));
    }
    if s.ignore_eos {
        biases.extend(
            eos_ids
                .iter()
                .filter(|&&t| (t as usize) < n_vocab)
                .map(|&t| (t, f32::NEG_INFINITY)),
        );
    }
    let mut chain = Chain::new();
    chain.push(LogitBiasStage::new(biases));
    chain.push(Penalties::new(
        s.penalty_window(n_ctx),
        s.repeat_penalty,
        s.frequency_penalty,
        s.presence_penalty,
        s.penalize_nl,
        newline,
    ));
    if s.temp <= 0.0 {
        chain.push(Greedy);
        return Ok(chain);
    }
    match s.mirostat {
        1 => {
            chain.push(Temperature::new(s.temp));
            chain.push(Mirostat::new(
                n_vocab,
                s.seed,
                s.mirostat_tau,
                s.mirostat_eta,
                MIROSTAT_M,
            ));
        }
        2 => {
            chain.push(Temperature::new(s.temp));
            chain.push(MirostatV2::new(s.seed, s.mirostat_tau, s.mirostat_eta));
        }
        _ => {
            for kind in order {
                chain.push_boxed(stage_for(kind, s));
            }
            chain.push(Dist::new(s.seed));
        }
    }
    Ok(chain)
}

/// The stage for one entry of the sampler order.
pub fn stage_for(kind: SamplerKind, s: &SamplerSettings) -> Box<dyn Stage> {
    match kind {
        SamplerKind::TopK => Box::new(TopK::new(s.top_k)),
        SamplerKind::TailFree => Box::new(TailFree::new(s.tfs_z, s.min_keep)),
        SamplerKind::Typical => Box::new(Typical::new(s.typical_p, s.min_keep)),
        SamplerKind::TopP => Box::new(TopP::new(s.top_p, s.min_keep)),
        SamplerKind::MinP => Box::new(MinP::new(s.min_p, s.min_keep)),
        SamplerKind::Temperature => Box::new(Temperature::new(s.temp)),
    }
}

/// The sampler the engine drives: `sample` → `accept` per token.
#[derive(Debug)]
pub struct Sampler {
    settings: SamplerSettings,
    n_vocab: usize,
    eos_ids: Vec<TokenId>,
    newline: Option<TokenId>,
    n_ctx: usize,
    chain: Chain,
    cands: Candidates,
}

impl Sampler {
    /// Validates the settings (and logit-bias token ids against `n_vocab`).
    pub fn new(
        settings: SamplerSettings,
        n_vocab: usize,
        eos_ids: &[TokenId],
        newline_token: Option<TokenId>,
    ) -> Result<Self, SettingsError> {
        let chain = build_chain(
            &settings,
            n_vocab,
            eos_ids,
            newline_token,
            DEFAULT_CONTEXT_SIZE,
        )?;
        Ok(Self {
            settings,
            n_vocab,
            eos_ids: eos_ids.to_vec(),
            newline: newline_token,
            n_ctx: DEFAULT_CONTEXT_SIZE,
            chain,
            cands: Candidates::new(),
        })
    }

    /// Context size used for `repeat_last_n = -1`. Keeps all state.
    pub fn set_context_size(&mut self, n_ctx: usize) {
        if n_ctx != self.n_ctx {
            self.n_ctx = n_ctx;
            let s = self.settings.clone();
            self.update_settings(s)
                .expect("settings were already validated");
        }
    }

    pub fn settings(&self) -> &SamplerSettings {
        &self.settings
    }

    /// Names of the stages in the active chain.
    pub fn chain_names(&self) -> Vec<&'static str> {
        self.chain.names()
    }

    /// Run the chain on `logits` (one per vocabulary entry) and return the
    /// chosen token. Does not accept it: call [`Sampler::accept`].
    pub fn sample(&mut self, logits: &[f32]) -> TokenId {
        assert!(!logits.is_empty(), "Sampler::sample: empty logits");
        debug_assert_eq!(logits.len(), self.n_vocab, "logits length != n_vocab");
        self.cands.fill(logits);
        self.chain.apply(&mut self.cands);
        self.cands
            .selected_token()
            .expect("the chain always ends with a pick stage")
    }

    /// Candidates left after the last `sample` (with probabilities), e.g. for
    /// showing alternatives in the UI.
    pub fn candidates(&self) -> &Candidates {
        &self.cands
    }

    /// Record a token as generated (penalty window).
    pub fn accept(&mut self, token: TokenId) {
        self.chain.accept(token);
    }

    /// Forget history, reseed the RNG, reset Mirostat's μ.
    pub fn reset(&mut self) {
        self.chain.reset();
    }

    /// Swap settings in place; takes effect at the next `sample`. The RNG
    /// state (unless the seed changed), Mirostat μ (unless the Mirostat mode
    /// changed) and the penalty window (trimmed to the new size) are kept.
    pub fn update_settings(&mut self, settings: SamplerSettings) -> Result<(), SettingsError> {
        let mut chain = build_chain(
            &settings,
            self.n_vocab,
            &self.eos_ids,
            self.newline,
            self.n_ctx,
        )?;
        let mut st = self.export_state();
        if settings.seed != self.settings.seed {
            st.rng = None;
            st.seed = None;
        }
        if settings.mirostat != self.settings.mirostat {
            st.mirostat_mu = None;
        }
        chain.load_state(&st);
        self.chain = chain;
        self.settings = settings;
        Ok(())
    }

    /// Snapshot of the mutable state (RNG, μ, penalty window).
    pub fn export_state(&self) -> SamplerState {
        let mut st = SamplerState::default();
        self.chain.save_state(&mut st);
        st
    }

    /// Restore a snapshot taken with [`Sampler::export_state`]; subsequent
    /// picks are identical to the original's.
    pub fn import_state(&mut self, st: &SamplerState) {
        self.chain.load_state(st);
    }
}
