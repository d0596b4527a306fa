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

/// Tokens per gemm panel: the panel's activations stay in L2 while its weight rows are swept.
const GEMM_TOKENS: usize = 128;
/// Weight rows per gemm panel when there are several tokens.
const GEMM_ROWS: usize = 128;

/// `out[t][r] = dot(w.row(r), x.row(t))` for every token t and row r; `out` is
/// `x.n_rows × w.rows`, row-major. Every output is bit-identical to the type's `vec_dot`,
/// whichever path computes it.
pub fn matmul(w: &Weight, x: &Activations, out: &mut [f32]) {
    matmul_many(&mut [(w, out)], x);
}

/// Several products of the same activations (e.g. Q, K and V), in one parallel region:
/// `(w, out)` pairs as for [`matmul`].
pub fn matmul_many(jobs: &mut [(&Weight, &mut [f32])], x: &Activations) {
    let ty = x.ty.expect("activations quantized");
    let n_tokens = x.n_rows;
    for (w, out) in jobs.iter() {
        assert_eq!(
            ty,
            w.ty.dot_type(),
            "activations of {} for {} weights",
            ty,
            w.ty
        );
        assert!(out.len() >= n_tokens * w.rows);
    }
    let all_gemm = jobs
        .iter()
        .all(|(w, _)| quant::kernels(w.ty).gemm.is_some());
    if !all_gemm {
        for (w, out) in jobs.iter_mut() {
            matmul_dots(quant::kernels(w.ty).vec_dot, w, x, out);
        }
        return;
    }
    // Work items: (job, row panel, token panel), row-panel major so that each thread streams
    // its weights once while the (smaller) activations stay cached.
    let total_rows: usize = jobs.iter().map(|(w, _)| w.rows).sum();
    let threads = rayon::current_num_threads().max(1);
    let tok_chunk = if n_tokens == 1 {
        1
    } else {
        n_tokens.min(GEMM_TOKENS)
    };
    let n_tc = n_tokens.div_ceil(tok_chunk);
    let row_chunk = if n_tokens == 1 {
        // A few chunks per thread over all the matrices, in whole 8-row tiles.
        total_rows.div_ceil(4 * threads).next_multiple_of(8)
    } else {
        // Small batches: fewer tokens per panel means more rows per panel, still >= 4 items
        // per thread.
        total_rows
            .div_ceil((4 * threads).div_ceil(n_tc))
            .next_multiple_of(4)
            .clamp(4, GEMM_ROWS)
    };
    struct Job {
        gemm: quant::GemmFn,
        w: *const Weight,
        out: SharedOut,
    }
    // SAFETY (Send/Sync): the raw pointers refer to `jobs`, which outlives the parallel region;
    // weights are read-only and each item writes a disjoint panel of one output.
    unsafe impl Send for Job {}
    unsafe impl Sync for Job {}
    let mut items = Vec::new();
    let mut list = Vec::with_capacity(jobs.len());
    for (j, (w, out)) in jobs.iter_mut().enumerate() {
        list.push(Job {
            gemm: quant::kernels(w.ty).gemm.expect("checked above"),
            w: *w as *const Weight,
            out: SharedOut(out.as_mut_ptr()),
        });
        for rc in 0..w.rows.div_ceil(row_chunk) {
            for tc in 0..n_tc {
                items.push((j, rc, tc));
            }
        }
    }
    let work = |&(j, rc, tc): &(usize, usize, usize)| {
        let job = &list[j];
        // SAFETY: see `Job`.
        let w = unsafe { &*job.w };
        let (rows, cols) = (w.rows, w.cols);
        let (r0, t0) = (rc * row_chunk, tc * tok_chunk);
        let (r1, t1) = ((r0 + row_chunk).min(rows), (t0 + tok_chunk).min(n_tokens));
        let wd = &w.data[r0 * w.row_bytes..r1 * w.row_bytes];
        let xd = &x.data[t0 * x.row_bytes..t1 * x.row_bytes];
        // SAFETY: the kernel was selected for this CPU; panels are disjoint; every (t, r)
        // written is within the output (checked above); `ldo = rows`.
        unsafe {
            (job.gemm)(
                cols,
                wd,
                r1 - r0,
                xd,
                t1 - t0,
                job.out.0.add(t0 * rows + r0),
                rows,
                quant::BatchPos {
                    first: t0,
                    total: n_tokens,
                },
            )
        };
    };
    if items.len() == 1 {
        work(&items[0]);
    } else {
        items.par_iter().for_each(work);
    }
}

/// The fallback: one `vec_dot` per (row, token).
fn matmul_dots(dot: quant::VecDotFn, w: &Weight, x: &Activations, out: &mut [f32]) {
    let n_tokens = x.n_rows;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::MappedBytes;

    fn noise(seed: u64, n: usize, outliers: bool) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let v = (s % 20001) as f32 / 10000.0 - 1.0;
                if outliers && i % 97 == 3 {
                    v * 300.0
                } else {
                    v
                }
            })
            .collect()
    }

    fn weight(ty: GgmlType, rows: usize, cols: usize, seed: u64) -> Weight {
        let x = noise(seed, rows * cols, false);
        let row_bytes = ty.row_size(cols).unwrap();
        let mut data = vec![0u8; rows * row_bytes];
        for (src, dst) in x.chunks(cols).zip(data.chunks_mut(row_bytes)) {
            quant::quantize_row(ty, src, dst);
        }
        Weight {
            name: "w".into(),
            ty,
            rows,
            cols,
            row_bytes,
            data: MappedBytes::from_vec(data),
        }
    }

    /// Every path of `matmul` (tiles of every shape, remainders, panels) against the scalar
    /// reference `vec_dot`, bit for bit.
    #[test]
    fn matmul_is_bit_identical_to_the_reference_dot() {
        for ty in [
            GgmlType::Q4_0,
            GgmlType::Q4_1,
            GgmlType::Q5_0,
            GgmlType::Q5_1,
            GgmlType::Q8_0,
        ] {
            let reference = quant::kernels_for(ty, quant::CpuFeatures::scalar()).vec_dot;
            for (rows, cols) in [(49, 576), (200, 640), (7, 1536), (1, 64)] {
                let w = weight(ty, rows, cols, 11);
                for n_tokens in [1, 2, 3, 5, 67, 130] {
                    let xs = noise(5 + n_tokens as u64, n_tokens * cols, true);
                    let mut acts = Activations::default();
                    acts.quantize(ty.dot_type(), &xs, n_tokens, cols);
                    let mut got = vec![0f32; n_tokens * rows];
                    matmul(&w, &acts, &mut got);
                    for (i, g) in got.iter().enumerate() {
                        let (t, r) = (i / rows, i % rows);
                        let e = reference(cols, w.row(r), acts.row(t));
                        assert_eq!(
                            g.to_bits(),
                            e.to_bits(),
                            "{ty} {rows}x{cols} tokens={n_tokens} row {r} token {t}: {g} vs {e}"
                        );
                    }
                }
            }
        }
    }
}
