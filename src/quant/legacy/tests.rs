use super::blocks::*;
use super::kernels;
use crate::quant::{CpuFeatures, GgmlType};
use half::f16;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WEIGHTS: [GgmlType; 6] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
];
/// Block counts 1, 2, 3, 4, 5, 7, 18, 49, 128: every remainder mod 2 and mod 4.
const LENGTHS: [usize; 9] = [32, 64, 96, 128, 160, 224, 576, 1536 + 32, 4096];

fn scalar(ty: GgmlType) -> crate::quant::TypeKernels {
    kernels(ty, CpuFeatures::scalar()).unwrap()
}

/// Every SIMD feature set this CPU can run (AVX2 only, AVX-512 BW, AVX-512 VNNI).
fn simd_variants() -> Vec<CpuFeatures> {
    let det = CpuFeatures::detect();
    let mut v = vec![];
    if det.avx2_fma {
        v.push(CpuFeatures {
            avx2_fma: true,
            ..Default::default()
        });
    }
    if det.avx512 {
        v.push(CpuFeatures {
            avx2_fma: true,
            avx512: true,
            avx512_vnni: false,
        });
    }
    if det.avx512_vnni {
        v.push(det);
    }
    v
}

/// Random data of several shapes: uniform, gaussian-ish with outliers, all-positive, and
/// with zero blocks.
fn data(n: usize, kind: usize, seed: u64) -> Vec<f32> {
    let mut r = StdRng::seed_from_u64(seed ^ (n as u64) << 20 ^ (kind as u64) << 40);
    (0..n)
        .map(|i| match kind {
            0 => r.gen_range(-1.0f32..1.0),
            1 => {
                let g: f32 = (0..4).map(|_| r.gen_range(-1.0f32..1.0)).sum();
                if r.gen_ratio(1, 50) {
                    g * 30.0
                } else {
                    g
                }
            }
            2 => r.gen_range(0.5f32..3.0),
            _ => {
                if (i / 32) % 3 == 1 {
                    0.0
                } else {
                    r.gen_range(-100.0f32..100.0)
                }
            }
        })
        .collect()
}

fn quantize(ty: GgmlType, x: &[f32]) -> Vec<u8> {
    let mut q = vec![0u8; ty.row_size(x.len()).unwrap()];
    (scalar(ty).quantize)(x, &mut q);
    q
}

fn dequantize(ty: GgmlType, q: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n];
    (scalar(ty).dequantize)(q, &mut y);
    y
}

/// A copy of `v` starting one byte past an allocation boundary (unaligned pointers).
fn misaligned(v: &[u8]) -> (Vec<u8>, usize) {
    let mut b = vec![0u8; v.len() + 1];
    b[1..].copy_from_slice(v);
    (b, 1)
}

#[test]
fn kernels_cover_exactly_the_legacy_types() {
    for ty in GgmlType::ALL {
        let has = kernels(ty, CpuFeatures::scalar()).is_some();
        assert_eq!(has, WEIGHTS.contains(&ty), "{ty}");
    }
    for cpu in simd_variants() {
        for ty in WEIGHTS {
            let k = kernels(ty, cpu).unwrap();
            let want = if ty == GgmlType::Q8_1 {
                "avx2"
            } else if cpu.avx512_vnni {
                "avx512vnni"
            } else {
                "avx2"
            };
            assert_eq!(k.variant, want, "{ty} {cpu:?}");
        }
    }
}

#[test]
fn simd_vec_dot_is_bit_identical_to_scalar() {
    for cpu in simd_variants() {
        for ty in WEIGHTS {
            let fast = kernels(ty, cpu).unwrap();
            let slow = scalar(ty);
            let at = ty.dot_type();
            for n in LENGTHS {
                for kind in 0..4 {
                    let x = data(n, kind, 1);
                    let y = data(n, (kind + 1) % 4, 2);
                    let (w, a) = (quantize(ty, &x), quantize(at, &y));
                    let want = (slow.vec_dot)(n, &w, &a);
                    let (wm, o1) = misaligned(&w);
                    let (am, o2) = misaligned(&a);
                    let got = (fast.vec_dot)(n, &wm[o1..], &am[o2..]);
                    // Same operations in the same order: bit for bit.
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{ty} {} n={n} kind={kind}: {got} vs {want}",
                        fast.variant
                    );
                }
            }
        }
    }
}

