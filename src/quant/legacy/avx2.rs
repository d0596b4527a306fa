//! AVX2+FMA+F16C kernels: vec_dot for the five weight formats in ggml's x86 order (bit-identical
//! to `blocks::Lanes8`) and the Q8_0/Q8_1 activation quantizers.
//!
//! All functions take raw pointers and a block count; the callers in `mod.rs` check lengths.

use super::blocks::{Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q8_0_BYTES, Q8_1_BYTES};
use std::arch::x86_64::*;

#[inline(always)]
unsafe fn ld16(p: *const u8) -> u64 {
    (p as *const u16).read_unaligned() as u64
}
#[inline(always)]
unsafe fn ld32(p: *const u8) -> u64 {
    (p as *const u32).read_unaligned() as u64
}

/// Scale of one block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale1(w: *const u8, a: *const u8) -> __m256 {
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128((ld16(w) | ld16(a) << 16) as i32));
    _mm256_broadcastss_ps(_mm_mul_ps(v, _mm_movehdup_ps(v)))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// 16 packed bytes -> 32 nibbles (low nibbles first), each in 0..15.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles(p: *const u8) -> __m256i {
    let q = _mm_loadu_si128(p as *const __m128i);
    let v = _mm256_set_m128i(_mm_srli_epi16::<4>(q), q);
    _mm256_and_si256(v, _mm256_set1_epi8(0x0F))
}

/// Bit j of the little-endian u32 at `p` -> byte j = 0x10 if set, 0 otherwise.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bits_to_0x10(p: *const u8) -> __m256i {
    let qh = _mm256_set1_epi32((p as *const i32).read_unaligned());
    let shuf = _mm256_set_epi64x(
        0x0303030303030303,
        0x0202020202020202,
        0x0101010101010101,
        0,
    );
    let bytes = _mm256_shuffle_epi8(qh, shuf);
    let sel = _mm256_set1_epi64x(0x8040201008040201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, sel), sel);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn ld256(p: *const u8) -> __m256i {
    _mm256_loadu_si256(p as *const __m256i)
}

