use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TYPES: [GgmlType; 6] = [
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
    GgmlType::Q8K,
];

fn rand_f32(rng: &mut StdRng, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| rng.gen_range(-1.0f32..1.0) * scale)
        .collect()
}

fn set_f16(b: &mut [u8], off: usize, v: f32) {
    put_f16(b, off, v);
}

/// Offsets of the f16 scale fields of each weight format.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q2K => &[q2_k::D, q2_k::DMIN],
        GgmlType::Q3K => &[q3_k::D],
        GgmlType::Q4K => &[q4_k::D, q4_k::DMIN],
        GgmlType::Q5K => &[q5_k::D, q5_k::DMIN],
        GgmlType::Q6K => &[q6_k::D],
        _ => &[],
    }
}

/// A row of random weight blocks with finite, small f16 scales.
fn random_weights(rng: &mut StdRng, ty: GgmlType, nb: usize) -> Vec<u8> {
    if ty == GgmlType::Q8K {
        let x = rand_f32(rng, nb * QK_K, 3.0);
        let mut w = vec![0u8; nb * q8_k::BLOCK];
        q8_k::quantize_ref(&x, &mut w);
        return w;
    }
    let size = ty.type_size();
    let mut w: Vec<u8> = (0..nb * size).map(|_| rng.gen()).collect();
    for b in 0..nb {
        for &off in f16_fields(ty) {
            let v = rng.gen_range(0.001f32..0.1) * if rng.gen() { 1.0 } else { -1.0 };
            set_f16(&mut w[b * size..], off, v);
        }
    }
    w
}

fn activations(rng: &mut StdRng, nb: usize) -> (Vec<f32>, Vec<u8>) {
    let x = rand_f32(rng, nb * QK_K, 2.0);
    let mut a = vec![0u8; nb * q8_k::BLOCK];
    q8_k::quantize_ref(&x, &mut a);
    (x, a)
}

/// Every feature set this CPU can run, from scalar up.
fn feature_sets() -> Vec<CpuFeatures> {
    let cpu = CpuFeatures::detect();
    let mut v = vec![CpuFeatures::scalar()];
    if cpu.avx2_fma {
        v.push(CpuFeatures {
            avx2_fma: true,
            ..CpuFeatures::default()
        });
    }
    if cpu.avx512 {
        v.push(CpuFeatures {
            avx2_fma: true,
            avx512: true,
            avx512_vnni: false,
        });
    }
    if cpu.avx512_vnni {
        v.push(cpu);
    }
    v
}

fn dequant(ty: GgmlType, w: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n];
    (kernels(ty, CpuFeatures::scalar()).unwrap().dequantize)(w, &mut y);
    y
}

/// Σ|w·a| over the dequantized rows: the scale of rounding differences between dot products.
fn abs_dot(ty: GgmlType, w: &[u8], a: &[u8], n: usize) -> (f64, f64) {
    let wd = dequant(ty, w, n);
    let ad = dequant(GgmlType::Q8K, a, n);
    let exact: f64 = wd.iter().zip(&ad).map(|(x, y)| *x as f64 * *y as f64).sum();
    let abs: f64 = wd
        .iter()
        .zip(&ad)
        .map(|(x, y)| (*x as f64 * *y as f64).abs())
        .sum();
    (exact, abs)
}

#[test]
fn kernels_cover_exactly_the_k_quants() {
    for ty in GgmlType::ALL {
        let k = kernels(ty, CpuFeatures::detect());
        assert_eq!(k.is_some(), TYPES.contains(&ty), "{ty}");
        if let Some(k) = k {
            assert_eq!(k.ty, ty);
            assert_eq!(ty.dot_type(), GgmlType::Q8K);
        }
    }
    let cpu = CpuFeatures::detect();
    if cpu.avx2_fma {
        for ty in [GgmlType::Q2K, GgmlType::Q3K, GgmlType::Q5K] {
            assert_eq!(kernels(ty, cpu).unwrap().variant, "avx2");
        }
    }
    if cpu.avx512_vnni {
        for ty in [GgmlType::Q4K, GgmlType::Q6K] {
            assert_eq!(kernels(ty, cpu).unwrap().variant, "avx512vnni");
        }
    }
}

