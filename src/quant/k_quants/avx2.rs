//! AVX2+FMA kernels: the k-quant × Q8_K dot products and the Q8_K activation quantizer.
//!
//! Every dot product works on unsigned weight levels (`maddubs` with the signed Q8_K values),
//! multiplies the 16-bit pair sums by the group scales (`madd`), and folds the format's offset
//! (the mins, or the fixed -4/-32 of Q3_K/Q6_K) in through the Q8_K `bsums`.

use super::super::dispatch::VecDotFn;
use super::{blocks_checked, q2_k, q3_k, q4_k, q5_k, q6_k, q8_k};
use crate::quant::{CpuFeatures, GgmlType, QK_K};
use std::arch::x86_64::*;

pub fn vec_dot(ty: GgmlType, cpu: CpuFeatures) -> Option<VecDotFn> {
    if !cpu.avx2_fma {
        return None;
    }
    Some(match ty {
        GgmlType::Q2K => dot_q2k,
        GgmlType::Q3K => dot_q3k,
        GgmlType::Q4K => dot_q4k,
        GgmlType::Q5K => dot_q5k,
        GgmlType::Q6K => dot_q6k,
        _ => return None,
    })
}

macro_rules! safe_dot {
    ($name:ident, $kernel:ident, $block:expr) => {
        fn $name(n: usize, w: &[u8], a: &[u8]) -> f32 {
            let nb = blocks_checked(n, w, $block, a);
            // SAFETY: selected only when AVX2+FMA+F16C were detected; both rows hold `nb`
            // blocks (checked above).
            unsafe { $kernel(nb, w.as_ptr(), a.as_ptr()) }
        }
    };
}
safe_dot!(dot_q2k, q2k, q2_k::BLOCK);
safe_dot!(dot_q3k, q3k, q3_k::BLOCK);
safe_dot!(dot_q4k, q4k, q4_k::BLOCK);
safe_dot!(dot_q5k, q5k, q5_k::BLOCK);
safe_dot!(dot_q6k, q6k, q6_k::BLOCK);

/// Q8_K quantizer, bit-identical to [`q8_k::quantize_ref`].
pub fn quantize_q8_k(src: &[f32], dst: &mut [u8]) {
    assert!(src.len().is_multiple_of(QK_K) && dst.len() >= src.len() / QK_K * q8_k::BLOCK);
    // SAFETY: selected only when AVX2+FMA were detected; lengths checked above.
    unsafe { quantize_q8k(src.len() / QK_K, src.as_ptr(), dst.as_mut_ptr()) }
}

const YQS: usize = q8_k::OFF_QS;
const YBS: usize = q8_k::OFF_BSUMS;

/// A shuffle mask putting 16-bit word `lo` of each 128-bit lane's source in every word of the
/// low lane, and word `hi` in every word of the high lane.
const fn words256(lo: usize, hi: usize) -> [u8; 32] {
    let mut m = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        let w = if i < 16 { lo } else { hi };
        m[i] = (2 * w + i % 2) as u8;
        i += 1;
    }
    m
}

/// Masks for 32-element chunks whose two halves use consecutive scales `2k`, `2k + 1` of a
/// source holding 8 scales per lane.
static PAIR: [[u8; 32]; 4] = [
    words256(0, 1),
    words256(2, 3),
    words256(4, 5),
    words256(6, 7),
];
/// Masks broadcasting scale `k` to the whole register.
static ONE: [[u8; 32]; 8] = [
    words256(0, 0),
    words256(1, 1),
    words256(2, 2),
    words256(3, 3),
    words256(4, 4),
    words256(5, 5),
    words256(6, 6),
    words256(7, 7),
];

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn mask(m: &[u8; 32]) -> __m256i {
    _mm256_loadu_si256(m.as_ptr() as *const __m256i)
}

#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(super) unsafe fn f16_at(p: *const u8) -> f32 {
    let bits = (p as *const u16).read_unaligned();
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

#[inline]
pub(super) unsafe fn f32_at(p: *const u8) -> f32 {
    (p as *const f32).read_unaligned()
}

#[inline]
unsafe fn u32_at(p: *const u8) -> u32 {
    (p as *const u32).read_unaligned()
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    hsum_ps128(s)
}

#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn hsum_ps128(s: __m128) -> f32 {
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
    _mm_cvtss_f32(s)
}

