//! Q3_K: `{ hmask: [u8; 32], qs: [u8; 64], scales: [u8; 12], d: f16 }`. Element
//! `128n + 32j + l` has low bits `2j..2j+2` of `qs[32n + l]` and high bit `4n + j` of
//! `hmask[l]` (clear means -4); sixteen 6-bit scales (minus 32) packed in 12 bytes.

use super::{quantizer, Decoded, GgmlType, QK_K};

pub const BLOCK: usize = 110;
pub const HMASK: usize = 0;
pub const QS: usize = 32;
pub const SCALES: usize = QS + QK_K / 4;
pub const D: usize = SCALES + 12;
const _: () = assert!(D + 2 == BLOCK && BLOCK == GgmlType::Q3K.type_size());

/// The sixteen 6-bit scales (0..64, stored with a +32 bias) of a 12-byte field.
#[inline]
pub fn unpack_scales(b: &[u8]) -> [u8; 16] {
    let mut s = [0u8; 16];
    for k in 0..4 {
        let h = b[8 + k];
        s[k] = (b[k] & 0xF) | ((h & 3) << 4);
        s[4 + k] = (b[4 + k] & 0xF) | (((h >> 2) & 3) << 4);
        s[8 + k] = (b[k] >> 4) | (((h >> 4) & 3) << 4);
        s[12 + k] = (b[4 + k] >> 4) | (((h >> 6) & 3) << 4);
    }
    s
}

fn pack_scales(s: &[u8; 16], b: &mut [u8]) {
    for k in 0..4 {
        b[k] = (s[k] & 0xF) | ((s[8 + k] & 0xF) << 4);
        b[4 + k] = (s[4 + k] & 0xF) | ((s[12 + k] & 0xF) << 4);
        b[8 + k] =
            (s[k] >> 4) | ((s[4 + k] >> 4) << 2) | ((s[8 + k] >> 4) << 4) | ((s[12 + k] >> 4) << 6);
    }
}

pub fn decode(x: &[u8], out: &mut Decoded) {
    out.d = super::f16_at(x, D);
    out.dmin = None;
    let s = unpack_scales(&x[SCALES..SCALES + 12]);
    for (o, &s) in out.scales.iter_mut().zip(&s) {
        *o = s as i32 - 32;
    }
    for (e, q) in out.q.iter_mut().enumerate() {
        let (n, j, l) = (e / 128, (e / 32) % 4, e % 32);
        let lo = ((x[QS + 32 * n + l] >> (2 * j)) & 3) as i8;
        let hi = (x[HMASK + l] >> (4 * n + j)) & 1;
        *q = lo - if hi != 0 { 0 } else { 4 };
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
        let r = quantizer::sym(x, -4, -32);
        y.fill(0);
        let s: [u8; 16] = std::array::from_fn(|g| (r.ls[g] as i32 + 32) as u8);
        pack_scales(&s, &mut y[SCALES..SCALES + 12]);
        for (e, &q) in r.q.iter().enumerate() {
            let (n, j, l) = (e / 128, (e / 32) % 4, e % 32);
            let u = (q + 4) as u8;
            y[QS + 32 * n + l] |= (u & 3) << (2 * j);
            y[HMASK + l] |= (u >> 2) << (4 * n + j);
        }
        y[D..D + 2].copy_from_slice(&r.d.to_bits().to_le_bytes());
    }
}
