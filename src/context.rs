//! Per-conversation state: the KV cache, the evaluated tokens, logits, scratch buffers and the
//! worker pool. The model itself stays immutable and can be shared by several contexts.

use crate::model::attention::KvView;
use crate::model::ops::{rms_norm, to_f16_bits, Rope};
use crate::model::weight::{matmul, Activations, Weight};
use crate::model::{ForwardParams, LayerCacheSpec, Model, Outputs};
use crate::quant::GgmlType;
use anyhow::{bail, Result};

/// The f16 key/value cache of every layer.
pub struct KvCache {
    layers: Vec<LayerKv>,
    n_ctx: usize,
}

/// Keys are rows of `kv_dim` per slot; values are stored transposed in blocks of
/// [`SLOT_ALIGN`] slots (per block, a run of `SLOT_ALIGN` positions for each of the `kv_dim`
/// elements; see [`v_index`]), so that the attention's sums over positions read contiguous
/// runs while one position's values stay within a few pages (a row per element across the
/// whole context would put every element on its own page: a TLB miss per element, costly
/// inside virtual machines).
struct LayerKv {
    spec: LayerCacheSpec,
    capacity: usize,
    k: Vec<u16>,
    v: Vec<u16>,
}

/// Where value element `e` of the position in `slot` lives in a layer's value storage.
#[inline(always)]
pub fn v_index(kv_dim: usize, e: usize, slot: usize) -> usize {
    ((slot / SLOT_ALIGN) * kv_dim + e) * SLOT_ALIGN + slot % SLOT_ALIGN
}

impl KvCache {
    /// Windowed layers keep a ring of `window + n_batch` slots: enough that a whole batch can be
    /// written before its first token reads the positions it still needs. A ring that wraps
    /// has a multiple of [`SLOT_ALIGN`] slots, so that aligned runs of positions are contiguous
    /// slots; rows of values are padded to that multiple too (zeros, never weighted).
    pub fn new(specs: &[LayerCacheSpec], n_ctx: usize, n_batch: usize) -> KvCache {
        let layers = specs
            .iter()
            .map(|&spec| {
                let capacity = spec.window.map_or(n_ctx, |w| {
                    w.saturating_add(n_batch)
                        .next_multiple_of(SLOT_ALIGN)
                        .min(n_ctx)
                });
                LayerKv {
                    spec,
                    capacity,
                    k: vec![0; capacity * spec.kv_dim],
                    v: vec![0; capacity.next_multiple_of(SLOT_ALIGN) * spec.kv_dim],
                }
            })
            .collect();
        KvCache { layers, n_ctx }
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Writes rows of keys (f32, `kv_dim` each) for positions `start..`. Values are written by
    /// the attention itself ([`KvView::put_v`]), by the thread that reads them next.
    pub fn store_k(&mut self, layer: usize, start: usize, k: &[f32]) {
        let l = &mut self.layers[layer];
        let kvd = l.spec.kv_dim;
        for (i, kr) in k.chunks(kvd).enumerate() {
            let slot = (start + i) % l.capacity;
            to_f16_bits(kr, &mut l.k[slot * kvd..(slot + 1) * kvd]);
        }
    }

    /// The layer's cache for one attention call: keys to read, values to read and write.
    pub fn view(&mut self, layer: usize) -> KvView<'_> {
        let l = &mut self.layers[layer];
        KvView::new(&l.k, &mut l.v, l.spec.kv_dim, l.capacity)
    }

    /// The f16 key row of position `pos` of `layer` (what a session stores).
    pub fn k_row(&self, layer: usize, pos: usize) -> &[u16] {
        let l = &self.layers[layer];
        let (slot, kvd) = (pos % l.capacity, l.spec.kv_dim);
        &l.k[slot * kvd..(slot + 1) * kvd]
    }

    /// The f16 value row of position `pos` of `layer`, gathered into `out` (`kv_dim` long).
    pub fn v_row(&self, layer: usize, pos: usize, out: &mut [u16]) {
        let l = &self.layers[layer];
        let slot = pos % l.capacity;
        for (e, o) in out.iter_mut().enumerate().take(l.spec.kv_dim) {
            *o = l.v[v_index(l.spec.kv_dim, e, slot)];
        }
    }

    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Elements per position of `layer`'s keys (and of its values).
    pub fn layer_kv_dim(&self, layer: usize) -> usize {
        self.layers[layer].spec.kv_dim
    }

    /// Positions `layer` holds at once (the context size, or its window).
    pub fn layer_capacity(&self, layer: usize) -> usize {
        self.layers[layer].capacity
    }

