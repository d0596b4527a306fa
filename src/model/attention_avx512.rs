//! AVX-512 kernel for one (token, head) of [`super::attention::attention`]: the same
//! operations in the same order as the portable path (and as ggml), sixteen lanes at a time.

use super::numerics::DotOrder;
use super::simd512::{expf, reduce16};
use std::arch::x86_64::*;

/// What one (token, head) needs from the cache.
pub struct HeadArgs<'a> {
    pub order: DotOrder,
    /// The query head (f32, rounded to f16 here).
    pub q: &'a [f32],
    pub k: &'a [u16],
    pub v: &'a [u16],
    /// Elements per cache slot, offset of this head's group in a slot, slots in the ring.
    pub kv_row: usize,
    pub head_off: usize,
    pub capacity: usize,
    pub first: usize,
    pub pos: usize,
    pub scale: f32,
    pub softcap: Option<f32>,
}

/// Whether this kernel handles a head size (whole 16-lane groups; whole 64-element steps for
/// the single-token order, which would otherwise need f64 leftovers).
pub fn supports(order: DotOrder, hd: usize) -> bool {
    match order {
        DotOrder::Batch => hd.is_multiple_of(16) && hd <= 256,
        DotOrder::Single => hd.is_multiple_of(64) && hd <= 256,
    }
}

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

/// `_mm512_reduce_add_ps`'s tree applied lane-wise across sixteen vectors.
#[inline(always)]
unsafe fn reduce16_across(a: &[__m512; 16]) -> __m512 {
    let mut t = [_mm512_setzero_ps(); 8];
    for i in 0..8 {
        t[i] = _mm512_add_ps(a[i + 8], a[i]);
    }
    let q0 = _mm512_add_ps(t[4], t[0]);
    let q1 = _mm512_add_ps(t[5], t[1]);
    let q2 = _mm512_add_ps(t[6], t[2]);
    let q3 = _mm512_add_ps(t[7], t[3]);
    _mm512_add_ps(_mm512_add_ps(q0, q2), _mm512_add_ps(q1, q3))
}

#[inline(always)]
unsafe fn load_f16(p: *const u16) -> __m512 {
    _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
}

/// One head: scores, softmax, weighted V rows into `out` (`hd` floats). `scores` and `acc` are
/// scratch.
///
/// # Safety
/// AVX-512 F/BW/VL, FMA and F16C must be present, `supports(order, out.len())`, and the cache
/// slices must hold every slot the positions `first..=pos` map to.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
pub unsafe fn head(a: &HeadArgs<'_>, scores: &mut Vec<f32>, acc: &mut Vec<f32>, out: &mut [f32]) {
    let hd = out.len();
    let nc = hd / 16;
    let mut q = [_mm512_setzero_ps(); 16];
    for (c, qv) in q.iter_mut().enumerate().take(nc) {
        let x = _mm512_loadu_ps(a.q.as_ptr().add(16 * c));
        *qv = _mm512_cvtph_ps(_mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(x));
    }
    let slot = |p: usize| (p % a.capacity) * a.kv_row + a.head_off;

    // Scores, grouped by 16 from position 0; masked positions are -inf. Sixteen positions'
    // dot products are reduced together (`reduce16_each`), each exactly as `reduce16`.
    let n16 = (a.pos + 1).next_multiple_of(16);
    scores.clear();
    scores.resize(n16, f32::NEG_INFINITY);
    let scale = _mm512_set1_ps(a.scale);
    for g in (a.first / 16)..n16 / 16 {
        let mut v = [_mm512_setzero_ps(); 16];
        for (i, vi) in v.iter_mut().enumerate() {
            let kp = a.k.as_ptr().add(slot(16 * g + i));
            *vi = match a.order {
                DotOrder::Batch => {
                    let mut s = _mm512_setzero_ps();
                    for (c, qv) in q.iter().enumerate().take(nc) {
                        s = _mm512_fmadd_ps(load_f16(kp.add(16 * c)), *qv, s);
                    }
                    s
                }
                DotOrder::Single => {
                    let mut s = [_mm512_setzero_ps(); 4];
                    for step in 0..nc / 4 {
                        for (j, sj) in s.iter_mut().enumerate() {
                            let c = 4 * step + j;
                            *sj = _mm512_fmadd_ps(load_f16(kp.add(16 * c)), q[c], *sj);
                        }
                    }
                    _mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]))
                }
            };
        }
        let dots = _mm512_mul_ps(reduce16_each(&v), scale);
        let out = scores.as_mut_ptr().add(16 * g);
        _mm512_storeu_ps(out, dots);
        for i in 0..16 {
            let p = 16 * g + i;
            let e = &mut *out.add(i);
            if p < a.first || p > a.pos {
                *e = f32::NEG_INFINITY;
            } else if let Some(cap) = a.softcap {
                *e = cap * (*e / cap).tanh();
            }
        }
    }

    // Softmax: max, exp per 16 with each group's sum added in f64, 1/sum, then f16 rounding.
    let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
    for c in scores.chunks_exact(16) {
        m = _mm512_max_ps(m, _mm512_loadu_ps(c.as_ptr()));
    }
    let max = _mm512_set1_ps(_mm512_reduce_max_ps(m));
    let mut sum = 0f64;
    for c in scores.chunks_exact_mut(16) {
        let e = expf(_mm512_sub_ps(_mm512_loadu_ps(c.as_ptr()), max));
        _mm512_storeu_ps(c.as_mut_ptr(), e);
        sum += reduce16(e) as f64;
    }
    let inv = _mm512_set1_ps((1.0 / sum) as f32);
    for c in scores.chunks_exact_mut(16) {
        let w = _mm512_mul_ps(_mm512_loadu_ps(c.as_ptr()), inv);
        let w = _mm512_cvtph_ps(_mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(w));
        _mm512_storeu_ps(c.as_mut_ptr(), w);
    }

    // Weighted V rows: one accumulator row per lane of ggml's dot over positions.
    let lanes = match a.order {
        DotOrder::Batch => 16,
        DotOrder::Single => 64,
    };
    acc.clear();
    acc.resize(lanes * hd, 0.0);
    for p in a.first..=a.pos {
        let w = scores[p];
        if w == 0.0 {
            continue;
        }
        let wv = _mm512_set1_ps(w);
        let vp = a.v.as_ptr().add(slot(p));
        let ap = acc.as_mut_ptr().add((p % lanes) * hd);
        for c in 0..nc {
            let x = _mm512_loadu_ps(ap.add(16 * c));
            _mm512_storeu_ps(
                ap.add(16 * c),
                _mm512_fmadd_ps(load_f16(vp.add(16 * c)), wv, x),
            );
        }
    }
    for c in 0..nc {
        let lane = |l: usize| _mm512_loadu_ps(acc.as_ptr().add(l * hd + 16 * c));
        let folded: [__m512; 16] = match a.order {
            DotOrder::Batch => std::array::from_fn(lane),
            DotOrder::Single => std::array::from_fn(|l| {
                _mm512_add_ps(
                    _mm512_add_ps(lane(l), lane(32 + l)),
                    _mm512_add_ps(lane(16 + l), lane(48 + l)),
                )
            }),
        };
        _mm512_storeu_ps(out.as_mut_ptr().add(16 * c), reduce16_across(&folded));
    }
}
