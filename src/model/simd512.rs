//! AVX-512 versions of the `numerics` primitives, instruction for instruction as ggml's.

use std::arch::x86_64::*;

/// `_mm512_reduce_add_ps` as GCC expands it (see `numerics::reduce16`).
#[inline(always)]
pub unsafe fn reduce16(v: __m512) -> f32 {
    let h = _mm256_add_ps(
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))),
        _mm512_castps512_ps256(v),
    );
    let s = _mm_add_ps(_mm256_extractf128_ps::<1>(h), _mm256_castps256_ps128(h));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// ggml's AVX-512 `ggml_v_expf`, instruction for instruction.
#[inline(always)]
pub unsafe fn expf(x: __m512) -> __m512 {
    let c = |b: u32| _mm512_set1_ps(f32::from_bits(b));
    let r = c(0x4b40_0000);
    let z = _mm512_fmadd_ps(x, c(0x3fb8_aa3b), r);
    let n = _mm512_sub_ps(z, r);
    let b = _mm512_fnmadd_ps(n, c(0x35bf_be8e), _mm512_fnmadd_ps(n, c(0x3f31_7200), x));
    let d = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_abs_ps(n), _mm512_set1_ps(192.0));
    let u = _mm512_mul_ps(b, b);
    let j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(
            _mm512_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
            u,
            _mm512_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
        ),
        u,
        _mm512_fmadd_ps(c(0x3f7f_fff6), b, _mm512_set1_ps(1.0)),
    );
    let res = _mm512_scalef_ps(j, n);
    if d == 0 {
        return res;
    }
    let zero = _mm512_setzero_ps();
    let le = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(n, zero);
    let alt = _mm512_mask_blend_ps(le, _mm512_set1_ps(f32::INFINITY), zero);
    _mm512_mask_blend_ps(d, res, alt)
}

/// `numerics::swiglu` on whole 16-lane groups: `x = x / (1 + expf(0 - x)) * g`; returns how
/// many elements it did.
///
/// # Safety
/// AVX-512 F/DQ and FMA must be present.
#[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")]
pub unsafe fn swiglu(x: &mut [f32], g: &[f32]) -> usize {
    let main = x.len().min(g.len()) / 16 * 16;
    let one = _mm512_set1_ps(1.0);
    for i in (0..main).step_by(16) {
        let v = _mm512_loadu_ps(x.as_ptr().add(i));
        let e = expf(_mm512_sub_ps(_mm512_setzero_ps(), v));
        let s = _mm512_div_ps(v, _mm512_add_ps(one, e));
        let r = _mm512_mul_ps(s, _mm512_loadu_ps(g.as_ptr().add(i)));
        _mm512_storeu_ps(x.as_mut_ptr().add(i), r);
    }
    main
}
