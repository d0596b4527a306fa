//! The float formats F32, F16 and BF16. Their dot type is themselves: activations are rounded to
//! the weight's float type before the dot product, as llama.cpp does.

use super::{CpuFeatures, GgmlType, TypeKernels};
use half::{bf16, f16};

/// Kernels for the float formats, `None` for other types.
pub fn kernels(ty: GgmlType, cpu: CpuFeatures) -> Option<TypeKernels> {
    let simd = cpu.avx2_fma;
    let k = match ty {
        GgmlType::F32 => TypeKernels {
            ty,
            dequantize: f32_to_f32,
            quantize: f32_from_f32,
            vec_dot: if simd { dot_f32_fast } else { dot_f32_ref },
            gemm: None,
            variant: if simd { "avx2" } else { "scalar" },
        },
        GgmlType::F16 => TypeKernels {
            ty,
            dequantize: if simd {
                f16_to_f32_fast
            } else {
                f16_to_f32_ref
            },
            quantize: f16_from_f32,
            vec_dot: if simd { dot_f16_fast } else { dot_f16_ref },
            gemm: None,
            variant: if simd { "avx2" } else { "scalar" },
        },
        GgmlType::BF16 => TypeKernels {
            ty,
            dequantize: bf16_to_f32,
            quantize: bf16_from_f32,
            vec_dot: dot_bf16_ref,
            gemm: None,
            variant: "scalar",
        },
        _ => return None,
    };
    Some(k)
}

#[inline]
fn f32_at(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(b[4 * i..4 * i + 4].try_into().unwrap())
}
#[inline]
fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[2 * i], b[2 * i + 1]])
}

fn f32_to_f32(src: &[u8], dst: &mut [f32]) {
    for (i, d) in dst.iter_mut().enumerate() {
        *d = f32_at(src, i);
    }
}
fn f32_from_f32(src: &[f32], dst: &mut [u8]) {
    for (i, s) in src.iter().enumerate() {
        dst[4 * i..4 * i + 4].copy_from_slice(&s.to_le_bytes());
    }
}
fn f16_to_f32_ref(src: &[u8], dst: &mut [f32]) {
    for (i, d) in dst.iter_mut().enumerate() {
        *d = f16::from_bits(u16_at(src, i)).to_f32();
    }
}
fn f16_from_f32(src: &[f32], dst: &mut [u8]) {
    for (i, s) in src.iter().enumerate() {
        dst[2 * i..2 * i + 2].copy_from_slice(&f16::from_f32(*s).to_bits().to_le_bytes());
    }
}
fn bf16_to_f32(src: &[u8], dst: &mut [f32]) {
    for (i, d) in dst.iter_mut().enumerate() {
        *d = bf16::from_bits(u16_at(src, i)).to_f32();
    }
}
fn bf16_from_f32(src: &[f32], dst: &mut [u8]) {
    for (i, s) in src.iter().enumerate() {
        dst[2 * i..2 * i + 2].copy_from_slice(&bf16::from_f32(*s).to_bits().to_le_bytes());
    }
}

pub(crate) fn dot_f32_ref(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let mut s = 0.0f64;
    for i in 0..n {
        s += (f32_at(w, i) * f32_at(a, i)) as f64;
    }
    s as f32
}
fn dot_f16_ref(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let mut s = 0.0f64;
    for i in 0..n {
        s += (f16::from_bits(u16_at(w, i)).to_f32() * f16::from_bits(u16_at(a, i)).to_f32()) as f64;
    }
    s as f32
}
fn dot_bf16_ref(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let mut s = 0.0f64;
    for i in 0..n {
        s += (bf16::from_bits(u16_at(w, i)).to_f32() * bf16::from_bits(u16_at(a, i)).to_f32())
            as f64;
    }
    s as f32
}

