//! Q6_K: `{ ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16 }`. In half `n` (128
//! elements), element `32k + l` (k < 4, l < 32) has low nibble `k / 2` of `ql[64n + 32(k % 2)
//! + l]` and bits `2k..2k+2` of `qh[32n + l]` on top, minus 32; groups of 16.

use super::{quantizer, Decoded, GgmlType, QK_K};

pub const BLOCK: usize = 210;
pub const QL: usize = 0;
pub const QH: usize = QK_K / 2;
pub const SCALES: usize = QH + QK_K / 4;
pub const D: usize = SCALES + QK_K / 16;
const _: () = assert!(D + 2 == BLOCK && BLOCK == GgmlType::Q6K.type_size());

#[inline]
fn index(e: usize) -> (usize, usize, u32, u32) {
    let (n, k, l) = (e / 128, (e / 32) % 4, e % 32);
    (
        QL + 64 * n + 32 * (k % 2) + l,
        QH + 32 * n + l,
        4 * (k / 2) as u32,
        2 * k as u32,
    )
}

/// The unsigned 6-bit level (0..63) of element `e` of block `x`.
#[inline]
pub fn level(x: &[u8], e: usize) -> u8 {
    let (il, ih, sl, sh) = index(e);
    ((x[il] >> sl) & 0xF) | (((x[ih] >> sh) & 3) << 4)
}

pub fn decode(x: &[u8], out: &mut Decoded) {
    out.d = super::f16_at(x, D);
    out.dmin = None;
    for g in 0..16 {
        out.scales[g] = x[SCALES + g] as i8 as i32;
    }
    for (e, q) in out.q.iter_mut().enumerate() {
        let (il, ih, sl, sh) = index(e);
        let u = ((x[il] >> sl) & 0xF) | (((x[ih] >> sh) & 3) << 4);
        *q = u as i8 - 32;
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    super::dequantize_with(src, dst, BLOCK, decode, 16)
}

pub fn vec_dot_ref(n: usize, w: &[u8], a: &[u8]) -> f32 {
    super::vec_dot_with(n, w, a, BLOCK, decode, 16)
}

pub fn quantize(src: &[f32], dst: &mut [u8]) {
    assert!(src.len().is_multiple_of(QK_K) && dst.len() >= src.len() / QK_K * BLOCK);
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK)) {
        let r = quantizer::sym(x, -32, -128);
        y.fill(0);
        for g in 0..16 {
            y[SCALES + g] = r.ls[g] as u8;
        }
        for (e, &q) in r.q.iter().enumerate() {
            let (il, ih, sl, sh) = index(e);
            let u = (q + 32) as u8;
            y[il] |= (u & 0xF) << sl;
            y[ih] |= (u >> 4) << sh;
        }
        y[D..D + 2].copy_from_slice(&r.d.to_bits().to_le_bytes());
    }
}
