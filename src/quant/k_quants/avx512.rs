//! AVX-512BW kernels for Q4_K and Q6_K × Q8_K, in two builds: with VNNI (`vpdpwssd` fuses the
//! scale multiply and the accumulate) and without.
//!
//! Each 512-bit step covers 64 consecutive Q8_K values, so every 128-bit lane of a `maddubs`
//! result belongs to one group of 16 (Q6_K) or to one half of a group of 32 (Q4_K).

use super::super::dispatch::VecDotFn;
use super::avx2::{f16_at, f32_at, hsum_ps128, mins_k4, unpack_k4};
use super::{blocks_checked, q4_k, q6_k, q8_k};
use crate::quant::{CpuFeatures, GgmlType};
use std::arch::x86_64::*;

pub fn vec_dot(ty: GgmlType, cpu: CpuFeatures) -> Option<(VecDotFn, &'static str)> {
    if !cpu.avx512 {
        return None;
    }
    let vnni = cpu.avx512_vnni;
    Some(match (ty, vnni) {
        (GgmlType::Q4K, true) => (dot_q4k_vnni as VecDotFn, "avx512vnni"),
        (GgmlType::Q4K, false) => (dot_q4k as VecDotFn, "avx512"),
        (GgmlType::Q6K, true) => (dot_q6k_vnni as VecDotFn, "avx512vnni"),
        (GgmlType::Q6K, false) => (dot_q6k as VecDotFn, "avx512"),
        _ => return None,
    })
}

macro_rules! safe_dot {
    ($name:ident, $kernel:ident, $block:expr) => {
        fn $name(n: usize, w: &[u8], a: &[u8]) -> f32 {
            let nb = blocks_checked(n, w, $block, a);
            // SAFETY: selected only when the kernel's AVX-512 features were detected; both rows
            // hold `nb` blocks (checked above).
            unsafe { $kernel(nb, w.as_ptr(), a.as_ptr()) }
        }
    };
}
safe_dot!(dot_q4k, q4k, q4_k::BLOCK);
safe_dot!(dot_q4k_vnni, q4k_vnni, q4_k::BLOCK);
safe_dot!(dot_q6k, q6k, q6_k::BLOCK);
safe_dot!(dot_q6k_vnni, q6k_vnni, q6_k::BLOCK);

const YQS: usize = q8_k::OFF_QS;
const YBS: usize = q8_k::OFF_BSUMS;

/// A shuffle mask putting 16-bit word `w[i]` of each lane's source in every word of lane `i`.
const fn words512(w: [usize; 4]) -> [u8; 64] {
    let mut m = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        m[i] = (2 * w[i / 16] + i % 2) as u8;
        i += 1;
    }
    m
}

/// Q4_K chunk `j`: low nibbles (lanes 0, 1) take scale `2j`, high nibbles (lanes 2, 3) `2j+1`.
static Q4_SCALES: [[u8; 64]; 4] = [
    words512([0, 0, 1, 1]),
    words512([2, 2, 3, 3]),
    words512([4, 4, 5, 5]),
    words512([6, 6, 7, 7]),
];
/// Q6_K: lane `i` of the first (second) 64 values of a half takes scale `i` (`4 + i`).
static Q6_SCALES: [[u8; 64]; 2] = [words512([0, 1, 2, 3]), words512([4, 5, 6, 7])];

