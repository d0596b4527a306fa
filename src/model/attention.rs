//! Causal multi-head attention over the f16 KV cache, with grouped-query heads and an optional
//! sliding window, bit-identical to ggml's non-fused path (see [`attention`]).

use super::numerics::{dot_f16, softmax, weighted_rows, DotOrder};
use super::ops::{round_f16, to_f16_bits};
use crate::context::{v_index, SLOT_ALIGN};
use crate::quant::{self, GgmlType};
use half::f16;
use rayon::prelude::*;
use std::marker::PhantomData;

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

/// A layer's cache (f16 bits): `k` holds one row of `n_head_kv * head_dim` per slot; the
/// values are transposed in blocks of `SLOT_ALIGN` slots (`context::v_index`). Position p
/// lives in slot p % capacity (a ring for windowed layers, of a multiple of `SLOT_ALIGN`
/// slots).
///
/// The values are reached through a raw pointer because attention items write the new
/// positions' values of their own KV head while others read theirs (disjoint elements).
pub struct KvView<'a> {
    pub k: &'a [u16],
    v: *mut u16,
    v_len: usize,
    kv_dim: usize,
    pub capacity: usize,
    _values: PhantomData<&'a mut [u16]>,
}

// SAFETY: the view is a unique borrow of the cache; concurrent users touch disjoint value
// elements (see `put_v`).
unsafe impl Sync for KvView<'_> {}

impl<'a> KvView<'a> {
    pub fn new(k: &'a [u16], v: &'a mut [u16], kv_dim: usize, capacity: usize) -> Self {
        assert!(v.len() >= capacity.next_multiple_of(SLOT_ALIGN) * kv_dim);
        KvView {
            k,
            v_len: v.len(),
            v: v.as_mut_ptr(),
            kv_dim,
            capacity,
            _values: PhantomData,
        }
    }

    /// Value element `e` of the position in `slot`.
    pub fn v_at(&self, e: usize, slot: usize) -> u16 {
        // SAFETY: in bounds (`v_run`); nobody writes this element meanwhile (see `put_v`).
        unsafe { *self.v_run(e, slot) }
    }

    /// Value element `e` of the slots `slot..`, up to the end of the slot's `SLOT_ALIGN`
    /// block: contiguous.
    pub fn v_run(&self, e: usize, slot: usize) -> *const u16 {
        let i = v_index(self.kv_dim, e, slot);
        assert!(e < self.kv_dim && i < self.v_len);
        // SAFETY: in bounds, and so is the rest of the block.
        unsafe { self.v.add(i) }
    }

    /// Elements between the same element of consecutive `SLOT_ALIGN` blocks.
    pub fn v_block_stride(&self) -> usize {
        self.kv_dim * SLOT_ALIGN
    }

    /// Writes the values of positions `start..start + n` (`kv_dim` each, rounded to f16).
    ///
    /// # Safety
    /// No other thread may access the values during the call.
    pub unsafe fn put_rows(&self, start: usize, v: &[f32], n: usize) {
        for (t, row) in v.chunks(self.kv_dim).take(n).enumerate() {
            self.put_v(start + t, 0, row);
        }
    }

    /// Writes elements `e0..e0 + vals.len()` of the value at position `pos` (rounded to f16).
    ///
    /// # Safety
    /// No other thread may access those elements during the call.
    pub unsafe fn put_v(&self, pos: usize, e0: usize, vals: &[f32]) {
        let slot = pos % self.capacity;
        assert!(e0 + vals.len() <= self.kv_dim);
        for (i, &x) in vals.iter().enumerate() {
            *self.v.add(v_index(self.kv_dim, e0 + i, slot)) = f16::from_f32(x).to_bits();
        }
    }
}

fn bytes_of(x: &[u16]) -> &[u8] {
    // SAFETY: u16 has no padding or invalid bit patterns; the length covers the same memory.
    unsafe { std::slice::from_raw_parts(x.as_ptr() as *const u8, x.len() * 2) }
}

