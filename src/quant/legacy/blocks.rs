//! Block layouts and the scalar reference of every legacy format (dequantize, quantize, dot).
//! Everything here compiles on any target; the SIMD kernels are checked against it.
//!
//! Layouts (little-endian, fp16 scales), 32 elements per block, as ggml:
//! - Q4_0 `{d, qs[16]}`: low nibbles are elements 0..15, high nibbles 16..31, x = (q-8)*d
//! - Q4_1 `{d, m, qs[16]}`: x = q*d + m
//! - Q5_0 `{d, qh: u32, qs[16]}`: bit j of qh is bit 4 of element j, x = (q-16)*d
//! - Q5_1 `{d, m, qh, qs[16]}`: x = q*d + m
//! - Q8_0 `{d, qs[32]: i8}`: x = q*d
//! - Q8_1 `{d, s = d*sum(qs), qs[32]: i8}`: x = q*d

use crate::quant::GgmlType;
use half::f16;

pub const QK: usize = 32;
pub const Q4_0_BYTES: usize = 2 + QK / 2;
pub const Q4_1_BYTES: usize = 4 + QK / 2;
pub const Q5_0_BYTES: usize = 2 + 4 + QK / 2;
pub const Q5_1_BYTES: usize = 4 + 4 + QK / 2;
pub const Q8_0_BYTES: usize = 2 + QK;
pub const Q8_1_BYTES: usize = 4 + QK;

const fn layout_ok(ty: GgmlType, bytes: usize) -> bool {
    ty.block_size() == QK && ty.type_size() == bytes
}
const _: () = assert!(layout_ok(GgmlType::Q4_0, Q4_0_BYTES));
const _: () = assert!(layout_ok(GgmlType::Q4_1, Q4_1_BYTES));
const _: () = assert!(layout_ok(GgmlType::Q5_0, Q5_0_BYTES));
const _: () = assert!(layout_ok(GgmlType::Q5_1, Q5_1_BYTES));
const _: () = assert!(layout_ok(GgmlType::Q8_0, Q8_0_BYTES));
const _: () = assert!(layout_ok(GgmlType::Q8_1, Q8_1_BYTES));

#[inline]
pub fn f16_at(b: &[u8], off: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[off], b[off + 1]])).to_f32()
}
#[inline]
fn put_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&f16::from_f32(v).to_bits().to_le_bytes());
}
#[inline]
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// Number of blocks in a row of `n` elements; panics unless `n` is a multiple of 32.
#[inline]
pub fn blocks(n: usize) -> usize {
    assert!(
        n.is_multiple_of(QK),
        "row length {n} is not a multiple of {QK}"
    );
    n / QK
}

/// The 5-bit quant of element `j` of a Q5 block (nibble plus bit `j` of `qh`).
#[inline]
fn q5(qs: &[u8], qh: u32, j: usize) -> i32 {
    let nib = if j < 16 {
        qs[j] & 0x0F
    } else {
        qs[j - 16] >> 4
    };
    (nib as i32) | ((((qh >> j) & 1) as i32) << 4)
}
#[inline]
fn q4(qs: &[u8], j: usize) -> i32 {
    (if j < 16 {
        qs[j] & 0x0F
    } else {
        qs[j - 16] >> 4
    }) as i32
}

// ---------------------------------------------------------------------------------------------
// Dequantize
// ---------------------------------------------------------------------------------------------

