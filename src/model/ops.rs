//! The shared building blocks of the forward pass: norms, rotary embeddings, activations,
//! softmax and attention over the KV cache. Numerics follow ggml's CPU backend.

use half::f16;
use rayon::prelude::*;

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

/// GELU, tanh approximation, evaluated as ggml's CPU backend does: on the input rounded to f16,
/// with the result rounded to f16 (ggml reads it from an f16 table), exact outside ±10.
pub fn gelu(x: f32) -> f32 {
    if x <= -10.0 {
        return 0.0;
    }
    if x >= 10.0 {
        return x;
    }
    round_f16(gelu_exact(round_f16(x)))
}

fn gelu_exact(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const COEF_A: f32 = 0.044715;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * (1.0 + COEF_A * x * x)).tanh())
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
        Activation::Gelu => gate.iter_mut().zip(up).for_each(|(g, u)| *g = gelu(*g) * u),
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
