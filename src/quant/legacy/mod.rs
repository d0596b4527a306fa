//! The 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the activation format Q8_1.
//!
//! `blocks` holds the layouts and the scalar reference of every operation (any target);
//! `avx2` and `avx512` the x86 kernels. Dot products follow ggml: the integer dot of each block
//! pair times `d_w * d_a`, plus `m_w * s_a` for the `_1` formats, summed in f32.
//!
//! vec_dot variants per weight type: "scalar", "avx2" (AVX2+FMA+F16C), "avx512" (F+BW+VL,
//! `vpmaddubsw`) and "avx512vnni" (`vpdpbusd`). Q8_0/Q8_1 quantization (activations, hot
//! path) has an AVX2 kernel bit-identical to the scalar one; weight quantization and
//! dequantization are scalar.

pub mod blocks;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod panel;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod tiles;

use super::{CpuFeatures, GgmlType, TypeKernels};
use blocks::*;

/// Kernels for the legacy formats, `None` for other types.
pub fn kernels(ty: GgmlType, cpu: CpuFeatures) -> Option<TypeKernels> {
    let (dequantize, quantize): (super::dispatch::DequantizeFn, super::dispatch::QuantizeFn) =
        match ty {
            GgmlType::Q4_0 => (dequantize_q4_0, quantize_q4_0),
            GgmlType::Q4_1 => (dequantize_q4_1, quantize_q4_1),
            GgmlType::Q5_0 => (dequantize_q5_0, quantize_q5_0),
            GgmlType::Q5_1 => (dequantize_q5_1, quantize_q5_1),
            GgmlType::Q8_0 => (dequantize_q8_0, quantize_q8_0),
            GgmlType::Q8_1 => (dequantize_q8_1, quantize_q8_1),
            _ => return None,
        };
    let scalar: super::dispatch::VecDotFn = match ty {
        GgmlType::Q4_0 => vec_dot_q4_0_q8_0,
        GgmlType::Q4_1 => vec_dot_q4_1_q8_1,
        GgmlType::Q5_0 => vec_dot_q5_0_q8_0,
        GgmlType::Q5_1 => vec_dot_q5_1_q8_1,
        GgmlType::Q8_0 => vec_dot_q8_0_q8_0,
        _ => vec_dot_q8_1_q8_1,
    };
    let mut k = TypeKernels {
        ty,
        dequantize,
        quantize,
        vec_dot: scalar,
        gemm: None,
        variant: "scalar",
    };
    #[cfg(target_arch = "x86_64")]
    x86::select(&mut k, cpu);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = cpu;
    Some(k)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! Safe wrappers (length checks) around the x86 kernels, and their selection.
    use super::blocks::*;
    use super::{avx2, tiles};
    use crate::quant::{CpuFeatures, GgmlType, TypeKernels};

    /// Wraps a pointer kernel `$k(nb, w, a)` as a checked `VecDotFn`.
    macro_rules! dot_fn {
        ($name:ident, $k:path, $wb:expr, $ab:expr) => {
            fn $name(n: usize, w: &[u8], a: &[u8]) -> f32 {
                let nb = blocks(n);
                assert!(
                    w.len() >= nb * $wb && a.len() >= nb * $ab,
                    "vec_dot: rows too short"
                );
                // SAFETY: selected only when the kernel's CPU features were detected; both
                // rows hold `nb` blocks (checked above).
                unsafe { $k(nb, w.as_ptr(), a.as_ptr()) }
            }
        };
    }
    dot_fn!(q4_0_avx2, avx2::vec_dot_q4_0_q8_0, Q4_0_BYTES, Q8_0_BYTES);
    dot_fn!(q4_1_avx2, avx2::vec_dot_q4_1_q8_1, Q4_1_BYTES, Q8_1_BYTES);
    dot_fn!(q5_0_avx2, avx2::vec_dot_q5_0_q8_0, Q5_0_BYTES, Q8_0_BYTES);
    dot_fn!(q5_1_avx2, avx2::vec_dot_q5_1_q8_1, Q5_1_BYTES, Q8_1_BYTES);
    dot_fn!(q8_0_avx2, avx2::vec_dot_q8_0_q8_0, Q8_0_BYTES, Q8_0_BYTES);
    dot_fn!(q8_1_avx2, avx2::vec_dot_q8_1_q8_1, Q8_1_BYTES, Q8_1_BYTES);

    fn quantize_q8_0_avx2(src: &[f32], dst: &mut [u8]) {
        let nb = blocks(src.len());
        assert!(
            dst.len() >= nb * Q8_0_BYTES,
            "quantize: destination too small"
        );
        // SAFETY: AVX2+FMA+F16C detected; `src` holds nb*32 floats, `dst` nb blocks.
        unsafe { avx2::quantize_q8_0(nb, src.as_ptr(), dst.as_mut_ptr()) }
    }
    fn quantize_q8_1_avx2(src: &[f32], dst: &mut [u8]) {
        let nb = blocks(src.len());
        assert!(
            dst.len() >= nb * Q8_1_BYTES,
            "quantize: destination too small"
        );
        // SAFETY: as above.
        unsafe { avx2::quantize_q8_1(nb, src.as_ptr(), dst.as_mut_ptr()) }
    }

    pub(super) fn select(k: &mut TypeKernels, cpu: CpuFeatures) {
        if !cpu.avx2_fma {
            return;
        }
        type F = crate::quant::dispatch::VecDotFn;
        let a2: F = match k.ty {
            GgmlType::Q4_0 => q4_0_avx2,
            GgmlType::Q4_1 => q4_1_avx2,
            GgmlType::Q5_0 => q5_0_avx2,
            GgmlType::Q5_1 => q5_1_avx2,
            GgmlType::Q8_0 => q8_0_avx2,
            _ => q8_1_avx2,
        };
        (k.vec_dot, k.variant) = (a2, "avx2");
        match k.ty {
            GgmlType::Q8_0 => k.quantize = quantize_q8_0_avx2,
            GgmlType::Q8_1 => k.quantize = quantize_q8_1_avx2,
            _ => {}
        }
        if cpu.avx512_vnni {
            if let Some((dot, gemm)) = tiles::select(k.ty) {
                (k.vec_dot, k.gemm, k.variant) = (dot, Some(gemm), "avx512vnni");
            }
        }
    }
}
