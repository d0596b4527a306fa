//! What the op-by-op comparison tools (`opcheck`, `opcheck_gemma`) share: reading llama.cpp's
//! dumped tensors, running one of hearth's matrix products, and reporting differences.

use hearth::gguf::GgufFile;
use hearth::model::weight::{matmul, Activations, Weight};
use std::path::Path;

/// A dumped f32 tensor (`file` relative to `dir`, e.g. `"attn_norm-0.f32"`).
pub fn load(dir: &Path, file: &str) -> Vec<f32> {
    let b = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Prints how many elements differ in any bit, and the largest difference.
pub fn report(what: &str, ours: &[f32], theirs: &[f32]) {
    let n = ours.len().min(theirs.len());
    if ours.len() != theirs.len() {
        println!("{what}: lengths {} vs {}", ours.len(), theirs.len());
    }
    let mut max = 0f32;
    let mut diff = 0;
    for (a, b) in ours[..n].iter().zip(&theirs[..n]) {
        if a.to_bits() != b.to_bits() {
            diff += 1;
            max = max.max((a - b).abs());
        }
    }
    println!("{what:<28} {diff:>7}/{n:<8} differ, max |Δ| {max:e}");
}

/// `x` (rows of the tensor's width) times the tensor `name`, through hearth's `matmul`.
pub fn mm(f: &GgufFile, name: &str, x: &[f32]) -> Vec<f32> {
    let w = Weight::from_tensor(f.tensor(name).unwrap());
    let n = x.len() / w.cols;
    let mut a = Activations::default();
    a.quantize(w.ty.dot_type(), x, n, w.cols);
    let mut out = vec![0f32; n * w.rows];
    matmul(&w, &a, &mut out);
    out
}

/// A vector parameter as f32.
pub fn vector(f: &GgufFile, name: &str) -> Vec<f32> {
    let t = f.tensor(name).unwrap();
    let mut v = vec![0f32; t.n_elements() as usize];
    hearth::quant::dequantize_row(t.ty, &t.data, &mut v);
    v
}
