//! The session file format, version 1 (see `sessions/FORMAT.md`): a 16-byte preamble, then
//! sections of `tag, context, length, payload, checksum`. Writers stream the KV cache straight
//! from the context; readers check every length against what the file still holds before
//! allocating, and every checksum before parsing a payload.

use super::error::{Result, SessionError};
use crate::context::{Context, ContextParams, LayerRows};
use crate::gguf::GgufFile;
use crate::model::Model;
use crate::sampling::{Sampler, SamplerSettings, SamplerState};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Seek, SeekFrom, Write};
use xxhash_rust::xxh3::Xxh3;

/// The first 8 bytes of every session file.
pub const MAGIC: [u8; 8] = *b"HRTHSESS";
/// The format version this build writes (and the newest it reads).
pub const VERSION: u32 = 1;
/// ggml's type id of f16, the only KV type hearth keeps.
pub const KV_TYPE_F16: u32 = 1;
/// Bytes of the preamble: magic, version, section count.
pub const PREAMBLE_LEN: u64 = 16;
/// Bytes of a section header: tag, context index, payload length.
pub const SECTION_HEADER_LEN: u64 = 16;
/// Bytes of a section trailer: the checksum.
pub const SECTION_TRAILER_LEN: u64 = 8;
/// The header section may not be larger than this (it is read to list sessions).
pub const MAX_HEAD_LEN: u64 = 1 << 20;

pub const TAG_HEAD: [u8; 4] = *b"HEAD";
pub const TAG_TOKENS: [u8; 4] = *b"TOKS";
pub const TAG_KV: [u8; 4] = *b"KVCA";
pub const TAG_LOGITS: [u8; 4] = *b"LGTS";
pub const TAG_SAMPLER: [u8; 4] = *b"SAMP";
pub const TAG_CHAT: [u8; 4] = *b"CHAT";

/// Context index of the conversation's context.
pub const CTX_MAIN: u32 = 0;
/// Context index of the classifier-free guidance context.
pub const CTX_GUIDANCE: u32 = 1;

/// Bytes of tensor data hashed at each end of the data section.
const FINGERPRINT_SAMPLE: usize = 64 << 10;

/// Identifies a model file: xxh3-128 of the GGUF header, metadata and tensor table, the file
/// size, and the first and last 64 KiB of tensor data (cheap: no full read of the weights).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u128);

impl Fingerprint {
    pub fn of_model(model: &Model) -> Fingerprint {
        Self::of_gguf(&model.file)
    }

    pub fn of_gguf(file: &GgufFile) -> Fingerprint {
        let mut h = Xxh3::new();
        h.update(&(file.file_size as u64).to_le_bytes());
        h.update(file.header_bytes());
        let first = file.tensors.iter().min_by_key(|t| t.offset);
        let last = file
            .tensors
            .iter()
            .max_by_key(|t| t.offset + t.data.len() as u64);
        if let Some(t) = first {
            h.update(&t.data[..t.data.len().min(FINGERPRINT_SAMPLE)]);
        }
        if let Some(t) = last {
            h.update(&t.data[t.data.len().saturating_sub(FINGERPRINT_SAMPLE)..]);
        }
        Fingerprint(h.digest128())
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// The context settings that shape the KV cache; a session restores only into equal ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CacheParams {
    pub n_ctx: usize,
    /// The effective RoPE base and scale (the model's unless overridden).
    pub rope_freq_base: f32,
    pub rope_freq_scale: f32,
    /// ggml type id of the K/V rows ([`KV_TYPE_F16`]).
    pub kv_type: u32,
}

impl CacheParams {
    pub fn of_context(ctx: &Context) -> CacheParams {
        CacheParams {
            n_ctx: ctx.n_ctx(),
            rope_freq_base: ctx.forward.rope_freq_base,
            rope_freq_scale: ctx.forward.rope_freq_scale,
            kv_type: KV_TYPE_F16,
        }
    }

    /// What a context made with `params` for `model` would have.
    pub fn for_params(model: &Model, params: &ContextParams) -> CacheParams {
        let fwd = model.arch.default_forward_params();
        CacheParams {
            n_ctx: params.n_ctx,
            rope_freq_base: params.rope_freq_base.unwrap_or(fwd.rope_freq_base),
            rope_freq_scale: params.rope_freq_scale.unwrap_or(fwd.rope_freq_scale),
            kv_type: KV_TYPE_F16,
        }
    }
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptMessage {
    /// "user", "assistant", "system", …
    pub role: String,
    pub content: String,
    /// When it was sent or finished, in milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// The conversation as the user sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    pub system_prompt: Option<String>,
    pub messages: Vec<TranscriptMessage>,
}

impl Transcript {
    /// The first user message, shortened, for session lists.
    pub fn preview(&self) -> String {
        let first = self
            .messages
            .iter()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_str())
            .unwrap_or("");
        let line = first.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.chars().count() > 80 {
            line.chars().take(79).chain(['…']).collect()
        } else {
            line
        }
    }
}

/// The sampler's settings and mutable state (RNG, Mirostat μ, penalty window).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerSnapshot {
    pub settings: SamplerSettings,
    pub state: SamplerState,
}

