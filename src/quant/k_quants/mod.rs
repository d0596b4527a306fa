//! The 256-element super-block formats: Q2_K … Q6_K and the activation format Q8_K.
//!
//! Layouts are byte-for-byte ggml's `block_q2_K` … `block_q8_K` (QK_K = 256, 12-byte 6-bit
//! scales). Each weight format has a scalar reference (dequantize, quantize, dot against Q8_K)
//! built on a common "decoded block" form ([`Decoded`]); the SIMD dot products live in
//! `avx2.rs` and `avx512.rs` and are checked against the reference in `tests.rs`.

use super::dispatch::{DequantizeFn, GemmFn, QuantizeFn, VecDotFn};
use super::{CpuFeatures, GgmlType, TypeKernels, QK_K};

pub mod exact;
#[cfg(target_arch = "x86_64")]
pub mod exact512;
mod q2_k;
mod q3_k;
mod q4_k;
mod q5_k;
mod q6_k;
pub(crate) mod q8_k;
mod quantizer;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests;

/// Kernels for the k-quants, `None` for other types.
pub fn kernels(ty: GgmlType, cpu: CpuFeatures) -> Option<TypeKernels> {
    let (dequantize, quantize, scalar): (DequantizeFn, QuantizeFn, VecDotFn) = match ty {
        GgmlType::Q2K => (q2_k::dequantize, q2_k::quantize, q2_k::vec_dot_ref),
        GgmlType::Q3K => (q3_k::dequantize, q3_k::quantize, q3_k::vec_dot_ref),
        GgmlType::Q4K => (q4_k::dequantize, q4_k::quantize, q4_k::vec_dot_ref),
        GgmlType::Q5K => (q5_k::dequantize, q5_k::quantize, q5_k::vec_dot_ref),
        GgmlType::Q6K => (q6_k::dequantize, q6_k::quantize, q6_k::vec_dot_ref),
        GgmlType::Q8K => (q8_k::dequantize, q8_k::quantize_ref, q8_k::vec_dot_ref),
        _ => return None,
    };
    // Q4_K and Q6_K products follow ggml's batch-size-dependent orders (see `exact`).
    let gemm: Option<GemmFn> = match ty {
        GgmlType::Q4K => Some(exact::gemm_q4k_scalar),
        GgmlType::Q6K => Some(exact::gemm_q6k_scalar),
        _ => None,
    };
    let mut k = TypeKernels {
        ty,
        dequantize,
        quantize,
        vec_dot: scalar,
        gemm,
        variant: "scalar",
    };
    #[cfg(target_arch = "x86_64")]
    {
        if let Some((f, v)) = avx512::vec_dot(ty, cpu) {
            k.vec_dot = f;
            k.variant = v;
        } else if let Some(f) = avx2::vec_dot(ty, cpu) {
            k.vec_dot = f;
            k.variant = "avx2";
        }
        if cpu.avx2_fma {
            k.gemm = match ty {
                GgmlType::Q4K => Some(exact::avx2::gemm_q4k as GemmFn),
                GgmlType::Q6K => Some(exact::avx2::gemm_q6k as GemmFn),
                _ => k.gemm,
            };
        }
        if cpu.avx512_vnni {
            k.gemm = match ty {
                GgmlType::Q4K => Some(exact512::gemm_q4k as GemmFn),
                GgmlType::Q6K => Some(exact512::gemm_q6k as GemmFn),
                _ => k.gemm,
            };
        }
        if ty == GgmlType::Q8K && cpu.avx2_fma {
            k.quantize = avx2::quantize_q8_k;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = cpu;
    Some(k)
}

/// One super-block unpacked to integer levels and group scales: element `e` dequantizes to
/// `d * scales[g] * q[e] - dmin * mins[g]` with `g = e / group`.
pub(crate) struct Decoded {
    pub q: [i8; QK_K],
    pub scales: [i32; 16],
    pub mins: [i32; 16],
    /// 16 or 32 elements per scale.
    pub group: usize,
    pub d: f32,
    /// `None` for the symmetric formats (Q3_K, Q6_K).
    pub dmin: Option<f32>,
}

impl Decoded {
    pub fn new(group: usize) -> Decoded {
        Decoded {
            q: [0; QK_K],
            scales: [0; 16],
            mins: [0; 16],
            group,
            d: 0.0,
            dmin: None,
        }
    }

    /// ggml's dequantization: `dl = d * scale`, `ml = dmin * min`, `y = dl * q - ml`.
    pub fn dequantize(&self, y: &mut [f32]) {
        for (g, (yg, qg)) in y
            .chunks_exact_mut(self.group)
            .zip(self.q.chunks_exact(self.group))
            .enumerate()
        {
            let dl = self.d * self.scales[g] as f32;
            match self.dmin {
                Some(dmin) => {
                    let ml = dmin * self.mins[g] as f32;
                    for (y, &q) in yg.iter_mut().zip(qg) {
                        *y = dl * q as f32 - ml;
                    }
                }
                None => {
                    for (y, &q) in yg.iter_mut().zip(qg) {
                        *y = dl * q as f32;
                    }
                }
            }
        }
    }

    /// Dot product with one Q8_K block: integer sums per group times the group scales, then
    /// `d * dy * isum`, minus `dmin * dy * Σ bsums * mins` for the asymmetric formats.
    pub fn dot_q8k(&self, y: &[u8]) -> f32 {
        let dy = q8_k::d(y);
        let qs = q8_k::qs(y);
        let mut isum = 0i32;
        for (g, (qg, yg)) in self
            .q
            .chunks_exact(self.group)
            .zip(qs.chunks_exact(self.group))
            .enumerate()
        {
            let s: i32 = qg.iter().zip(yg).map(|(&q, &v)| q as i32 * v as i32).sum();
            isum += self.scales[g] * s;
        }
        let mut sumf = dy * self.d * isum as f32;
        if let Some(dmin) = self.dmin {
            let per = self.group / 16;
            let summ: i32 = (0..16).map(|j| q8_k::bsum(y, j) * self.mins[j / per]).sum();
            sumf -= dy * dmin * summ as f32;
        }
        sumf
    }
}

/// Number of super-blocks in a dot product of `n` elements, after checking both operands.
#[inline]
pub(crate) fn blocks_checked(n: usize, w: &[u8], w_size: usize, a: &[u8]) -> usize {
    assert!(
        n.is_multiple_of(QK_K),
        "k-quant rows are multiples of {QK_K}"
    );
    let nb = n / QK_K;
    assert!(w.len() >= nb * w_size && a.len() >= nb * q8_k::BLOCK);
    nb
}

/// Shared scalar paths, parameterized by the block size and a decoder.
pub(crate) fn dequantize_with(
    src: &[u8],
    dst: &mut [f32],
    size: usize,
    decode: fn(&[u8], &mut Decoded),
    group: usize,
) {
    assert!(dst.len().is_multiple_of(QK_K) && src.len() >= dst.len() / QK_K * size);
    let mut dec = Decoded::new(group);
    for (x, y) in src.chunks_exact(size).zip(dst.chunks_exact_mut(QK_K)) {
        decode(x, &mut dec);
        dec.dequantize(y);
    }
}

pub(crate) fn vec_dot_with(
    n: usize,
    w: &[u8],
    a: &[u8],
    size: usize,
    decode: fn(&[u8], &mut Decoded),
    group: usize,
) -> f32 {
    let nb = blocks_checked(n, w, size, a);
    let mut dec = Decoded::new(group);
    let mut sumf = 0.0f32;
    for i in 0..nb {
        decode(&w[i * size..(i + 1) * size], &mut dec);
        sumf += dec.dot_q8k(&a[i * q8_k::BLOCK..(i + 1) * q8_k::BLOCK]);
    }
    sumf
}

#[inline]
pub(crate) fn f16_at(b: &[u8], off: usize) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[off], b[off + 1]])).to_f32()
}

#[cfg(test)]
pub(crate) fn put_f16(b: &mut [u8], off: usize, v: f32) -> f32 {
    let h = half::f16::from_f32(v);
    b[off..off + 2].copy_from_slice(&h.to_bits().to_le_bytes());
    h.to_f32()
}

/// ggml's `nearest_int`: round half to even through the 1.5 * 2^23 trick (exact for
/// |x| <= 2^22 - 1; larger values and NaN take the slow path).
#[inline]
pub(crate) fn nearest_int(x: f32) -> i32 {
    if x.abs() <= 4_194_303.0 {
        ((x + 12_582_912.0).to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
    } else {
        x.round_ties_even() as i32
    }
}

/// The 6-bit (scale, min) pair `j` of a Q4_K/Q5_K 12-byte scales field (ggml's
/// `get_scale_min_k4`).
#[inline]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Inverse of [`scale_min_k4`]: pack eight 6-bit scales and mins into 12 bytes.
pub(crate) fn pack_scale_min_k4(sc: &[u8; 8], mn: &[u8; 8], q: &mut [u8]) {
    for j in 0..4 {
        q[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
        q[j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6);
        q[j + 8] = (sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4);
    }
}
