//! `--prompt-cache FILE` with llama.cpp's semantics: reuse the longest common prefix of the
//! cached tokens and the new prompt, evaluate only the rest, save the prompt's state.

use super::error::Result;
use super::format::{SessionData, Transcript};
use super::{read_header, read_session, save_to_path, SessionError};
use crate::context::{Context, ContextParams, ContextSnapshot};
use crate::model::Model;
use std::path::Path;

/// Length of the common prefix of `a` and `b`.
pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// What [`load_into`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reuse {
    /// Tokens in the file.
    pub cached: usize,
    /// Length of the common prefix of the file's tokens and the prompt.
    pub matched: usize,
    /// Prompt tokens whose state the context now holds (evaluate `prompt[reused..]`). When it
    /// equals the prompt's length the context also holds the last token's logits.
    pub reused: usize,
}

/// Loads the prompt cache at `path` into the fresh context `ctx` and keeps the longest prefix
/// it shares with `prompt`. When the whole prompt matches but the file holds more tokens, the
/// prompt's last token is dropped so that evaluating it again yields its logits; when the file
/// holds exactly the prompt its saved logits are used. Returns `Ok(None)` when there is no
/// file; errors (another model or context size, a damaged file) leave `ctx` empty.
pub fn load_into(
    path: &Path,
    model: &Model,
    params: &ContextParams,
    ctx: &mut Context,
    prompt: &[u32],
) -> Result<Option<Reuse>> {
    if !path.exists() {
        return Ok(None);
    }
    read_header(path)?.check(model, params)?;
    let session = read_session(path, true)?;
    let cached = session.context.tokens.len();
    let n = common_prefix(&session.context.tokens, prompt);
    if n == 0 {
        return Ok(Some(Reuse {
            cached,
            matched: 0,
            reused: 0,
        }));
    }
    let snap = ContextSnapshot {
        tokens: session.context.tokens,
        layers: session
            .context
            .layers
            .ok_or_else(|| SessionError::corrupt("KVCA", "the section is missing"))?,
        logits: session.context.logits,
    };
    ctx.import_kv(snap)
        .map_err(|e| SessionError::corrupt("KVCA", format!("{e:#}")))?;
    let mut keep = if n == prompt.len() && cached == prompt.len() {
        n
    } else {
        n.min(prompt.len() - 1)
    };
    if !ctx.can_truncate(keep) {
        keep = 0;
    }
    ctx.truncate(keep);
    Ok(Some(Reuse {
        cached,
        matched: n,
        reused: keep,
    }))
}

/// Saves `ctx`'s tokens, KV rows and logits to `path` (atomically), with an empty transcript.
pub fn save(path: &Path, model: &Model, ctx: &Context) -> Result<u64> {
    let transcript = Transcript::default();
    save_to_path(path, &SessionData::new(model, ctx, &transcript))
}