/// `q` holds `n_tokens` rows of `n_head * head_dim` for positions `start..start+n_tokens`,
/// whose keys are already in the cache; `v` holds their values (`n_head_kv * head_dim` each),
/// which are written into the cache here. Writes the same shape as `q` into `out`.
///
/// Bit-identical to ggml's non-fused attention (flash attention off): the query is rounded to
/// f16 and dotted with each key in the order of `DotOrder::for_batch(n_tokens)`, the scores are
/// scaled, soft-maxed over 16-position groups counted from position 0, the weights rounded to
/// f16, and each output element is the f16 dot product of the weights with one V column.
pub fn attention(
    shape: AttnShape,
    q: &[f32],
    v: &[f32],
    cache: &KvView<'_>,
    start: usize,
    n_tokens: usize,
    out: &mut [f32],
) {
    let order = DotOrder::for_batch(n_tokens);
    assert!(v.len() >= n_tokens * shape.n_head_kv * shape.head_dim);
    #[cfg(target_arch = "x86_64")]
    if quant::CpuFeatures::detect().avx512
        && super::attention_avx512::supports(order, shape.head_dim)
    {
        // SAFETY: AVX-512 detected, head size supported; the caller stored the keys of every
        // position the queries attend to, and the values of all but the new ones.
        unsafe {
            super::attention_avx512::attention(shape, order, q, v, cache, start, n_tokens, out)
        };
        return;
    }
    portable(shape, q, v, cache, start, n_tokens, out);
}

/// [`attention`] one (token, head) at a time in plain code, the reference of the SIMD path.
fn portable(
    shape: AttnShape,
    q: &[f32],
    v: &[f32],
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
    // SAFETY: nothing else uses the cache during this call.
    unsafe { cache.put_rows(start, v, n_tokens) };

    out[..n_tokens * q_row]
        .par_chunks_mut(hd)
        .enumerate()
        .for_each_init(
            || Scratch {
                qh: vec![0u16; hd],
                qf: vec![0f32; hd],
                kf: vec![0f32; hd],
                vh: vec![0u16; hd],
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
                let vh = &mut sc.vh;
                weighted_rows(
                    order,
                    &sc.scores,
                    |p, row| {
                        let slot = p % cache.capacity;
                        for (d, x) in vh.iter_mut().enumerate() {
                            *x = cache.v_at(g * hd + d, slot);
                        }
                        f16_row(bytes_of(vh), row)
                    },
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
    vh: Vec<u16>,
    scores: Vec<f32>,
    acc: Vec<f32>,
    row: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::KvCache;
    use crate::model::LayerCacheSpec;

    fn noise(seed: u64, n: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    /// The dispatching path (AVX-512 where present) against the portable one, bit for bit:
    /// grouped-query heads, a sliding window whose ring wraps, batches and single tokens.
    #[test]
    fn fast_path_matches_portable() {
        for (n_head, n_kv, hd, window) in [
            (6, 2, 64, None),
            (4, 1, 128, Some(40)),
            (3, 3, 64, Some(100)),
            (2, 1, 80, None),
            (4, 2, 256, Some(70)),
        ] {
            let shape = AttnShape {
                n_head,
                n_head_kv: n_kv,
                head_dim: hd,
                scale: 0.125,
                window,
                softcap: None,
            };
            let spec = [LayerCacheSpec {
                kv_dim: n_kv * hd,
                window,
            }];
            let (mut a, mut b) = (KvCache::new(&spec, 400, 48), KvCache::new(&spec, 400, 48));
            let mut pos = 0;
            for (step, n) in [48, 48, 1, 1, 17, 48, 1, 48, 48, 3, 1]
                .into_iter()
                .enumerate()
            {
                let q = noise(3 * step as u64 + 1, n * n_head * hd);
                let k = noise(3 * step as u64 + 2, n * n_kv * hd);
                let v = noise(3 * step as u64 + 3, n * n_kv * hd);
                let (mut oa, mut ob) = (vec![0f32; q.len()], vec![0f32; q.len()]);
                a.store_k(0, pos, &k);
                b.store_k(0, pos, &k);
                attention(shape, &q, &v, &a.view(0), pos, n, &mut oa);
                portable(shape, &q, &v, &b.view(0), pos, n, &mut ob);
                let same = oa.iter().zip(&ob).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{shape:?}: step {step} ({n} tokens at {pos}) differs");
                pos += n;
            }
        }
    }
}