impl SamplerSnapshot {
    pub fn of(sampler: &Sampler) -> SamplerSnapshot {
        SamplerSnapshot {
            settings: sampler.settings().clone(),
            state: sampler.export_state(),
        }
    }
}

/// The cheap part of a session: what `list` shows and what `load` checks first.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionHeader {
    pub version: u32,
    pub fingerprint: Fingerprint,
    pub model_name: String,
    /// The program that wrote the file ("hearth 0.1.0").
    pub writer: String,
    pub created_ms: u64,
    pub saved_ms: u64,
    pub cache: CacheParams,
    pub n_layers: usize,
    pub n_vocab: usize,
    /// Tokens in the conversation's context.
    pub n_tokens: usize,
    /// Tokens in the guidance context, when one was active.
    pub n_guidance_tokens: Option<usize>,
    pub n_messages: usize,
    /// The first user message, shortened.
    pub preview: String,
}

impl SessionHeader {
    /// Checks that the session can be restored for `model` with `params`: same model, context
    /// size, RoPE and KV type. The errors say what differs.
    pub fn check(&self, model: &Model, params: &ContextParams) -> Result<()> {
        let fp = Fingerprint::of_model(model);
        if fp != self.fingerprint {
            return Err(SessionError::ModelMismatch {
                saved_name: self.model_name.clone(),
                saved: self.fingerprint.to_string(),
                current_name: model.name.clone(),
                current: fp.to_string(),
            });
        }
        let cur = CacheParams::for_params(model, params);
        if cur.n_ctx != self.cache.n_ctx {
            return Err(SessionError::ContextSizeMismatch {
                saved: self.cache.n_ctx,
                current: cur.n_ctx,
            });
        }
        if cur.rope_freq_base.to_bits() != self.cache.rope_freq_base.to_bits()
            || cur.rope_freq_scale.to_bits() != self.cache.rope_freq_scale.to_bits()
        {
            return Err(SessionError::RopeMismatch {
                saved_base: self.cache.rope_freq_base,
                saved_scale: self.cache.rope_freq_scale,
                current_base: cur.rope_freq_base,
                current_scale: cur.rope_freq_scale,
            });
        }
        if self.cache.kv_type != KV_TYPE_F16 {
            return Err(SessionError::KvTypeMismatch {
                saved: kv_type_name(self.cache.kv_type),
                current: kv_type_name(KV_TYPE_F16),
            });
        }
        let hp = model.hparams();
        if self.n_layers != model.arch.cache_spec().len() || self.n_vocab != hp.n_vocab {
            return Err(SessionError::Incompatible {
                problem: format!(
                    "{} layers and {} vocabulary entries, the model has {} and {}",
                    self.n_layers,
                    self.n_vocab,
                    model.arch.cache_spec().len(),
                    hp.n_vocab
                ),
            });
        }
        for (n, what) in [
            (Some(self.n_tokens), "conversation"),
            (self.n_guidance_tokens, "guidance"),
        ] {
            if let Some(n) = n.filter(|&n| n > cur.n_ctx) {
                return Err(SessionError::corrupt(
                    "HEAD",
                    format!("{n} {what} tokens exceed the context size {}", cur.n_ctx),
                ));
            }
        }
        Ok(())
    }
}

fn kv_type_name(t: u32) -> String {
    match crate::quant::GgmlType::from_u32(t) {
        Some(ty) => ty.name().to_string(),
        None => format!("type {t}"),
    }
}

/// One context as stored: tokens, KV rows (unless the file was read without them), logits.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SavedContext {
    pub tokens: Vec<u32>,
    pub layers: Option<Vec<LayerRows>>,
    pub logits: Option<Vec<f32>>,
}

impl SavedContext {
    /// Size in bytes of the KV rows.
    pub fn kv_bytes(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .map(|l| (l.k.len() + l.v.len()) * 2)
            .sum()
    }
}

/// A session read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub header: SessionHeader,
    pub context: SavedContext,
    pub guidance: Option<SavedContext>,
    pub sampler: Option<SamplerSnapshot>,
    pub transcript: Transcript,
}

