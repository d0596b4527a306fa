//! Matrix products of Q4_K and Q6_K weights in the floating-point order of ggml's x86 CPU
//! backend, whose kernel (and so whose summation order) depends on the number of tokens in
//! the whole product:
//!
//! - Q4_K weights are repacked by llama.cpp (`block_q4_Kx8`). One token, and the last `N % 4`
//!   tokens of a batch of `N`, go through `gemv_q4_K_8x8`: one pair of f32 accumulators per
//!   output, fed once per super-block ([`Q4kOrder::Gemv`]). The other tokens go through
//!   `gemm_q4_K_8x8`, which feeds the same accumulators once per pair of 32-element groups
//!   ([`Q4kOrder::Gemm`]).
//! - Q6_K: below 8 tokens `ggml_vec_dot_q6_K_q8_K` (eight f32 lanes, each a fixed subset of
//!   every super-block's products, summed at the end: [`Q6kOrder::Lanes`]); from 8 tokens on
//!   the "tiled" kernels (one integer per super-block, scaled by the weight's `d`, then
//!   multiply-added with the activation's `d`: [`Q6kOrder::Tiled`]).
//!
//! Everything but those few float operations is integer arithmetic, exact in any order (no
//! 16- or 32-bit intermediate of ggml's can overflow for these formats), so the SIMD kernels
//! below only compute the integer pieces faster and share the float steps with the scalar
//! reference: they are bit-identical to it (checked in `tests.rs`). The AVX-512 VNNI kernels,
//! which also vectorize the float steps across 16 rows, are in `exact512.rs`.

use super::{f16_at, q4_k, q6_k, q8_k, scale_min_k4, QK_K};
use crate::quant::BatchPos;

/// Which of ggml's Q4_K kernels computes an output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Q4kOrder {
    /// `gemv_q4_K_8x8_q8_K`: float accumulation once per super-block.
    Gemv,
    /// `gemm_q4_K_8x8_q8_K`: float accumulation once per 64 elements.
    Gemm,
}

impl Q4kOrder {
    /// The kernel ggml uses for token `t` of a product over `total` tokens: the first
    /// `4 * floor(total / 4)` tokens go four at a time through the gemm (when there are at
    /// least four), the rest one at a time through the gemv.
    pub fn for_token(t: usize, total: usize) -> Q4kOrder {
        if t < total - total % 4 {
            Q4kOrder::Gemm
        } else {
            Q4kOrder::Gemv
        }
    }
}

/// Which of ggml's Q6_K kernels computes a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Q6kOrder {
    /// `ggml_vec_dot_q6_K_q8_K` (AVX2 version): eight lanes, summed at the end.
    Lanes,
    /// The tiled VNNI kernel: one value per super-block, accumulated with one FMA each.
    Tiled,
}

impl Q6kOrder {
    /// The tiled kernels run for 8 tokens and more.
    pub fn for_batch(total: usize) -> Q6kOrder {
        if total >= 8 {
            Q6kOrder::Tiled
        } else {
            Q6kOrder::Lanes
        }
    }
}

/// Integer pieces of Q4_K, scalar.
pub fn q4k_dots_scalar(x: &[u8], y: &[u8]) -> [i32; 8] {
    let qs = q8_k::qs(y);
    let mut dots = [0i32; 8];
    for (j, d) in dots.iter_mut().enumerate() {
        let (c, h) = (j / 2, j % 2);
        *d = (0..32)
            .map(|l| ((x[q4_k::QS + 32 * c + l] >> (4 * h)) & 0xF) as i32 * qs[32 * j + l] as i32)
            .sum();
    }
    dots
}

/// Integer pieces of Q6_K, scalar.
pub fn q6k_groups_scalar(x: &[u8], y: &[u8]) -> [i32; 64] {
    let qs = q8_k::qs(y);
    let mut g = [0i32; 64];
    for (k, gk) in g.iter_mut().enumerate() {
        *gk = (4 * k..4 * k + 4)
            .map(|e| q6_k::level(x, e) as i32 * qs[e] as i32)
            .sum();
    }
    g
}

