//! Runtime kernel selection: detect the CPU once, then hand out the fastest kernel of each type.

use super::{f16, k_quants, legacy, GgmlType};
use std::sync::OnceLock;

pub type DequantizeFn = fn(src: &[u8], dst: &mut [f32]);
pub type QuantizeFn = fn(src: &[f32], dst: &mut [u8]);
/// `vec_dot(n, weights, activations)`: activations are in the weight type's `dot_type()`.
pub type VecDotFn = fn(n: usize, w: &[u8], a: &[u8]) -> f32;

/// `gemm(n, w, nr, a, nt, out, ldo, batch)`: for `r < nr`, `t < nt`, writes
/// `out[t * ldo + r] = w_row(r) · a_row(t)`, rows being contiguous in `w` / `a` (`row_size(n)`
/// bytes each, `a` in the weight type's dot type). `batch` says where the panel sits in the
/// whole product, for types whose ggml summation order depends on the batch size.
///
/// # Safety
/// The kernel's CPU features must be present, and `out` valid for writes at every
/// `t * ldo + r` above with nothing else accessing those elements meanwhile. Slice lengths are
/// checked.
pub type GemmFn = unsafe fn(
    n: usize,
    w: &[u8],
    nr: usize,
    a: &[u8],
    nt: usize,
    out: *mut f32,
    ldo: usize,
    batch: BatchPos,
);

/// A gemm panel's place in the whole matrix product: its first activation row and the total
/// number of activation rows (ggml picks different kernels, with different summation orders,
/// for one row, a few, or many).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPos {
    pub first: usize,
    pub total: usize,
}

/// The kernels of one tensor type.
#[derive(Clone, Copy)]
pub struct TypeKernels {
    pub ty: GgmlType,
    pub dequantize: DequantizeFn,
    pub quantize: QuantizeFn,
    pub vec_dot: VecDotFn,
    /// Register-tiled rows × tokens product, where the type and CPU have one.
    pub gemm: Option<GemmFn>,
    /// Which implementation `vec_dot` is ("scalar", "avx2", "avx512vnni", ...).
    pub variant: &'static str,
}

/// The instruction-set extensions the kernels care about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub avx2_fma: bool,
    pub avx512: bool,
    pub avx512_vnni: bool,
}

impl CpuFeatures {
    /// What this CPU supports (cached after the first call).
    pub fn detect() -> CpuFeatures {
        static FEATURES: OnceLock<CpuFeatures> = OnceLock::new();
        *FEATURES.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                let off = std::env::var("HEARTH_NO_SIMD").is_ok();
                let avx2_fma = !off
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
                    && is_x86_feature_detected!("f16c");
                let avx512 = avx2_fma
                    && is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl");
                let avx512_vnni = avx512 && is_x86_feature_detected!("avx512vnni");
                CpuFeatures {
                    avx2_fma,
                    avx512,
                    avx512_vnni,
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                CpuFeatures::default()
            }
        })
    }

    /// No extensions: the scalar reference everywhere.
    pub fn scalar() -> CpuFeatures {
        CpuFeatures::default()
    }
}

/// Kernels of `ty` for a given feature set (tests use this to compare variants).
pub fn kernels_for(ty: GgmlType, cpu: CpuFeatures) -> TypeKernels {
    f16::kernels(ty, cpu)
        .or_else(|| legacy::kernels(ty, cpu))
        .or_else(|| k_quants::kernels(ty, cpu))
        .unwrap_or_else(|| panic!("no kernels registered for {ty}"))
}

/// The fastest kernels of `ty` on this CPU, chosen once.
pub fn kernels(ty: GgmlType) -> &'static TypeKernels {
    static TABLE: OnceLock<Vec<TypeKernels>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let cpu = CpuFeatures::detect();
        GgmlType::ALL.iter().map(|&t| kernels_for(t, cpu)).collect()
    });
    table
        .iter()
        .find(|k| k.ty == ty)
        .expect("every type has kernels")
}
