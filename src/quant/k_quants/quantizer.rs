//! Simple reference weight quantizers (plain min/max per group, as ggml's reference does before
//! its iterative refinement). Weights normally arrive already quantized in GGUF files; these
//! exist for tests, round trips and the GGUF writer.

use super::{nearest_int, QK_K};
use half::f16;

/// Asymmetric groups: `x ≈ d * ls[g] * q - dmin * lm[g]`, `q` in `0..=nmax`, `ls`/`lm` in
/// `0..=smax`.
pub struct Asym {
    pub q: [u8; QK_K],
    pub ls: [u8; 16],
    pub lm: [u8; 16],
    pub d: f16,
    pub dmin: f16,
}

pub fn asym(x: &[f32], group: usize, nmax: i32, smax: i32) -> Asym {
    let ng = QK_K / group;
    let mut scale = [0f32; 16];
    let mut minv = [0f32; 16];
    for (g, xg) in x.chunks_exact(group).enumerate() {
        let mn = xg.iter().copied().fold(0f32, f32::min);
        let mx = xg.iter().copied().fold(f32::MIN, f32::max);
        scale[g] = (mx - mn).max(0.0) / nmax as f32;
        minv[g] = -mn;
    }
    let max_scale = scale[..ng].iter().copied().fold(0f32, f32::max);
    let max_min = minv[..ng].iter().copied().fold(0f32, f32::max);
    let d = f16::from_f32(max_scale / smax as f32);
    let dmin = f16::from_f32(max_min / smax as f32);
    let (df, dminf) = (d.to_f32(), dmin.to_f32());
    let mut out = Asym {
        q: [0; QK_K],
        ls: [0; 16],
        lm: [0; 16],
        d,
        dmin,
    };
    for g in 0..ng {
        if df > 0.0 {
            out.ls[g] = nearest_int(scale[g] / df).clamp(0, smax) as u8;
        }
        if dminf > 0.0 {
            out.lm[g] = nearest_int(minv[g] / dminf).clamp(0, smax) as u8;
        }
        let dl = df * out.ls[g] as f32;
        let ml = dminf * out.lm[g] as f32;
        if dl > 0.0 {
            let range = g * group..(g + 1) * group;
            for (q, &v) in out.q[range.clone()].iter_mut().zip(&x[range]) {
                *q = nearest_int((v + ml) / dl).clamp(0, nmax) as u8;
            }
        }
    }
    out
}

/// Symmetric groups of 16: `x ≈ d * ls[g] * q`, `q` in `qmin..=-qmin-1`, `ls` in
/// `smin..=-smin-1`.
pub struct Sym {
    pub q: [i8; QK_K],
    pub ls: [i8; 16],
    pub d: f16,
}

pub fn sym(x: &[f32], qmin: i32, smin: i32) -> Sym {
    let mut scale = [0f32; 16];
    for (g, xg) in x.chunks_exact(16).enumerate() {
        scale[g] = signed_absmax(xg) / qmin as f32;
    }
    let ms = signed_absmax(&scale);
    let mut out = Sym {
        q: [0; QK_K],
        ls: [0; 16],
        d: f16::ZERO,
    };
    if ms == 0.0 {
        return out;
    }
    let iscale = smin as f32 / ms;
    out.d = f16::from_f32(1.0 / iscale);
    let df = out.d.to_f32();
    for (g, &s) in scale.iter().enumerate() {
        out.ls[g] = nearest_int(iscale * s).clamp(smin, -smin - 1) as i8;
        let dl = df * out.ls[g] as f32;
        if dl != 0.0 {
            let range = 16 * g..16 * (g + 1);
            for (q, &v) in out.q[range.clone()].iter_mut().zip(&x[range]) {
                *q = nearest_int(v / dl).clamp(qmin, -qmin - 1) as i8;
            }
        }
    }
    out
}

/// The value of largest magnitude (first one on ties), 0 for an empty or all-zero slice.
fn signed_absmax(x: &[f32]) -> f32 {
    let mut amax = 0f32;
    let mut max = 0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    max
}