/// One Q4_K row (`nb` blocks) times one Q8_K row in `order`, the integer pieces from `dots`.
#[inline(always)]
pub fn q4k_dot(
    order: Q4kOrder,
    nb: usize,
    w: &[u8],
    a: &[u8],
    dots: impl Fn(&[u8], &[u8]) -> [i32; 8],
) -> f32 {
    let mut acc = 0.0f32;
    let mut acc_min = 0.0f32;
    for b in 0..nb {
        let x = &w[b * q4_k::BLOCK..(b + 1) * q4_k::BLOCK];
        let y = &a[b * q8_k::BLOCK..(b + 1) * q8_k::BLOCK];
        let dy = q8_k::d(y);
        let scale = f16_at(x, q4_k::D) * dy;
        let scale_min = f16_at(x, q4_k::DMIN) * dy;
        let dot = dots(x, y);
        let mut part = [(0i32, 0i32); 4];
        for (j, &dj) in dot.iter().enumerate() {
            let (sc, mn) = scale_min_k4(j, &x[q4_k::SCALES..q4_k::SCALES + 12]);
            let bsum = q8_k::bsum(y, 2 * j) + q8_k::bsum(y, 2 * j + 1);
            part[j / 2].0 += sc as i32 * dj;
            part[j / 2].1 += mn as i32 * bsum;
        }
        match order {
            Q4kOrder::Gemv => {
                let (s, m) = part.iter().fold((0, 0), |(s, m), p| (s + p.0, m + p.1));
                acc = (s as f32).mul_add(scale, acc);
                acc_min = (m as f32).mul_add(scale_min, acc_min);
            }
            Q4kOrder::Gemm => {
                for &(s, m) in &part {
                    acc = (s as f32).mul_add(scale, acc);
                    acc_min = (m as f32).mul_add(scale_min, acc_min);
                }
            }
        }
    }
    acc - acc_min
}

/// One Q6_K row (`nb` blocks) times one Q8_K row in `order`, the integer pieces from `groups`.
#[inline(always)]
pub fn q6k_dot(
    order: Q6kOrder,
    nb: usize,
    w: &[u8],
    a: &[u8],
    groups: impl Fn(&[u8], &[u8]) -> [i32; 64],
) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut acc = 0.0f32;
    for b in 0..nb {
        let x = &w[b * q6_k::BLOCK..(b + 1) * q6_k::BLOCK];
        let y = &a[b * q8_k::BLOCK..(b + 1) * q8_k::BLOCK];
        let dw = f16_at(x, q6_k::D);
        let dy = q8_k::d(y);
        let sc = |s: usize| x[q6_k::SCALES + s] as i8 as i32;
        let g = groups(x, y);
        match order {
            Q6kOrder::Lanes => {
                let d = dy * dw;
                for (l, lane) in lanes.iter_mut().enumerate() {
                    // Lane l holds elements 4l..4l+4 of every 32-element run; its bias term
                    // uses the bsums/scales pair 2l, 2l+1 (ggml's 16-bit madd layout).
                    let mut v = 0i32;
                    for c in 0..2 {
                        for t in 0..4 {
                            v += sc(8 * c + 2 * t + l / 4) * g[32 * c + 8 * t + l];
                        }
                    }
                    v -= 32
                        * (q8_k::bsum(y, 2 * l) * sc(2 * l)
                            + q8_k::bsum(y, 2 * l + 1) * sc(2 * l + 1));
                    *lane = d.mul_add(v as f32, *lane);
                }
            }
            Q6kOrder::Tiled => {
                let mut s1 = 0i32;
                for s in 0..16 {
                    let raw: i32 = g[4 * s..4 * s + 4].iter().sum();
                    s1 += sc(s) * (raw - 32 * q8_k::bsum(y, s));
                }
                let res = s1 as f32 * dw;
                acc = res.mul_add(dy, acc);
            }
        }
    }
    match order {
        Q6kOrder::Lanes => {
            let r: [f32; 4] = std::array::from_fn(|i| lanes[i + 4] + lanes[i]);
            (r[0] + r[2]) + (r[1] + r[3])
        }
        Q6kOrder::Tiled => acc,
    }
}

/// Scalar reference of one Q4_K output in `order`.
pub fn q4k_dot_ref(order: Q4kOrder, n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = super::blocks_checked(n, w, q4_k::BLOCK, a);
    q4k_dot(order, nb, w, a, q4k_dots_scalar)
}

