//! Weight matrices borrowed from the GGUF map, activation buffers in a weight's dot type, and
//! the matrix products between them.

use crate::gguf::{GgufFile, MappedBytes, TensorInfo};
use crate::quant::{self, GgmlType};
use anyhow::{bail, Context as _, Result};
use rayon::prelude::*;

/// A 2-D weight: `rows` output features, each a contiguous row of `cols` elements of `ty`.
#[derive(Clone)]
pub struct Weight {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub row_bytes: usize,
    pub data: MappedBytes,
}

impl Weight {
    pub fn from_tensor(t: &TensorInfo) -> Weight {
        let cols = t.row_len();
        Weight {
            name: t.name.clone(),
            ty: t.ty,
            rows: t.n_rows(),
            cols,
            row_bytes: t.ty.row_size(cols).expect("validated by the GGUF reader"),
            data: t.data.clone(),
        }
    }

    /// Loads `name`, checking its shape is `[cols, rows]` (ggml order).
    pub fn load(file: &GgufFile, name: &str, cols: usize, rows: usize) -> Result<Weight> {
        let t = file
            .tensor(name)
            .with_context(|| format!("the model has no tensor {name:?}"))?;
        let w = Weight::from_tensor(t);
        if t.dims.len() > 2 || w.cols != cols || w.rows != rows {
            bail!(
                "tensor {name:?} has shape {:?}, expected [{cols}, {rows}]",
                t.dims
            );
        }
        Ok(w)
    }

    pub fn row(&self, r: usize) -> &[u8] {
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }

    /// Dequantizes row `r` into `out`.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        quant::dequantize_row(self.ty, self.row(r), &mut out[..self.cols]);
    }
}

/// The token embeddings and the output projection, which is the embedding matrix itself when
/// the file has no `output.weight` (tied weights).
pub fn load_embeddings(file: &GgufFile, d: usize, n_vocab: usize) -> Result<(Weight, Weight)> {
    let tok_embd = Weight::load(file, "token_embd.weight", d, n_vocab)?;
    let output = match file.tensor("output.weight") {
        Some(_) => Weight::load(file, "output.weight", d, n_vocab)?,
        None => tok_embd.clone(),
    };
    Ok((tok_embd, output))
}

/// A vector parameter (norm weights, biases) as f32.
pub fn load_vector(file: &GgufFile, name: &str, len: usize) -> Result<Vec<f32>> {
    let t = file
        .tensor(name)
        .with_context(|| format!("the model has no tensor {name:?}"))?;
    if t.n_elements() != len as u64 {
        bail!(
            "tensor {name:?} has {} elements, expected {len}",
            t.n_elements()
        );
    }
    let mut v = vec![0f32; len];
    quant::dequantize_row(t.ty, &t.data, &mut v);
    Ok(v)
}

/// Rows of activations converted to one dot type, ready for products with any weight of a
/// matching type. Quantized once per input, shared by every matrix that reads that input.
#[derive(Default)]
pub struct Activations {
    pub ty: Option<GgmlType>,
    pub n_rows: usize,
    pub row_bytes: usize,
    pub data: Vec<u8>,
}

impl Activations {
    /// Converts `n_rows` rows of `cols` floats from `x` into `ty`.
    pub fn quantize(&mut self, ty: GgmlType, x: &[f32], n_rows: usize, cols: usize) {
        let row_bytes = ty
            .row_size(cols)
            .expect("activation width fits the block size");
        self.ty = Some(ty);
        self.n_rows = n_rows;
        self.row_bytes = row_bytes;
        self.data.resize(n_rows * row_bytes, 0);
        let k = quant::kernels(ty);
        if n_rows == 1 {
            (k.quantize)(&x[..cols], &mut self.data[..row_bytes]);
        } else {
            self.data
                .par_chunks_mut(row_bytes)
                .zip(x.par_chunks(cols))
                .for_each(|(dst, src)| (k.quantize)(src, dst));
        }
    }

    pub fn row(&self, r: usize) -> &[u8] {
        &self.data[r * self.row_bytes..(r + 1) * self.row_bytes]
    }
}

/// A raw pointer that may cross threads; each thread writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

/// Rows per parallel work item: enough to amortize dispatch, small enough to balance.
fn chunk_rows(rows: usize, n_tokens: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per_thread = rows.div_ceil(threads);
    let target = if n_tokens == 1 {
        per_thread.div_ceil(4)
    } else {
        16
    };
    target.clamp(1, rows.max(1))
}

/// `out[t][r] = dot(w.row(r), x.row(t))` for every token t and row r; `out` is
/// `x.n_rows × w.rows`, row-major.
pub fn matmul(w: &Weight, x: &Activations, out: &mut [f32]) {
    let ty = x.ty.expect("activations quantized");
    assert_eq!(
        ty,
        w.ty.dot_type(),
        "activations of {} for {} weights",
        ty,
        w.ty
    );
    let n_tokens = x.n_rows;
    assert!(out.len() >= n_tokens * w.rows);
    let dot = quant::kernels(w.ty).vec_dot;
    let cols = w.cols;
    let rows = w.rows;
    let chunk = chunk_rows(rows, n_tokens);
    let out_ptr = SharedOut(out.as_mut_ptr());
    let n_chunks = rows.div_ceil(chunk);
    (0..n_chunks).into_par_iter().for_each(|c| {
        let ptr = out_ptr;
        let r0 = c * chunk;
        let r1 = (r0 + chunk).min(rows);
        for t in 0..n_tokens {
            let a = x.row(t);
            for r in r0..r1 {
                let v = dot(cols, w.row(r), a);
                // SAFETY: (t, r) pairs are disjoint across work items and within bounds.
                unsafe { *ptr.0.add(t * rows + r) = v };
            }
        }
    });
}
