//! The 256-element super-block formats: Q2_K … Q6_K and the activation format Q8_K.

use super::{CpuFeatures, GgmlType, TypeKernels};

/// Kernels for the k-quants, `None` for other types.
pub fn kernels(_ty: GgmlType, _cpu: CpuFeatures) -> Option<TypeKernels> {
    None
}
