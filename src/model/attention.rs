//! Causal multi-head attention over the f16 KV cache, with grouped-query heads and an optional
//! sliding window, bit-identical to ggml's non-fused path (see [`attention`]).

use super::numerics::{dot_f16, softmax, weighted_rows, DotOrder};
use super::ops::{round_f16, to_f16_bits};
use crate::quant::{self, GgmlType};
use rayon::prelude::*;

/// The shape of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Multiplier applied to q·k before the softmax.
    pub scale: f32,
    /// Only the last `window` positions (including the current one) are attended to.
    pub window: Option<usize>,
    /// Logit soft-capping (`cap * tanh(s / cap)`), when the architecture uses it.
    pub softcap: Option<f32>,
}

/// A layer's cache rows: `k` and `v` hold f16 bits, one row of `n_head_kv * head_dim` per slot.
pub struct KvView<'a> {
    pub k: &'a [u16],
    pub v: &'a [u16],
    /// Slots in the cache; position p lives in slot p % capacity (a ring for windowed layers).
    pub capacity: usize,
}

fn bytes_of(x: &[u16]) -> &[u8] {
    // SAFETY: u16 has no padding or invalid bit patterns; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(x.as_ptr() as *const u8, x.len() * 2) }
}

/// `q` holds `n_tokens` rows of `n_head * head_dim` for positions `start..start+n_tokens`,
/// whose keys and values are already in the cache. Writes the same shape into `out`.
///
/// Bit-identical to ggml's non-fused attention (flash attention off): the query is rounded to
/// f16 and dotted with each key in the order of `DotOrder::for_batch(n_tokens)`, the scores are
/// scaled, soft-maxed over 16-position groups counted from position 0, the weights rounded to
/// f16, and each output element is the f16 dot product of the weights with one V column.
pub fn attention(
    shape: AttnShape,
    q: &[f32],
    cache: &KvView<'_>,
    start: usize,
    n_tokens: usize,
    out: &mut [f32],
) {
    let hd = shape.head_dim;
    let q_row = shape.n_head * hd;
    let kv_row = shape.n_head_kv * hd;
    let group = shape.n_head / shape.n_head_kv;
    let order = DotOrder::for_batch(n_tokens);
    let f16_row = quant::kernels(GgmlType::F16).dequantize;
    #[cfg(target_arch = "x86_64")]
    let fast = quant::CpuFeatures::detect().avx512 && super::attention_avx512::supports(order, hd);

    out[..n_tokens * q_row]
        .par_chunks_mut(hd)
        .enumerate()
        .for_each_init(
            || Scratch {
                qh: vec![0u16; hd],
                qf: vec![0f32; hd],
                kf: vec![0f32; hd],
                scores: Vec::new(),
                acc: Vec::new(),
                row: vec![0f32; hd],
            },
            |sc, (idx, o)| {
                let t = idx / shape.n_head;
                let h = idx % shape.n_head;
                let g = h / group;
                let pos = start + t;
                let first = match shape.window {
                    Some(w) => (pos + 1).saturating_sub(w),
                    None => 0,
                };
                #[cfg(target_arch = "x86_64")]
                if fast {
                    let args = super::attention_avx512::HeadArgs {
                        order,
                        q: &q[t * q_row + h * hd..t * q_row + (h + 1) * hd],
                        k: cache.k,
                        v: cache.v,
                        kv_row,
                        head_off: g * hd,
                        capacity: cache.capacity,
                        first,
                        pos,
                        scale: shape.scale,
                        softcap: shape.softcap,
                    };
                    // SAFETY: AVX-512 detected, head size supported (`fast`); the cache
                    // holds every slot of `first..=pos` (the caller stored them).
                    unsafe { super::attention_avx512::head(&args, &mut sc.scores, &mut sc.acc, o) };
                    return;
                }
                to_f16_bits(&q[t * q_row + h * hd..t * q_row + (h + 1) * hd], &mut sc.qh);
                f16_row(bytes_of(&sc.qh), &mut sc.qf);
                let head = |p: usize| {
                    let slot = p % cache.capacity;
                    slot * kv_row + g * hd..slot * kv_row + (g + 1) * hd
                };
                // Positions before `first` (outside the window) and after `pos` are masked;
                // the groups of 16 start at position 0 as ggml's cache cells do.
                let n_kv = (pos + 1).next_multiple_of(16);
                sc.scores.clear();
                sc.scores.resize(n_kv, f32::NEG_INFINITY);
                for p in first..=pos {
                    f16_row(bytes_of(&cache.k[head(p)]), &mut sc.kf);
                    let mut s = dot_f16(order, &sc.kf, &sc.qf) * shape.scale;
                    if let Some(cap) = shape.softcap {
                        s = cap * (s / cap).tanh();
                    }
                    sc.scores[p] = s;
                }
                softmax(&mut sc.scores);
                sc.scores.iter_mut().for_each(|w| *w = round_f16(*w));
                // ggml's V spans the cache's cells (a multiple of 256): pad with zero weights.
                sc.scores.resize((pos + 1).next_multiple_of(256), 0.0);
                weighted_rows(
                    order,
                    &sc.scores,
                    |p, row| f16_row(bytes_of(&cache.v[head(p)]), row),
                    &mut sc.acc,
                    &mut sc.row,
                    o,
                );
            },
        );
}

/// Per-thread buffers of [`attention`].
struct Scratch {
    qh: Vec<u16>,
    qf: Vec<f32>,
    kf: Vec<f32>,
    scores: Vec<f32>,
    acc: Vec<f32>,
    row: Vec<f32>,
}