/// What to save: borrowed from the live chat, the KV rows are streamed from the contexts.
#[derive(Clone, Copy)]
pub struct SessionData<'a> {
    pub model: &'a Model,
    pub context: &'a Context,
    pub sampler: Option<&'a Sampler>,
    /// The classifier-free guidance context, when one is active.
    pub guidance: Option<&'a Context>,
    pub transcript: &'a Transcript,
    /// When the conversation started (ms since the epoch); `None`: now.
    pub created_ms: Option<u64>,
    /// The save time to record; `None`: now.
    pub saved_ms: Option<u64>,
}

impl<'a> SessionData<'a> {
    pub fn new(model: &'a Model, context: &'a Context, transcript: &'a Transcript) -> Self {
        SessionData {
            model,
            context,
            sampler: None,
            guidance: None,
            transcript,
            created_ms: None,
            saved_ms: None,
        }
    }

    /// Adds the generator's sampler and its guidance context (if any).
    pub fn with_generator(mut self, gen: &'a crate::engine::Generator) -> Self {
        self.sampler = Some(&gen.sampler);
        self.guidance = gen.guidance.as_ref().map(|g| &g.ctx);
        self
    }

    pub fn created(mut self, ms: u64) -> Self {
        self.created_ms = Some(ms);
        self
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Counts and hashes what passes through to `inner`.
struct HashWriter<'w, W: Write + ?Sized> {
    inner: &'w mut W,
    hasher: Xxh3,
    written: u64,
}

impl<W: Write + ?Sized> Write for HashWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes one section whose payload `body` writes (exactly `len` bytes).
fn write_section<W: Write + ?Sized>(
    w: &mut W,
    tag: [u8; 4],
    ctx: u32,
    len: u64,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let mut hw = HashWriter {
        inner: w,
        hasher: Xxh3::new(),
        written: 0,
    };
    hw.write_all(&tag)?;
    hw.write_all(&ctx.to_le_bytes())?;
    hw.write_all(&len.to_le_bytes())?;
    body(&mut hw)?;
    if hw.written != SECTION_HEADER_LEN + len {
        return Err(io::Error::other(format!(
            "internal error: section {} wrote {} bytes, announced {len}",
            String::from_utf8_lossy(&tag),
            hw.written - SECTION_HEADER_LEN
        )));
    }
    let sum = hw.hasher.digest();
    w.write_all(&sum.to_le_bytes())
}

fn put_u32(b: &mut Vec<u8>, v: u32) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut Vec<u8>, v: u64) {
    b.extend_from_slice(&v.to_le_bytes());
}
fn put_str(b: &mut Vec<u8>, s: &str) {
    put_u32(b, s.len() as u32);
    b.extend_from_slice(s.as_bytes());
}

fn to_u32(n: usize, what: &str) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| io::Error::other(format!("{what} {n} does not fit the format")))
}

fn head_payload(d: &SessionData<'_>) -> io::Result<Vec<u8>> {
    let cp = CacheParams::of_context(d.context);
    let saved = d.saved_ms.unwrap_or_else(now_ms);
    let mut b = Vec::with_capacity(256);
    b.extend_from_slice(&Fingerprint::of_model(d.model).0.to_le_bytes());
    put_u64(&mut b, d.created_ms.unwrap_or(saved));
    put_u64(&mut b, saved);
    put_u32(&mut b, to_u32(cp.n_ctx, "context size")?);
    b.extend_from_slice(&cp.rope_freq_base.to_le_bytes());
    b.extend_from_slice(&cp.rope_freq_scale.to_le_bytes());
    put_u32(&mut b, cp.kv_type);
    put_u32(&mut b, to_u32(d.context.cache().n_layers(), "layer count")?);
    put_u32(&mut b, to_u32(d.context.n_vocab(), "vocabulary size")?);
    put_u32(&mut b, to_u32(d.context.n_past(), "token count")?);
    match d.guidance {
        Some(g) => {
            put_u32(&mut b, 1);
            put_u32(&mut b, to_u32(g.n_past(), "token count")?);
        }
        None => {
            put_u32(&mut b, 0);
            put_u32(&mut b, 0);
        }
    }
    put_u32(
        &mut b,
        to_u32(d.transcript.messages.len(), "message count")?,
    );
    put_str(&mut b, &d.model.name);
    put_str(&mut b, &format!("hearth {}", env!("CARGO_PKG_VERSION")));
    put_str(&mut b, &d.transcript.preview());
    Ok(b)
}