    /// The first position whose rows `layer` still holds after `n_past` positions were stored:
    /// 0, or `n_past - capacity` for a sliding-window layer that has wrapped around.
    pub fn first_held(&self, layer: usize, n_past: usize) -> usize {
        n_past.saturating_sub(self.layers[layer].capacity)
    }

    /// Overwrites the f16 K and V rows (`kv_dim` each) of position `pos` of `layer`.
    pub fn set_layer_rows(&mut self, layer: usize, pos: usize, k: &[u16], v: &[u16]) {
        let l = &mut self.layers[layer];
        let slot = pos % l.capacity;
        let kvd = l.spec.kv_dim;
        l.k[slot * kvd..(slot + 1) * kvd].copy_from_slice(k);
        l.put_v(slot, v);
    }

    /// Bytes the cache occupies.
    pub fn size_bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| (l.k.len() + l.v.len()) * 2)
            .sum()
    }
}

impl LayerKv {
    /// Scatters one position's value row into its slot's column.
    fn put_v(&mut self, slot: usize, v: &[u16]) {
        for (e, &x) in v.iter().enumerate().take(self.spec.kv_dim) {
            self.v[v_index(self.spec.kv_dim, e, slot)] = x;
        }
    }
}

/// Slot alignment of the KV cache (see [`KvCache::new`]): ggml's longest run of positions
/// summed lane by lane (its single-token f16 dot product steps by 64).
pub const SLOT_ALIGN: usize = 64;

/// Reusable buffers of the forward pass, sized for the current batch.
#[derive(Default)]
pub struct Scratch {
    pub x: Vec<f32>,
    pub xn: Vec<f32>,
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
    pub att: Vec<f32>,
    pub o: Vec<f32>,
    pub gate: Vec<f32>,
    pub up: Vec<f32>,
    pub acts: Activations,
    /// cos/sin per position of the batch.
    pub rope: Vec<Vec<(f32, f32)>>,
}

impl Scratch {
    pub fn prepare(&mut self, n: usize, d: usize, qd: usize, kvd: usize, ff: usize) {
        self.x.resize(n * d, 0.0);
        self.xn.resize(n * d, 0.0);
        self.q.resize(n * qd, 0.0);
        self.k.resize(n * kvd, 0.0);
        self.v.resize(n * kvd, 0.0);
        self.att.resize(n * qd, 0.0);
        self.o.resize(n * d, 0.0);
        self.gate.resize(n * ff, 0.0);
        self.up.resize(n * ff, 0.0);
    }

    /// Looks up the embeddings of `tokens` into `x`.
    pub fn embed(&mut self, table: &Weight, tokens: &[u32], d: usize) -> Result<()> {
        for (i, &t) in tokens.iter().enumerate() {
            if t as usize >= table.rows {
                bail!("token id {t} is outside the vocabulary ({})", table.rows);
            }
            table.dequantize_row(t as usize, &mut self.x[i * d..(i + 1) * d]);
        }
        Ok(())
    }

    pub fn rope_tables(&mut self, rope: &Rope, start: usize, n: usize) {
        self.rope.resize_with(n, Vec::new);
        for (i, t) in self.rope.iter_mut().enumerate() {
            rope.table(start + i, t);
        }
    }

    /// Makes sure `acts` holds `xn` in the dot type of `w_ty`, reusing it when it already does
    /// (`norm_input` marks it stale whenever `xn` changes).
    pub fn ensure_acts(&mut self, w_ty: GgmlType, n: usize, d: usize) {
        if self.acts.ty != Some(w_ty.dot_type()) || self.acts.n_rows != n {
            self.acts.quantize(w_ty.dot_type(), &self.xn, n, d);
        }
    }

    /// Final norm and output projection for the rows `outputs` asks for.
    #[allow(clippy::too_many_arguments)]
    pub fn output(
        &mut self,
        output: &Weight,
        norm: &[f32],
        eps: f32,
        n: usize,
        d: usize,
        outputs: Outputs,
        logits: &mut Vec<f32>,
    ) {
        let first = match outputs {
            Outputs::Last => n - 1,
            Outputs::All => 0,
        };
        let rows = n - first;
        self.xn.truncate(rows * d);
        self.xn.copy_from_slice(&self.x[first * d..n * d]);
        self.xn.chunks_mut(d).for_each(|r| rms_norm(r, norm, eps));
        self.acts.quantize(output.ty.dot_type(), &self.xn, rows, d);
        logits.resize(rows * output.rows, 0.0);
        matmul(output, &self.acts, logits);
    }
}

/// Settings of a context.
#[derive(Clone, Copy, Debug)]
pub struct ContextParams {
    pub n_ctx: usize,
    pub n_threads: usize,
    /// Tokens evaluated per forward call when processing a prompt.
    pub n_batch: usize,
    pub rope_freq_base: Option<f32>,
    pub rope_freq_scale: Option<f32>,
}

