//! AVX-512 VNNI matrix products for the 32-element formats, bit-identical to the scalar
//! reference (`blocks::Lanes8`: ggml's x86 order).
//!
//! One 512-bit register holds the eight lanes of two weight rows (row `2p` in the low half,
//! `2p + 1` in the high half) against one activation row, so a block costs one `vpdpbusd` and
//! one FMA per row pair and token, and the per-output order of operations is exactly the
//! scalar one. A tile is `RP` row pairs against one token (matrix-vector products; several
//! tokens go through `panel`, which unpacks the weights once for many tokens).
//!
//! Integer lanes: weights are made unsigned (`q`, `q + 128` for Q8_0) and the offset is taken
//! back exactly per lane with a second `vpdpbusd` of the activations against the constant
//! offset (`q - 8` for Q4_0, `q - 16` for Q5_0, `q + 128 - 128` for Q8_0).

use super::blocks::{Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q8_0_BYTES, Q8_1_BYTES};
use crate::quant::GgmlType;
use std::arch::x86_64::*;

/// One weight format's block layout and unpacking.
pub(super) trait Fmt {
    /// Weight block bytes.
    const WB: usize;
    /// Activation block bytes (Q8_0: 34, Q8_1: 36) and the offset of its quants.
    const AB: usize;
    const AQ: usize;
    /// Offset subtracted per element after unpacking to unsigned (0: none).
    const OFF: i8;
    /// Whether the format has a minimum (`m`), paired with the activations' `s`.
    const MIN: bool;
    /// The 32 unsigned quants of block `w0` (low half) and `w1` (high half), element order.
    unsafe fn unpack(w0: *const u8, w1: *const u8) -> __m512i;
}

/// The 16 packed bytes at `p0` and `p1` as 2 × 32 nibbles: per row, low nibbles (elements
/// 0..15) then high nibbles (16..31).
#[inline(always)]
unsafe fn nibbles(p0: *const u8, p1: *const u8) -> __m512i {
    let a = _mm256_broadcastsi128_si256(_mm_loadu_si128(p0 as *const __m128i));
    let b = _mm256_broadcastsi128_si256(_mm_loadu_si128(p1 as *const __m128i));
    let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b);
    let v = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    _mm512_and_si512(v, _mm512_set1_epi8(0x0F))
}

/// Bit 4 of each of the 2 × 32 quants of two Q5 blocks (`qh` at `p0`, `p1`), as 0x10 bytes.
#[inline(always)]
unsafe fn fifth_bits(p0: *const u8, p1: *const u8) -> __m512i {
    let m = (p0 as *const u32).read_unaligned() as u64
        | ((p1 as *const u32).read_unaligned() as u64) << 32;
    _mm512_maskz_mov_epi8(m, _mm512_set1_epi8(0x10))
}

/// Declares a format: `fmt!(Name, weight bytes, activation bytes, quant offset in the
/// activation block, OFF, MIN, |w0, w1| unpack)`.
macro_rules! fmt {
    ($name:ident, $wb:expr, $ab:expr, $aq:expr, $off:expr, $min:expr, |$w0:ident, $w1:ident| $unpack:expr) => {
        struct $name;
        impl Fmt for $name {
            const WB: usize = $wb;
            const AB: usize = $ab;
            const AQ: usize = $aq;
            const OFF: i8 = $off;
            const MIN: bool = $min;
            #[inline(always)]
            unsafe fn unpack($w0: *const u8, $w1: *const u8) -> __m512i {
                $unpack
            }
        }
    };
}

