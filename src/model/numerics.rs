//! Floating-point primitives whose exact rounding follows ggml's x86 CPU backend (AVX-512
//! build), so that hearth's activations are bit-identical to llama.cpp's: its vectorized
//! `expf`, SiLU and softmax, the two summation orders of its f16 dot products, and its 16-lane
//! horizontal sum.
//!
//! Everything is written as plain scalar code on `f32::mul_add` (an exact fused multiply-add on
//! every target), one lane at a time; [`fast!`] compiles each entry point a second time with
//! FMA enabled so that the hot loops use the hardware instruction where the CPU has it.

/// Defines `pub fn $name(args) -> ret` that runs `$body` compiled with AVX2+FMA when the CPU
/// has them (detected once), and the same body compiled for the baseline target otherwise.
macro_rules! fast {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),*) $(-> $r:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[inline(always)]
            fn body($($a: $t),*) $(-> $r)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn with_fma($($a: $t),*) $(-> $r)? {
                    body($($a),*)
                }
                if crate::quant::CpuFeatures::detect().avx2_fma {
                    // SAFETY: the features were detected.
                    return unsafe { with_fma($($a),*) };
                }
            }
            body($($a),*)
        }
    };
}

/// ggml's `ggml_v_expf` (AVX-512 flavour) for one lane: a degree-5 polynomial on the reduced
/// argument, scaled by 2^n; 0 below about -88 and +inf above about 88 (|n| > 192 rule).
#[inline(always)]
pub fn expf(x: f32) -> f32 {
    let c = f32::from_bits;
    let r = c(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(c(0x3fb8_aa3b), r);
    let n = z - r;
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x));
    let u = b * b;
    let j = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
        .mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
    // NaN compares false here, as `_CMP_GT_OQ` does.
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    // `vscalefps`: j · 2^n rounded once. In the normal range the power of two is exact and so
    // is the product; below it the f64 product is exact and rounds once to f32.
    let k = n as i32;
    if (-125..=127).contains(&k) {
        j * f32::from_bits(((k + 127) as u32) << 23)
    } else {
        (j as f64 * 2f64.powi(k)) as f32
    }
}

