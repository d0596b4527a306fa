//! AVX-512 attention: the same operations in the same order as the portable path (and as
//! ggml), organised for throughput.
//!
//! Work is split into items of one KV head and a block of tokens; an item's queries (the
//! block's tokens × the heads sharing that KV head) are processed together, so that each key
//! row and each run of a value column is loaded and converted once for all of them:
//! 1. scores: per position, the key row is converted once and dotted with every query; 16
//!    positions' partial vectors are reduced together (`reduce16_each`);
//! 2. softmax per query over its own positions (others weigh zero);
//! 3. values: the cache holds V transposed, so output element `d` of a query is ggml's dot
//!    product of value row `d` with the weights along positions, accumulated in registers for a
//!    tile of dimensions × queries.
//!
//! A weight of zero (masked or outside a query's window) adds `+0 · v` to a lane, which leaves
//! it unchanged: the union of the queries' ranges can be swept for all of them.

use super::attention::{AttnShape, KvView};
use super::numerics::DotOrder;
use super::simd512::{expf, reduce16};
use crate::context::SLOT_ALIGN;
use rayon::prelude::*;
use std::arch::x86_64::*;

/// Whether this kernel handles a head size (whole 16-lane groups; whole 64-element steps for
/// the single-token order, which would otherwise need f64 leftovers).
pub fn supports(order: DotOrder, hd: usize) -> bool {
    match order {
        DotOrder::Batch => hd.is_multiple_of(16) && hd <= 256,
        DotOrder::Single => hd.is_multiple_of(64) && hd <= 256,
    }
}

/// Queries of an item, at most (the score vectors of 16 positions stay in L1).
const MAX_QUERIES: usize = 24;
/// Value tile: dimensions × queries (× 4 lane groups for the single-token order).
const DT_BATCH: usize = 4;
const DT_SINGLE: usize = 2;
const QT_BATCH: usize = 6;
const QT_SINGLE: usize = 3;
/// Key rows prefetched this many positions ahead.
const K_AHEAD: usize = 16;

/// `reduce16` of each of sixteen vectors at once, results in order: the same additions of
/// the same operands (halves, quarters, then `(q0 + q2) + (q1 + q3)`), done across registers
/// with shuffles instead of one horizontal sum at a time.
#[inline(always)]
unsafe fn reduce16_each(v: &[__m512; 16]) -> __m512 {
    // Halves: [hi256 + lo256 of v[2k] | of v[2k+1]].
    let mut t = [_mm512_setzero_ps(); 8];
    for k in 0..8 {
        let (a, b) = (v[2 * k], v[2 * k + 1]);
        let lo = _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b);
        let hi = _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b);
        t[k] = _mm512_add_ps(hi, lo);
    }
    // Quarters: 128-bit block j of w[k] is [q0..q3] of vector 4k + j.
    let mut w = [_mm512_setzero_ps(); 4];
    for k in 0..4 {
        let (a, b) = (t[2 * k], t[2 * k + 1]);
        let lo = _mm512_shuffle_f32x4::<0b10_00_10_00>(a, b);
        let hi = _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b);
        w[k] = _mm512_add_ps(hi, lo);
    }
    // (q0 + q2) and (q1 + q3), then their sum.
    let z0 = _mm512_add_ps(
        _mm512_shuffle_ps::<0b01_00_01_00>(w[0], w[1]),
        _mm512_shuffle_ps::<0b11_10_11_10>(w[0], w[1]),
    );
    let z1 = _mm512_add_ps(
        _mm512_shuffle_ps::<0b01_00_01_00>(w[2], w[3]),
        _mm512_shuffle_ps::<0b11_10_11_10>(w[2], w[3]),
    );
    let r = _mm512_add_ps(
        _mm512_shuffle_ps::<0b10_00_10_00>(z0, z1),
        _mm512_shuffle_ps::<0b11_01_11_01>(z0, z1),
    );
    // Element e of 128-bit block j holds vector 4e + j.
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_permutexvar_ps(idx, r)
}

#[inline(always)]
unsafe fn load_f16(p: *const u16) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
}

/// The output, written by items at disjoint (token, head) rows.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: items write disjoint elements; the buffer outlives the parallel region.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// One item: KV head `g`, tokens `t0..t1`, query heads `h0..h1` (all sharing `g`).
#[derive(Clone, Copy)]
struct Item {
    g: usize,
    t0: usize,
    t1: usize,
    h0: usize,
    h1: usize,
}