/// Q4_K/Q5_K scales: 8 scale bytes (low 64 bits) and 8 min bytes (high 64 bits).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn unpack_k4(p: *const u8) -> __m128i {
    let (u0, u1, u2) = (u32_at(p), u32_at(p.add(4)), u32_at(p.add(8)));
    let sc_lo = u0 & 0x3f3f_3f3f;
    let sc_hi = (u2 & 0x0f0f_0f0f) | (((u0 >> 6) & 0x0303_0303) << 4);
    let mn_lo = u1 & 0x3f3f_3f3f;
    let mn_hi = ((u2 >> 4) & 0x0f0f_0f0f) | (((u1 >> 6) & 0x0303_0303) << 4);
    _mm_set_epi32(mn_hi as i32, mn_lo as i32, sc_hi as i32, sc_lo as i32)
}

/// `Σ mins[g] * (bsums[2g] + bsums[2g+1])` as 4 partial i32 sums; `ms` holds the 8 scales
/// then the 8 mins as i16.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn mins_k4(ms: __m256i, y: *const u8) -> __m128i {
    let bs = _mm256_loadu_si256(y.add(YBS) as *const __m256i);
    let bs8 = _mm_hadd_epi16(
        _mm256_castsi256_si128(bs),
        _mm256_extracti128_si256::<1>(bs),
    );
    _mm_madd_epi16(_mm256_extracti128_si256::<1>(ms), bs8)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q4k(nb: usize, x: *const u8, y: *const u8) -> f32 {
    let m4 = _mm256_set1_epi8(0xF);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for i in 0..nb {
        let xb = x.add(i * q4_k::BLOCK);
        let yb = y.add(i * q8_k::BLOCK);
        let dy = f32_at(yb);
        let d = dy * f16_at(xb.add(q4_k::D));
        let dmin = -dy * f16_at(xb.add(q4_k::DMIN));
        let ms = _mm256_cvtepu8_epi16(unpack_k4(xb.add(q4_k::SCALES)));
        let prod = mins_k4(ms, yb);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
        let sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(ms));
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let q = _mm256_loadu_si256(xb.add(q4_k::QS + 32 * j) as *const __m256i);
            let lo = _mm256_and_si256(q, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
            let y0 = _mm256_loadu_si256(yb.add(YQS + 64 * j) as *const __m256i);
            let y1 = _mm256_loadu_si256(yb.add(YQS + 64 * j + 32) as *const __m256i);
            let s0 = _mm256_shuffle_epi8(sc, mask(&ONE[2 * j]));
            let s1 = _mm256_shuffle_epi8(sc, mask(&ONE[2 * j + 1]));
            let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0);
            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc) + hsum_ps128(acc_m)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q5k(nb: usize, x: *const u8, y: *const u8) -> f32 {
    let m4 = _mm256_set1_epi8(0xF);
    let m16 = _mm256_set1_epi8(0x10);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for i in 0..nb {
        let xb = x.add(i * q5_k::BLOCK);
        let yb = y.add(i * q8_k::BLOCK);
        let dy = f32_at(yb);
        let d = dy * f16_at(xb.add(q5_k::D));
        let dmin = -dy * f16_at(xb.add(q5_k::DMIN));
        let ms = _mm256_cvtepu8_epi16(unpack_k4(xb.add(q5_k::SCALES)));
        let prod = mins_k4(ms, yb);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
        let sc = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(ms));
        // Bit 2j of each qh byte goes with the low nibbles of chunk j, bit 2j+1 with the high
        // ones; shifting the 16-bit lanes right by 2 per chunk keeps bits 0/1 uncontaminated.
        let mut hb = _mm256_loadu_si256(xb.add(q5_k::QH) as *const __m256i);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let q = _mm256_loadu_si256(xb.add(q5_k::QS + 32 * j) as *const __m256i);
            let lo = _mm256_or_si256(
                _mm256_and_si256(q, m4),
                _mm256_and_si256(_mm256_slli_epi16::<4>(hb), m16),
            );
            let hi = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4),
                _mm256_and_si256(_mm256_slli_epi16::<3>(hb), m16),
            );
            hb = _mm256_srli_epi16::<2>(hb);
            let y0 = _mm256_loadu_si256(yb.add(YQS + 64 * j) as *const __m256i);
            let y1 = _mm256_loadu_si256(yb.add(YQS + 64 * j + 32) as *const __m256i);
            let s0 = _mm256_shuffle_epi8(sc, mask(&ONE[2 * j]));
            let s1 = _mm256_shuffle_epi8(sc, mask(&ONE[2 * j + 1]));
            let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), s0);
            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), s1);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc) + hsum_ps128(acc_m)
}

/// Per-16 scales as i16 `[s0..s8 | s0..s8]` and `[s8..s16 | s8..s16]`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn halves(sc16: __m256i) -> [__m256i; 2] {
    [
        _mm256_permute2x128_si256::<0x00>(sc16, sc16),
        _mm256_permute2x128_si256::<0x11>(sc16, sc16),
    ]
}