impl Default for ContextParams {
    fn default() -> Self {
        ContextParams {
            n_ctx: 4096,
            n_threads: default_threads(),
            n_batch: 512,
            rope_freq_base: None,
            rope_freq_scale: None,
        }
    }
}

/// The number of physical cores.
pub fn default_threads() -> usize {
    num_cpus::get_physical().max(1)
}

/// The K/V rows one layer holds for positions `first_pos..first_pos + n_rows`, f16 bits.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerRows {
    pub kv_dim: usize,
    pub first_pos: usize,
    /// `n_rows * kv_dim` keys, position by position.
    pub k: Vec<u16>,
    /// `n_rows * kv_dim` values, position by position.
    pub v: Vec<u16>,
}

impl LayerRows {
    pub fn n_rows(&self) -> usize {
        self.k.len() / self.kv_dim.max(1)
    }
}

/// What a context needs to continue exactly where it was: its tokens, the used KV rows of every
/// layer (positions `0..n_past`, or the last window of a sliding-window layer) and the logits of
/// its last token. Made by [`Context::export_kv`], restored by [`Context::import_kv`].
#[derive(Clone, Debug, PartialEq)]
pub struct ContextSnapshot {
    pub tokens: Vec<u32>,
    pub layers: Vec<LayerRows>,
    /// The last token's logits (`n_vocab`), when the context has evaluated anything.
    pub logits: Option<Vec<f32>>,
}

/// One conversation's evaluation state.
pub struct Context {
    pub params: ContextParams,
    pub forward: ForwardParams,
    cache: KvCache,
    scratch: Scratch,
    tokens: Vec<u32>,
    logits: Vec<f32>,
    n_vocab: usize,
    pool: rayon::ThreadPool,
}