/// Per-thread buffers.
#[derive(Default)]
struct Scratch {
    /// Queries rounded to f16, padded to whole value tiles: `nqp × hd`.
    q: Vec<f32>,
    /// Per query: first and last position attended.
    range: Vec<(usize, usize)>,
    /// Score rows, then weights: `nq × len`.
    w: Vec<f32>,
    /// 16 positions' dot vectors per query, then 16 dimensions' sums per query.
    vecs: Vec<__m512>,
}

/// Attention of `n_tokens` queries at positions `start..` (see `attention::attention`).
///
/// # Safety
/// AVX-512 F/BW/VL, FMA and F16C must be present and `supports(order, shape.head_dim)`; the
/// cache must hold every position the queries attend to.
#[allow(clippy::too_many_arguments)]
pub unsafe fn attention(
    shape: AttnShape,
    order: DotOrder,
    q: &[f32],
    v: &[f32],
    cache: &KvView<'_>,
    start: usize,
    n_tokens: usize,
    out: &mut [f32],
) {
    let group = shape.n_head / shape.n_head_kv;
    let threads = rayon::current_num_threads().max(1);
    // One token with a KV head per thread or more: an item per KV head, which writes its
    // head's new values itself (a value row spans `head_dim` cache lines of the transposed
    // cache; written on another core, each would have to travel). Otherwise the values are
    // written first, and a KV head's queries are split when there are fewer KV heads than
    // threads (an idle thread would go to sleep).
    let own_values = n_tokens == 1 && shape.n_head_kv >= threads;
    if !own_values {
        cache.put_rows(start, v, n_tokens);
    }
    let (tokens_per_item, splits) = if n_tokens == 1 {
        let even = (1..=group).find(|s| (shape.n_head_kv * s) % threads == 0);
        (1, if own_values { 1 } else { even.unwrap_or(group) })
    } else {
        ((MAX_QUERIES / group).max(1), group.div_ceil(MAX_QUERIES))
    };
    let heads_per_item = group.div_ceil(splits);
    let mut items = Vec::new();
    for g in 0..shape.n_head_kv {
        for t0 in (0..n_tokens).step_by(tokens_per_item) {
            for h0 in (0..group).step_by(heads_per_item) {
                items.push(Item {
                    g,
                    t0,
                    t1: (t0 + tokens_per_item).min(n_tokens),
                    h0: g * group + h0,
                    h1: g * group + (h0 + heads_per_item).min(group),
                });
            }
        }
    }
    assert!(out.len() >= n_tokens * shape.n_head * shape.head_dim);
    let o = OutPtr(out.as_mut_ptr());
    let run = |s: &mut Scratch, it: &Item| {
        let hd = shape.head_dim;
        if own_values {
            // SAFETY: this item alone uses value rows g·hd..(g + 1)·hd.
            unsafe { cache.put_v(start, it.g * hd, &v[it.g * hd..(it.g + 1) * hd]) };
        }
        // SAFETY: the caller's guarantees; items write disjoint rows of `out`.
        unsafe { item(&shape, order, q, cache, start, it, s, o) }
    };
    if items.len() == 1 {
        run(&mut Scratch::default(), &items[0]);
    } else {
        items.par_iter().for_each_init(Scratch::default, run);
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
unsafe fn item(
    shape: &AttnShape,
    order: DotOrder,
    q: &[f32],
    cache: &KvView<'_>,
    start: usize,
    it: &Item,
    s: &mut Scratch,
    out: OutPtr,
) {
    let hd = shape.head_dim;
    let nc = hd / 16;
    let q_row = shape.n_head * hd;
    let kv_row = shape.n_head_kv * hd;
    let heads = it.h1 - it.h0;
    let nq = (it.t1 - it.t0) * heads;
    let qt = match order {
        DotOrder::Batch => QT_BATCH,
        DotOrder::Single => QT_SINGLE,
    };
    let nqp = nq.next_multiple_of(qt);

    // Queries (rounded to f16) and their ranges; padding queries weigh nothing.
    s.q.clear();
    s.q.resize(nqp * hd, 0.0);
    s.range.clear();
    for t in it.t0..it.t1 {
        let pos = start + t;
        let first = shape.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        for h in it.h0..it.h1 {
            let j = s.range.len();
            let src = q.as_ptr().add(t * q_row + h * hd);
            for c in 0..nc {
                let x = _mm512_loadu_ps(src.add(16 * c));
                let r = _mm512_cvtph_ps(_mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x));
                _mm512_storeu_ps(s.q.as_mut_ptr().add(j * hd + 16 * c), r);
            }
            s.range.push((first, pos));
        }
    }
    let lo = s.range.iter().map(|r| r.0).min().unwrap_or(0) / SLOT_ALIGN * SLOT_ALIGN;
    let hi = s.range.iter().map(|r| r.1 + 1).max().unwrap_or(0);
    let len = (hi - lo).next_multiple_of(SLOT_ALIGN);
    s.w.clear();
    s.w.resize(nqp * len, 0.0);
    s.vecs.resize(nqp * 16, _mm512_setzero_ps());

    // 1. Scores of the 16-position groups in lo..hi.
    let head_off = it.g * hd;
    let scale = _mm512_set1_ps(shape.scale);
    let mut slot = lo % cache.capacity;
    for g16 in (lo..hi).step_by(16) {
        for i in 0..16 {
            let kp = cache.k.as_ptr().add(slot * kv_row + head_off);
            // Rows further on, ahead of use (one stream per item: too sparse for the
            // hardware prefetchers to run far enough ahead).
            let ahead = cache
                .k
                .as_ptr()
                .wrapping_add(((slot + K_AHEAD) % cache.capacity) * kv_row + head_off);
            for line in (0..hd * 2).step_by(64) {
                _mm_prefetch::<_MM_HINT_T0>((ahead as *const i8).wrapping_add(line));
            }
            slot += 1;
            if slot == cache.capacity {
                slot = 0;
            }
            let (q, vecs) = (s.q.as_ptr(), s.vecs.as_mut_ptr().add(i));
            match nc {
                4 => key_dots::<4>(order, kp, q, nq, hd, vecs),
                8 => key_dots::<8>(order, kp, q, nq, hd, vecs),
                16 => key_dots::<16>(order, kp, q, nq, hd, vecs),
                _ => key_dots::<0>(order, kp, q, nq, hd, vecs),
            }
        }
        for j in 0..nq {
            let v: &[__m512; 16] = &*(s.vecs.as_ptr().add(j * 16) as *const [__m512; 16]);
            let dots = _mm512_mul_ps(reduce16_each(v), scale);
            _mm512_storeu_ps(s.w.as_mut_ptr().add(j * len + g16 - lo), dots);
        }
    }

    // 2. Softmax per query over its own groups; everything else weighs zero.
    for j in 0..nq {
        let (first, pos) = s.range[j];
        let row = &mut s.w[j * len..(j + 1) * len];
        let (g0, g1) = (first / 16 * 16, (pos + 1).next_multiple_of(16));
        for (p, e) in row.iter_mut().enumerate() {
            let p = p + lo;
            if p < first || p > pos {
                *e = f32::NEG_INFINITY;
            } else if let Some(cap) = shape.softcap {
                *e = cap * (*e / cap).tanh();
            }
        }
        let own = &mut row[g0 - lo..g1 - lo];
        let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
        for c in own.chunks_exact(16) {
            m = _mm512_max_ps(m, _mm512_loadu_ps(c.as_ptr()));
        }
        let max = _mm512_set1_ps(_mm512_reduce_max_ps(m));
        let mut sum = 0f64;
        for c in own.chunks_exact_mut(16) {
            let e = expf(_mm512_sub_ps(_mm512_loadu_ps(c.as_ptr()), max));
            _mm512_storeu_ps(c.as_mut_ptr(), e);
            sum += reduce16(e) as f64;
        }
        let inv = _mm512_set1_ps((1.0 / sum) as f32);
        for c in own.chunks_exact_mut(16) {
            let w = _mm512_mul_ps(_mm512_loadu_ps(c.as_ptr()), inv);
            let w = _mm512_cvtph_ps(_mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(w));
            _mm512_storeu_ps(c.as_mut_ptr(), w);
        }
        row[..g0 - lo].fill(0.0);
        row[g1 - lo..].fill(0.0);
    }

    // 3. Weighted values: output d of query j = dot(value row d, weights j) along positions.
    for d16 in (0..hd).step_by(16) {
        for q0 in (0..nqp).step_by(qt) {
            // Sixteen dimensions in tiles of `$dt` (the order fixes the tile's shape).
            macro_rules! tiles {
                ($dt:expr, $qt:expr, $l:expr) => {
                    for dt in (0..16).step_by($dt) {
                        values::<$dt, $qt, $l>(cache, head_off, lo, len, s, d16 + dt, q0, dt);
                    }
                };
            }
            match order {
                DotOrder::Batch => tiles!(DT_BATCH, QT_BATCH, 1),
                DotOrder::Single => tiles!(DT_SINGLE, QT_SINGLE, 4),
            }
            for j in q0..(q0 + qt).min(nq) {
                let v: &[__m512; 16] =
                    &*(s.vecs.as_ptr().add((j - q0) * 16) as *const [__m512; 16]);
                let r = reduce16_each(v);
                let (t, h) = (it.t0 + j / heads, it.h0 + j % heads);
                _mm512_storeu_ps(out.0.add(t * q_row + h * hd + d16), r);
            }
        }
    }
}

/// The dot-product vectors (before the horizontal sum) of one key row (`hd` f16 at `kp`) with
/// `nq` queries (`hd` f32 apart at `q`), stored at `vecs[16 j]`. `NC` is `hd / 16` when known
/// at compile time (the key row then stays in registers), 0 otherwise.
#[inline(always)]
unsafe fn key_dots<const NC: usize>(
    order: DotOrder,
    kp: *const u16,
    q: *const f32,
    nq: usize,
    hd: usize,
    vecs: *mut __m512,
) {
    let nc = if NC > 0 { NC } else { hd / 16 };
    let mut k = [_mm512_setzero_ps(); 16];
    for (c, kc) in k.iter_mut().enumerate().take(nc) {
        *kc = load_f16(kp.add(16 * c));
    }
    for j in 0..nq {
        let qj = q.add(j * hd);
        let v = match order {
            DotOrder::Batch => {
                let mut acc = _mm512_setzero_ps();
                for (c, kc) in k.iter().enumerate().take(nc) {
                    acc = _mm512_fmadd_ps(*kc, _mm512_loadu_ps(qj.add(16 * c)), acc);
                }
                acc
            }
            DotOrder::Single => {
                let mut a = [_mm512_setzero_ps(); 4];
                for step in 0..nc / 4 {
                    for (l, al) in a.iter_mut().enumerate() {
                        let c = 4 * step + l;
                        *al = _mm512_fmadd_ps(k[c], _mm512_loadu_ps(qj.add(16 * c)), *al);
                    }
                }
                _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3]))
            }
        };
        *vecs.add(16 * j) = v;
    }
}