/// Scalar reference of one Q6_K output in `order`.
pub fn q6k_dot_ref(order: Q6kOrder, n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = super::blocks_checked(n, w, q6_k::BLOCK, a);
    q6k_dot(order, nb, w, a, q6k_groups_scalar)
}

/// Hint the cache to load `row`.
#[inline(always)]
fn prefetch_row(row: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for l in (0..row.len()).step_by(64) {
        // SAFETY: a prefetch hint of memory inside `row` (SSE is part of x86_64).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                row.as_ptr().add(l) as *const i8,
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = row;
}

/// The gemm loop shared by every variant: row-major over the panel so that a weight row stays
/// in L1 while the tokens pass; `dot(t, w_row, a_row)` gets the token's index in the batch.
///
/// # Safety
/// As [`crate::quant::GemmFn`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn gemm_with(
    n: usize,
    w: &[u8],
    nr: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    w_block: usize,
    dot: impl Fn(usize, &[u8], &[u8]) -> f32,
) {
    assert!(n.is_multiple_of(QK_K));
    let nb = n / QK_K;
    let (wrow, arow) = (nb * w_block, nb * q8_k::BLOCK);
    assert!(w.len() >= nr * wrow && a.len() >= nt * arow);
    for r in 0..nr {
        let wr = &w[r * wrow..(r + 1) * wrow];
        if nt <= 2 && r + 1 < nr {
            // Matrix-vector products stream the weights: fetch the next row ahead.
            prefetch_row(&w[(r + 1) * wrow..(r + 2) * wrow]);
        }
        for t in 0..nt {
            let v = dot(t, wr, &a[t * arow..(t + 1) * arow]);
            // SAFETY: the caller guarantees `out` is valid for every `t * ldo + r`.
            unsafe { *out.add(t * ldo + r) = v };
        }
    }
}

/// Scalar Q4_K gemm in ggml's order.
///
/// # Safety
/// As [`crate::quant::GemmFn`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_q4k_scalar(
    n: usize,
    w: &[u8],
    nr: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    batch: BatchPos,
) {
    let nb = n / QK_K;
    unsafe {
        gemm_with(n, w, nr, a, nt, out, ldo, q4_k::BLOCK, |t, wr, ar| {
            let order = Q4kOrder::for_token(batch.first + t, batch.total);
            q4k_dot(order, nb, wr, ar, q4k_dots_scalar)
        })
    }
}

/// Scalar Q6_K gemm in ggml's order.
///
/// # Safety
/// As [`crate::quant::GemmFn`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_q6k_scalar(
    n: usize,
    w: &[u8],
    nr: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    batch: BatchPos,
) {
    let nb = n / QK_K;
    let order = Q6kOrder::for_batch(batch.total);
    unsafe {
        gemm_with(n, w, nr, a, nt, out, ldo, q6_k::BLOCK, |_, wr, ar| {
            q6k_dot(order, nb, wr, ar, q6k_groups_scalar)
        })
    }
}

