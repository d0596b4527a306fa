//! AVX-512 (F+BW+VL) vec_dot kernels, with a VNNI (`vpdpbusd`) and a BW (`vpmaddubsw` +
//! `vpmaddwd`) flavour of each, generated from one body by `variants!`.
//!
//! Four blocks per iteration: two 512-bit registers each hold two blocks (64 quants). The fp16
//! scales of the four blocks are gathered with one `vpermw`/`vpermt2w` per operand from plain
//! 64-byte loads (no scalar loads), converted with one `vcvtph2ps`, and spread to the lanes of
//! each block pair with `vpermps`. Leftover blocks (fewer than four) go to the AVX2 kernel.

use super::avx2;
use super::blocks::{Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q8_0_BYTES, Q8_1_BYTES};
use std::arch::x86_64::*;

/// Word-index table for `vpermw`: the first entries given, the rest zero.
#[inline(always)]
unsafe fn idx16(first: &[u16]) -> __m512i {
    let mut t = [0u16; 32];
    t[..first.len()].copy_from_slice(first);
    _mm512_loadu_si512(t.as_ptr() as *const _)
}

/// The per-pair scale spreads: lanes 0..7 <- s[a], lanes 8..15 <- s[b].
#[inline(always)]
unsafe fn spread(a: i32, b: i32) -> __m512i {
    _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b)
}

/// 64-byte load for the scale gathers, opaque to LLVM: without it LLVM notices that the
/// quant loads overlap these and rebuilds them from the scale registers with long `vpermt2d`
/// chains, which is several times slower than plain loads.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ld512(p: *const u8) -> __m512i {
    let v: __m512i;
    std::arch::asm!(
        "vmovdqu64 {v}, [{p}]",
        v = out(zmm_reg) v,
        p = in(reg) p,
        options(pure, readonly, nostack, preserves_flags)
    );
    v
}

/// Two 32-byte blocks of i8 at `p0`, `p1` as one register.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn ld2(p0: *const u8, p1: *const u8) -> __m512i {
    let lo = _mm256_loadu_si256(p0 as *const __m256i);
    let hi = _mm256_loadu_si256(p1 as *const __m256i);
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// The 16 packed bytes at `p0` and at `p1` -> 64 nibbles in element order
/// (`[q0 & 15, q0 >> 4, q1 & 15, q1 >> 4]` by 128-bit lane).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn nibbles2(p0: *const u8, p1: *const u8) -> __m512i {
    let lo = _mm256_broadcastsi128_si256(_mm_loadu_si128(p0 as *const __m128i));
    let hi = _mm256_broadcastsi128_si256(_mm_loadu_si128(p1 as *const __m128i));
    let v = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
    let v = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    _mm512_and_si512(v, _mm512_set1_epi8(0x0F))
}

/// Mask of the 5th bits of two Q5 blocks (`qh` u32 at `p0` and `p1`).
#[inline(always)]
unsafe fn qh2(p0: *const u8, p1: *const u8) -> __mmask64 {
    let a = (p0 as *const u32).read_unaligned() as u64;
    let b = (p1 as *const u32).read_unaligned() as u64;
    a | b << 32
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn hsum512(v: __m512) -> f32 {
    let s = _mm256_add_ps(
        _mm512_castps512_ps256(v),
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))),
    );
    let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps::<1>(s));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

// Integer dot primitives: per 4-byte group, i32.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn us_vnni(u: __m512i, s: __m512i) -> __m512i {
    _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s)
}
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn us_off_vnni(u: __m512i, s: __m512i, k: __m512i) -> __m512i {
    let z = _mm512_setzero_si512();
    _mm512_sub_epi32(_mm512_dpbusd_epi32(z, u, s), _mm512_dpbusd_epi32(z, k, s))
}
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn us_bw(u: __m512i, s: __m512i) -> __m512i {
    _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1))
}
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn us_off_bw(u: __m512i, s: __m512i, k: __m512i) -> __m512i {
    let p = _mm512_sub_epi16(_mm512_maddubs_epi16(u, s), _mm512_maddubs_epi16(k, s));
    _mm512_madd_epi16(p, _mm512_set1_epi16(1))
}
/// Signed x signed via |x| and sign-moved y (no operand is -128 in Q8 data).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn abs_sign(x: __m512i, y: __m512i) -> (__m512i, __m512i) {
    let neg = _mm512_movepi8_mask(x);
    let y = _mm512_mask_sub_epi8(y, neg, _mm512_setzero_si512(), y);
    (_mm512_abs_epi8(x), y)
}