/// Value rows `d0..d0 + DT` against queries `q0..q0 + QT` over the item's positions, with
/// `L` accumulators per pair (ggml's lane groups: 1 for the batch order, 4 for the
/// single-token one, folded as `(a0 + a2) + (a1 + a3)`). Writes the folded vectors to
/// `s.vecs[(j - q0) * 16 + slot0 + i]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn values<const DT: usize, const QT: usize, const L: usize>(
    cache: &KvView<'_>,
    head_off: usize,
    lo: usize,
    len: usize,
    s: &mut Scratch,
    d0: usize,
    q0: usize,
    slot0: usize,
) {
    let mut acc = [[[_mm512_setzero_ps(); L]; QT]; DT];
    let w = s.w.as_ptr();
    let rows: [*const u16; DT] = std::array::from_fn(|i| cache.v_run(head_off + d0 + i, 0));
    let block = cache.v_block_stride();
    // The runs of one element are a block apart: too far for the hardware prefetchers.
    const AHEAD: usize = 8;
    let mut slot = lo % cache.capacity;
    for c in (0..len).step_by(16 * L) {
        let at = |slot: usize| (slot / SLOT_ALIGN) * block + slot % SLOT_ALIGN;
        let off = at(slot);
        let next = (slot + AHEAD * 16 * L) % cache.capacity;
        if L > 1 || next % 32 == 0 {
            for r in rows {
                let p = r.wrapping_add(at(next)) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(p);
                if L > 1 {
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
                }
            }
        }
        for l in 0..L {
            let mut v = [_mm512_setzero_ps(); DT];
            for (i, vi) in v.iter_mut().enumerate() {
                *vi = load_f16(rows[i].add(off + 16 * l));
            }
            for (i, vi) in v.iter().enumerate() {
                for jq in 0..QT {
                    let wv = _mm512_loadu_ps(w.add((q0 + jq) * len + c + 16 * l));
                    acc[i][jq][l] = _mm512_fmadd_ps(*vi, wv, acc[i][jq][l]);
                }
            }
        }
        slot += 16 * L;
        if slot >= cache.capacity {
            slot = 0;
        }
    }
    for (i, per_q) in acc.iter().enumerate() {
        for (jq, a) in per_q.iter().enumerate() {
            let folded = if L == 4 {
                _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3]))
            } else {
                a[0]
            };
            *s.vecs.get_unchecked_mut(jq * 16 + slot0 + i) = folded;
        }
    }
}