/// `_mm512_reduce_add_ps` as GCC expands it: halves, quarters, then pairs.
#[inline(always)]
pub fn reduce16(v: &[f32; 16]) -> f32 {
    let mut t = [0f32; 8];
    for i in 0..8 {
        t[i] = v[i + 8] + v[i];
    }
    let q = [t[4] + t[0], t[5] + t[1], t[6] + t[2], t[7] + t[3]];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// `y[i] = silu(x[i]) * g[i]` as `ggml_vec_swiglu_f32`: the vectorized SiLU
/// (`x / (1 + expf(0 - x))`) on whole 16-lane groups, libm's `expf` on the rest.
pub fn swiglu(x: &mut [f32], g: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    let done = if crate::quant::CpuFeatures::detect().avx512 && is_x86_feature_detected!("avx512dq")
    {
        // SAFETY: the features were detected.
        unsafe { super::simd512::swiglu(x, g) }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    swiglu_portable(&mut x[done..], &g[done..]);
}

fast! {
    fn swiglu_portable(x: &mut [f32], g: &[f32]) {
        let main = x.len() - x.len() % 16;
        for (v, &gv) in x[..main].iter_mut().zip(g) {
            *v = (*v / (1.0 + expf(0.0 - *v))) * gv;
        }
        for (v, &gv) in x[main..].iter_mut().zip(&g[main..]) {
            *v = (*v / (1.0 + (-*v).exp())) * gv;
        }
    }
}

fast! {
    /// In-place softmax as `ggml_compute_forward_soft_max_f32` after its scale and mask: the
    /// max, then 16-lane groups of the vectorized `expf`, each group's sum (`reduce16`) added
    /// in f64, libm's `expf` for a partial last group, and the f32 reciprocal of the sum.
    pub fn softmax(x: &mut [f32]) {
        let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0f64;
        let mut chunks = x.chunks_exact_mut(16);
        for c in &mut chunks {
            let mut v = [0f32; 16];
            for (o, e) in v.iter_mut().zip(c.iter_mut()) {
                *e = expf(*e - max);
                *o = *e;
            }
            sum += reduce16(&v) as f64;
        }
        for e in chunks.into_remainder() {
            *e = (*e - max).exp();
            sum += *e as f64;
        }
        let inv = (1.0 / sum) as f32;
        x.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Which of ggml's two f16 dot-product orders applies: llamafile's tinyBLAS (a batch of two
/// tokens or more) or `ggml_vec_dot_f16` (one token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotOrder {
    /// One 16-lane accumulator, one FMA per 16 elements, then `reduce16`.
    Batch,
    /// Four 16-lane accumulators over 64-element steps, folded (0+2, 1+3, then together),
    /// `reduce16`, and the elements past the last whole step added in f64.
    Single,
}

impl DotOrder {
    pub fn for_batch(n_tokens: usize) -> DotOrder {
        if n_tokens >= 2 {
            DotOrder::Batch
        } else {
            DotOrder::Single
        }
    }
}

/// The f16 dot product of `x` and `y` (values already rounded to f16) in ggml's `order`.
/// `Batch` needs a length that is a multiple of 16.
#[inline(always)]
pub fn dot_f16(order: DotOrder, x: &[f32], y: &[f32]) -> f32 {
    let mut lanes = [[0f32; 16]; 4];
    match order {
        DotOrder::Batch => {
            for (xc, yc) in x.chunks_exact(16).zip(y.chunks_exact(16)) {
                for l in 0..16 {
                    lanes[0][l] = xc[l].mul_add(yc[l], lanes[0][l]);
                }
            }
            reduce16(&lanes[0])
        }
        DotOrder::Single => {
            let main = x.len() - x.len() % 64;
            for (xc, yc) in x[..main].chunks_exact(64).zip(y.chunks_exact(64)) {
                for j in 0..4 {
                    for l in 0..16 {
                        lanes[j][l] = xc[16 * j + l].mul_add(yc[16 * j + l], lanes[j][l]);
                    }
                }
            }
            let folded = fold4(&lanes);
            let mut sum = reduce16(&folded) as f64;
            for (a, b) in x[main..].iter().zip(&y[main..]) {
                sum += (a * b) as f64;
            }
            sum as f32
        }
    }
}

/// `GGML_F32x16_REDUCE`'s folding of four accumulators into one.
#[inline(always)]
fn fold4(s: &[[f32; 16]; 4]) -> [f32; 16] {
    let mut out = [0f32; 16];
    for l in 0..16 {
        out[l] = (s[0][l] + s[2][l]) + (s[1][l] + s[3][l]);
    }
    out
}

/// `out[d] = Σ_p w[p] · v_p[d]` where each output element is the f16 dot product (in `order`)
/// of the weights `w` with column `d` of the rows `v_p` (`v(p, row)` fills row `p`): ggml's
/// product of the softmax with the transposed V cache. Accumulates whole rows at a time with
/// one accumulator row per lane.
pub fn weighted_rows(
    order: DotOrder,
    w: &[f32],
    mut v: impl FnMut(usize, &mut [f32]),
    acc: &mut Vec<f32>,
    row: &mut [f32],
    out: &mut [f32],
) {
    let hd = out.len();
    let lanes = match order {
        DotOrder::Batch => 16,
        DotOrder::Single => 64,
    };
    acc.clear();
    acc.resize(lanes * hd, 0.0);
    let main = match order {
        DotOrder::Batch => w.len(),
        DotOrder::Single => w.len() - w.len() % 64,
    };
    for (p, &wp) in w[..main].iter().enumerate() {
        if wp == 0.0 {
            // +0 · v leaves every accumulator unchanged (the cache holds finite values).
            continue;
        }
        v(p, row);
        fma_row(&mut acc[(p % lanes) * hd..(p % lanes + 1) * hd], row, wp);
    }
    for (d, o) in out.iter_mut().enumerate() {
        let lane = |l: usize| acc[l * hd + d];
        let folded: [f32; 16] = match order {
            DotOrder::Batch => std::array::from_fn(lane),
            DotOrder::Single => {
                std::array::from_fn(|l| (lane(l) + lane(32 + l)) + (lane(16 + l) + lane(48 + l)))
            }
        };
        *o = reduce16(&folded);
    }
    if main < w.len() {
        // ggml's f64 leftovers of the single-token order.
        let mut sums: Vec<f64> = out.iter().map(|&o| o as f64).collect();
        for (p, &wp) in w.iter().enumerate().skip(main) {
            v(p, row);
            for (s, &x) in sums.iter_mut().zip(row.iter()) {
                *s += (x * wp) as f64;
            }
        }
        out.iter_mut().zip(&sums).for_each(|(o, s)| *o = *s as f32);
    }
}

fast! {
    /// `acc[i] = fma(x[i], w, acc[i])`.
    pub fn fma_row(acc: &mut [f32], x: &[f32], w: f32) {
        for (a, &xv) in acc.iter_mut().zip(x) {
            *a = xv.mul_add(w, *a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expf_tracks_libm_and_saturates_like_ggml() {
        for i in -2000..2000 {
            let x = i as f32 * 0.0437;
            let (a, b) = (expf(x), x.exp());
            assert!(((a - b) / b).abs() < 4e-7, "{x}: {a} vs {b}");
        }
        assert_eq!(expf(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf(-200.0), 0.0);
        assert_eq!(expf(200.0), f32::INFINITY);
        assert_eq!(expf(0.0), 1.0);
        // Subnormal results are rounded once.
        assert!(expf(-100.0) > 0.0 && expf(-100.0) < f32::MIN_POSITIVE);
    }

    #[test]
    fn dot_orders_agree_with_f64_and_differ_in_rounding_only() {
        let x: Vec<f32> = (0..192)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let y: Vec<f32> = (0..192)
            .map(|i| ((i * 53 % 89) as f32 - 44.0) / 5.0)
            .collect();
        let exact: f64 = x.iter().zip(&y).map(|(a, b)| *a as f64 * *b as f64).sum();
        for order in [DotOrder::Batch, DotOrder::Single] {
            let d = dot_f16(order, &x, &y) as f64;
            assert!((d - exact).abs() < 1e-3, "{order:?}: {d} vs {exact}");
        }
    }

    #[test]
    fn weighted_rows_equals_columnwise_dots() {
        let n = 150;
        let hd = 8;
        let rows: Vec<f32> = (0..n * hd)
            .map(|i| ((i * 29 % 61) as f32 - 30.0) / 9.0)
            .collect();
        let w: Vec<f32> = (0..n)
            .map(|i| {
                if i % 7 == 3 {
                    0.0
                } else {
                    (i % 13) as f32 / 13.0
                }
            })
            .collect();
        for order in [DotOrder::Batch, DotOrder::Single] {
            let mut out = vec![0f32; hd];
            let (mut acc, mut row) = (Vec::new(), vec![0f32; hd]);
            // Batch needs whole 16-groups: pad the weights with zeros as ggml's cache does.
            let mut wp = w.clone();
            wp.resize(n.next_multiple_of(64), 0.0);
            weighted_rows(
                order,
                &wp,
                |p, r| {
                    if p < n {
                        r.copy_from_slice(&rows[p * hd..(p + 1) * hd])
                    } else {
                        r.fill(0.0)
                    }
                },
                &mut acc,
                &mut row,
                &mut out,
            );
            for d in 0..hd {
                let mut col: Vec<f32> = (0..n).map(|p| rows[p * hd + d]).collect();
                col.resize(wp.len(), 0.0);
                let want = dot_f16(order, &col, &wp);
                assert_eq!(out[d].to_bits(), want.to_bits(), "{order:?} d={d}");
            }
        }
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
        x[5] = f32::NEG_INFINITY;
        softmax(&mut x);
        assert_eq!(x[5], 0.0);
        let s: f32 = x.iter().sum();
        assert!((s - 1.0).abs() < 1e-5);
    }
}