fn kv_payload_len(ctx: &Context) -> u64 {
    let c = ctx.cache();
    let n = ctx.n_past();
    let mut len = 4 + 12 * c.n_layers() as u64;
    for l in 0..c.n_layers() {
        let rows = (n - c.first_held(l, n)) as u64;
        len += 2 * 2 * rows * c.layer_kv_dim(l) as u64;
    }
    len
}

fn write_kv(ctx: &Context, w: &mut dyn Write) -> io::Result<()> {
    let c = ctx.cache();
    let n = ctx.n_past();
    let mut b = Vec::with_capacity(64 << 10);
    put_u32(&mut b, c.n_layers() as u32);
    for l in 0..c.n_layers() {
        let first = c.first_held(l, n);
        put_u32(&mut b, c.layer_kv_dim(l) as u32);
        put_u32(&mut b, first as u32);
        put_u32(&mut b, (n - first) as u32);
    }
    for l in 0..c.n_layers() {
        let first = c.first_held(l, n);
        let mut vr = vec![0u16; c.layer_kv_dim(l)];
        for part in 0..2 {
            for pos in first..n {
                let row = if part == 0 {
                    c.k_row(l, pos)
                } else {
                    c.v_row(l, pos, &mut vr);
                    &vr
                };
                b.extend(row.iter().flat_map(|x| x.to_le_bytes()));
                if b.len() >= 60 << 10 {
                    w.write_all(&b)?;
                    b.clear();
                }
            }
        }
    }
    w.write_all(&b)
}

fn write_context<W: Write + ?Sized>(w: &mut W, ctx: &Context, index: u32) -> io::Result<u32> {
    let toks = ctx.tokens();
    write_section(w, TAG_TOKENS, index, 4 + 4 * toks.len() as u64, |w| {
        let mut b = Vec::with_capacity(4 + 4 * toks.len());
        put_u32(&mut b, toks.len() as u32);
        toks.iter().for_each(|&t| put_u32(&mut b, t));
        w.write_all(&b)
    })?;
    write_section(w, TAG_KV, index, kv_payload_len(ctx), |w| write_kv(ctx, w))?;
    let mut n = 2;
    if let Some(lg) = ctx.last_logits().filter(|_| ctx.n_past() > 0) {
        write_section(w, TAG_LOGITS, index, 4 + 4 * lg.len() as u64, |w| {
            let mut b = Vec::with_capacity(4 + 4 * lg.len());
            put_u32(&mut b, lg.len() as u32);
            lg.iter()
                .for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
            w.write_all(&b)
        })?;
        n += 1;
    }
    Ok(n)
}

/// Number of sections [`write_session`] will write for `d`.
fn section_count(d: &SessionData<'_>) -> u32 {
    let per_ctx = |c: &Context| 2 + u32::from(c.n_past() > 0 && c.last_logits().is_some());
    1 + per_ctx(d.context) + d.guidance.map_or(0, per_ctx) + u32::from(d.sampler.is_some()) + 1
}

/// Writes a whole session to `w`; returns the bytes written.
pub fn write_session<W: Write + ?Sized>(w: &mut W, d: &SessionData<'_>) -> io::Result<u64> {
    let mut cw = CountingWriter { inner: w, n: 0 };
    let w = &mut cw;
    w.write_all(&MAGIC)?;
    w.write_all(&VERSION.to_le_bytes())?;
    let n_sections = section_count(d);
    w.write_all(&n_sections.to_le_bytes())?;
    let head = head_payload(d)?;
    write_section(w, TAG_HEAD, 0, head.len() as u64, |w| w.write_all(&head))?;
    let mut written = 1;
    written += write_context(w, d.context, CTX_MAIN)?;
    if let Some(g) = d.guidance {
        written += write_context(w, g, CTX_GUIDANCE)?;
    }
    if let Some(s) = d.sampler {
        let json = serde_json::to_vec(&SamplerSnapshot::of(s)).map_err(io::Error::other)?;
        write_section(w, TAG_SAMPLER, 0, json.len() as u64, |w| w.write_all(&json))?;
        written += 1;
    }
    let json = serde_json::to_vec(d.transcript).map_err(io::Error::other)?;
    write_section(w, TAG_CHAT, 0, json.len() as u64, |w| w.write_all(&json))?;
    written += 1;
    debug_assert_eq!(written, n_sections);
    w.flush()?;
    Ok(cw.n)
}

struct CountingWriter<'w, W: Write + ?Sized> {
    inner: &'w mut W,
    n: u64,
}