pub fn dequantize_q4_0(src: &[u8], dst: &mut [f32]) {
    assert!(src.len() >= blocks(dst.len()) * Q4_0_BYTES);
    for (b, y) in src.chunks_exact(Q4_0_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        for (j, y) in y.iter_mut().enumerate() {
            *y = (q4(&b[2..], j) - 8) as f32 * d;
        }
    }
}
pub fn dequantize_q4_1(src: &[u8], dst: &mut [f32]) {
    assert!(src.len() >= blocks(dst.len()) * Q4_1_BYTES);
    for (b, y) in src.chunks_exact(Q4_1_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let (d, m) = (f16_at(b, 0), f16_at(b, 2));
        for (j, y) in y.iter_mut().enumerate() {
            *y = q4(&b[4..], j) as f32 * d + m;
        }
    }
}
pub fn dequantize_q5_0(src: &[u8], dst: &mut [f32]) {
    assert!(src.len() >= blocks(dst.len()) * Q5_0_BYTES);
    for (b, y) in src.chunks_exact(Q5_0_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let (d, qh) = (f16_at(b, 0), u32_at(b, 2));
        for (j, y) in y.iter_mut().enumerate() {
            *y = (q5(&b[6..], qh, j) - 16) as f32 * d;
        }
    }
}
pub fn dequantize_q5_1(src: &[u8], dst: &mut [f32]) {
    assert!(src.len() >= blocks(dst.len()) * Q5_1_BYTES);
    for (b, y) in src.chunks_exact(Q5_1_BYTES).zip(dst.chunks_exact_mut(QK)) {
        let (d, m, qh) = (f16_at(b, 0), f16_at(b, 2), u32_at(b, 4));
        for (j, y) in y.iter_mut().enumerate() {
            *y = q5(&b[8..], qh, j) as f32 * d + m;
        }
    }
}
fn dequantize_q8<const BYTES: usize>(src: &[u8], dst: &mut [f32]) {
    assert!(src.len() >= blocks(dst.len()) * BYTES);
    for (b, y) in src.chunks_exact(BYTES).zip(dst.chunks_exact_mut(QK)) {
        let d = f16_at(b, 0);
        for (y, &q) in y.iter_mut().zip(&b[BYTES - QK..]) {
            *y = q as i8 as f32 * d;
        }
    }
}
pub fn dequantize_q8_0(src: &[u8], dst: &mut [f32]) {
    dequantize_q8::<Q8_0_BYTES>(src, dst)
}
pub fn dequantize_q8_1(src: &[u8], dst: &mut [f32]) {
    dequantize_q8::<Q8_1_BYTES>(src, dst)
}

// ---------------------------------------------------------------------------------------------
// Quantize (weights: ggml's quantize_row_*_ref bit for bit)
// ---------------------------------------------------------------------------------------------

fn check_quant_args(src: &[f32], dst: &[u8], bytes: usize) {
    let nb = blocks(src.len());
    assert!(dst.len() >= nb * bytes, "quantize: destination too small");
}

/// `(max, value with the largest magnitude)` as ggml's q4_0/q5_0 search (first wins ties).
#[inline]
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}
#[inline]
fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

pub fn quantize_q4_0(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q4_0_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q4_0_BYTES)) {
        let d = signed_absmax(x) / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(b, 0, d);
        for j in 0..QK / 2 {
            let x0 = x[j] * id;
            let x1 = x[j + QK / 2] * id;
            let q0 = ((x0 + 8.5) as i8).min(15) as u8;
            let q1 = ((x1 + 8.5) as i8).min(15) as u8;
            b[2 + j] = q0 | (q1 << 4);
        }
    }
}

pub fn quantize_q4_1(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q4_1_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q4_1_BYTES)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(b, 0, d);
        put_f16(b, 2, min);
        for j in 0..QK / 2 {
            let x0 = (x[j] - min) * id;
            let x1 = (x[j + QK / 2] - min) * id;
            let q0 = ((x0 + 0.5) as i8).min(15) as u8;
            let q1 = ((x1 + 0.5) as i8).min(15) as u8;
            b[4 + j] = q0 | (q1 << 4);
        }
    }
}

/// Packs 32 five-bit quants into `qh` + `qs` as ggml does.
#[inline]
fn pack_q5(q: &[u8; QK], qh_qs: &mut [u8]) {
    let mut qh = 0u32;
    for j in 0..QK / 2 {
        let (q0, q1) = (q[j], q[j + QK / 2]);
        qh_qs[4 + j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4);
        qh |= (((q0 & 0x10) >> 4) as u32) << j;
        qh |= (((q1 & 0x10) >> 4) as u32) << (j + QK / 2);
    }
    qh_qs[..4].copy_from_slice(&qh.to_le_bytes());
}

pub fn quantize_q5_0(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q5_0_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q5_0_BYTES)) {
        let d = signed_absmax(x) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(b, 0, d);
        let mut q = [0u8; QK];
        for (q, &v) in q.iter_mut().zip(x) {
            *q = ((v * id + 16.5) as i8).min(31) as u8;
        }
        pack_q5(&q, &mut b[2..]);
    }
}