#[test]
fn scalar_vec_dot_equals_dot_of_dequantized() {
    for ty in WEIGHTS {
        let at = ty.dot_type();
        for n in [32, 96, 1568] {
            let x = data(n, 1, 7);
            let y = data(n, 0, 8);
            let (w, a) = (quantize(ty, &x), quantize(at, &y));
            let got = (scalar(ty).vec_dot)(n, &w, &a) as f64;
            let (xd, yd) = (dequantize(ty, &w, n), dequantize(at, &a, n));
            let want: f64 = xd.iter().zip(&yd).map(|(p, q)| *p as f64 * *q as f64).sum();
            let mag: f64 = xd.iter().zip(&yd).map(|(p, q)| (p * q).abs() as f64).sum();
            // Q8_1's s is rounded to fp16, so the m*s term carries a 2^-11 relative error.
            assert!(
                (got - want).abs() <= 2e-3 * mag + 1e-4,
                "{ty} n={n}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn simd_quantize_is_bit_identical_to_scalar() {
    for cpu in simd_variants() {
        for ty in [GgmlType::Q8_0, GgmlType::Q8_1] {
            let fast = kernels(ty, cpu).unwrap();
            for n in LENGTHS {
                for kind in 0..5 {
                    let x = if kind < 4 { data(n, kind, 3) } else { ties(n) };
                    let want = quantize(ty, &x);
                    let mut got = vec![0xAAu8; want.len()];
                    (fast.quantize)(&x, &mut got);
                    assert_eq!(got, want, "{ty} n={n} kind={kind}");
                }
            }
        }
    }
}

/// Blocks whose scaled values land exactly on .5 ties (amax 127 gives id = 1).
fn ties(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| match i % 32 {
            0 => 127.0,
            j => (j as f32 - 16.0) * 2.5 + 0.5 * ((i / 32) % 2) as f32,
        })
        .collect()
}

#[test]
fn q8_rounding_matches_llama_cpp_x86_and_ref_matches_ggml() {
    let mut x = [0f32; 32];
    x[0] = 127.0;
    let vals = [0.5f32, 1.5, 2.5, -0.5, -1.5, -2.5, 3.25, -3.75];
    x[1..9].copy_from_slice(&vals);
    let mut q = [0u8; 34];
    quantize_q8_0(&x, &mut q);
    assert_eq!(f16_at(&q, 0), 1.0);
    let got: Vec<i8> = q[2..11].iter().map(|&b| b as i8).collect();
    assert_eq!(got, [127, 0, 2, 2, 0, -2, -2, 3, -4]); // half to even
    quantize_q8_0_ggml_ref(&x, &mut q);
    let got: Vec<i8> = q[2..11].iter().map(|&b| b as i8).collect();
    assert_eq!(got, [127, 1, 2, 3, -1, -2, -3, 3, -4]); // roundf
    let mut q1 = [0u8; 36];
    quantize_q8_1(&x, &mut q1);
    let sum: i32 = q1[4..].iter().map(|&b| b as i8 as i32).sum();
    assert_eq!(sum, 127 + 2 + 2 - 2 - 2 + 3 - 4);
    assert_eq!(f16_at(&q1, 2), sum as f32);
    quantize_q8_1_ggml_ref(&x, &mut q1);
    assert_eq!(f16_at(&q1, 2), (127 + 1 + 2 + 3 - 1 - 2 - 3 + 3 - 4) as f32);
    // All-zero block: d = 0, quants 0.
    let mut z = [0xFFu8; 36];
    quantize_q8_1(&[0.0; 32], &mut z);
    assert!(z.iter().all(|&b| b == 0));
}

/// The largest per-element error a round trip may show, given the block's exact scale `d`,
/// its fp16-stored version `d16`, the number of steps `qmax` and (for `_1` types) the min.
fn check_round_trip(ty: GgmlType, x: &[f32], q: &[u8], y: &[f32]) {
    let bs = ty.type_size();
    for (b, (xb, yb)) in x.chunks(32).zip(y.chunks(32)).enumerate() {
        let blk = &q[b * bs..];
        let d16 = f16_at(blk, 0).abs();
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let (min, max) = xb
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        // (exact d, steps from the zero point to the far end, fp16 error of the min)
        let (d, steps, merr) = match ty {
            GgmlType::Q4_0 => (amax / 8.0, 8.0, 0.0),
            GgmlType::Q5_0 => (amax / 16.0, 16.0, 0.0),
            GgmlType::Q4_1 => ((max - min) / 15.0, 15.0, (f16_at(blk, 2) - min).abs()),
            GgmlType::Q5_1 => ((max - min) / 31.0, 31.0, (f16_at(blk, 2) - min).abs()),
            _ => (amax / 127.0, 127.0, 0.0),
        };
        let slack = steps * (d16 - d).abs() + merr + 1e-6 * (1.0 + amax);
        for (j, (&xv, &yv)) in xb.iter().zip(yb).enumerate() {
            // Q4_0/Q5_0 clamp the top step on the side opposite the largest magnitude.
            let clamped = matches!(ty, GgmlType::Q4_0 | GgmlType::Q5_0)
                && d > 0.0
                && (xv / d).abs() > steps - 0.5 - 1e-3;
            let bound = if clamped { d } else { d / 2.0 } + slack;
            assert!(
                (xv - yv).abs() <= bound,
                "{ty} block {b} elem {j}: {xv} -> {yv} (d {d}, bound {bound})"
            );
        }
    }
}

#[test]
fn round_trip_error_within_format_bounds() {
    for ty in WEIGHTS {
        for n in [32, 576, 4096] {
            for kind in 0..4 {
                let x = data(n, kind, 5);
                let q = quantize(ty, &x);
                let y = dequantize(ty, &q, n);
                check_round_trip(ty, &x, &q, &y);
            }
        }
    }
}

fn h(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_bits().to_le_bytes()
}

#[test]
fn known_blocks_dequantize() {
    let mut y = [0f32; 32];
    // Q4_0: d = 0.5, qs[j] = j | (15 - j) << 4.
    let mut b = vec![];
    b.extend(h(0.5));
    b.extend((0..16u8).map(|j| j | (15 - j) << 4));
    dequantize_q4_0(&b, &mut y);
    for j in 0..16 {
        assert_eq!(y[j], (j as f32 - 8.0) * 0.5);
        assert_eq!(y[16 + j], (7.0 - j as f32) * 0.5);
    }
    // Q4_1: d = 0.25, m = -1.
    let mut b = vec![];
    b.extend(h(0.25));
    b.extend(h(-1.0));
    b.extend((0..16u8).map(|j| j | (15 - j) << 4));
    dequantize_q4_1(&b, &mut y);
    for j in 0..16 {
        assert_eq!(y[j], j as f32 * 0.25 - 1.0);
        assert_eq!(y[16 + j], (15 - j) as f32 * 0.25 - 1.0);
    }
    // Q5_0: d = 1, qh = 0xF0F0_5555, qs nibble of element j = j % 16.
    let qh: u32 = 0xF0F0_5555;
    let mut b = vec![];
    b.extend(h(1.0));
    b.extend(qh.to_le_bytes());
    b.extend((0..16u8).map(|j| j | j << 4));
    dequantize_q5_0(&b, &mut y);
    for (j, &v) in y.iter().enumerate() {
        let q = (j % 16) as i32 | (((qh >> j) & 1) as i32) << 4;
        assert_eq!(v, (q - 16) as f32, "q5_0 elem {j}");
    }
    assert_eq!(y[0], 16.0 - 16.0 + 0.0); // bit 0 set, nibble 0 -> 16 - 16
    assert_eq!(y[1], -15.0); // bit 1 clear, nibble 1
                             // Q5_1: d = 0.5, m = 2, same quants.
    let mut b = vec![];
    b.extend(h(0.5));
    b.extend(h(2.0));
    b.extend(qh.to_le_bytes());
    b.extend((0..16u8).map(|j| j | j << 4));
    dequantize_q5_1(&b, &mut y);
    for (j, &v) in y.iter().enumerate() {
        let q = (j % 16) as i32 | (((qh >> j) & 1) as i32) << 4;
        assert_eq!(v, q as f32 * 0.5 + 2.0, "q5_1 elem {j}");
    }
    // Q8_0 / Q8_1: d = 2, qs = j - 16.
    let mut b = vec![];
    b.extend(h(2.0));
    b.extend((0..32i8).map(|j| (j - 16) as u8));
    dequantize_q8_0(&b, &mut y);
    assert!((0..32).all(|j| y[j] == (j as f32 - 16.0) * 2.0));
    b.splice(2..2, h(-32.0));
    dequantize_q8_1(&b, &mut y);
    assert!((0..32).all(|j| y[j] == (j as f32 - 16.0) * 2.0));
}

#[test]
fn known_blocks_quantize_like_ggml() {
    // x_j = j - 16: the largest magnitude is -16 (element 0).
    let x: Vec<f32> = (0..32).map(|j| j as f32 - 16.0).collect();
    let mut b = [0u8; Q4_0_BYTES];
    quantize_q4_0(&x, &mut b);
    assert_eq!(f16_at(&b, 0), 2.0); // -16 / -8
    for j in 0..32 {
        let q = if j < 16 {
            b[2 + j] & 15
        } else {
            b[2 + j - 16] >> 4
        };
        // (int8)(x/2 + 8.5) = (j + 1) / 2, clamped to 15
        assert_eq!(q as usize, j.div_ceil(2).min(15), "q4_0 elem {j}");
    }
    let mut b = [0u8; Q5_0_BYTES];
    quantize_q5_0(&x, &mut b);
    assert_eq!(f16_at(&b, 0), 1.0); // -16 / -16
    let mut y = [0f32; 32];
    dequantize_q5_0(&b, &mut y);
    // q = min(31, x + 16.5) -> exact except +15 -> 31 - 16 = 15
    assert_eq!(&y[..], &x[..]);

    let mut b = [0u8; Q4_1_BYTES];
    quantize_q4_1(&x, &mut b);
    let d = f16::from_f32(31.0 / 15.0).to_f32();
    assert_eq!((f16_at(&b, 0), f16_at(&b, 2)), (d, -16.0));
    for j in 0..32 {
        let q = if j < 16 {
            b[4 + j] & 15
        } else {
            b[4 + j - 16] >> 4
        };
        // min(15, (int8)(j * (1 / (31/15)) + 0.5)) computed in f32 as ggml
        let id = 1.0 / (31.0f32 / 15.0);
        assert_eq!(q, ((j as f32 * id + 0.5) as u8).min(15), "q4_1 elem {j}");
    }
    let mut b = [0u8; Q5_1_BYTES];
    quantize_q5_1(&x, &mut b);
    assert_eq!((f16_at(&b, 0), f16_at(&b, 2)), (1.0, -16.0));
    dequantize_q5_1(&b, &mut y);
    assert_eq!(&y[..], &x[..]);
    // All-zero input: d = 0 and ggml's zero-point quants (8 / 16 / 0).
    let mut b = [0u8; Q4_0_BYTES];
    quantize_q4_0(&[0.0; 32], &mut b);
    assert_eq!(&b[..2], &[0x00, 0x80]); // d = 0.0 / -8 = -0.0, as ggml
    assert!(b[2..].iter().all(|&v| v == 0x88));
}

#[test]
fn q8_1_sum_field_is_d_times_sum() {
    for n in [32, 576] {
        let x = data(n, 1, 9);
        let q = quantize(GgmlType::Q8_1, &x);
        for (xb, b) in x.chunks(32).zip(q.chunks(Q8_1_BYTES)) {
            let sum: i32 = b[4..].iter().map(|&v| v as i8 as i32).sum();
            let d = xb.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            assert_eq!(f16_at(b, 0), f16::from_f32(d).to_f32());
            assert_eq!(f16_at(b, 2), f16::from_f32(d * sum as f32).to_f32());
        }
    }
}

#[test]
#[should_panic]
fn rejects_partial_blocks() {
    let k = scalar(GgmlType::Q4_0);
    (k.vec_dot)(48, &[0u8; 36], &[0u8; 68]);
}

/// Rough throughput check (run with `--ignored --nocapture`; well under a second).
#[test]
#[ignore]
fn bench_vec_dot() {
    let (n, rows, reps) = (4096, 64, 200);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
    ] {
        let w = quantize(ty, &data(n * rows, 1, 1));
        let a = quantize(ty.dot_type(), &data(n, 0, 2));
        let rs = ty.row_size(n).unwrap();
        let mut cpus = vec![CpuFeatures::scalar()];
        cpus.extend(simd_variants());
        for cpu in cpus {
            let k = kernels(ty, cpu).unwrap();
            let t = std::time::Instant::now();
            let mut s = 0.0;
            for _ in 0..if cpu.avx2_fma { reps } else { reps / 20 } {
                for r in 0..rows {
                    s += (k.vec_dot)(n, &w[r * rs..], &a);
                }
            }
            let per = t.elapsed().as_secs_f64()
                / (if cpu.avx2_fma { reps } else { reps / 20 } * rows) as f64;
            println!(
                "{ty} {:>10}: {:7.1} ns/row of {n}  ({:.1} GB/s of weights) {s:.1}",
                k.variant,
                per * 1e9,
                rs as f64 / per / 1e9
            );
        }
    }
}
