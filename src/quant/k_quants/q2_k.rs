//! Q2_K: `{ scales: [u8; 16] (low nibble scale, high nibble min), qs: [u8; 64], d: f16,
//! dmin: f16 }`. Element `128n + 32j + l` is bits `2j..2j+2` of `qs[32n + l]`; groups of 16.

use super::{quantizer, Decoded, GgmlType, QK_K};

pub const BLOCK: usize = 84;
pub const SCALES: usize = 0;
pub const QS: usize = 16;
pub const D: usize = QS + QK_K / 4;
pub const DMIN: usize = D + 2;
const _: () = assert!(DMIN + 2 == BLOCK && BLOCK == GgmlType::Q2K.type_size());

pub fn decode(x: &[u8], out: &mut Decoded) {
    out.d = super::f16_at(x, D);
    out.dmin = Some(super::f16_at(x, DMIN));
    for g in 0..16 {
        out.scales[g] = (x[SCALES + g] & 0xF) as i32;
        out.mins[g] = (x[SCALES + g] >> 4) as i32;
    }
    for (e, q) in out.q.iter_mut().enumerate() {
        let (n, j, l) = (e / 128, (e / 32) % 4, e % 32);
        *q = ((x[QS + 32 * n + l] >> (2 * j)) & 3) as i8;
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
        let r = quantizer::asym(x, 16, 3, 15);
        y.fill(0);
        for g in 0..16 {
            y[SCALES + g] = r.ls[g] | (r.lm[g] << 4);
        }
        for (e, &q) in r.q.iter().enumerate() {
            let (n, j, l) = (e / 128, (e / 32) % 4, e % 32);
            y[QS + 32 * n + l] |= q << (2 * j);
        }
        y[D..D + 2].copy_from_slice(&r.d.to_bits().to_le_bytes());
        y[DMIN..DMIN + 2].copy_from_slice(&r.dmin.to_bits().to_le_bytes());
    }
}