pub fn quantize_q5_1(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q5_1_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q5_1_BYTES)) {
        let (min, max) = min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(b, 0, d);
        put_f16(b, 2, min);
        let mut q = [0u8; QK];
        for (q, &v) in q.iter_mut().zip(x) {
            // ggml: (uint8_t)(x0 + 0.5f), no clamp (only the low 5 bits are stored).
            *q = ((v - min) * id + 0.5) as u8;
        }
        pack_q5(&q, &mut b[4..]);
    }
}

// ---------------------------------------------------------------------------------------------
// Quantize Q8_0 / Q8_1 (activations)
// ---------------------------------------------------------------------------------------------
//
// Rounding choice: the activation quantizers (scalar and AVX2, bit-identical to each other)
// reproduce llama.cpp's *x86 SIMD* `quantize_row_q8_0` / `quantize_row_q8_1`, because that is
// what produces the activations in the llama.cpp runs our logits are compared with:
//   d  = amax / 127,   id = amax != 0 ? 127 / amax : 0,
//   q  = round_half_to_even(x * id)        (`_mm256_round_ps(_, _MM_ROUND_NEAREST)`),
//   s  = d * (float)sum(q)                  (Q8_1).
// ggml's portable reference (`quantize_row_q8_0_ref`) instead uses id = 1/d and `roundf`
// (half away from zero); the two differ only on exact .5 ties and 1-ulp differences of `id`.
// That reference is kept below as `quantize_q8_0_ggml_ref` / `quantize_q8_1_ggml_ref` (used
// nowhere on the hot path; e.g. for writing Q8_0 weight files exactly like llama-quantize).

/// One Q8 block the llama.cpp-x86 way: returns `(d, sum of quants)`.
#[inline]
pub fn quantize_q8_block(x: &[f32], qs: &mut [u8]) -> (f32, i32) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        // cvtps_epi32 + saturating packs: clamp to i8.
        let r = ((v * id).round_ties_even() as i32).clamp(-128, 127);
        sum += r;
        *q = r as i8 as u8;
    }
    (d, sum)
}

pub fn quantize_q8_0(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q8_0_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q8_0_BYTES)) {
        let (d, _) = quantize_q8_block(x, &mut b[2..]);
        put_f16(b, 0, d);
    }
}

pub fn quantize_q8_1(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q8_1_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q8_1_BYTES)) {
        let (d, sum) = quantize_q8_block(x, &mut b[4..]);
        put_f16(b, 0, d);
        put_f16(b, 2, d * sum as f32);
    }
}

/// ggml's `quantize_row_q8_0_ref` bit for bit (id = 1/d, round half away from zero).
pub fn quantize_q8_0_ggml_ref(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q8_0_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q8_0_BYTES)) {
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(b, 0, d);
        for (q, &v) in b[2..].iter_mut().zip(x) {
            *q = (v * id).round() as i8 as u8;
        }
    }
}