/// `Σ sc16[g] * bsums[g]` as 8 partial i32 sums.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn bsums_dot(sc16: __m256i, y: *const u8) -> __m256i {
    let bs = _mm256_loadu_si256(y.add(YBS) as *const __m256i);
    _mm256_madd_epi16(sc16, bs)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q2k(nb: usize, x: *const u8, y: *const u8) -> f32 {
    let m3 = _mm256_set1_epi8(3);
    let m4 = _mm_set1_epi8(0xF);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm256_setzero_ps();
    for i in 0..nb {
        let xb = x.add(i * q2_k::BLOCK);
        let yb = y.add(i * q8_k::BLOCK);
        let dy = f32_at(yb);
        let d = dy * f16_at(xb.add(q2_k::D));
        let dmin = -dy * f16_at(xb.add(q2_k::DMIN));
        let sc8 = _mm_loadu_si128(xb.add(q2_k::SCALES) as *const __m128i);
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(sc8), m4));
        let prod = bsums_dot(mins, yb);
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc_m);
        let sc = halves(_mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4)));
        let mut sumi = _mm256_setzero_si256();
        for (n, &s) in sc.iter().enumerate() {
            let mut q = _mm256_loadu_si256(xb.add(q2_k::QS + 32 * n) as *const __m256i);
            for (j, pair) in PAIR.iter().enumerate() {
                let qj = _mm256_and_si256(q, m3);
                q = _mm256_srli_epi16::<2>(q);
                let yj = _mm256_loadu_si256(yb.add(YQS + 128 * n + 32 * j) as *const __m256i);
                let p = _mm256_maddubs_epi16(qj, yj);
                let p = _mm256_madd_epi16(p, _mm256_shuffle_epi8(s, mask(pair)));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc) + hsum_ps(acc_m)
}

