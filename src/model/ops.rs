//! The shared building blocks of the forward pass: norms, rotary embeddings, activations,
//! softmax and attention over the KV cache. Numerics follow ggml's CPU backend.

use half::f16;
use rayon::prelude::*;
use std::sync::OnceLock;

/// `x = x / rms(x) * w` for one row, accumulating the f32 squares in f64 as ggml does.
pub fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0f32 / (mean + eps).sqrt();
    for (v, &g) in x.iter_mut().zip(w) {
        *v = (*v * scale) * g;
    }
}

/// How a head's dimensions are paired for rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (x[2i], x[2i+1]): llama.
    Interleaved,
    /// Halves (x[i], x[i + d/2]): GPT-NeoX, Gemma, Qwen.
    Halves,
}

/// Rotary position embedding parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rope {
    pub style: RopeStyle,
    /// Leading dimensions of each head that are rotated.
    pub dims: usize,
    pub freq_base: f32,
    /// Linear scaling: positions are multiplied by this (1 / rope.scaling.factor).
    pub freq_scale: f32,
}

impl Rope {
    /// cos/sin for each rotated pair at `pos`, computed as ggml does (theta multiplied by
    /// `base^(-2/dims)` pair after pair, in f32).
    pub fn table(&self, pos: usize, out: &mut Vec<(f32, f32)>) {
        out.clear();
        let theta_scale = self.freq_base.powf(-2.0 / self.dims as f32);
        let mut theta = pos as f32;
        for _ in 0..self.dims / 2 {
            let t = self.freq_scale * theta;
            out.push((t.cos(), t.sin()));
            theta *= theta_scale;
        }
    }

    /// Rotates every head (of `head_dim`) in `x` using a table from [`Rope::table`], with
    /// the fused multiply-adds ggml's compiled rotation uses:
    /// `(fma(a, cos, -(b·sin)), fma(a, sin, b·cos))`.
    pub fn apply(&self, x: &mut [f32], head_dim: usize, table: &[(f32, f32)]) {
        let (stride, offset) = match self.style {
            RopeStyle::Interleaved => (2, 1),
            RopeStyle::Halves => (1, self.dims / 2),
        };
        for head in x.chunks_mut(head_dim) {
            for (i, &(c, s)) in table.iter().enumerate() {
                let (j, k) = (stride * i, stride * i + offset);
                let (a, b) = (head[j], head[k]);
                head[j] = a.mul_add(c, -(b * s));
                head[k] = a.mul_add(s, b * c);
            }
        }
    }
}

/// GELU, tanh approximation, as ggml's CPU backend evaluates it: outside ±10 it is 0 or x;
/// inside, the input is rounded to f16 and looked up in a table of f16 results ([`gelu_table`]).
pub fn gelu(x: f32) -> f32 {
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    f16::from_bits(gelu_table()[f16::from_f32(x).to_bits() as usize]).to_f32()
}

/// ggml's `ggml_table_gelu_f16`: for every f16 bit pattern `i`, the f16-rounded GELU of
/// `f = f16(i)`, computed in f32 the way GCC compiled ggml's expression
/// `0.5·f·(1 + tanh(√(2/π)·f·(1 + 0.044715·f·f)))`: left to right, the `1 + (0.044715·f)·f`
/// contracted into one fused multiply-add, `tanhf` from the C library.
pub fn gelu_table() -> &'static [u16; 65536] {
    static TABLE: OnceLock<Box<[u16; 65536]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        const COEF_A: f32 = 0.044715;
        let mut t = Box::new([0u16; 65536]);
        for (i, out) in t.iter_mut().enumerate() {
            let f = f16::from_bits(i as u16).to_f32();
            let inner = (COEF_A * f).mul_add(f, 1.0);
            let th = (SQRT_2_OVER_PI * f * inner).tanh();
            *out = f16::from_f32((0.5 * f) * (1.0 + th)).to_bits();
        }
        t
    })
}

/// The activation of a gated feed-forward block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Silu,
    Gelu,
}

/// `gate = act(gate) * up`, element-wise, row by row (`width` wide) as ggml's GLU ops go.
pub fn gated(act: Activation, gate: &mut [f32], up: &[f32], width: usize) {
    match act {
        Activation::Silu => gate
            .par_chunks_mut(width)
            .zip(up.par_chunks(width))
            .for_each(|(g, u)| super::numerics::swiglu(g, u)),
        // ggml stores a plain 0 below -10 (not 0 · up, which may be -0).
        Activation::Gelu => gate
            .par_chunks_mut(width)
            .zip(up.par_chunks(width))
            .for_each(|(gr, ur)| {
                for (g, u) in gr.iter_mut().zip(ur) {
                    *g = if *g <= -10.0 { 0.0 } else { gelu(*g) * u };
                }
            }),
    }
}

/// Rounds through f16 (what ggml does to an f32 operand multiplied with an f16 matrix).
pub fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Converts a row to f16 bits.
pub fn to_f16_bits(src: &[f32], dst: &mut [u16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f16::from_f32(*s).to_bits();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table against the one llama.cpp's CPU backend built on the golden-data machine
    /// (`ggml_table_gelu_f16` read from libggml-cpu.so after `ggml_cpu_init()`).
    #[test]
    fn gelu_table_is_ggmls() {
        let p = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/golden/gemma3/ggml_table_gelu_f16.bin"
        );
        let bytes = std::fs::read(p).unwrap();
        assert_eq!(bytes.len(), 2 * 65536);
        let ours = gelu_table();
        let diff: Vec<usize> = (0..65536)
            .filter(|&i| {
                let want = u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
                let got = ours[i];
                // NaN inputs: any NaN will do.
                let nan = f16::from_bits(want).is_nan() && f16::from_bits(got).is_nan();
                want != got && !nan
            })
            .collect();
        assert!(
            diff.is_empty(),
            "{} entries differ, first at {:#06x}",
            diff.len(),
            diff[0]
        );
    }

    /// Below -10 ggml writes a plain +0, whatever the sign of `up`.
    #[test]
    fn geglu_below_minus_ten_is_positive_zero() {
        let mut g = [-11.0f32, -10.0, 11.0];
        gated(Activation::Gelu, &mut g, &[-2.0, -3.0, -0.5], 3);
        assert_eq!(
            g.map(f32::to_bits),
            [0.0f32.to_bits(), 0.0f32.to_bits(), (-5.5f32).to_bits()]
        );
    }

    #[test]
    fn gelu_saturates_outside_ten() {
        assert_eq!(gelu(-10.0), 0.0);
        assert_eq!(gelu(12.5), 12.5);
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(1.0) - 0.8412).abs() < 1e-3);
    }
}