impl Context {
    pub fn new(model: &Model, params: ContextParams) -> Result<Context> {
        if params.n_ctx == 0 {
            bail!("the context size must be at least 1");
        }
        if params.n_threads == 0 || params.n_threads > 1024 {
            bail!("thread count {} is out of range", params.n_threads);
        }
        let mut forward = model.arch.default_forward_params();
        if let Some(b) = params.rope_freq_base {
            if !(b.is_finite() && b > 0.0) {
                bail!("RoPE frequency base must be positive, got {b}");
            }
            forward.rope_freq_base = b;
        }
        if let Some(s) = params.rope_freq_scale {
            if !(s.is_finite() && s > 0.0) {
                bail!("RoPE frequency scale must be positive, got {s}");
            }
            forward.rope_freq_scale = s;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(params.n_threads)
            .thread_name(|i| format!("hearth-worker-{i}"))
            .build()?;
        Ok(Context {
            cache: KvCache::new(
                &model.arch.cache_spec(),
                params.n_ctx,
                params.n_batch.max(1),
            ),
            params,
            forward,
            scratch: Scratch::default(),
            tokens: Vec::new(),
            logits: Vec::new(),
            n_vocab: model.hparams().n_vocab,
            pool,
        })
    }

    /// Tokens whose keys and values are in the cache.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
    pub fn n_past(&self) -> usize {
        self.tokens.len()
    }
    pub fn n_ctx(&self) -> usize {
        self.params.n_ctx
    }
    pub fn cache(&self) -> &KvCache {
        &self.cache
    }

    /// Logits of the last evaluated token, or `None` before the first evaluation.
    pub fn last_logits(&self) -> Option<&[f32]> {
        let n = self.logits.len();
        (n >= self.n_vocab && self.n_vocab > 0).then(|| &self.logits[n - self.n_vocab..])
    }

    /// Whether [`Context::truncate`]`(n)` keeps every row positions `0..n` need: false when a
    /// sliding-window layer has already overwritten rows the shorter context would attend to.
    pub fn can_truncate(&self, n: usize) -> bool {
        let n_past = self.n_past();
        n >= n_past
            || n == 0
            || (0..self.cache.n_layers()).all(|l| self.cache.layer_capacity(l) >= n_past)
    }

    /// Copies out the tokens, the used KV rows of every layer and the last logits.
    pub fn export_kv(&self) -> ContextSnapshot {
        let n_past = self.n_past();
        let layers = (0..self.cache.n_layers())
            .map(|l| {
                let first = self.cache.first_held(l, n_past);
                let kvd = self.cache.layer_kv_dim(l);
                let mut k = Vec::with_capacity((n_past - first) * kvd);
                let mut v = Vec::with_capacity((n_past - first) * kvd);
                let mut vr = vec![0u16; kvd];
                for pos in first..n_past {
                    k.extend_from_slice(self.cache.k_row(l, pos));
                    self.cache.v_row(l, pos, &mut vr);
                    v.extend_from_slice(&vr);
                }
                LayerRows {
                    kv_dim: kvd,
                    first_pos: first,
                    k,
                    v,
                }
            })
            .collect();
        ContextSnapshot {
            tokens: self.tokens.clone(),
            layers,
            logits: self.last_logits().map(<[f32]>::to_vec),
        }
    }

    /// Replaces this context's state with `snap` (from [`Context::export_kv`] of a context of
    /// the same model and cache shape). Checks every dimension first; on error nothing changes.
    pub fn import_kv(&mut self, snap: ContextSnapshot) -> Result<()> {
        let n_past = snap.tokens.len();
        if n_past > self.params.n_ctx {
            bail!(
                "{n_past} tokens do not fit a context of {}",
                self.params.n_ctx
            );
        }
        if let Some(&t) = snap.tokens.iter().find(|&&t| t as usize >= self.n_vocab) {
            bail!("token id {t} is outside the vocabulary ({})", self.n_vocab);
        }
        if snap.layers.len() != self.cache.n_layers() {
            bail!(
                "{} layers of KV rows for a model with {}",
                snap.layers.len(),
                self.cache.n_layers()
            );
        }
        for (l, rows) in snap.layers.iter().enumerate() {
            let kvd = self.cache.layer_kv_dim(l);
            let first = self.cache.first_held(l, n_past);
            let want = (n_past - first) * kvd;
            if rows.kv_dim != kvd {
                bail!(
                    "layer {l}: rows of {} elements, expected {kvd}",
                    rows.kv_dim
                );
            }
            if rows.first_pos != first || rows.k.len() != want || rows.v.len() != want {
                bail!(
                    "layer {l}: rows for positions {}.. ({} keys, {} values), expected positions {first}..{n_past} ({want} each)",
                    rows.first_pos,
                    rows.k.len(),
                    rows.v.len()
                );
            }
        }
        match &snap.logits {
            Some(lg) if lg.len() != self.n_vocab => {
                bail!("{} logits for a vocabulary of {}", lg.len(), self.n_vocab)
            }
            None if n_past > 0 => bail!("the last token's logits are missing"),
            _ => {}
        }
        for (l, rows) in snap.layers.iter().enumerate() {
            let kvd = rows.kv_dim;
            for (i, (kr, vr)) in rows.k.chunks(kvd).zip(rows.v.chunks(kvd)).enumerate() {
                self.cache.set_layer_rows(l, rows.first_pos + i, kr, vr);
            }
        }
        self.tokens = snap.tokens;
        self.logits = snap.logits.unwrap_or_default();
        Ok(())
    }

    /// Forgets everything after the first `n` tokens (their cache rows are overwritten later).
    pub fn truncate(&mut self, n: usize) {
        self.tokens.truncate(n);
    }

    /// Evaluates `tokens` after the ones already in the context, in batches of `n_batch`.
    /// With `Outputs::Last` the logits of the last token are kept; with `Outputs::All` one row
    /// per token of this call. `progress(done, total)` is called after each batch.
    pub fn eval(
        &mut self,
        model: &Model,
        tokens: &[u32],
        outputs: Outputs,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        if self.n_past() + tokens.len() > self.params.n_ctx {
            bail!(
                "context is full: {} tokens in the context plus {} new exceed its size {}",
                self.n_past(),
                tokens.len(),
                self.params.n_ctx
            );
        }
        let mut all = Vec::new();
        let batch = self.params.n_batch.max(1);
        let mut done = 0;
        for chunk in tokens.chunks(batch) {
            let start = self.n_past();
            let (cache, scratch, logits) = (&mut self.cache, &mut self.scratch, &mut self.logits);
            let fwd = self.forward;
            self.pool.install(|| {
                model
                    .arch
                    .forward(&fwd, chunk, start, cache, scratch, outputs, logits)
            })?;
            self.tokens.extend_from_slice(chunk);
            if outputs == Outputs::All {
                all.extend_from_slice(&self.logits);
            }
            done += chunk.len();
            progress(done, tokens.len());
        }
        if outputs == Outputs::All {
            self.logits = all;
        }
        Ok(())
    }

    /// Logits of the last evaluated token.
    pub fn logits(&self) -> &[f32] {
        let n = self.logits.len();
        &self.logits[n - self.n_vocab..]
    }

    /// All logit rows of the last `eval` with `Outputs::All`.
    pub fn all_logits(&self) -> &[f32] {
        &self.logits
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Runs `f` on this context's worker pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}