/// The sixteen Q3_K scales (still biased by +32) as bytes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn unpack_q3_scales(p: *const u8) -> __m128i {
    let (a0, a1, t) = (u32_at(p), u32_at(p.add(4)), u32_at(p.add(8)));
    let k2 = 0x0f0f_0f0f;
    let k1 = 0x0303_0303;
    let s0 = (a0 & k2) | ((t & k1) << 4);
    let s1 = (a1 & k2) | (((t >> 2) & k1) << 4);
    let s2 = ((a0 >> 4) & k2) | (((t >> 4) & k1) << 4);
    let s3 = ((a1 >> 4) & k2) | (((t >> 6) & k1) << 4);
    _mm_set_epi32(s3 as i32, s2 as i32, s1 as i32, s0 as i32)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3k(nb: usize, x: *const u8, y: *const u8) -> f32 {
    let m3 = _mm256_set1_epi8(3);
    let m4b = _mm256_set1_epi8(4);
    let mut acc = _mm256_setzero_ps();
    for i in 0..nb {
        let xb = x.add(i * q3_k::BLOCK);
        let yb = y.add(i * q8_k::BLOCK);
        let d = f32_at(yb) * f16_at(xb.add(q3_k::D));
        let sc16 = _mm256_sub_epi16(
            _mm256_cvtepu8_epi16(unpack_q3_scales(xb.add(q3_k::SCALES))),
            _mm256_set1_epi16(32),
        );
        // Levels are stored as 0..8 here; the -4 comes back through the bsums.
        let mut sumi = _mm256_sub_epi32(
            _mm256_setzero_si256(),
            _mm256_slli_epi32::<2>(bsums_dot(sc16, yb)),
        );
        let sc = halves(sc16);
        let mut hm = _mm256_loadu_si256(xb.add(q3_k::HMASK) as *const __m256i);
        for (n, &s) in sc.iter().enumerate() {
            let mut q = _mm256_loadu_si256(xb.add(q3_k::QS + 32 * n) as *const __m256i);
            for (j, pair) in PAIR.iter().enumerate() {
                let lo = _mm256_and_si256(q, m3);
                q = _mm256_srli_epi16::<2>(q);
                let hi = _mm256_and_si256(_mm256_slli_epi16::<2>(hm), m4b);
                hm = _mm256_srli_epi16::<1>(hm);
                let qj = _mm256_or_si256(lo, hi);
                let yj = _mm256_loadu_si256(yb.add(YQS + 128 * n + 32 * j) as *const __m256i);
                let p = _mm256_maddubs_epi16(qj, yj);
                let p = _mm256_madd_epi16(p, _mm256_shuffle_epi8(s, mask(pair)));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6k(nb: usize, x: *const u8, y: *const u8) -> f32 {
    let m4 = _mm256_set1_epi8(0xF);
    let m30 = _mm256_set1_epi8(0x30);
    let mut acc = _mm256_setzero_ps();
    for i in 0..nb {
        let xb = x.add(i * q6_k::BLOCK);
        let yb = y.add(i * q8_k::BLOCK);
        let d = f32_at(yb) * f16_at(xb.add(q6_k::D));
        let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(xb.add(q6_k::SCALES) as *const __m128i));
        // Levels are stored as 0..64 here; the -32 comes back through the bsums.
        let mut sumi = _mm256_sub_epi32(
            _mm256_setzero_si256(),
            _mm256_slli_epi32::<5>(bsums_dot(sc16, yb)),
        );
        let sc = halves(sc16);
        for (n, &s) in sc.iter().enumerate() {
            let ql0 = _mm256_loadu_si256(xb.add(q6_k::QL + 64 * n) as *const __m256i);
            let ql1 = _mm256_loadu_si256(xb.add(q6_k::QL + 64 * n + 32) as *const __m256i);
            let qh = _mm256_loadu_si256(xb.add(q6_k::QH + 32 * n) as *const __m256i);
            let q = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, m4),
                    _mm256_and_si256(_mm256_slli_epi16::<4>(qh), m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    _mm256_and_si256(_mm256_slli_epi16::<2>(qh), m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                    _mm256_and_si256(qh, m30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                    _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m30),
                ),
            ];
            for (k, pair) in PAIR.iter().enumerate() {
                let yk = _mm256_loadu_si256(yb.add(YQS + 128 * n + 32 * k) as *const __m256i);
                let p = _mm256_maddubs_epi16(q[k], yk);
                let p = _mm256_madd_epi16(p, _mm256_shuffle_epi8(s, mask(pair)));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_q8k(nb: usize, x: *const f32, y: *mut u8) {
    let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let lim = _mm256_set1_epi32(127);
    let perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for i in 0..nb {
        let xb = x.add(i * QK_K);
        let yb = y.add(i * q8_k::BLOCK);
        // `max_ps(a, b)` returns `b` when `a` is NaN, so NaNs are skipped as in the reference.
        let mut vmax = _mm256_setzero_ps();
        for k in 0..QK_K / 8 {
            let v = _mm256_and_ps(_mm256_loadu_ps(xb.add(8 * k)), absmask);
            vmax = _mm256_max_ps(v, vmax);
        }
        let m = _mm_max_ps(
            _mm256_castps256_ps128(vmax),
            _mm256_extractf128_ps::<1>(vmax),
        );
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)));
        if amax == 0.0 {
            std::ptr::write_bytes(yb, 0, q8_k::BLOCK);
            continue;
        }
        // The reference keeps the first element of largest magnitude.
        let va = _mm256_set1_ps(amax);
        let mut idx = 0;
        for k in 0..QK_K / 8 {
            let v = _mm256_and_ps(_mm256_loadu_ps(xb.add(8 * k)), absmask);
            let hit = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(v, va));
            if hit != 0 {
                idx = 8 * k + hit.trailing_zeros() as usize;
                break;
            }
        }
        let iscale = -q8_k::QMAX / *xb.add(idx);
        let vs = _mm256_set1_ps(iscale);
        let mut sums = [_mm256_setzero_si256(); 8];
        for (c, sum) in sums.iter_mut().enumerate() {
            let mut v = [_mm256_setzero_si256(); 4];
            for (t, v) in v.iter_mut().enumerate() {
                let f = _mm256_mul_ps(vs, _mm256_loadu_ps(xb.add(32 * c + 8 * t)));
                *v = _mm256_min_epi32(_mm256_cvtps_epi32(f), lim);
            }
            // [g01 g23 h01 h23 | g45 g67 h45 h67] for the two groups of 16 (g, h).
            *sum = _mm256_hadd_epi32(_mm256_add_epi32(v[0], v[1]), _mm256_add_epi32(v[2], v[3]));
            let p01 = _mm256_packs_epi32(v[0], v[1]);
            let p23 = _mm256_packs_epi32(v[2], v[3]);
            let b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), perm);
            _mm256_storeu_si256(yb.add(YQS + 32 * c) as *mut __m256i, b);
        }
        let mut g4 = [_mm_setzero_si128(); 4];
        for (p, g) in g4.iter_mut().enumerate() {
            let t = _mm256_hadd_epi32(sums[2 * p], sums[2 * p + 1]);
            *g = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256::<1>(t));
        }
        _mm_storeu_si128(yb.add(YBS) as *mut __m128i, _mm_packs_epi32(g4[0], g4[1]));
        _mm_storeu_si128(
            yb.add(YBS + 16) as *mut __m128i,
            _mm_packs_epi32(g4[2], g4[3]),
        );
        (yb as *mut f32).write_unaligned(1.0 / iscale);
    }
}