fn dot_f32_fast(n: usize, w: &[u8], a: &[u8]) -> f32 {
    assert!(w.len() >= 4 * n && a.len() >= 4 * n);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: selected only when AVX2+FMA were detected; lengths checked above.
    unsafe {
        x86::dot_f32(n, w.as_ptr() as *const f32, a.as_ptr() as *const f32)
    }
    #[cfg(not(target_arch = "x86_64"))]
    dot_f32_ref(n, w, a)
}
fn dot_f16_fast(n: usize, w: &[u8], a: &[u8]) -> f32 {
    assert!(w.len() >= 2 * n && a.len() >= 2 * n);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: selected only when AVX2+FMA+F16C were detected; lengths checked above.
    unsafe {
        x86::dot_f16(n, w.as_ptr() as *const u16, a.as_ptr() as *const u16)
    }
    #[cfg(not(target_arch = "x86_64"))]
    dot_f16_ref(n, w, a)
}
fn f16_to_f32_fast(src: &[u8], dst: &mut [f32]) {
    assert!(src.len() >= 2 * dst.len());
    #[cfg(target_arch = "x86_64")]
    // SAFETY: selected only when F16C was detected; lengths checked above.
    unsafe {
        x86::f16_to_f32(src.as_ptr() as *const u16, dst)
    }
    #[cfg(not(target_arch = "x86_64"))]
    f16_to_f32_ref(src, dst)
}

/// Dot product of f32 rows, unaligned pointers allowed (used by attention too).
pub fn dot_f32_slices(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    #[cfg(target_arch = "x86_64")]
    if CpuFeatures::detect().avx2_fma {
        // SAFETY: AVX2+FMA detected; both slices hold n elements.
        return unsafe { x86::dot_f32(n, a.as_ptr(), b.as_ptr()) };
    }
    a[..n].iter().zip(&b[..n]).map(|(x, y)| x * y).sum()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_f32(n: usize, w: *const f32, a: *const f32) -> f32 {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(w.add(i + 8 * j));
                let y = _mm256_loadu_ps(a.add(i + 8 * j));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(i)), _mm256_loadu_ps(a.add(i)), acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut sum = hsum(s);
        while i < n {
            sum += *w.add(i) * *a.add(i);
            i += 1;
        }
        sum
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_f16(n: usize, w: *const u16, a: *const u16) -> f32 {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_cvtph_ps(_mm_loadu_si128(w.add(i + 8 * j) as *const __m128i));
                let y = _mm256_cvtph_ps(_mm_loadu_si128(a.add(i + 8 * j) as *const __m128i));
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let x = _mm256_cvtph_ps(_mm_loadu_si128(w.add(i) as *const __m128i));
            let y = _mm256_cvtph_ps(_mm_loadu_si128(a.add(i) as *const __m128i));
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut sum = hsum(s);
        while i < n {
            sum +=
                half::f16::from_bits(*w.add(i)).to_f32() * half::f16::from_bits(*a.add(i)).to_f32();
            i += 1;
        }
        sum
    }

    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn f16_to_f32(src: *const u16, dst: &mut [f32]) {
        let n = dst.len();
        let mut i = 0;
        while i + 8 <= n {
            let v = _mm256_cvtph_ps(_mm_loadu_si128(src.add(i) as *const __m128i));
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), v);
            i += 8;
        }
        while i < n {
            dst[i] = half::f16::from_bits(*src.add(i)).to_f32();
            i += 1;
        }
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_f32(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn simd_matches_reference_on_odd_lengths() {
        let cpu = CpuFeatures::detect();
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16] {
            let fast = kernels(ty, cpu).unwrap();
            let slow = kernels(ty, CpuFeatures::scalar()).unwrap();
            for n in [1usize, 7, 8, 31, 33, 64, 100, 577] {
                let x = rand_f32(n, n as u64);
                let y = rand_f32(n, 99 + n as u64);
                let mut wx = vec![0u8; ty.row_size(n).unwrap()];
                let mut wy = vec![0u8; ty.row_size(n).unwrap()];
                (slow.quantize)(&x, &mut wx);
                (slow.quantize)(&y, &mut wy);
                let a = (fast.vec_dot)(n, &wx, &wy);
                let b = (slow.vec_dot)(n, &wx, &wy);
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "{ty} n={n}: {a} vs {b}"
                );
                let mut d1 = vec![0f32; n];
                let mut d2 = vec![0f32; n];
                (fast.dequantize)(&wx, &mut d1);
                (slow.dequantize)(&wx, &mut d2);
                assert_eq!(d1, d2);
                let bound = match ty {
                    GgmlType::F32 => 0.0,
                    GgmlType::F16 => 1e-3,
                    _ => 8e-3,
                };
                for (o, r) in x.iter().zip(&d2) {
                    assert!((o - r).abs() <= bound, "{ty} round trip {o} -> {r}");
                }
            }
        }
    }
}