/// Generates `$vnni` (AVX-512 VNNI) and `$bw` (AVX-512 BW) from one body; inside the body
/// `us!(u, s)` and `us_off!(u, s, k)` are the integer dot primitives of the flavour.
macro_rules! variants {
    ($vnni:ident, $bw:ident, |$nb:ident, $w:ident, $a:ident| $body:block) => {
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
        pub unsafe fn $vnni($nb: usize, $w: *const u8, $a: *const u8) -> f32 {
            #[allow(unused_macros)]
            macro_rules! us {
                ($u:expr, $s:expr) => {
                    us_vnni($u, $s)
                };
            }
            #[allow(unused_macros)]
            macro_rules! us_off {
                ($u:expr, $s:expr, $k:expr) => {
                    us_off_vnni($u, $s, $k)
                };
            }
            $body
        }
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
        pub unsafe fn $bw($nb: usize, $w: *const u8, $a: *const u8) -> f32 {
            #[allow(unused_macros)]
            macro_rules! us {
                ($u:expr, $s:expr) => {
                    us_bw($u, $s)
                };
            }
            #[allow(unused_macros)]
            macro_rules! us_off {
                ($u:expr, $s:expr, $k:expr) => {
                    us_off_bw($u, $s, $k)
                };
            }
            $body
        }
    };
}

/// Main loop for formats with one fp16 `d` per block against Q8_0 activations.
/// `$iw` picks the four weight scales (word indices into `ld512(w) ++ ld512(w + $w2)`), and
/// `$int(wb, ab, j)` is the i32 dot of blocks j, j+1 of the group.
macro_rules! loop_d {
    ($nb:ident, $w:ident, $a:ident, $wb:expr, $iw:expr, $w2:expr, $tail:path, $int:expr) => {{
        let iw = idx16(&$iw);
        let ia = idx16(&[0, 17, 32, 49]); // d at bytes 0, 34 | 68, 102
        let (p01, p23) = (spread(0, 1), spread(2, 3));
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let groups = $nb / 4;
        for g in 0..groups {
            let wb = $w.add(g * 4 * $wb);
            let ab = $a.add(g * 4 * Q8_0_BYTES);
            let dw = _mm512_permutex2var_epi16(ld512(wb), iw, ld512(wb.add($w2)));
            let da = _mm512_permutex2var_epi16(ld512(ab), ia, ld512(ab.add(2 * Q8_0_BYTES)));
            let s = _mm_mul_ps(
                _mm_cvtph_ps(_mm512_castsi512_si128(dw)),
                _mm_cvtph_ps(_mm512_castsi512_si128(da)),
            );
            let s = _mm512_castps128_ps512(s);
            let i01 = $int(wb, ab, 0);
            let i23 = $int(wb, ab, 2);
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i01), _mm512_permutexvar_ps(p01, s), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i23), _mm512_permutexvar_ps(p23, s), acc1);
        }
        let done = groups * 4;
        let mut sum = hsum512(_mm512_add_ps(acc0, acc1));
        if done < $nb {
            sum += $tail($nb - done, $w.add(done * $wb), $a.add(done * Q8_0_BYTES));
        }
        sum
    }};
}

/// Main loop for `{d, m}` weights against Q8_1 activations; `$iw` holds the word indices of
/// `d0..d3` then `m0..m3` in `ld512(w) ++ ld512(w + $w2)`.
macro_rules! loop_dm {
    ($nb:ident, $w:ident, $a:ident, $wb:expr, $iw:expr, $w2:expr, $tail:path, $int:expr) => {{
        let iw = idx16(&$iw);
        // {d, s} at bytes 0, 36, 72, 108 of the 144-byte group.
        let ia = idx16(&[0, 18, 36, 54, 1, 19, 37, 55]);
        let (p01, p23) = (spread(0, 1), spread(2, 3));
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut ms = _mm256_setzero_ps();
        let groups = $nb / 4;
        for g in 0..groups {
            let wb = $w.add(g * 4 * $wb);
            let ab = $a.add(g * 4 * Q8_1_BYTES);
            let dw = _mm512_permutex2var_epi16(ld512(wb), iw, ld512(wb.add($w2)));
            let da = _mm512_permutex2var_epi16(ld512(ab), ia, ld512(ab.add(64)));
            // [d_w*d_a x4, m*s x4]
            let p = _mm256_mul_ps(
                _mm256_cvtph_ps(_mm512_castsi512_si128(dw)),
                _mm256_cvtph_ps(_mm512_castsi512_si128(da)),
            );
            ms = _mm256_add_ps(ms, p);
            let s = _mm512_castps256_ps512(p);
            let i01 = $int(wb, ab, 0);
            let i23 = $int(wb, ab, 2);
            acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i01), _mm512_permutexvar_ps(p01, s), acc0);
            acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i23), _mm512_permutexvar_ps(p23, s), acc1);
        }
        let done = groups * 4;
        let m = _mm256_extractf128_ps::<1>(ms);
        let m = _mm_add_ps(m, _mm_movehl_ps(m, m));
        let m = _mm_add_ss(m, _mm_movehdup_ps(m));
        let mut sum = hsum512(_mm512_add_ps(acc0, acc1)) + _mm_cvtss_f32(m);
        if done < $nb {
            sum += $tail($nb - done, $w.add(done * $wb), $a.add(done * Q8_1_BYTES));
        }
        sum
    }};
}

