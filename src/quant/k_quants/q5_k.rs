//! Q5_K: `{ d: f16, dmin: f16, scales: [u8; 12], qh: [u8; 32], qs: [u8; 128] }`. As Q4_K, plus
//! a fifth bit: element `64j + 32h + l` takes bit `2j + h` of `qh[l]`.

use super::{quantizer, scale_min_k4, Decoded, GgmlType, QK_K};

pub const BLOCK: usize = 176;
pub const D: usize = 0;
pub const DMIN: usize = 2;
pub const SCALES: usize = 4;
pub const QH: usize = 16;
pub const QS: usize = QH + QK_K / 8;
const _: () = assert!(QS + QK_K / 2 == BLOCK && BLOCK == GgmlType::Q5K.type_size());

pub fn decode(x: &[u8], out: &mut Decoded) {
    out.d = super::f16_at(x, D);
    out.dmin = Some(super::f16_at(x, DMIN));
    for g in 0..8 {
        let (s, m) = scale_min_k4(g, &x[SCALES..SCALES + 12]);
        out.scales[g] = s as i32;
        out.mins[g] = m as i32;
    }
    for (e, q) in out.q.iter_mut().enumerate() {
        let (j, h, l) = (e / 64, (e / 32) % 2, e % 32);
        let lo = (x[QS + 32 * j + l] >> (4 * h)) & 0xF;
        let hi = (x[QH + l] >> (2 * j + h)) & 1;
        *q = (lo | (hi << 4)) as i8;
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    super::dequantize_with(src, dst, BLOCK, decode, 32)
}

pub fn vec_dot_ref(n: usize, w: &[u8], a: &[u8]) -> f32 {
    super::vec_dot_with(n, w, a, BLOCK, decode, 32)
}

pub fn quantize(src: &[f32], dst: &mut [u8]) {
    assert!(src.len().is_multiple_of(QK_K) && dst.len() >= src.len() / QK_K * BLOCK);
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK)) {
        let r = quantizer::asym(x, 32, 31, 63);
        y.fill(0);
        y[D..D + 2].copy_from_slice(&r.d.to_bits().to_le_bytes());
        y[DMIN..DMIN + 2].copy_from_slice(&r.dmin.to_bits().to_le_bytes());
        let sc: [u8; 8] = r.ls[..8].try_into().unwrap();
        let mn: [u8; 8] = r.lm[..8].try_into().unwrap();
        super::pack_scale_min_k4(&sc, &mn, &mut y[SCALES..SCALES + 12]);
        for (e, &q) in r.q.iter().enumerate() {
            let (j, h, l) = (e / 64, (e / 32) % 2, e % 32);
            y[QS + 32 * j + l] |= (q & 0xF) << (4 * h);
            y[QH + l] |= (q >> 4) << (2 * j + h);
        }
    }
}