fmt!(Q40, Q4_0_BYTES, Q8_0_BYTES, 2, 8, false, |w0, w1| nibbles(
    w0.add(2),
    w1.add(2)
));
fmt!(Q41, Q4_1_BYTES, Q8_1_BYTES, 4, 0, true, |w0, w1| nibbles(
    w0.add(4),
    w1.add(4)
));
fmt!(Q50, Q5_0_BYTES, Q8_0_BYTES, 2, 16, false, |w0, w1| {
    _mm512_or_si512(
        nibbles(w0.add(6), w1.add(6)),
        fifth_bits(w0.add(2), w1.add(2)),
    )
});
fmt!(Q51, Q5_1_BYTES, Q8_1_BYTES, 4, 0, true, |w0, w1| {
    _mm512_or_si512(
        nibbles(w0.add(8), w1.add(8)),
        fifth_bits(w0.add(4), w1.add(4)),
    )
});
fmt!(Q80, Q8_0_BYTES, Q8_0_BYTES, 2, -128, false, |w0, w1| {
    let lo = _mm256_loadu_si256(w0.add(2) as *const __m256i);
    let hi = _mm256_loadu_si256(w1.add(2) as *const __m256i);
    let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
    _mm512_xor_si512(v, _mm512_set1_epi8(-128))
});

#[inline(always)]
unsafe fn ld16(p: *const u8) -> u64 {
    (p as *const u16).read_unaligned() as u64
}
#[inline(always)]
unsafe fn ld32(p: *const u8) -> u64 {
    (p as *const u32).read_unaligned() as u64
}

/// `hsum_float_8` of the low (`HI = false`) or high eight lanes.
#[inline(always)]
pub(super) unsafe fn hsum8<const HI: bool>(v: __m512) -> f32 {
    let h = if HI {
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)))
    } else {
        _mm512_castps512_ps256(v)
    };
    let s = _mm_add_ps(_mm256_extractf128_ps::<1>(h), _mm256_castps256_ps128(h));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// One tile: `RP` row pairs (`rows[2p]`, `rows[2p + 1]`) against the activation row `a`.
///
/// Per block, the fp16 header of both rows of a pair is converted at once: `[d0, m0, d1, m1]`
/// (formats with a minimum) or `[d0, d1]`; `d` is spread to the two register halves with one
/// permute and the `m · s` terms accumulate in lanes 1 and 3 of a 128-bit register.
#[inline(always)]
unsafe fn tile<F: Fmt, const RP: usize>(
    nb: usize,
    rows: [*const u8; 16],
    a: *const u8,
    prefetch: *const u8,
    out: &mut [[f32; 2]; RP],
) {
    let mut acc = [_mm512_setzero_ps(); RP];
    let mut summs = [_mm_setzero_ps(); RP];
    let off = _mm512_set1_epi8(F::OFF);
    let spread = if F::MIN {
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2)
    } else {
        _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)
    };
    for b in 0..nb {
        if !prefetch.is_null() {
            // The next tile's rows (contiguous), a block's worth of each row per iteration.
            let p = prefetch.add(b * 2 * RP * F::WB);
            for l in 0..(2 * RP * F::WB).div_ceil(64) {
                _mm_prefetch::<_MM_HINT_T0>(p.add(64 * l) as *const i8);
            }
        }
        let blk = a.add(b * F::AB);
        let av = _mm512_broadcast_i64x4(_mm256_loadu_si256(blk.add(F::AQ) as *const __m256i));
        let offv = if F::OFF != 0 {
            // −Σ off·a per lane: the starting value of every weight row's integer sums.
            let o = _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, av);
            _mm512_sub_epi32(_mm512_setzero_si512(), o)
        } else {
            _mm512_setzero_si512()
        };
        // [d_a, s_a] (s only for Q8_1).
        let ha = _mm_cvtph_ps(_mm_cvtsi32_si128(ld32(blk) as i32));
        let da = _mm512_broadcastss_ps(ha);
        let sa = _mm_permute_ps::<0b0101_0101>(ha);
        for p in 0..RP {
            let (w0, w1) = (rows[2 * p].add(b * F::WB), rows[2 * p + 1].add(b * F::WB));
            let wq = F::unpack(w0, w1);
            let hdr = if F::MIN {
                ld32(w0) | ld32(w1) << 32
            } else {
                ld16(w0) | ld16(w1) << 16
            };
            let h = _mm_cvtph_ps(_mm_cvtsi64_si128(hdr as i64));
            let dw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(h));
            let lanes = _mm512_dpbusd_epi32(offv, wq, av);
            let scale = _mm512_mul_ps(dw, da);
            acc[p] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(lanes), acc[p]);
            if F::MIN {
                summs[p] = _mm_fmadd_ps(h, sa, summs[p]);
            }
        }
    }
    for p in 0..RP {
        let (lo, hi) = (hsum8::<false>(acc[p]), hsum8::<true>(acc[p]));
        out[p] = if F::MIN {
            let mut s = [0f32; 4];
            _mm_storeu_ps(s.as_mut_ptr(), summs[p]);
            [lo + s[1], hi + s[3]]
        } else {
            [lo, hi]
        };
    }
}

