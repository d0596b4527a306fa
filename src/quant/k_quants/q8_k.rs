//! Q8_K, the activation format of the k-quants: `{ d: f32, qs: [i8; 256], bsums: [i16; 16] }`,
//! `bsums[j]` being the sum of `qs[16j..16j+16]`.

use super::{nearest_int, GgmlType, QK_K};

pub const BLOCK: usize = 292;
const QS: usize = 4;
const BSUMS: usize = QS + QK_K;
const _: () = assert!(BSUMS + 2 * (QK_K / 16) == BLOCK);
const _: () = assert!(BLOCK == GgmlType::Q8K.type_size() && QK_K == GgmlType::Q8K.block_size());

/// ggml's `quantize_row_q8_K_ref` maps the value of largest magnitude to -127 (the -128 variant
/// is commented out upstream).
pub const QMAX: f32 = 127.0;

/// Byte offsets, for the SIMD kernels.
pub const OFF_QS: usize = QS;
pub const OFF_BSUMS: usize = BSUMS;

#[inline]
pub fn d(y: &[u8]) -> f32 {
    f32::from_le_bytes([y[0], y[1], y[2], y[3]])
}

#[inline]
pub fn q(y: &[u8], i: usize) -> i32 {
    y[QS + i] as i8 as i32
}

/// The 256 quants as signed bytes.
#[inline]
pub fn qs(y: &[u8]) -> &[i8; QK_K] {
    let b: &[u8; QK_K] = y[QS..QS + QK_K].try_into().unwrap();
    // SAFETY: u8 and i8 have the same size and alignment, and every bit pattern is valid.
    unsafe { &*(b as *const [u8; QK_K] as *const [i8; QK_K]) }
}

#[inline]
pub fn bsum(y: &[u8], j: usize) -> i32 {
    i16::from_le_bytes([y[BSUMS + 2 * j], y[BSUMS + 2 * j + 1]]) as i32
}

/// Bit-identical to ggml's `quantize_row_q8_K_ref`, except that an all-zero block also gets
/// zero `bsums` (ggml leaves them unwritten).
pub fn quantize_ref(src: &[f32], dst: &mut [u8]) {
    assert!(src.len().is_multiple_of(QK_K) && dst.len() >= src.len() / QK_K * BLOCK);
    for (x, y) in src.chunks_exact(QK_K).zip(dst.chunks_exact_mut(BLOCK)) {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in x {
            let a = v.abs();
            if a > amax {
                amax = a;
                max = v;
            }
        }
        if amax == 0.0 {
            y.fill(0);
            continue;
        }
        let iscale = -QMAX / max;
        for (o, &v) in y[QS..QS + QK_K].iter_mut().zip(x) {
            *o = nearest_int(iscale * v).min(127) as i8 as u8;
        }
        for j in 0..QK_K / 16 {
            let s: i32 = (0..16).map(|l| q(y, 16 * j + l)).sum();
            y[BSUMS + 2 * j..BSUMS + 2 * j + 2].copy_from_slice(&(s as i16).to_le_bytes());
        }
        y[..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}

pub fn dequantize(src: &[u8], dst: &mut [f32]) {
    assert!(dst.len().is_multiple_of(QK_K) && src.len() >= dst.len() / QK_K * BLOCK);
    for (x, y) in src.chunks_exact(BLOCK).zip(dst.chunks_exact_mut(QK_K)) {
        let d = d(x);
        for (i, o) in y.iter_mut().enumerate() {
            *o = d * q(x, i) as f32;
        }
    }
}

/// Q8_K × Q8_K.
pub fn vec_dot_ref(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = super::blocks_checked(n, w, BLOCK, a);
    let mut sumf = 0.0f32;
    for (x, y) in w.chunks_exact(BLOCK).zip(a.chunks_exact(BLOCK)).take(nb) {
        let isum: i32 = qs(x)
            .iter()
            .zip(qs(y))
            .map(|(&a, &b)| a as i32 * b as i32)
            .sum();
        sumf += d(x) * d(y) * isum as f32;
    }
    sumf
}
