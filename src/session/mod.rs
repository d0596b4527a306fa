//! Saved conversations (issue 5): a versioned file format holding the model's fingerprint, the
//! context parameters, the evaluated tokens, the used KV rows (f16), the last logits, the
//! sampler's settings and state, the guidance context and the transcript, each section with a
//! checksum (`sessions/FORMAT.md`). Files are replaced atomically.
//!
//! For the chat:
//! ```ignore
//! let store = SessionStore::open_default()?;
//! let data = SessionData::new(&model, &ctx, &transcript).with_generator(&gen);
//! store.save("trip planning", &data, /* overwrite */ false)?;
//! for s in store.list()? { /* s.name, s.model_name(), s.saved_ms(), s.n_tokens(), s.size */ }
//! match store.load("trip planning", &model, &tokenizer, &params) {
//!     Ok(r) => { /* r.context, r.generator, r.transcript continue exactly */ }
//!     Err(e) if e.is_mismatch() => { /* explain e; offer store.read_transcript(..) */ }
//!     Err(e) => { /* damaged file: show e */ }
//! }
//! ```
//! `hearth generate --prompt-cache FILE` uses the same format ([`prompt_cache`]).

mod atomic;
mod error;
mod format;
pub mod prompt_cache;
mod store;

pub use atomic::{
    no_space, write_atomic, write_atomic_with, DiskFullAfter, FailAfter, Plain, WrapFile,
    WrapWriter, TEMP_PREFIX,
};
pub use error::{Result, SessionError};
pub use format::{
    now_ms, read_header_from, read_session_from, write_session, CacheParams, Fingerprint,
    SamplerSnapshot, SavedContext, Session, SessionData, SessionHeader, Transcript,
    TranscriptMessage, CTX_GUIDANCE, CTX_MAIN, KV_TYPE_F16, MAGIC, MAX_HEAD_LEN, PREAMBLE_LEN,
    SECTION_HEADER_LEN, SECTION_TRAILER_LEN, TAG_CHAT, TAG_HEAD, TAG_KV, TAG_LOGITS, TAG_SAMPLER,
    TAG_TOKENS, VERSION,
};
pub use store::{data_dir, validate_name, SessionInfo, SessionStore, DATA_DIR_ENV, EXTENSION};

use crate::context::{Context, ContextParams, ContextSnapshot};
use crate::engine::{Generator, Guidance};
use crate::model::Model;
use crate::tokenizer::Tokenizer;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// Writes `data` to `path` atomically; returns the file's size.
pub fn save_to_path(path: &Path, data: &SessionData<'_>) -> Result<u64> {
    write_atomic(path, |w| write_session(w, data))
}

/// [`save_to_path`] with the file's writer wrapped by `wrap` (tests inject failures).
pub fn save_to_path_with(path: &Path, data: &SessionData<'_>, wrap: WrapWriter<'_>) -> Result<u64> {
    write_atomic_with(path, wrap, |w| write_session(w, data))
}

fn open(path: &Path) -> Result<(BufReader<File>, u64)> {
    let f = File::open(path).map_err(|e| SessionError::io(path, e))?;
    let len = f.metadata().map_err(|e| SessionError::io(path, e))?.len();
    Ok((BufReader::with_capacity(1 << 20, f), len))
}

/// Reads the header only (cheap: a few hundred bytes).
pub fn read_header(path: &Path) -> Result<SessionHeader> {
    let (r, len) = open(path)?;
    read_header_from(r, len)
}

/// Reads and verifies a whole session; without `with_kv` the KV rows are skipped.
pub fn read_session(path: &Path, with_kv: bool) -> Result<Session> {
    let (r, len) = open(path)?;
    read_session_from(r, len, with_kv)
}

/// A session restored into live state.
pub struct Restored {
    pub header: SessionHeader,
    pub context: Context,
    /// The sampler (settings and state) and guidance context, when they were saved.
    pub generator: Option<Generator>,
    pub transcript: Transcript,
}

/// Reads `path`, checks it against `model` and `params` (before reading the KV rows), and
/// restores it.
pub fn load(
    path: &Path,
    model: &Model,
    tokenizer: &Tokenizer,
    params: &ContextParams,
) -> Result<Restored> {
    read_header(path)?.check(model, params)?;
    read_session(path, true)?.restore(model, tokenizer, params)
}

fn to_snapshot(c: SavedContext, what: &str) -> Result<ContextSnapshot> {
    let layers = c.layers.ok_or_else(|| {
        SessionError::corrupt("KVCA", format!("the {what} KV rows were not read"))
    })?;
    Ok(ContextSnapshot {
        tokens: c.tokens,
        layers,
        logits: c.logits,
    })
}

/// A fresh context of `model` holding `saved`.
pub fn restore_context(
    model: &Model,
    params: &ContextParams,
    saved: SavedContext,
    what: &str,
) -> Result<Context> {
    let mut ctx = Context::new(model, *params).map_err(|e| SessionError::Incompatible {
        problem: format!("{e:#}"),
    })?;
    ctx.import_kv(to_snapshot(saved, what)?)
        .map_err(|e| SessionError::corrupt("KVCA", format!("{what}: {e:#}")))?;
    Ok(ctx)
}

impl Session {
    /// Checks the session against `model` and `params` and rebuilds the context, the sampler
    /// (with its state) and the guidance context.
    pub fn restore(
        self,
        model: &Model,
        tokenizer: &Tokenizer,
        params: &ContextParams,
    ) -> Result<Restored> {
        self.header.check(model, params)?;
        let context = restore_context(model, params, self.context, "conversation")?;
        let generator = match self.sampler {
            Some(s) => {
                let mut gen = Generator::new(s.settings.clone(), tokenizer, params.n_ctx)
                    .map_err(|e| SessionError::corrupt("SAMP", format!("{e:#}")))?;
                gen.sampler.import_state(&s.state);
                if let Some(g) = self.guidance {
                    gen.guidance = Some(Guidance {
                        ctx: restore_context(model, params, g, "guidance")?,
                        scale: s.settings.cfg_scale,
                    });
                }
                Some(gen)
            }
            None => None,
        };
        Ok(Restored {
            header: self.header,
            context,
            generator,
            transcript: self.transcript,
        })
    }
}
