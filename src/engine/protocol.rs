//! What the chat UI and the engine thread say to each other. Commands go in over a channel,
//! events come out; both are plain data so the UI and its tests need no model.

use crate::sampling::SamplerSettings;
use crate::tokenizer::Message;

/// Context settings whose change invalidates the KV cache.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ContextSettings {
    pub n_ctx: usize,
    /// `None`: the model's value.
    pub rope_freq_base: Option<f32>,
    pub rope_freq_scale: Option<f32>,
}

/// A request to the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Reply to `messages` (the whole conversation, system prompt first; the last one is the
    /// user's). Only the tokens that are new since the last turn are evaluated.
    Generate {
        messages: Vec<Message>,
    },
    /// Stop the reply in progress at the next token (the UI also raises the cancel flag).
    Cancel,
    /// New sampler settings; they apply at the next token, also in the middle of a reply.
    /// A changed guidance prompt or scale rebuilds the guidance context.
    UpdateSampler(SamplerSettings),
    /// New context size / RoPE settings: the context is rebuilt and `messages` re-processed.
    Reconfigure {
        settings: ContextSettings,
        messages: Vec<Message>,
    },
    /// Bring the KV cache in line with `messages` (e.g. after the system prompt changed).
    Prefill {
        messages: Vec<Message>,
    },
    /// Forget the conversation (new chat).
    Reset,
    /// Save the context, sampler state and `transcript` under `name`. An existing session of
    /// that name is replaced only with `overwrite`.
    SaveSession {
        name: String,
        transcript: Vec<Message>,
        overwrite: bool,
    },
    /// Restore a saved session (KV cache, sampler, transcript) without re-evaluating it.
    LoadSession {
        name: String,
    },
    /// Read the transcript of a saved session (e.g. one made for another model or context) and
    /// evaluate it afresh, reporting prefill progress.
    ReevaluateSession {
        name: String,
    },
    Shutdown,
}

/// Why a reply ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    EndOfGeneration,
    Cancelled,
    ContextFull,
    Error,
}

impl StopReason {
    pub fn label(self) -> &'static str {
        match self {
            StopReason::EndOfGeneration => "end of generation",
            StopReason::Cancelled => "stopped",
            StopReason::ContextFull => "context full",
            StopReason::Error => "error",
        }
    }
}

/// Timings of one reply.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GenStats {
    pub prompt_tokens: usize,
    pub prompt_secs: f64,
    pub gen_tokens: usize,
    pub gen_secs: f64,
}

impl GenStats {
    pub fn prompt_tps(&self) -> Option<f64> {
        (self.prompt_tokens > 0 && self.prompt_secs > 0.0)
            .then(|| self.prompt_tokens as f64 / self.prompt_secs)
    }
    pub fn gen_tps(&self) -> Option<f64> {
        (self.gen_tokens > 0 && self.gen_secs > 0.0).then(|| self.gen_tokens as f64 / self.gen_secs)
    }
}

/// What the loaded model is.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub quant: String,
    pub n_ctx_train: usize,
    pub rope_freq_base: f32,
    pub rope_freq_scale: f32,
    /// The model had no chat template and a built-in one is used.
    pub builtin_template: bool,
}

/// A report from the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Loaded {
        info: ModelInfo,
        n_ctx: usize,
    },
    /// Prompt processing: `done` of `total` tokens.
    Prefill {
        done: usize,
        total: usize,
    },
    /// A piece of the reply (may be empty while a UTF-8 sequence is incomplete).
    Token {
        text: String,
        n_past: usize,
    },
    /// The reply ended.
    Done {
        stats: GenStats,
        stop: StopReason,
        n_past: usize,
    },
    /// A prefill or reconfiguration finished.
    Ready {
        n_past: usize,
        n_ctx: usize,
        tokens: usize,
        secs: f64,
    },
    /// The conversation outgrew the context: the first `dropped` messages after the system
    /// prompt are no longer in it.
    ContextShift {
        dropped: usize,
    },
    SessionSaved {
        name: String,
    },
    /// A session was restored (or re-evaluated): the UI replaces its messages with
    /// `transcript` (system prompt first when there is one).
    SessionLoaded {
        name: String,
        transcript: Vec<Message>,
        n_past: usize,
    },
    /// The session is a good file made for another model or context: `reason` says why it
    /// cannot be restored; its transcript can be re-evaluated (`ReevaluateSession`).
    SessionMismatch {
        name: String,
        reason: String,
    },
    Error(String),
}