impl<W: Write + ?Sized> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Printable name of a section tag, even a damaged one.
fn tag_name(tag: &[u8; 4]) -> String {
    tag.iter()
        .map(|&c| {
            if c.is_ascii_graphic() {
                (c as char).to_string()
            } else {
                format!("\\x{c:02x}")
            }
        })
        .collect()
}

/// One raw section: where it is and its verified payload.
pub struct RawSection {
    pub tag: [u8; 4],
    pub ctx: u32,
    pub payload: Vec<u8>,
}

/// Reads the preamble and the sections of a file of known length, one at a time.
pub struct SectionReader<R> {
    r: R,
    pos: u64,
    len: u64,
    pub version: u32,
    pub n_sections: u32,
    read: u32,
}

impl<R: Read> SectionReader<R> {
    /// Reads and checks the preamble.
    pub fn new(mut r: R, len: u64) -> Result<SectionReader<R>> {
        if len == 0 {
            return Err(SessionError::Empty);
        }
        let mut pre = [0u8; PREAMBLE_LEN as usize];
        let have = len.min(PREAMBLE_LEN) as usize;
        read_exact(&mut r, &mut pre[..have], "the preamble", 0, len)?;
        let m = have.min(8);
        if pre[..m] != MAGIC[..m] {
            return Err(SessionError::NotASession {
                found: pre[..m].to_vec(),
            });
        }
        if len < PREAMBLE_LEN {
            return Err(SessionError::Truncated {
                what: "the preamble".into(),
                offset: 0,
                needed: PREAMBLE_LEN,
                len,
            });
        }
        let version = u32::from_le_bytes(pre[8..12].try_into().unwrap());
        if version > VERSION {
            return Err(SessionError::NewerVersion {
                found: version,
                supported: VERSION,
            });
        }
        if version == 0 {
            return Err(SessionError::BadVersion {
                found: version,
                supported: VERSION,
            });
        }
        let n_sections = u32::from_le_bytes(pre[12..16].try_into().unwrap());
        let min = SECTION_HEADER_LEN + SECTION_TRAILER_LEN;
        let needed = n_sections as u64 * min;
        if needed > len - PREAMBLE_LEN {
            return Err(SessionError::Truncated {
                what: format!("{n_sections} sections"),
                offset: PREAMBLE_LEN,
                needed,
                len,
            });
        }
        if n_sections == 0 {
            return Err(SessionError::corrupt(
                "preamble",
                "the file has no sections",
            ));
        }
        Ok(SectionReader {
            r,
            pos: PREAMBLE_LEN,
            len,
            version,
            n_sections,
            read: 0,
        })
    }

    pub fn remaining_sections(&self) -> u32 {
        self.n_sections - self.read
    }

    /// Reads the next section header: `(tag, ctx, payload length)`, checked to fit the file.
    fn header(&mut self, max_len: u64) -> Result<([u8; 4], u32, u64, Xxh3)> {
        let i = self.read;
        let mut h = [0u8; SECTION_HEADER_LEN as usize];
        read_exact(
            &mut self.r,
            &mut h,
            &format!("the header of section {}", i + 1),
            self.pos,
            self.len,
        )?;
        let tag: [u8; 4] = h[0..4].try_into().unwrap();
        let ctx = u32::from_le_bytes(h[4..8].try_into().unwrap());
        let plen = u64::from_le_bytes(h[8..16].try_into().unwrap());
        let room = self.len - self.pos - SECTION_HEADER_LEN;
        if plen > room.saturating_sub(SECTION_TRAILER_LEN) {
            return Err(SessionError::Truncated {
                what: format!("section {} ({})", i + 1, tag_name(&tag)),
                offset: self.pos,
                needed: SECTION_HEADER_LEN.saturating_add(plen.saturating_add(SECTION_TRAILER_LEN)),
                len: self.len,
            });
        }
        if plen > max_len {
            return Err(SessionError::corrupt(
                &tag_name(&tag),
                format!("{plen} bytes is more than the {max_len} it may hold"),
            ));
        }
        let mut hasher = Xxh3::new();
        hasher.update(&h);
        Ok((tag, ctx, plen, hasher))
    }

