//! The 32-element block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the activation format Q8_1.

use super::{CpuFeatures, GgmlType, TypeKernels};

/// Kernels for the legacy formats, `None` for other types.
pub fn kernels(_ty: GgmlType, _cpu: CpuFeatures) -> Option<TypeKernels> {
    None
}