#[test]
fn scalar_dot_matches_dequantized_dot() {
    let mut rng = StdRng::seed_from_u64(1);
    for ty in TYPES {
        for nb in [1, 2, 3, 5] {
            let n = nb * QK_K;
            let w = random_weights(&mut rng, ty, nb);
            let (_, a) = activations(&mut rng, nb);
            let got = (kernels(ty, CpuFeatures::scalar()).unwrap().vec_dot)(n, &w, &a) as f64;
            let (exact, abs) = abs_dot(ty, &w, &a, n);
            assert!(
                (got - exact).abs() <= 1e-5 * abs + 1e-6,
                "{ty} nb={nb}: {got} vs {exact}"
            );
        }
    }
}

#[test]
fn simd_dots_match_scalar() {
    let mut rng = StdRng::seed_from_u64(2);
    let scalar = CpuFeatures::scalar();
    let mut failures = Vec::new();
    for cpu in feature_sets().into_iter().skip(1) {
        for ty in TYPES {
            let fast = kernels(ty, cpu).unwrap();
            let slow = kernels(ty, scalar).unwrap();
            for nb in [1, 2, 3, 5, 1, 2, 3, 5] {
                let n = nb * QK_K;
                let w = random_weights(&mut rng, ty, nb);
                let (_, a) = activations(&mut rng, nb);
                let f = (fast.vec_dot)(n, &w, &a);
                let s = (slow.vec_dot)(n, &w, &a);
                let (_, abs) = abs_dot(ty, &w, &a, n);
                if ((f - s) as f64).abs() > 1e-5 * abs + 1e-6 {
                    failures.push(format!("{ty} {} nb={nb}: {f} vs {s}", fast.variant));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn simd_dots_match_scalar_on_extreme_levels() {
    // All-ones bytes give the largest levels (and Q8_K values at ±127): no saturation.
    let scalar = CpuFeatures::scalar();
    for cpu in feature_sets().into_iter().skip(1) {
        for ty in TYPES.into_iter().filter(|t| *t != GgmlType::Q8K) {
            for fill in [0x00u8, 0xFF, 0xAA] {
                let mut w = vec![fill; 2 * ty.type_size()];
                for b in 0..2 {
                    for &off in f16_fields(ty) {
                        set_f16(&mut w[b * ty.type_size()..], off, 0.03);
                    }
                }
                for sign in [1.0f32, -1.0] {
                    let x: Vec<f32> = (0..2 * QK_K)
                        .map(|i| if i % 3 == 0 { -sign } else { sign })
                        .collect();
                    let mut a = vec![0u8; 2 * q8_k::BLOCK];
                    q8_k::quantize_ref(&x, &mut a);
                    let f = (kernels(ty, cpu).unwrap().vec_dot)(2 * QK_K, &w, &a);
                    let s = (kernels(ty, scalar).unwrap().vec_dot)(2 * QK_K, &w, &a);
                    let (exact, abs) = abs_dot(ty, &w, &a, 2 * QK_K);
                    assert!(
                        ((f - s) as f64).abs() <= 1e-5 * abs + 1e-6,
                        "{ty}: {f} vs {s}"
                    );
                    assert!(((s as f64) - exact).abs() <= 1e-5 * abs + 1e-6, "{ty}");
                }
            }
        }
    }
}

#[test]
fn q8k_simd_quantizer_is_bit_identical() {
    let cpu = CpuFeatures::detect();
    if !cpu.avx2_fma {
        return;
    }
    let fast = kernels(GgmlType::Q8K, cpu).unwrap().quantize;
    let mut rng = StdRng::seed_from_u64(3);
    for case in 0..200 {
        let nb = 1 + case % 5;
        let scale = [1e-6f32, 0.01, 1.0, 37.0, 1e5][case % 5];
        let mut x = rand_f32(&mut rng, nb * QK_K, scale);
        match case % 7 {
            // Ties for the largest magnitude: the first one sets the sign.
            1 => {
                x[17] = 2.0 * scale;
                x[3] = -2.0 * scale;
            }
            2 => {
                x[3] = 2.0 * scale;
                x[17] = -2.0 * scale;
            }
            // An all-zero block.
            3 => x[..QK_K].fill(0.0),
            // Values on rounding ties of iscale * x.
            4 => {
                for (i, v) in x.iter_mut().enumerate().take(QK_K) {
                    *v = (i as f32 - 128.0) / 2.0;
                }
                x[0] = -127.0;
            }
            // Negative zeros and denormals.
            5 => {
                x[5] = -0.0;
                x[6] = f32::MIN_POSITIVE / 4.0;
            }
            _ => {}
        }
        let mut a = vec![0u8; nb * q8_k::BLOCK];
        let mut b = vec![0xAAu8; nb * q8_k::BLOCK];
        q8_k::quantize_ref(&x, &mut a);
        fast(&x, &mut b);
        assert_eq!(a, b, "case {case}");
    }
}

#[test]
fn nearest_int_rounds_half_to_even() {
    for (x, r) in [
        (0.5f32, 0),
        (1.5, 2),
        (2.5, 2),
        (-0.5, 0),
        (-1.5, -2),
        (126.49, 126),
    ] {
        assert_eq!(nearest_int(x), r, "{x}");
    }
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..10000 {
        let x = rng.gen_range(-300.0f32..300.0);
        assert_eq!(nearest_int(x), x.round_ties_even() as i32, "{x}");
    }
    assert_eq!(nearest_int(1e9), 1_000_000_000);
}

#[test]
fn q8k_quantizer_follows_ggml() {
    let mut x = vec![0f32; QK_K];
    x[3] = 1.0;
    x[5] = -2.0;
    x[20] = 0.5;
    let mut y = vec![0u8; q8_k::BLOCK];
    q8_k::quantize_ref(&x, &mut y);
    // iscale = -127 / -2 = 63.5; 63.5 rounds to even 64; 31.75 → 32.
    assert_eq!(q8_k::d(&y), 1.0 / 63.5);
    assert_eq!(q8_k::q(&y, 3), 64);
    assert_eq!(q8_k::q(&y, 5), -127);
    assert_eq!(q8_k::q(&y, 20), 32);
    assert_eq!(q8_k::bsum(&y, 0), 64 - 127);
    assert_eq!(q8_k::bsum(&y, 1), 32);
    assert_eq!((2..16).map(|j| q8_k::bsum(&y, j)).sum::<i32>(), 0);
    let mut z = vec![0f32; QK_K];
    q8_k::dequantize(&y, &mut z);
    assert_eq!(z[5], -127.0 / 63.5);
}

fn f16_bits(b: &mut [u8], off: usize, bits: u16) {
    b[off..off + 2].copy_from_slice(&bits.to_le_bytes());
}

#[test]
fn dequantize_hand_built_q2k() {
    let mut b = vec![0u8; q2_k::BLOCK];
    f16_bits(&mut b, q2_k::D, 0x3400); // 0.25
    f16_bits(&mut b, q2_k::DMIN, 0x3C00); // 1.0
    b[q2_k::SCALES] = 0x35; // group 0: scale 5, min 3
    b[q2_k::SCALES + 7] = 0x1F; // group 7: scale 15, min 1
    b[q2_k::QS] = 2; // element 0: level 2
    b[q2_k::QS + 16] = 3 << 6; // element 112 (n 0, shift 6, l 16): level 3
    let y = dequant(GgmlType::Q2K, &b, QK_K);
    assert_eq!(y[0], 0.25 * 5.0 * 2.0 - 3.0);
    assert_eq!(y[1], -3.0);
    assert_eq!(y[112], 0.25 * 15.0 * 3.0 - 1.0);
    assert_eq!(y[113], -1.0);
    assert_eq!(y[200], 0.0);
}

#[test]
fn dequantize_hand_built_q3k() {
    let mut b = vec![0u8; q3_k::BLOCK];
    f16_bits(&mut b, q3_k::D, 0x4000); // 2.0
    let s = q3_k::SCALES;
    // Raw 6-bit scales: s0 = 33 (→ 1), s9 = 30 (→ -2), s15 = 63 (→ 31), others 0 (→ -32).
    b[s] = 0x01;
    b[s + 8] = 0x02;
    b[s + 1] = 0xE0;
    b[s + 9] = 0x10;
    b[s + 7] = 0xF0;
    b[s + 11] = 0xC0;
    b[q3_k::QS] = 3; // element 0: low bits 3
    b[q3_k::HMASK] = 1; // element 0: high bit set → 3
    b[q3_k::QS + 48] = 1; // element 144 (n 1, shift 0, l 16): 1, no high bit → -3
    b[q3_k::QS + 63] = 2 << 6; // element 255 (n 1, shift 6, l 31)
    b[q3_k::HMASK + 31] = 0x80; // ... high bit 7 set → 2
    let y = dequant(GgmlType::Q3K, &b, QK_K);
    assert_eq!(y[0], 2.0 * 1.0 * 3.0);
    assert_eq!(y[1], 2.0 * 1.0 * -4.0);
    assert_eq!(y[16], 2.0 * -32.0 * -4.0);
    assert_eq!(y[144], 2.0 * -2.0 * -3.0);
    assert_eq!(y[255], 2.0 * 31.0 * 2.0);
}

fn k4_scales(b: &mut [u8], off: usize) {
    // (scale, min): group 0 = (3, 2), group 4 = (1 + 16, 2 + 32), others 0.
    b[off] = 3 | (1 << 6);
    b[off + 4] = 2 | (2 << 6);
    b[off + 8] = 0x21;
}

#[test]
fn dequantize_hand_built_q4k() {
    let mut b = vec![0u8; q4_k::BLOCK];
    f16_bits(&mut b, q4_k::D, 0x3C00); // 1.0
    f16_bits(&mut b, q4_k::DMIN, 0x3800); // 0.5
    k4_scales(&mut b, q4_k::SCALES);
    assert_eq!(scale_min_k4(4, &b[q4_k::SCALES..]), (17, 34));
    b[q4_k::QS] = 0x95; // element 0: 5, element 32: 9
    b[q4_k::QS + 64] = 0x07; // element 128 (chunk 2, low nibble): 7
    let y = dequant(GgmlType::Q4K, &b, QK_K);
    assert_eq!(y[0], 3.0 * 5.0 - 0.5 * 2.0);
    assert_eq!(y[1], -1.0);
    assert_eq!(y[32], 0.0);
    assert_eq!(y[128], 17.0 * 7.0 - 0.5 * 34.0);
    assert_eq!(y[129], -17.0);
}

#[test]
fn dequantize_hand_built_q5k() {
    let mut b = vec![0u8; q5_k::BLOCK];
    f16_bits(&mut b, q5_k::D, 0x3C00);
    f16_bits(&mut b, q5_k::DMIN, 0x3800);
    k4_scales(&mut b, q5_k::SCALES);
    b[q5_k::QS] = 0x95;
    b[q5_k::QS + 64] = 0x07;
    b[q5_k::QH] = 0b1_0001; // +16 on element 0 (bit 0) and element 128 (bit 4)
    b[q5_k::QH + 1] = 0b10; // +16 on element 33 (bit 1: chunk 0, high nibbles)
    let y = dequant(GgmlType::Q5K, &b, QK_K);
    assert_eq!(y[0], 3.0 * 21.0 - 1.0);
    assert_eq!(y[32], 0.0);
    assert_eq!(y[33], 0.0); // scale 0 for group 1
    assert_eq!(y[128], 17.0 * 23.0 - 17.0);
    assert_eq!(y[1], -1.0);
}

#[test]
fn dequantize_hand_built_q6k() {
    let mut b = vec![0u8; q6_k::BLOCK];
    f16_bits(&mut b, q6_k::D, 0x3800); // 0.5
    let sc = [(0, 2i8), (2, 1), (4, -3), (6, 4), (13, 5)];
    for (g, s) in sc {
        b[q6_k::SCALES + g] = s as u8;
    }
    b[q6_k::QL] = 0x3A; // element 0 low nibble 10, element 64 low nibble 3
    b[q6_k::QH] = 0b11_10_01_00; // elements 0, 32, 64, 96: high bits 0, 1, 2, 3
    b[q6_k::QL + 80] = 0xF0; // element 208 (half 1, value 80): nibble 15
    b[q6_k::QH + 48] = 0b0011_0000; // ... high bits 3
    let y = dequant(GgmlType::Q6K, &b, QK_K);
    assert_eq!(y[0], 0.5 * 2.0 * -22.0);
    assert_eq!(y[32], 0.5 * 1.0 * -16.0);
    assert_eq!(y[64], 0.5 * -3.0 * 3.0);
    assert_eq!(y[96], 0.5 * 4.0 * 16.0);
    assert_eq!(y[208], 0.5 * 5.0 * 31.0);
    assert_eq!(y[209], 0.5 * 5.0 * -32.0);
}

#[test]
fn dequantize_hand_built_q8k() {
    let mut b = vec![0u8; q8_k::BLOCK];
    b[..4].copy_from_slice(&0.5f32.to_le_bytes());
    b[q8_k::OFF_QS + 7] = (-3i8) as u8;
    let y = dequant(GgmlType::Q8K, &b, QK_K);
    assert_eq!(y[7], -1.5);
    assert_eq!(y[8], 0.0);
}

/// Root-mean-square round-trip error relative to the data's range, per format.
#[test]
fn quantize_round_trips() {
    let mut rng = StdRng::seed_from_u64(4);
    let bounds = [
        (GgmlType::Q2K, 0.13f32),
        (GgmlType::Q3K, 0.1),
        (GgmlType::Q4K, 0.028),
        (GgmlType::Q5K, 0.014),
        (GgmlType::Q6K, 0.012),
        (GgmlType::Q8K, 0.0035),
    ];
    for (ty, bound) in bounds {
        let k = kernels(ty, CpuFeatures::scalar()).unwrap();
        for (case, nb) in [1usize, 2, 3, 5].into_iter().enumerate() {
            let n = nb * QK_K;
            let mut x = rand_f32(&mut rng, n, 1.0);
            if case == 1 {
                // Positive, offset data (the min terms matter).
                x.iter_mut().for_each(|v| *v += 2.0);
            }
            if case == 2 {
                x[..QK_K].fill(0.0);
            }
            let mut w = vec![0u8; ty.row_size(n).unwrap()];
            (k.quantize)(&x, &mut w);
            let y = dequant(ty, &w, n);
            let range = if case == 1 { 3.0 } else { 2.0 };
            let rmse =
                (x.iter().zip(&y).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / n as f32).sqrt();
            assert!(rmse <= bound * range, "{ty} case {case}: rmse {rmse}");
            if case == 2 {
                assert!(y[..QK_K].iter().all(|v| *v == 0.0), "{ty} zero block");
            }
            // The quantized row also feeds the dot products consistently.
            let (_, a) = activations(&mut rng, nb);
            let got = (k.vec_dot)(n, &w, &a) as f64;
            let (exact, abs) = abs_dot(ty, &w, &a, n);
            assert!((got - exact).abs() <= 1e-5 * abs + 1e-6, "{ty}");
        }
    }
}

#[test]
fn ggml_kernel_choice_follows_the_batch_size() {
    use exact::{Q4kOrder, Q6kOrder};
    assert_eq!(Q4kOrder::for_token(0, 1), Q4kOrder::Gemv);
    for t in 0..3 {
        assert_eq!(Q4kOrder::for_token(t, 3), Q4kOrder::Gemv);
    }
    let six: Vec<_> = (0..6).map(|t| Q4kOrder::for_token(t, 6)).collect();
    assert_eq!(six[..4], [Q4kOrder::Gemm; 4]);
    assert_eq!(six[4..], [Q4kOrder::Gemv; 2]);
    assert_eq!(Q4kOrder::for_token(7, 8), Q4kOrder::Gemm);
    assert_eq!(Q6kOrder::for_batch(1), Q6kOrder::Lanes);
    assert_eq!(Q6kOrder::for_batch(7), Q6kOrder::Lanes);
    assert_eq!(Q6kOrder::for_batch(8), Q6kOrder::Tiled);
}

/// Every ggml order of Q4_K/Q6_K is a correctly scaled dot product, and the orders do round
/// differently (so that the bit-exact tests below compare something).
#[test]
fn ggml_order_references_are_dot_products() {
    use exact::{q4k_dot_ref, q6k_dot_ref, Q4kOrder, Q6kOrder};
    let mut rng = StdRng::seed_from_u64(7);
    let (mut differ4, mut differ6) = (0, 0);
    for _ in 0..50 {
        for nb in [1, 3, 8] {
            let n = nb * QK_K;
            let (_, a) = activations(&mut rng, nb);
            let w4 = random_weights(&mut rng, GgmlType::Q4K, nb);
            let w6 = random_weights(&mut rng, GgmlType::Q6K, nb);
            let (e4, abs4) = abs_dot(GgmlType::Q4K, &w4, &a, n);
            let (e6, abs6) = abs_dot(GgmlType::Q6K, &w6, &a, n);
            let (gv, gm) = (
                q4k_dot_ref(Q4kOrder::Gemv, n, &w4, &a),
                q4k_dot_ref(Q4kOrder::Gemm, n, &w4, &a),
            );
            let (ln, tl) = (
                q6k_dot_ref(Q6kOrder::Lanes, n, &w6, &a),
                q6k_dot_ref(Q6kOrder::Tiled, n, &w6, &a),
            );
            for (g, e, abs) in [
                (gv, e4, abs4),
                (gm, e4, abs4),
                (ln, e6, abs6),
                (tl, e6, abs6),
            ] {
                assert!(((g as f64) - e).abs() <= 1e-5 * abs + 1e-6, "{g} vs {e}");
            }
            differ4 += (gv.to_bits() != gm.to_bits()) as usize;
            differ6 += (ln.to_bits() != tl.to_bits()) as usize;
        }
    }
    assert!(differ4 > 0 && differ6 > 0, "{differ4} {differ6}");
}

/// The gemm kernels (scalar and SIMD) pick ggml's order per token from the panel's place in
/// the batch, and are bit-identical to the scalar references.
#[test]
fn ggml_order_gemms_are_bit_identical_to_the_references() {
    use crate::quant::BatchPos;
    use exact::{q4k_dot_ref, q6k_dot_ref, Q4kOrder, Q6kOrder};
    let mut rng = StdRng::seed_from_u64(8);
    for cpu in feature_sets() {
        for ty in [GgmlType::Q4K, GgmlType::Q6K] {
            let gemm = kernels(ty, cpu)
                .unwrap()
                .gemm
                .expect("Q4_K/Q6_K have a gemm");
            for (nb, nr, first, nt, total) in [
                (4, 9, 0, 1, 1),
                (8, 5, 0, 3, 3),
                (2, 8, 0, 6, 6),
                (3, 7, 4, 3, 7),
                (4, 3, 0, 9, 9),
                (1, 2, 8, 5, 13),
                // Whole 16-row tiles and remainders, token runs of 1..4 in both Q4_K orders.
                (8, 33, 0, 1, 1),
                (4, 17, 0, 7, 7),
                (2, 16, 0, 8, 8),
                (2, 31, 128, 11, 139),
                (1, 40, 0, 13, 13),
                (3, 1, 0, 5, 5),
                (2, 15, 4, 2, 6),
                // Panels of 1-2 tokens in the other orders (row-at-a-time fallbacks).
                (2, 5, 8, 2, 10),
                (2, 5, 0, 2, 8),
                (1, 3, 4, 1, 9),
            ] {
                let n = nb * QK_K;
                let w: Vec<u8> = (0..nr)
                    .flat_map(|_| random_weights(&mut rng, ty, nb))
                    .collect();
                let a: Vec<u8> = (0..nt).flat_map(|_| activations(&mut rng, nb).1).collect();
                let ldo = nr + 2;
                let mut out = vec![f32::NAN; nt * ldo];
                // SAFETY: the kernel is for this CPU; `out` holds every `t * ldo + r`.
                unsafe {
                    gemm(
                        n,
                        &w,
                        nr,
                        &a,
                        nt,
                        out.as_mut_ptr(),
                        ldo,
                        BatchPos { first, total },
                    )
                };
                let (wr, ar) = (w.len() / nr, a.len() / nt);
                for t in 0..nt {
                    for r in 0..nr {
                        let (wrow, arow) = (&w[r * wr..(r + 1) * wr], &a[t * ar..(t + 1) * ar]);
                        let want = match ty {
                            GgmlType::Q4K => {
                                q4k_dot_ref(Q4kOrder::for_token(first + t, total), n, wrow, arow)
                            }
                            _ => q6k_dot_ref(Q6kOrder::for_batch(total), n, wrow, arow),
                        };
                        let got = out[t * ldo + r];
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{ty} {cpu:?} batch {first}+{t}/{total} row {r}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

/// Raw Q8_K activation rows: any bytes (including -128) with matching bsums.
fn raw_activations(rng: &mut StdRng, nb: usize, extreme: bool) -> Vec<u8> {
    let mut a = vec![0u8; nb * q8_k::BLOCK];
    for y in a.chunks_exact_mut(q8_k::BLOCK) {
        let d = rng.gen_range(0.001f32..0.1);
        y[..4].copy_from_slice(&d.to_le_bytes());
        for v in &mut y[q8_k::OFF_QS..q8_k::OFF_QS + QK_K] {
            *v = if extreme {
                [0x80u8, 0x7f][rng.gen_range(0..2)]
            } else {
                rng.gen()
            };
        }
        for j in 0..QK_K / 16 {
            let s: i32 = (0..16).map(|l| q8_k::q(y, 16 * j + l)).sum();
            let o = q8_k::OFF_BSUMS + 2 * j;
            y[o..o + 2].copy_from_slice(&(s as i16).to_le_bytes());
        }
    }
    a
}

/// Every gemm kernel against the scalar references at the integer extremes (all levels at
/// their maximum, scales at the ends of their range, activations of ±128/127) and on raw random
/// activation bytes, for every batch position class.
#[test]
fn ggml_order_gemms_are_bit_identical_at_extremes() {
    use crate::quant::BatchPos;
    use exact::{q4k_dot_ref, q6k_dot_ref, Q4kOrder, Q6kOrder};
    let mut rng = StdRng::seed_from_u64(9);
    let (nb, nr) = (3, 19);
    let n = nb * QK_K;
    for cpu in feature_sets() {
        for ty in [GgmlType::Q4K, GgmlType::Q6K] {
            let gemm = kernels(ty, cpu).unwrap().gemm.unwrap();
            for extreme in [false, true] {
                let mut w: Vec<u8> = (0..nr)
                    .flat_map(|_| random_weights(&mut rng, ty, nb))
                    .collect();
                let size = ty.type_size();
                if extreme {
                    for (i, blk) in w.chunks_exact_mut(size).enumerate() {
                        let keep: Vec<(usize, u8)> = f16_fields(ty)
                            .iter()
                            .flat_map(|&o| [(o, blk[o]), (o + 1, blk[o + 1])])
                            .collect();
                        blk.fill(0xFF);
                        if ty == GgmlType::Q6K && i % 2 == 0 {
                            // Scales of -128.
                            blk[q6_k::SCALES..q6_k::SCALES + 16].fill(0x80);
                        }
                        for (o, v) in keep {
                            blk[o] = v;
                        }
                    }
                }
                for (first, nt, total) in [(0, 1, 1), (0, 5, 5), (0, 9, 9), (4, 6, 10)] {
                    let a = raw_activations(&mut rng, nb * nt, extreme);
                    let ldo = nr;
                    let mut out = vec![f32::NAN; nt * ldo];
                    // SAFETY: the kernel is for this CPU; `out` holds every `t * ldo + r`.
                    unsafe {
                        gemm(
                            n,
                            &w,
                            nr,
                            &a,
                            nt,
                            out.as_mut_ptr(),
                            ldo,
                            BatchPos { first, total },
                        )
                    };
                    let (wr, ar) = (w.len() / nr, a.len() / nt);
                    for t in 0..nt {
                        for r in 0..nr {
                            let (wrow, arow) = (&w[r * wr..(r + 1) * wr], &a[t * ar..(t + 1) * ar]);
                            let want = match ty {
                                GgmlType::Q4K => q4k_dot_ref(
                                    Q4kOrder::for_token(first + t, total),
                                    n,
                                    wrow,
                                    arow,
                                ),
                                _ => q6k_dot_ref(Q6kOrder::for_batch(total), n, wrow, arow),
                            };
                            let got = out[t * ldo + r];
                            assert_eq!(
                                got.to_bits(),
                                want.to_bits(),
                                "{ty} {cpu:?} extreme={extreme} {first}+{t}/{total} row {r}"
                            );
                        }
                    }
                }
            }
        }
    }
}