    /// Reads the next section and verifies its checksum.
    pub fn next_section(&mut self, max_len: u64) -> Result<RawSection> {
        let offset = self.pos;
        let (tag, ctx, plen, mut hasher) = self.header(max_len)?;
        // `header` checked that the payload and trailer are inside the file.
        let mut payload = vec![0u8; plen as usize];
        let what = format!("section {}", tag_name(&tag));
        read_exact(
            &mut self.r,
            &mut payload,
            &what,
            offset + SECTION_HEADER_LEN,
            self.len,
        )?;
        let mut sum = [0u8; 8];
        read_exact(
            &mut self.r,
            &mut sum,
            &what,
            offset + SECTION_HEADER_LEN + plen,
            self.len,
        )?;
        hasher.update(&payload);
        if hasher.digest() != u64::from_le_bytes(sum) {
            return Err(SessionError::Checksum {
                section: tag_name(&tag),
                offset,
            });
        }
        self.pos = offset + SECTION_HEADER_LEN + plen + SECTION_TRAILER_LEN;
        self.read += 1;
        Ok(RawSection { tag, ctx, payload })
    }

    /// Whether the file has bytes after the last section.
    pub fn trailing_bytes(&self) -> u64 {
        self.len - self.pos
    }
}

impl<R: Read + Seek> SectionReader<R> {
    /// Skips the next section if it has tag `tag` (without reading or verifying its payload);
    /// returns whether it did.
    fn skip_if(&mut self, tag: [u8; 4]) -> Result<bool> {
        let start = self.pos;
        let (t, _, plen, _) = self.header(u64::MAX)?;
        if t == tag {
            self.pos = start + SECTION_HEADER_LEN + plen + SECTION_TRAILER_LEN;
            self.r
                .seek(SeekFrom::Start(self.pos))
                .map_err(|e| SessionError::io("session file", e))?;
            self.read += 1;
            Ok(true)
        } else {
            self.r
                .seek(SeekFrom::Start(start))
                .map_err(|e| SessionError::io("session file", e))?;
            Ok(false)
        }
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &str, offset: u64, len: u64) -> Result<()> {
    r.read_exact(buf).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            SessionError::Truncated {
                what: what.to_string(),
                offset,
                needed: buf.len() as u64,
                len,
            }
        } else {
            SessionError::io("session file", e)
        }
    })
}

/// A bounds-checked reader of one payload.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    section: &'static str,
}

impl<'a> Cur<'a> {
    fn new(b: &'a [u8], section: &'static str) -> Self {
        Cur { b, pos: 0, section }
    }
    fn err(&self, problem: impl Into<String>) -> SessionError {
        SessionError::corrupt(self.section, problem)
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if self.b.len() - self.pos < n {
            return Err(self.err(format!(
                "{what} needs {n} bytes at offset {} but the section has {}",
                self.pos,
                self.b.len()
            )));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().unwrap()))
    }
    fn f32(&mut self, what: &str) -> Result<f32> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().unwrap()))
    }
    fn str(&mut self, what: &str) -> Result<String> {
        let n = self.u32(what)? as usize;
        let b = self.take(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.err(format!("{what} is not UTF-8")))
    }
    /// A count of items of `item_size` bytes each, checked against what the payload still holds.
    fn count(&mut self, what: &str, item_size: usize) -> Result<usize> {
        let n = self.u32(what)? as usize;
        let left = self.b.len() - self.pos;
        if n.checked_mul(item_size).is_none_or(|b| b > left) {
            return Err(self.err(format!(
                "{n} {what} of {item_size} bytes do not fit the {left} bytes left"
            )));
        }
        Ok(n)
    }
    fn finish(&self) -> Result<()> {
        if self.pos != self.b.len() {
            return Err(self.err(format!(
                "{} unexpected bytes after the data",
                self.b.len() - self.pos
            )));
        }
        Ok(())
    }
}

fn parse_head(p: &[u8], version: u32) -> Result<SessionHeader> {
    let mut c = Cur::new(p, "HEAD");
    let fingerprint = Fingerprint(u128::from_le_bytes(
        c.take(16, "the fingerprint")?.try_into().unwrap(),
    ));
    let created_ms = c.u64("the creation time")?;
    let saved_ms = c.u64("the save time")?;
    let n_ctx = c.u32("the context size")? as usize;
    let rope_freq_base = c.f32("the RoPE base")?;
    let rope_freq_scale = c.f32("the RoPE scale")?;
    let kv_type = c.u32("the KV type")?;
    let n_layers = c.u32("the layer count")? as usize;
    let n_vocab = c.u32("the vocabulary size")? as usize;
    let n_tokens = c.u32("the token count")? as usize;
    let has_guidance = c.u32("the guidance flag")?;
    let n_guidance = c.u32("the guidance token count")? as usize;
    let n_messages = c.u32("the message count")? as usize;
    let model_name = c.str("the model name")?;
    let writer = c.str("the writer")?;
    let preview = c.str("the preview")?;
    // Later versions may append fields: a version-1 reader ignores them.
    if has_guidance > 1 {
        return Err(c.err(format!("guidance flag {has_guidance} (must be 0 or 1)")));
    }
    if n_tokens > n_ctx || n_guidance > n_ctx {
        return Err(c.err(format!(
            "{} tokens do not fit the context size {n_ctx}",
            n_tokens.max(n_guidance)
        )));
    }
    Ok(SessionHeader {
        version,
        fingerprint,
        model_name,
        writer,
        created_ms,
        saved_ms,
        cache: CacheParams {
            n_ctx,
            rope_freq_base,
            rope_freq_scale,
            kv_type,
        },
        n_layers,
        n_vocab,
        n_tokens,
        n_guidance_tokens: (has_guidance == 1).then_some(n_guidance),
        n_messages,
        preview,
    })
}