/// sum(u*s) per 4-byte group as f32 (u unsigned, 0..=31; s signed).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_us(u: __m256i, s: __m256i) -> __m256 {
    let p = _mm256_maddubs_epi16(u, s);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)))
}
/// sum((u - k)*s) with `k` a byte splat.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_us_off(u: __m256i, s: __m256i, k: __m256i) -> __m256 {
    let p = _mm256_sub_epi16(_mm256_maddubs_epi16(u, s), _mm256_maddubs_epi16(k, s));
    _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)))
}
/// sum(x*y) of signed bytes (neither is -128 together with the other being -128).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_ss(x: __m256i, y: __m256i) -> __m256 {
    dot_us(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// Shared driver for formats whose blocks start with a single fp16 `d` (Q4_0, Q5_0, Q8_0 ×
/// Q8_0): `$int(w_block, a_block) -> __m256` (a `#[target_feature]` fn) gives the per-lane
/// integer dot as f32. One accumulator, one FMA per block: ggml's order (`blocks::Lanes8`).
macro_rules! dot_d_only {
    ($nb:expr, $w:expr, $a:expr, $wb:expr, $ab:expr, $int:ident) => {{
        let (nb, w, a) = ($nb, $w, $a);
        let mut acc = _mm256_setzero_ps();
        for i in 0..nb {
            let (w0, a0) = (w.add(i * $wb), a.add(i * $ab));
            acc = _mm256_fmadd_ps(scale1(w0, a0), $int(w0, a0), acc);
        }
        hsum_ps(acc)
    }};
}

/// Shared driver for `{d, m}` weights against Q8_1 (`{d, s}`) activations: as `dot_d_only`,
/// plus `m * s` accumulated by one scalar FMA per block.
macro_rules! dot_dm {
    ($nb:expr, $w:expr, $a:expr, $wb:expr, $int:ident) => {{
        let (nb, w, a) = ($nb, $w, $a);
        let mut acc = _mm256_setzero_ps();
        let mut summs = 0f32;
        for i in 0..nb {
            let (w0, a0) = (w.add(i * $wb), a.add(i * Q8_1_BYTES));
            let x = _mm_cvtph_ps(_mm_cvtsi64_si128(ld32(w0) as i64)); // [d_w, m]
            let y = _mm_cvtph_ps(_mm_cvtsi64_si128(ld32(a0) as i64)); // [d_a, s]
            let m = _mm_cvtss_f32(_mm_movehdup_ps(x));
            let sa = _mm_cvtss_f32(_mm_movehdup_ps(y));
            summs = m.mul_add(sa, summs);
            let d = _mm256_broadcastss_ps(_mm_mul_ss(x, y));
            acc = _mm256_fmadd_ps(d, $int(w0, a0), acc);
        }
        hsum_ps(acc) + summs
    }};
}

// Integer dot of one block pair, as f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn int_q4_0(x: *const u8, y: *const u8) -> __m256 {
    dot_us_off(nibbles(x.add(2)), ld256(y.add(2)), _mm256_set1_epi8(8))
}
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn int_q5_0(x: *const u8, y: *const u8) -> __m256 {
    let u = _mm256_or_si256(nibbles(x.add(6)), bits_to_0x10(x.add(2)));
    dot_us_off(u, ld256(y.add(2)), _mm256_set1_epi8(16))
}
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn int_q8_0(x: *const u8, y: *const u8) -> __m256 {
    dot_ss(ld256(x.add(2)), ld256(y.add(2)))
}
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn int_q8_1(x: *const u8, y: *const u8) -> __m256 {
    dot_ss(ld256(x.add(4)), ld256(y.add(4)))
}
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn int_q4_1(x: *const u8, y: *const u8) -> __m256 {
    dot_us(nibbles(x.add(4)), ld256(y.add(4)))
}
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn int_q5_1(x: *const u8, y: *const u8) -> __m256 {
    let u = _mm256_or_si256(nibbles(x.add(8)), bits_to_0x10(x.add(4)));
    dot_us(u, ld256(y.add(4)))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_0_q8_0(nb: usize, w: *const u8, a: *const u8) -> f32 {
    dot_d_only!(nb, w, a, Q4_0_BYTES, Q8_0_BYTES, int_q4_0)
}
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q5_0_q8_0(nb: usize, w: *const u8, a: *const u8) -> f32 {
    dot_d_only!(nb, w, a, Q5_0_BYTES, Q8_0_BYTES, int_q5_0)
}
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q8_0_q8_0(nb: usize, w: *const u8, a: *const u8) -> f32 {
    dot_d_only!(nb, w, a, Q8_0_BYTES, Q8_0_BYTES, int_q8_0)
}
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q8_1_q8_1(nb: usize, w: *const u8, a: *const u8) -> f32 {
    dot_d_only!(nb, w, a, Q8_1_BYTES, Q8_1_BYTES, int_q8_1)
}
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_1_q8_1(nb: usize, w: *const u8, a: *const u8) -> f32 {
    dot_dm!(nb, w, a, Q4_1_BYTES, int_q4_1)
}
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q5_1_q8_1(nb: usize, w: *const u8, a: *const u8) -> f32 {
    dot_dm!(nb, w, a, Q5_1_BYTES, int_q5_1)
}

/// One block of 32 floats -> 32 i8 at `qs`; returns `(d, sum of quants)`. Bit-identical to
/// `blocks::quantize_q8_block` (llama.cpp's x86 rounding, see there).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_q8_block(x: *const f32, qs: *mut u8) -> (f32, i32) {
    let v = [
        _mm256_loadu_ps(x),
        _mm256_loadu_ps(x.add(8)),
        _mm256_loadu_ps(x.add(16)),
        _mm256_loadu_ps(x.add(24)),
    ];
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_andnot_ps(sign, v[0]);
    for v in &v[1..] {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, *v));
    }
    let m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
    let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    let amax = _mm_cvtss_f32(m4);
    let d = amax / 127.0;
    let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
    const RN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let i = v.map(|v| _mm256_cvtps_epi32(_mm256_round_ps::<RN>(_mm256_mul_ps(v, id))));
    let s = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
    let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    let sum = _mm_cvtsi128_si32(s);
    let p = _mm256_packs_epi16(
        _mm256_packs_epi32(i[0], i[1]),
        _mm256_packs_epi32(i[2], i[3]),
    );
    let p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(qs as *mut __m256i, p);
    (d, sum)
}

/// f32 -> fp16 (round to nearest even, as `half::f16::from_f32` and ggml's F16C path).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16_bytes(v: f32) -> [u8; 2] {
    const RN: i32 = _MM_FROUND_TO_NEAREST_INT;
    (_mm_extract_epi16::<0>(_mm_cvtps_ph::<RN>(_mm_set_ss(v))) as u16).to_le_bytes()
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8_0(nb: usize, x: *const f32, y: *mut u8) {
    for i in 0..nb {
        let b = y.add(i * Q8_0_BYTES);
        let (d, _) = quantize_q8_block(x.add(i * 32), b.add(2));
        std::ptr::copy_nonoverlapping(f16_bytes(d).as_ptr(), b, 2);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_q8_1(nb: usize, x: *const f32, y: *mut u8) {
    for i in 0..nb {
        let b = y.add(i * Q8_1_BYTES);
        let (d, sum) = quantize_q8_block(x.add(i * 32), b.add(4));
        std::ptr::copy_nonoverlapping(f16_bytes(d).as_ptr(), b, 2);
        std::ptr::copy_nonoverlapping(f16_bytes(d * sum as f32).as_ptr(), b.add(2), 2);
    }
}