#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    //! The integer pieces with AVX2 (`maddubs` of unsigned levels with the signed Q8_K values,
    //! then `madd` with ones into 4-element sums); the float steps are the scalar reference's.

    use super::*;
    use std::arch::x86_64::*;

    /// Horizontal sums of eight vectors: lane `i` of the result is the sum of `v[i]`.
    #[target_feature(enable = "avx2")]
    unsafe fn hsum8x8(v: [__m256i; 8]) -> __m256i {
        let a = _mm256_hadd_epi32(v[0], v[1]);
        let b = _mm256_hadd_epi32(v[2], v[3]);
        let c = _mm256_hadd_epi32(v[4], v[5]);
        let d = _mm256_hadd_epi32(v[6], v[7]);
        let e = _mm256_hadd_epi32(a, b);
        let f = _mm256_hadd_epi32(c, d);
        _mm256_add_epi32(
            _mm256_permute2x128_si256(e, f, 0x20),
            _mm256_permute2x128_si256(e, f, 0x31),
        )
    }

    /// [`q4k_dots_scalar`] with AVX2.
    ///
    /// # Safety
    /// AVX2 must be present (block lengths are checked).
    #[target_feature(enable = "avx2")]
    unsafe fn q4k_dots(x: &[u8], y: &[u8]) -> [i32; 8] {
        assert!(x.len() >= q4_k::BLOCK && y.len() >= q8_k::BLOCK);
        let (xp, yp) = (x.as_ptr().add(q4_k::QS), y.as_ptr().add(q8_k::OFF_QS));
        let m15 = _mm256_set1_epi8(15);
        let ones = _mm256_set1_epi16(1);
        let mut v = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            let bits = _mm256_loadu_si256(xp.add(32 * c) as *const __m256i);
            let lo = _mm256_and_si256(bits, m15);
            let hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m15);
            let ya = _mm256_loadu_si256(yp.add(64 * c) as *const __m256i);
            let yb = _mm256_loadu_si256(yp.add(64 * c + 32) as *const __m256i);
            v[2 * c] = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, ya), ones);
            v[2 * c + 1] = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, yb), ones);
        }
        let mut out = [0i32; 8];
        _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, hsum8x8(v));
        out
    }

    /// [`q6k_groups_scalar`] with AVX2.
    ///
    /// # Safety
    /// AVX2 must be present (block lengths are checked).
    #[target_feature(enable = "avx2")]
    unsafe fn q6k_groups(x: &[u8], y: &[u8]) -> [i32; 64] {
        assert!(x.len() >= q6_k::BLOCK && y.len() >= q8_k::BLOCK);
        let (xp, yp) = (x.as_ptr(), y.as_ptr().add(q8_k::OFF_QS));
        let m15 = _mm256_set1_epi8(15);
        let ones = _mm256_set1_epi16(1);
        let mut out = [0i32; 64];
        for c in 0..2 {
            let ql1 = _mm256_loadu_si256(xp.add(q6_k::QL + 64 * c) as *const __m256i);
            let ql2 = _mm256_loadu_si256(xp.add(q6_k::QL + 64 * c + 32) as *const __m256i);
            let qh = _mm256_loadu_si256(xp.add(q6_k::QH + 32 * c) as *const __m256i);
            let u = [
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m15),
                    _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(3)), 4),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql2, m15),
                    _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(12)), 2),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m15),
                    _mm256_and_si256(qh, _mm256_set1_epi8(48)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(ql2, 4), m15),
                    _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(-64)), 2),
                ),
            ];
            for (t, &ut) in u.iter().enumerate() {
                let q8 = _mm256_loadu_si256(yp.add(128 * c + 32 * t) as *const __m256i);
                let s = _mm256_madd_epi16(_mm256_maddubs_epi16(ut, q8), ones);
                _mm256_storeu_si256(out.as_mut_ptr().add(32 * c + 8 * t) as *mut __m256i, s);
            }
        }
        out
    }

    /// Q4_K gemm in ggml's order, AVX2 integer pieces.
    ///
    /// # Safety
    /// As [`crate::quant::GemmFn`], with AVX2 and FMA present.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemm_q4k(
        n: usize,
        w: &[u8],
        nr: usize,
        a: &[u8],
        nt: usize,
        out: *mut f32,
        ldo: usize,
        batch: BatchPos,
    ) {
        let nb = n / QK_K;
        // SAFETY (integer pieces): AVX2 is present (this function's contract).
        let dots = |x: &[u8], y: &[u8]| unsafe { q4k_dots(x, y) };
        let dot = |t: usize, wr: &[u8], ar: &[u8]| {
            let order = Q4kOrder::for_token(batch.first + t, batch.total);
            q4k_dot(order, nb, wr, ar, dots)
        };
        unsafe { gemm_with(n, w, nr, a, nt, out, ldo, q4_k::BLOCK, dot) }
    }

    /// Q6_K gemm in ggml's order, AVX2 integer pieces.
    ///
    /// # Safety
    /// As [`crate::quant::GemmFn`], with AVX2 and FMA present.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemm_q6k(
        n: usize,
        w: &[u8],
        nr: usize,
        a: &[u8],
        nt: usize,
        out: *mut f32,
        ldo: usize,
        batch: BatchPos,
    ) {
        let nb = n / QK_K;
        let order = Q6kOrder::for_batch(batch.total);
        // SAFETY (integer pieces): AVX2 is present (this function's contract).
        let groups = |x: &[u8], y: &[u8]| unsafe { q6k_groups(x, y) };
        let dot = |_: usize, wr: &[u8], ar: &[u8]| q6k_dot(order, nb, wr, ar, groups);
        unsafe { gemm_with(n, w, nr, a, nt, out, ldo, q6_k::BLOCK, dot) }
    }
}