fn parse_tokens(p: &[u8]) -> Result<Vec<u32>> {
    let mut c = Cur::new(p, "TOKS");
    let n = c.count("tokens", 4)?;
    let b = c.take(n * 4, "tokens")?;
    c.finish()?;
    Ok(b.chunks_exact(4)
        .map(|x| u32::from_le_bytes(x.try_into().unwrap()))
        .collect())
}

fn parse_logits(p: &[u8]) -> Result<Vec<f32>> {
    let mut c = Cur::new(p, "LGTS");
    let n = c.count("logits", 4)?;
    let b = c.take(n * 4, "logits")?;
    c.finish()?;
    Ok(b.chunks_exact(4)
        .map(|x| f32::from_le_bytes(x.try_into().unwrap()))
        .collect())
}

fn parse_kv(p: &[u8], n_layers: usize) -> Result<Vec<LayerRows>> {
    let mut c = Cur::new(p, "KVCA");
    let n = c.count("layers", 12)?;
    if n != n_layers {
        return Err(c.err(format!("{n} layers, the header says {n_layers}")));
    }
    let mut table = Vec::with_capacity(n);
    for l in 0..n {
        let kvd = c.u32("a layer's row size")? as usize;
        let first = c.u32("a layer's first position")? as usize;
        let rows = c.u32("a layer's row count")? as usize;
        table.push((l, kvd, first, rows));
    }
    let mut layers = Vec::with_capacity(n);
    for (l, kvd, first, rows) in table {
        let elems = kvd
            .checked_mul(rows)
            .filter(|e| e.checked_mul(4).is_some_and(|b| b <= p.len() - c.pos))
            .ok_or_else(|| {
                c.err(format!(
                    "layer {l}: {rows} rows of {kvd} elements do not fit the {} bytes left",
                    p.len() - c.pos
                ))
            })?;
        let mut half = || -> Result<Vec<u16>> {
            let b = c.take(elems * 2, "KV rows")?;
            Ok(b.chunks_exact(2)
                .map(|x| u16::from_le_bytes([x[0], x[1]]))
                .collect())
        };
        let k = half()?;
        let v = half()?;
        layers.push(LayerRows {
            kv_dim: kvd,
            first_pos: first,
            k,
            v,
        });
    }
    c.finish()?;
    Ok(layers)
}

/// Reads the preamble and the header section only.
pub fn read_header_from<R: Read>(r: R, len: u64) -> Result<SessionHeader> {
    let mut sr = SectionReader::new(r, len)?;
    let s = sr.next_section(MAX_HEAD_LEN)?;
    if s.tag != TAG_HEAD {
        return Err(SessionError::corrupt(
            &tag_name(&s.tag),
            "the first section must be HEAD",
        ));
    }
    parse_head(&s.payload, sr.version)
}