/// Rows `r0..r0 + 2·RP` (clamped to `nr`) against the one activation row `a`.
#[inline(always)]
unsafe fn run_tile<F: Fmt, const RP: usize>(
    n: usize,
    w: &[u8],
    r0: usize,
    nr: usize,
    a: &[u8],
    out: *mut f32,
) {
    let nb = n / 32;
    let rb = nb * F::WB;
    let mut rows = [w.as_ptr(); 16];
    for (i, r) in rows.iter_mut().enumerate().take(2 * RP) {
        *r = w.as_ptr().add((r0 + i).min(nr - 1) * rb);
    }
    let mut res = [[0f32; 2]; RP];
    // Matrix-vector products stream the weights once: fetch the next tile's rows ahead.
    let next = r0 + 2 * RP;
    let prefetch = if next + 2 * RP <= nr {
        w.as_ptr().add(next * rb)
    } else {
        std::ptr::null()
    };
    tile::<F, RP>(nb, rows, a.as_ptr(), prefetch, &mut res);
    for (p, pair) in res.iter().enumerate() {
        for (h, &v) in pair.iter().enumerate() {
            let r = r0 + 2 * p + h;
            if r < nr {
                *out.add(r) = v;
            }
        }
    }
}

/// Row pairs per tile for one token (matrix-vector products; `panel` does several tokens).
const GEMV_PAIRS: usize = 4;

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm<F: Fmt>(
    n: usize,
    w: &[u8],
    nr: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    _batch: crate::quant::BatchPos,
) {
    let nb = n / 32;
    assert!(n % 32 == 0 && w.len() >= nr * nb * F::WB && a.len() >= nt * nb * F::AB);
    if nr == 0 || nt == 0 {
        return;
    }
    if nt >= 2 {
        return super::panel::gemm::<F>(n, w.as_ptr(), nr, a.as_ptr(), nt, out, ldo);
    }
    let mut r0 = 0;
    while r0 + 2 * GEMV_PAIRS <= nr {
        run_tile::<F, GEMV_PAIRS>(n, w, r0, nr, a, out);
        r0 += 2 * GEMV_PAIRS;
    }
    while r0 < nr {
        run_tile::<F, 1>(n, w, r0, nr, a, out);
        r0 += 2;
    }
}

/// One row by one activation row through the tile kernel.
fn dot<F: Fmt>(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let mut out = 0f32;
    // SAFETY: selected only when AVX-512 VNNI was detected; `gemm` checks the lengths.
    unsafe {
        gemm::<F>(
            n,
            w,
            1,
            a,
            1,
            &mut out,
            1,
            crate::quant::BatchPos { first: 0, total: 1 },
        )
    };
    out
}

type Kernels = (crate::quant::dispatch::VecDotFn, crate::quant::GemmFn);

/// The dot and tile kernels of a legacy type; call only when AVX-512 VNNI was detected.
pub fn select(ty: GgmlType) -> Option<Kernels> {
    fn pick<F: Fmt>() -> Kernels {
        (dot::<F>, gemm::<F>)
    }
    Some(match ty {
        GgmlType::Q4_0 => pick::<Q40>(),
        GgmlType::Q4_1 => pick::<Q41>(),
        GgmlType::Q5_0 => pick::<Q50>(),
        GgmlType::Q5_1 => pick::<Q51>(),
        GgmlType::Q8_0 => pick::<Q80>(),
        _ => return None,
    })
}