/// ggml's `quantize_row_q8_1_ref` bit for bit.
pub fn quantize_q8_1_ggml_ref(src: &[f32], dst: &mut [u8]) {
    check_quant_args(src, dst, Q8_1_BYTES);
    for (x, b) in src.chunks_exact(QK).zip(dst.chunks_exact_mut(Q8_1_BYTES)) {
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        put_f16(b, 0, d);
        let mut sum = 0i32;
        for (q, &v) in b[4..].iter_mut().zip(x) {
            let r = (v * id).round() as i8;
            sum += r as i32;
            *q = r as u8;
        }
        put_f16(b, 2, sum as f32 * d);
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products (ggml's scalar vec_dot: integer dot per block, times d_w*d_a, summed in f32)
// ---------------------------------------------------------------------------------------------

fn check_dot_args(n: usize, w: &[u8], wb: usize, a: &[u8], ab: usize) -> usize {
    let nb = blocks(n);
    assert!(
        w.len() >= nb * wb && a.len() >= nb * ab,
        "vec_dot: rows too short"
    );
    nb
}

#[inline]
fn idot_q8(a: &[u8], j: usize) -> i32 {
    a[j] as i8 as i32
}

/// ggml's x86 accumulation order for the 32-element formats, which every kernel of this module
/// reproduces bit for bit: each block contributes eight lanes, lane `i` being the exact integer
/// sum of the products of elements `4i..4i+4`; each lane accumulates `scale_b * lane` with one
/// FMA per block; at the end the lanes are summed as `hsum8` does. Formats with a minimum add
/// `m_w * s_a` into a separate scalar, also with one FMA per block.
#[derive(Default)]
pub struct Lanes8 {
    acc: [f32; 8],
    summs: f32,
}

impl Lanes8 {
    #[inline]
    pub fn block(&mut self, scale: f32, prod: impl Fn(usize) -> i32) {
        for (i, acc) in self.acc.iter_mut().enumerate() {
            let lane: i32 = (4 * i..4 * i + 4).map(&prod).sum();
            *acc = scale.mul_add(lane as f32, *acc);
        }
    }

    #[inline]
    pub fn min(&mut self, m: f32, s: f32) {
        self.summs = m.mul_add(s, self.summs);
    }

    pub fn finish(&self) -> f32 {
        hsum8(&self.acc) + self.summs
    }
}

/// The horizontal sum of eight lanes in ggml's `hsum_float_8` order.
#[inline]
pub fn hsum8(a: &[f32; 8]) -> f32 {
    let r = [a[4] + a[0], a[5] + a[1], a[6] + a[2], a[7] + a[3]];
    (r[0] + r[2]) + (r[1] + r[3])
}

pub fn vec_dot_q4_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = check_dot_args(n, w, Q4_0_BYTES, a, Q8_0_BYTES);
    let mut l = Lanes8::default();
    for i in 0..nb {
        let (x, y) = (&w[i * Q4_0_BYTES..], &a[i * Q8_0_BYTES..]);
        l.block(f16_at(x, 0) * f16_at(y, 0), |j| {
            (q4(&x[2..], j) - 8) * idot_q8(&y[2..], j)
        });
    }
    l.finish()
}

pub fn vec_dot_q4_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = check_dot_args(n, w, Q4_1_BYTES, a, Q8_1_BYTES);
    let mut l = Lanes8::default();
    for i in 0..nb {
        let (x, y) = (&w[i * Q4_1_BYTES..], &a[i * Q8_1_BYTES..]);
        l.min(f16_at(x, 2), f16_at(y, 2));
        l.block(f16_at(x, 0) * f16_at(y, 0), |j| {
            q4(&x[4..], j) * idot_q8(&y[4..], j)
        });
    }
    l.finish()
}

pub fn vec_dot_q5_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = check_dot_args(n, w, Q5_0_BYTES, a, Q8_0_BYTES);
    let mut l = Lanes8::default();
    for i in 0..nb {
        let (x, y) = (&w[i * Q5_0_BYTES..], &a[i * Q8_0_BYTES..]);
        let qh = u32_at(x, 2);
        l.block(f16_at(x, 0) * f16_at(y, 0), |j| {
            (q5(&x[6..], qh, j) - 16) * idot_q8(&y[2..], j)
        });
    }
    l.finish()
}

pub fn vec_dot_q5_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = check_dot_args(n, w, Q5_1_BYTES, a, Q8_1_BYTES);
    let mut l = Lanes8::default();
    for i in 0..nb {
        let (x, y) = (&w[i * Q5_1_BYTES..], &a[i * Q8_1_BYTES..]);
        let qh = u32_at(x, 4);
        l.min(f16_at(x, 2), f16_at(y, 2));
        l.block(f16_at(x, 0) * f16_at(y, 0), |j| {
            q5(&x[8..], qh, j) * idot_q8(&y[4..], j)
        });
    }
    l.finish()
}

pub fn vec_dot_q8_0_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = check_dot_args(n, w, Q8_0_BYTES, a, Q8_0_BYTES);
    let mut l = Lanes8::default();
    for i in 0..nb {
        let (x, y) = (&w[i * Q8_0_BYTES..], &a[i * Q8_0_BYTES..]);
        l.block(f16_at(x, 0) * f16_at(y, 0), |j| {
            idot_q8(&x[2..], j) * idot_q8(&y[2..], j)
        });
    }
    l.finish()
}

/// Q8_1 x Q8_1 (Q8_1 is an activation format; this exists so the type has a dot product).
pub fn vec_dot_q8_1_q8_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = check_dot_args(n, w, Q8_1_BYTES, a, Q8_1_BYTES);
    let mut l = Lanes8::default();
    for i in 0..nb {
        let (x, y) = (&w[i * Q8_1_BYTES..], &a[i * Q8_1_BYTES..]);
        l.block(f16_at(x, 0) * f16_at(y, 0), |j| {
            idot_q8(&x[4..], j) * idot_q8(&y[4..], j)
        });
    }
    l.finish()
}
