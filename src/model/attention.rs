//! Causal multi-head attention over the f16 KV cache, with grouped-query heads and an optional
//! sliding window. Numerics follow ggml's non-fused path: the query is rounded to f16 for the
//! K product, the softmax runs in f32, and its weights are rounded to f16 for the V product.

use super::ops::{softmax, to_f16_bits};
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
    let f16_dot = quant::kernels(GgmlType::F16).vec_dot;
    let f16_row = quant::kernels(GgmlType::F16).dequantize;

    out[..n_tokens * q_row]
        .par_chunks_mut(hd)
        .enumerate()
        .for_each_init(
            || (vec![0u16; hd], Vec::<f32>::new(), vec![0f32; hd]),
            |(qh, scores, vrow), (idx, o)| {
                let t = idx / shape.n_head;
                let h = idx % shape.n_head;
                let g = h / group;
                let pos = start + t;
                let first = match shape.window {
                    Some(w) => (pos + 1).saturating_sub(w),
                    None => 0,
                };
                to_f16_bits(&q[t * q_row + h * hd..t * q_row + (h + 1) * hd], qh);
                let qb = bytes_of(qh);
                scores.clear();
                for p in first..=pos {
                    let slot = p % cache.capacity;
                    let k = &cache.k[slot * kv_row + g * hd..slot * kv_row + (g + 1) * hd];
                    let mut s = f16_dot(hd, bytes_of(k), qb) * shape.scale;
                    if let Some(cap) = shape.softcap {
                        s = cap * (s / cap).tanh();
                    }
                    scores.push(s);
                }
                softmax(scores);
                o.fill(0.0);
                for (i, p) in (first..=pos).enumerate() {
                    let slot = p % cache.capacity;
                    let v = &cache.v[slot * kv_row + g * hd..slot * kv_row + (g + 1) * hd];
                    f16_row(bytes_of(v), vrow);
                    let w = super::ops::round_f16(scores[i]);
                    for (acc, &x) in o.iter_mut().zip(vrow.iter()) {
                        *acc += w * x;
                    }
                }
            },
        );
}
