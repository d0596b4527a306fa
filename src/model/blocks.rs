//! Layer pieces shared by the architectures: each reads and writes the scratch buffers of the
//! current batch, so a family's `forward` reads as the list of its steps.

use super::attention::{attention, AttnShape};
use super::ops::{gated, rms_norm, Activation, Rope};
use super::weight::{matmul, matmul_many, Weight};
use crate::context::{KvCache, Scratch};
use rayon::prelude::*;

/// Rows of `x` (each `d` wide) RMS-normalized with `w` into `xn`. The quantized activations
/// no longer describe `xn` afterwards, so they are marked stale.
pub fn norm_input(s: &mut Scratch, w: &[f32], eps: f32, d: usize) {
    s.xn.copy_from_slice(&s.x);
    norm_rows(&mut s.xn, w, eps, d);
    s.acts.ty = None;
}

/// RMS-normalizes every `width`-wide row of `x` in place.
pub fn norm_rows(x: &mut [f32], w: &[f32], eps: f32, width: usize) {
    if x.len() / width >= PAR_ROWS {
        x.par_chunks_mut(width).for_each(|r| rms_norm(r, w, eps));
    } else {
        x.chunks_mut(width).for_each(|r| rms_norm(r, w, eps));
    }
}

/// Row-wise steps go parallel from this many rows on (a batch, not a generated token).
const PAR_ROWS: usize = 16;

/// `q`, `k`, `v` from `xn`; the input is quantized once per dot type, and matrices sharing
/// one run in a single parallel region.
pub fn project_qkv(s: &mut Scratch, wq: &Weight, wk: &Weight, wv: &Weight, n: usize, d: usize) {
    let same = |a: &Weight, b: &Weight| a.ty.dot_type() == b.ty.dot_type();
    if same(wq, wk) && same(wq, wv) {
        s.ensure_acts(wq.ty, n, d);
        matmul_many(
            &mut [(wq, &mut s.q[..]), (wk, &mut s.k[..]), (wv, &mut s.v[..])],
            &s.acts,
        );
        return;
    }
    s.ensure_acts(wq.ty, n, d);
    matmul(wq, &s.acts, &mut s.q);
    s.ensure_acts(wk.ty, n, d);
    matmul(wk, &s.acts, &mut s.k);
    s.ensure_acts(wv.ty, n, d);
    matmul(wv, &s.acts, &mut s.v);
}

/// Rotates the batch's queries and keys (tables from `Scratch::rope_tables`).
pub fn rotate_qk(s: &mut Scratch, rope: &Rope, tables: &[Vec<(f32, f32)>], hd: usize) {
    let n = tables.len();
    let (qd, kvd) = (s.q.len() / n, s.k.len() / n);
    let rotate = |((q, k), table): ((&mut [f32], &mut [f32]), &Vec<(f32, f32)>)| {
        rope.apply(q, hd, table);
        rope.apply(k, hd, table);
    };
    let (q, k) = (&mut s.q[..n * qd], &mut s.k[..n * kvd]);
    if n >= PAR_ROWS {
        q.par_chunks_mut(qd)
            .zip(k.par_chunks_mut(kvd))
            .zip(tables.par_iter())
            .for_each(rotate);
    } else {
        q.chunks_mut(qd)
            .zip(k.chunks_mut(kvd))
            .zip(tables.iter())
            .for_each(rotate);
    }
}

/// Stores the batch's keys and values in layer `il`'s cache, attends, and projects the result
/// through `wo` into `o`.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    s: &mut Scratch,
    cache: &mut KvCache,
    il: usize,
    shape: AttnShape,
    wo: &Weight,
    start: usize,
    n: usize,
) {
    cache.store_k(il, start, &s.k);
    attention(shape, &s.q, &s.v, &cache.view(il), start, n, &mut s.att);
    let qd = shape.n_head * shape.head_dim;
    s.acts.quantize(wo.ty.dot_type(), &s.att, n, qd);
    matmul(wo, &s.acts, &mut s.o);
}

/// Gated feed-forward of `xn` into `o`: `down(act(gate(xn)) * up(xn))`.
#[allow(clippy::too_many_arguments)]
pub fn gated_ffn(
    s: &mut Scratch,
    gate: &Weight,
    up: &Weight,
    down: &Weight,
    act: Activation,
    n: usize,
    d: usize,
    ff: usize,
) {
    if gate.ty.dot_type() == up.ty.dot_type() {
        s.ensure_acts(gate.ty, n, d);
        matmul_many(&mut [(gate, &mut s.gate[..]), (up, &mut s.up[..])], &s.acts);
    } else {
        s.ensure_acts(gate.ty, n, d);
        matmul(gate, &s.acts, &mut s.gate);
        s.ensure_acts(up.ty, n, d);
        matmul(up, &s.acts, &mut s.up);
    }
    gated(act, &mut s.gate, &s.up, ff);
    s.acts.quantize(down.ty.dot_type(), &s.gate, n, ff);
    matmul(down, &s.acts, &mut s.o);
}

/// `x += o`.
pub fn add_residual(s: &mut Scratch) {
    s.x.iter_mut().zip(&s.o).for_each(|(x, o)| *x += o);
}