macro_rules! kernels {
    ($q4k:ident, $q6k:ident, $features:literal, $vnni:literal) => {
        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn dot_acc(acc: __m512i, p: __m512i, s: __m512i) -> __m512i {
            if $vnni {
                _mm512_dpwssd_epi32(acc, p, s)
            } else {
                _mm512_add_epi32(acc, _mm512_madd_epi16(p, s))
            }
        }

        #[target_feature(enable = $features)]
        pub(super) unsafe fn $q4k(nb: usize, x: *const u8, y: *const u8) -> f32 {
            let m4 = _mm512_set1_epi8(0xF);
            let masks: [__m512i; 4] =
                [0, 1, 2, 3].map(|j| _mm512_loadu_si512(Q4_SCALES[j].as_ptr() as *const _));
            let mut acc = _mm512_setzero_ps();
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
                let sc = _mm512_broadcast_i32x4(_mm256_castsi256_si128(ms));
                let mut sumi = _mm512_setzero_si512();
                for (j, m) in masks.iter().enumerate() {
                    // [q | q] → [low nibbles | high nibbles] = 64 consecutive values.
                    let q = _mm512_broadcast_i64x4(_mm256_loadu_si256(
                        xb.add(q4_k::QS + 32 * j) as *const __m256i
                    ));
                    let q = _mm512_and_si512(_mm512_mask_srli_epi16::<4>(q, 0xFFFF_0000, q), m4);
                    let yv = _mm512_loadu_si512(yb.add(YQS + 64 * j) as *const _);
                    let p = _mm512_maddubs_epi16(q, yv);
                    sumi = dot_acc(sumi, p, _mm512_shuffle_epi8(sc, *m));
                }
                acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
            }
            _mm512_reduce_add_ps(acc) + hsum_ps128(acc_m)
        }

        #[target_feature(enable = $features)]
        pub(super) unsafe fn $q6k(nb: usize, x: *const u8, y: *const u8) -> f32 {
            let m4 = _mm512_set1_epi8(0xF);
            let m30 = _mm512_set1_epi8(0x30);
            let masks: [__m512i; 2] =
                [0, 1].map(|k| _mm512_loadu_si512(Q6_SCALES[k].as_ptr() as *const _));
            let mut acc = _mm512_setzero_ps();
            for i in 0..nb {
                let xb = x.add(i * q6_k::BLOCK);
                let yb = y.add(i * q8_k::BLOCK);
                let d = f32_at(yb) * f16_at(xb.add(q6_k::D));
                let sc16 =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(xb.add(q6_k::SCALES) as *const __m128i));
                // Levels are stored as 0..64 here; the -32 comes back through the bsums.
                let bs = _mm256_loadu_si256(yb.add(YBS) as *const __m256i);
                let off = _mm256_slli_epi32::<5>(_mm256_madd_epi16(sc16, bs));
                let mut sumi =
                    _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), off));
                let sc = [
                    _mm512_broadcast_i32x4(_mm256_castsi256_si128(sc16)),
                    _mm512_broadcast_i32x4(_mm256_extracti128_si256::<1>(sc16)),
                ];
                for (n, &s) in sc.iter().enumerate() {
                    let l = _mm512_loadu_si512(xb.add(q6_k::QL + 64 * n) as *const _);
                    let h = _mm512_broadcast_i64x4(_mm256_loadu_si256(
                        xb.add(q6_k::QH + 32 * n) as *const __m256i
                    ));
                    // Values 0..64 of the half: qh bits 0-1 (first 32), 2-3 (next 32) → 4-5.
                    let h0 = _mm512_mask_slli_epi16::<4>(_mm512_slli_epi16::<2>(h), 0xFFFF, h);
                    // Values 64..128: qh bits 4-5, 6-7 → 4-5.
                    let h1 = _mm512_mask_srli_epi16::<2>(h, 0xFFFF_0000, h);
                    let q0 = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(h0, m30));
                    let q1 = _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16::<4>(l), m4),
                        _mm512_and_si512(h1, m30),
                    );
                    let y0 = _mm512_loadu_si512(yb.add(YQS + 128 * n) as *const _);
                    let y1 = _mm512_loadu_si512(yb.add(YQS + 128 * n + 64) as *const _);
                    let p0 = _mm512_maddubs_epi16(q0, y0);
                    let p1 = _mm512_maddubs_epi16(q1, y1);
                    sumi = dot_acc(sumi, p0, _mm512_shuffle_epi8(s, masks[0]));
                    sumi = dot_acc(sumi, p1, _mm512_shuffle_epi8(s, masks[1]));
                }
                acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
            }
            _mm512_reduce_add_ps(acc)
        }
    };
}

mod plain {
    use super::*;
    kernels!(q4k, q6k, "avx512f,avx512bw,avx512vl,avx2,fma,f16c", false);
}
mod vnni {
    use super::*;
    kernels!(
        q4k,
        q6k,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        true
    );
}
use plain::{q4k, q6k};
use vnni::{q4k as q4k_vnni, q6k as q6k_vnni};