// Q4_0 (18 bytes: d, qs[16]); group of 4 = 72 bytes, d at words 0, 9, 18, 27 of ld512(w).
variants!(vec_dot_q4_0_q8_0_vnni, vec_dot_q4_0_q8_0_bw, |nb, w, a| {
    let eight = _mm512_set1_epi8(8);
    loop_d!(
        nb,
        w,
        a,
        Q4_0_BYTES,
        [0, 9, 18, 27],
        0,
        avx2::vec_dot_q4_0_q8_0,
        |wb: *const u8, ab: *const u8, j: usize| {
            let x = nibbles2(wb.add(j * Q4_0_BYTES + 2), wb.add((j + 1) * Q4_0_BYTES + 2));
            let y = ld2(ab.add(j * Q8_0_BYTES + 2), ab.add((j + 1) * Q8_0_BYTES + 2));
            us_off!(x, y, eight)
        }
    )
});

// Q5_0 (22 bytes: d, qh, qs[16]); group = 88 bytes; d at bytes 0, 22 of ld512(w) (words 0,
// 11) and bytes 44, 66 = words 10, 21 of ld512(w + 24).
variants!(vec_dot_q5_0_q8_0_vnni, vec_dot_q5_0_q8_0_bw, |nb, w, a| {
    let sixteen = _mm512_set1_epi8(16);
    loop_d!(
        nb,
        w,
        a,
        Q5_0_BYTES,
        [0, 11, 42, 53],
        24,
        avx2::vec_dot_q5_0_q8_0,
        |wb: *const u8, ab: *const u8, j: usize| {
            let (b0, b1) = (wb.add(j * Q5_0_BYTES), wb.add((j + 1) * Q5_0_BYTES));
            let x = nibbles2(b0.add(6), b1.add(6));
            let x = _mm512_mask_add_epi8(x, qh2(b0.add(2), b1.add(2)), x, sixteen);
            let y = ld2(ab.add(j * Q8_0_BYTES + 2), ab.add((j + 1) * Q8_0_BYTES + 2));
            us_off!(x, y, sixteen)
        }
    )
});

// Q8_0 (34 bytes: d, qs[32]); group = 136 bytes; d at words 0, 17 of ld512(w) and of
// ld512(w + 68).
variants!(vec_dot_q8_0_q8_0_vnni, vec_dot_q8_0_q8_0_bw, |nb, w, a| {
    loop_d!(
        nb,
        w,
        a,
        Q8_0_BYTES,
        [0, 17, 32, 49],
        68,
        avx2::vec_dot_q8_0_q8_0,
        |wb: *const u8, ab: *const u8, j: usize| {
            let x = ld2(wb.add(j * Q8_0_BYTES + 2), wb.add((j + 1) * Q8_0_BYTES + 2));
            let y = ld2(ab.add(j * Q8_0_BYTES + 2), ab.add((j + 1) * Q8_0_BYTES + 2));
            let (x, y) = abs_sign(x, y);
            us!(x, y)
        }
    )
});

// Q4_1 (20 bytes: d, m, qs[16]); group = 80 bytes; d, m at words 0/1, 10/11, 20/21, 30/31.
variants!(vec_dot_q4_1_q8_1_vnni, vec_dot_q4_1_q8_1_bw, |nb, w, a| {
    loop_dm!(
        nb,
        w,
        a,
        Q4_1_BYTES,
        [0, 10, 20, 30, 1, 11, 21, 31],
        0,
        avx2::vec_dot_q4_1_q8_1,
        |wb: *const u8, ab: *const u8, j: usize| {
            let x = nibbles2(wb.add(j * Q4_1_BYTES + 4), wb.add((j + 1) * Q4_1_BYTES + 4));
            let y = ld2(ab.add(j * Q8_1_BYTES + 4), ab.add((j + 1) * Q8_1_BYTES + 4));
            us!(x, y)
        }
    )
});

// Q5_1 (24 bytes: d, m, qh, qs[16]); group = 96 bytes; blocks 0-2 in ld512(w) (words 0, 12,
// 24), block 3 at byte 72 = word 20 of ld512(w + 32).
variants!(vec_dot_q5_1_q8_1_vnni, vec_dot_q5_1_q8_1_bw, |nb, w, a| {
    let sixteen = _mm512_set1_epi8(16);
    loop_dm!(
        nb,
        w,
        a,
        Q5_1_BYTES,
        [0, 12, 24, 52, 1, 13, 25, 53],
        32,
        avx2::vec_dot_q5_1_q8_1,
        |wb: *const u8, ab: *const u8, j: usize| {
            let (b0, b1) = (wb.add(j * Q5_1_BYTES), wb.add((j + 1) * Q5_1_BYTES));
            let x = nibbles2(b0.add(8), b1.add(8));
            let x = _mm512_mask_add_epi8(x, qh2(b0.add(4), b1.add(4)), x, sixteen);
            let y = ld2(ab.add(j * Q8_1_BYTES + 4), ab.add((j + 1) * Q8_1_BYTES + 4));
            us!(x, y)
        }
    )
});