/// Reads a whole session. With `with_kv` false the KV sections are skipped unread (to show or
/// re-evaluate the transcript of a session that does not fit the current model).
pub fn read_session_from<R: Read + Seek>(r: R, len: u64, with_kv: bool) -> Result<Session> {
    let mut sr = SectionReader::new(r, len)?;
    let first = sr.next_section(MAX_HEAD_LEN)?;
    if first.tag != TAG_HEAD {
        return Err(SessionError::corrupt(
            &tag_name(&first.tag),
            "the first section must be HEAD",
        ));
    }
    let header = parse_head(&first.payload, sr.version)?;
    let mut ctxs: [Option<SavedContext>; 2] = [None, None];
    let mut seen = std::collections::HashSet::new();
    let mut sampler = None;
    let mut transcript = None;
    while sr.remaining_sections() > 0 {
        if !with_kv && sr.skip_if(TAG_KV)? {
            continue;
        }
        let s = sr.next_section(u64::MAX)?;
        let name = tag_name(&s.tag);
        if !seen.insert((s.tag, s.ctx)) {
            return Err(SessionError::corrupt(&name, "the section appears twice"));
        }
        let ctx_slot = |ctx: u32| -> Result<usize> {
            match ctx {
                CTX_MAIN => Ok(0),
                CTX_GUIDANCE if header.n_guidance_tokens.is_some() => Ok(1),
                other => Err(SessionError::corrupt(
                    &tag_name(&s.tag),
                    format!("context index {other} is not in the file"),
                )),
            }
        };
        match s.tag {
            TAG_TOKENS => {
                let i = ctx_slot(s.ctx)?;
                ctxs[i].get_or_insert_with(Default::default).tokens = parse_tokens(&s.payload)?;
            }
            TAG_KV => {
                let i = ctx_slot(s.ctx)?;
                ctxs[i].get_or_insert_with(Default::default).layers =
                    Some(parse_kv(&s.payload, header.n_layers)?);
            }
            TAG_LOGITS => {
                let i = ctx_slot(s.ctx)?;
                ctxs[i].get_or_insert_with(Default::default).logits =
                    Some(parse_logits(&s.payload)?);
            }
            TAG_SAMPLER => {
                sampler = Some(
                    serde_json::from_slice::<SamplerSnapshot>(&s.payload)
                        .map_err(|e| SessionError::corrupt("SAMP", e.to_string()))?,
                );
            }
            TAG_CHAT => {
                transcript = Some(
                    serde_json::from_slice::<Transcript>(&s.payload)
                        .map_err(|e| SessionError::corrupt("CHAT", e.to_string()))?,
                );
            }
            TAG_HEAD => return Err(SessionError::corrupt("HEAD", "the section appears twice")),
            // Tags starting with a lowercase letter are optional: later versions may add them.
            t if t[0].is_ascii_lowercase() => {}
            _ => {
                return Err(SessionError::corrupt(
                    &name,
                    "unknown section (written by a newer hearth?)",
                ))
            }
        }
    }
    if sr.trailing_bytes() > 0 {
        return Err(SessionError::corrupt(
            "file",
            format!(
                "{} bytes follow the last of its {} sections",
                sr.trailing_bytes(),
                sr.n_sections
            ),
        ));
    }
    let [main, guidance] = ctxs;
    let missing = |what: &str| SessionError::corrupt(what, "the section is missing");
    let context = main.ok_or_else(|| missing("TOKS"))?;
    check_context(&header, &context, header.n_tokens, with_kv, "conversation")?;
    let guidance = match header.n_guidance_tokens {
        Some(n) => {
            let g = guidance.ok_or_else(|| missing("TOKS (guidance)"))?;
            check_context(&header, &g, n, with_kv, "guidance")?;
            Some(g)
        }
        None => None,
    };
    let transcript = transcript.ok_or_else(|| missing("CHAT"))?;
    if transcript.messages.len() != header.n_messages {
        return Err(SessionError::corrupt(
            "CHAT",
            format!(
                "{} messages, the header says {}",
                transcript.messages.len(),
                header.n_messages
            ),
        ));
    }
    Ok(Session {
        header,
        context,
        guidance,
        sampler,
        transcript,
    })
}

/// Cross-checks one context's sections against the header.
fn check_context(
    h: &SessionHeader,
    c: &SavedContext,
    n_tokens: usize,
    with_kv: bool,
    what: &str,
) -> Result<()> {
    if c.tokens.len() != n_tokens {
        return Err(SessionError::corrupt(
            "TOKS",
            format!(
                "{} {what} tokens, the header says {n_tokens}",
                c.tokens.len()
            ),
        ));
    }
    if with_kv && c.layers.is_none() {
        return Err(SessionError::corrupt(
            "KVCA",
            format!("the {what} KV section is missing"),
        ));
    }
    for (l, rows) in c.layers.iter().flatten().enumerate() {
        let n = rows.n_rows();
        if rows.kv_dim == 0 || rows.first_pos + n != n_tokens || (n == 0) != (n_tokens == 0) {
            return Err(SessionError::corrupt(
                "KVCA",
                format!(
                    "layer {l} holds positions {}..{} of a {what} of {n_tokens} tokens",
                    rows.first_pos,
                    rows.first_pos + n
                ),
            ));
        }
    }
    match &c.logits {
        Some(lg) if lg.len() != h.n_vocab => Err(SessionError::corrupt(
            "LGTS",
            format!("{} logits for a vocabulary of {}", lg.len(), h.n_vocab),
        )),
        None if n_tokens > 0 => Err(SessionError::corrupt(
            "LGTS",
            format!("the {what} logits section is missing"),
        )),
        _ => Ok(()),
    }
}
