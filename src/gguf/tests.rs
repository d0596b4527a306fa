use super::*;
use crate::quant::GgmlType;

fn sample() -> GgufBuilder {
    GgufBuilder::new()
        .meta("general.architecture", Value::String("llama".into()))
        .meta("some.u32", Value::U32(7))
        .meta(
            "nested",
            Value::Array(vec![
                Value::Array(vec![Value::I8(-1), Value::I8(2)]),
                Value::Array(vec![Value::I8(3)]),
            ]),
        )
        .meta("f", Value::F64(0.5))
        .meta("b", Value::Bool(true))
        .tensor_f32(
            "a",
            GgmlType::F32,
            &[4, 2],
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        )
        .tensor_f32("b", GgmlType::F16, &[3], &[1.0, -2.0, 0.5])
}

#[test]
fn round_trip_of_every_value_kind() {
    let mut b = GgufBuilder::new();
    let vals = [
        Value::U8(1),
        Value::I8(-2),
        Value::U16(3),
        Value::I16(-4),
        Value::U32(5),
        Value::I32(-6),
        Value::U64(7),
        Value::I64(-8),
        Value::F32(1.5),
        Value::F64(-2.25),
        Value::Bool(false),
        Value::String("héllo".into()),
        Value::Array(vec![Value::String("x".into()), Value::String("".into())]),
        Value::Array(vec![Value::Array(vec![Value::U16(9)])]),
    ];
    for (i, v) in vals.iter().enumerate() {
        b = b.meta(&format!("k{i}"), v.clone());
    }
    let f = GgufFile::from_vec(b.build()).unwrap();
    for (i, v) in vals.iter().enumerate() {
        assert_eq!(f.get(&format!("k{i}")), Some(v));
    }
}

#[test]
fn tensors_are_borrowed_in_place() {
    let f = GgufFile::from_vec(sample().build()).unwrap();
    assert_eq!(f.version, 3);
    let a = f.tensor("a").unwrap();
    assert_eq!(a.dims, vec![4, 2]);
    assert_eq!(a.n_rows(), 2);
    let mut out = [0f32; 8];
    crate::quant::dequantize_row(a.ty, &a.data, &mut out);
    assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    let b = f.tensor("b").unwrap();
    assert_eq!(b.offset % 32, 0);
    let mut out = [0f32; 3];
    crate::quant::dequantize_row(b.ty, &b.data, &mut out);
    assert_eq!(out, [1.0, -2.0, 0.5]);
}

fn err(buf: Vec<u8>) -> String {
    match GgufFile::from_vec(buf) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn header_problems_are_named() {
    let good = sample().build();
    assert!(err(b"GGML\x03\0\0\0".to_vec()).contains("not a GGUF file"));
    let mut be = good.clone();
    be[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(err(be).contains("big-endian"));
    let mut v9 = good.clone();
    v9[4..8].copy_from_slice(&9u32.to_le_bytes());
    assert!(err(v9).contains("version 9"));
    let mut many = good.clone();
    many[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(err(many).contains("tensor count"));
    let mut kv = good.clone();
    kv[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(err(kv).contains("metadata key/value count"));
    assert!(err(Vec::new()).contains("truncated"));
}

#[test]
fn every_truncation_is_an_error() {
    let good = sample().build();
    for cut in 0..good.len() {
        let r = GgufFile::from_vec(good[..cut].to_vec());
        assert!(r.is_err(), "truncated at {cut} of {} parsed", good.len());
    }
}

#[test]
fn hostile_strings_and_tensors() {
    // Absurd string length for the first key.
    let mut b = sample().build();
    b[24..32].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(err(b).contains("length"));

    let t = |dims: &[u64], ty: GgmlType, data: Vec<u8>| {
        GgufBuilder::new().tensor("t", ty, dims, data).build()
    };
    assert!(err(t(&[1 << 40, 1 << 40], GgmlType::F32, vec![])).contains("overflow"));
    assert!(err(t(&[33], GgmlType::Q8_0, vec![0; 34])).contains("multiple"));
    assert!(err(t(&[64], GgmlType::F32, vec![0; 16])).contains("past the end"));
    assert!(err(t(&[0], GgmlType::F32, vec![])).contains("zero dimension"));
    let mut unknown = t(&[4], GgmlType::F32, vec![0; 16]);
    // type field sits after name (8 + 1), n_dims (4), dims (8).
    let pos = 24 + 8 + 1 + 4 + 8;
    unknown[pos..pos + 4].copy_from_slice(&99u32.to_le_bytes());
    assert!(err(unknown).contains("unknown tensor type 99"));
    let five = GgufBuilder::new()
        .tensor("t", GgmlType::F32, &[1, 1, 1, 1, 1], vec![0; 4])
        .build();
    assert!(err(five).contains("dimensions"));
    let align = GgufBuilder::new()
        .meta("general.alignment", Value::U32(3))
        .build();
    assert!(err(align).contains("power of two"));
    let dup = GgufBuilder::new()
        .meta("k", Value::U8(1))
        .meta("k", Value::U8(2))
        .build();
    assert!(err(dup).contains("duplicate"));
}

#[test]
fn deep_nesting_is_refused() {
    let mut v = Value::U8(1);
    for _ in 0..20 {
        v = Value::Array(vec![v]);
    }
    let b = GgufBuilder::new().meta("deep", v).build();
    assert!(err(b).contains("nested"));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        /// Random byte flips and truncations never panic.
        #[test]
        fn mutated_files_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
            let mut b = sample().build();
            for (pos, byte) in flips {
                let i = pos % b.len();
                b[i] = byte;
            }
            let keep = cut % (b.len() + 1);
            b.truncate(keep.max(b.len() / 2));
            let _ = GgufFile::from_vec(b);
        }

        #[test]
        fn random_bytes_after_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut b = b"GGUF\x03\0\0\0".to_vec();
            b.extend(tail);
            let _ = GgufFile::from_vec(b);
        }
    }
}

/// Mutation fuzzing of the reader for a minute (`HEARTH_FUZZ_SECS` changes the duration):
/// random byte flips, insertions, deletions and truncations of a valid file never panic.
#[test]
fn reader_survives_a_minute_of_mutations() {
    let secs: u64 = std::env::var("HEARTH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed_file = sample().build();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let start = std::time::Instant::now();
    let mut cases = 0u64;
    while start.elapsed().as_secs() < secs {
        let mut b = seed_file.clone();
        for _ in 0..1 + next() % 6 {
            let i = (next() as usize) % b.len().max(1);
            match next() % 4 {
                0 => b[i] = next() as u8,
                1 => b.insert(i, next() as u8),
                2 if b.len() > 1 => {
                    b.remove(i);
                }
                _ => {
                    // Write a large little-endian number over a count or length field.
                    let v = next() >> (next() % 64);
                    for (k, byte) in v.to_le_bytes().iter().enumerate() {
                        if i + k < b.len() {
                            b[i + k] = *byte;
                        }
                    }
                }
            }
        }
        if next() % 4 == 0 {
            b.truncate((next() as usize) % (b.len() + 1));
        }
        let _ = GgufFile::from_vec(b);
        cases += 1;
    }
    eprintln!("{cases} mutated files parsed without a panic in {secs} s");
    assert!(cases > 0);
}
