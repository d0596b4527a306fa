//! Damaged and foreign files give a clear, typed error: never a panic, never an allocation much
//! larger than the file. Truncation at every byte, bit flips in every byte, crafted sections
//! with valid checksums, other models, other context sizes, newer versions, non-sessions.

mod session_common;

use hearth::context::Context;
use hearth::model::{Model, Outputs};
use hearth::sampling::{Sampler, SamplerSettings};
use hearth::session::{
    self, read_header_from, read_session_from, write_session, Session, SessionData, SessionError,
    Transcript, MAGIC, PREAMBLE_LEN, SECTION_HEADER_LEN, SECTION_TRAILER_LEN,
};
use session_common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Cursor;

/// Records the largest single allocation of the current thread.
struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(l.size())));
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|m| m.set(m.get().max(n)));
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Parses `bytes` as a whole session, checking that no allocation exceeded what the file
/// could justify (its size twice over, plus the 1 MiB read buffer slack).
fn parse(bytes: &[u8]) -> Result<Session, SessionError> {
    LARGEST.with(|m| m.set(0));
    let r = read_session_from(Cursor::new(bytes), bytes.len() as u64, true);
    let largest = LARGEST.with(|m| m.get());
    assert!(
        largest <= 2 * bytes.len() + (1 << 16),
        "an allocation of {largest} bytes for a file of {}",
        bytes.len()
    );
    // The cheap header read must agree on format errors in the preamble and header.
    let _ = read_header_from(Cursor::new(bytes), bytes.len() as u64);
    r
}

/// A small session of the tiny model with every kind of section (guidance and sampler too).
fn tiny_file(model: &Model) -> Vec<u8> {
    let p = params(64);
    let mut ctx = Context::new(model, p).unwrap();
    ctx.eval(model, &[1, 5, 9, 14, 3], Outputs::Last, |_, _| {})
        .unwrap();
    let mut g = Context::new(model, p).unwrap();
    g.eval(model, &[1, 7], Outputs::Last, |_, _| {}).unwrap();
    let eog: Vec<u32> = vec![2];
    let s = Sampler::new(SamplerSettings::default(), TINY_VOCAB, &eog, None).unwrap();
    let tr = transcript();
    let mut d = SessionData::new(model, &ctx, &tr);
    d.sampler = Some(&s);
    d.guidance = Some(&g);
    d.created_ms = Some(1);
    d.saved_ms = Some(2);
    let mut out = Vec::new();
    write_session(&mut out, &d).unwrap();
    out
}

/// `(start, header end, payload end, end)` of each section.
fn sections(b: &[u8]) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = PREAMBLE_LEN as usize;
    while pos < b.len() {
        let len = u64::from_le_bytes(b[pos + 8..pos + 16].try_into().unwrap()) as usize;
        let h = pos + SECTION_HEADER_LEN as usize;
        out.push((pos, h, h + len, h + len + SECTION_TRAILER_LEN as usize));
        pos = h + len + SECTION_TRAILER_LEN as usize;
    }
    assert_eq!(pos, b.len());
    out
}

/// Rewrites the checksum of the section starting at `start` (after a deliberate edit).
fn reseal(b: &mut [u8], start: usize) {
    let len = u64::from_le_bytes(b[start + 8..start + 16].try_into().unwrap()) as usize;
    let end = start + SECTION_HEADER_LEN as usize + len;
    let sum = xxhash_rust::xxh3::xxh3_64(&b[start..end]);
    b[end..end + 8].copy_from_slice(&sum.to_le_bytes());
}

fn section_start(b: &[u8], tag: &[u8; 4], ctx: u32) -> usize {
    sections(b)
        .into_iter()
        .find(|s| &b[s.0..s.0 + 4] == tag && b[s.0 + 4..s.0 + 8] == ctx.to_le_bytes())
        .map(|s| s.0)
        .unwrap()
}

fn kind(e: &SessionError) -> &'static str {
    match e {
        SessionError::Empty => "empty",
        SessionError::NotASession { .. } => "not a session",
        SessionError::NewerVersion { .. } => "newer",
        SessionError::BadVersion { .. } => "bad version",
        SessionError::Truncated { .. } => "truncated",
        SessionError::Checksum { .. } => "checksum",
        SessionError::Corrupt { .. } => "corrupt",
        _ => "other",
    }
}

#[test]
fn intact_file_reads_back() {
    let model = tiny_model(0);
    let b = tiny_file(&model);
    let s = parse(&b).unwrap();
    assert_eq!(s.context.tokens, [1, 5, 9, 14, 3]);
    assert_eq!(s.guidance.as_ref().unwrap().tokens, [1, 7]);
    assert!(s.sampler.is_some());
    assert_eq!(s.transcript, transcript());
    assert_eq!(sections(&b).len(), 9);
}

#[test]
fn truncation_at_every_byte() {
    let model = tiny_model(0);
    let b = tiny_file(&model);
    let bounds: Vec<usize> = sections(&b).iter().map(|s| s.3).collect();
    for n in 0..b.len() {
        let e = parse(&b[..n])
            .err()
            .unwrap_or_else(|| panic!("truncated to {n}: accepted"));
        let want = if n == 0 { "empty" } else { "truncated" };
        assert_eq!(kind(&e), want, "truncated to {n} bytes: {e}");
        if bounds.contains(&n) {
            assert!(e.to_string().contains("truncated"), "{e}");
        }
    }
}

#[test]
fn truncation_of_a_real_model_session() {
    let model = smollm();
    let p = params(256);
    let mut ctx = Context::new(&model, p).unwrap();
    ctx.eval(&model, &[1, 2, 3, 4, 5, 6, 7, 8], Outputs::Last, |_, _| {})
        .unwrap();
    let tr = Transcript::default();
    let mut b = Vec::new();
    write_session(&mut b, &SessionData::new(&model, &ctx, &tr)).unwrap();
    parse(&b).unwrap();
    let mut cuts: Vec<usize> = sections(&b)
        .iter()
        .flat_map(|s| [s.0, s.1, s.1 + 1, s.2, s.3 - 1])
        .filter(|&n| n < b.len())
        .collect();
    let mut x = 0x9e3779b97f4a7c15u64;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cuts.push((x % b.len() as u64) as usize);
    }
    for n in cuts {
        let e = parse(&b[..n]).err().unwrap();
        assert!(
            matches!(e, SessionError::Truncated { .. } | SessionError::Empty),
            "{n}: {e}"
        );
    }
    // A flipped bit in the middle of the KV rows.
    let kv = section_start(&b, b"KVCA", 0);
    b[kv + 5000] ^= 0x10;
    let e = parse(&b).err().unwrap();
    assert!(
        matches!(&e, SessionError::Checksum { section, .. } if section == "KVCA"),
        "{e}"
    );
}

#[test]
fn bit_flips_in_every_byte() {
    let model = tiny_model(0);
    let b = tiny_file(&model);
    let secs = sections(&b);
    for i in 0..b.len() {
        for bit in [0x01u8, 0x80] {
            let mut c = b.clone();
            c[i] ^= bit;
            let e = parse(&c)
                .err()
                .unwrap_or_else(|| panic!("flip {bit:#x} at {i}: accepted"));
            let k = kind(&e);
            let ok: &[&str] = if i < 8 {
                &["not a session"]
            } else if i < 12 {
                &["newer", "bad version"]
            } else if i < 16 {
                &["truncated", "corrupt"]
            } else {
                let s = secs.iter().find(|s| i >= s.0 && i < s.3).unwrap();
                if i >= s.0 + 8 && i < s.1 {
                    // The length: the section seems to run past the end, or the checksum is
                    // read from the wrong place.
                    &["truncated", "checksum"]
                } else {
                    &["checksum"]
                }
            };
            assert!(ok.contains(&k), "flip {bit:#x} at {i}: {k}: {e}");
        }
    }
}

#[test]
fn crafted_sections_with_valid_checksums() {
    let model = tiny_model(0);
    let b = tiny_file(&model);

    // Huge counts: token count, layer rows, logits, string length.
    let cases: Vec<(&[u8; 4], u32, usize, u32)> = vec![
        (b"TOKS", 0, 0, u32::MAX),
        (b"KVCA", 0, 0, u32::MAX),
        (b"KVCA", 0, 4 + 8, u32::MAX), // rows of layer 0
        (b"KVCA", 0, 4, 1 << 30),      // row size of layer 0
        (b"LGTS", 0, 0, u32::MAX),
        (b"HEAD", 0, 16 + 8 + 8 + 4 * 10, 1 << 31), // the model name's length
    ];
    for (tag, ctx, off, val) in cases {
        let mut c = b.clone();
        let s = section_start(&c, tag, ctx);
        let at = s + SECTION_HEADER_LEN as usize + off;
        c[at..at + 4].copy_from_slice(&val.to_le_bytes());
        reseal(&mut c, s);
        let e = parse(&c).err().unwrap();
        assert!(
            matches!(e, SessionError::Corrupt { .. }),
            "{} @{off} = {val}: {e}",
            String::from_utf8_lossy(tag)
        );
    }

    // A token count that disagrees with the header.
    let mut c = b.clone();
    let s = section_start(&c, b"HEAD", 0);
    let at = s + SECTION_HEADER_LEN as usize + 16 + 8 + 8 + 4 * 6;
    c[at..at + 4].copy_from_slice(&4u32.to_le_bytes());
    reseal(&mut c, s);
    assert!(matches!(
        parse(&c).err().unwrap(),
        SessionError::Corrupt { .. }
    ));

    // An unknown required section, and an unknown optional one (skipped).
    for (tag, ok) in [(*b"XTRA", false), (*b"xtra", true)] {
        let mut c = b.clone();
        let s = section_start(&c, b"SAMP", 0);
        c[s..s + 4].copy_from_slice(&tag);
        reseal(&mut c, s);
        assert_eq!(parse(&c).is_ok(), ok, "{}", String::from_utf8_lossy(&tag));
    }

    // A missing section (the section count adjusted), and a duplicated one.
    let secs = sections(&b);
    let chat = secs.iter().find(|s| &b[s.0..s.0 + 4] == b"CHAT").unwrap();
    let mut c = b[..chat.0].to_vec();
    c[12..16].copy_from_slice(&(secs.len() as u32 - 1).to_le_bytes());
    let e = parse(&c).err().unwrap();
    assert!(
        matches!(&e, SessionError::Corrupt { problem, .. } if problem.contains("missing")),
        "{e}"
    );
    let mut c = b.clone();
    c.extend_from_slice(&b[chat.0..chat.3]);
    c[12..16].copy_from_slice(&(secs.len() as u32 + 1).to_le_bytes());
    let e = parse(&c).err().unwrap();
    assert!(
        matches!(&e, SessionError::Corrupt { problem, .. } if problem.contains("twice")),
        "{e}"
    );

    // Trailing garbage.
    let mut c = b.clone();
    c.extend_from_slice(b"garbage");
    assert!(matches!(
        parse(&c).err().unwrap(),
        SessionError::Corrupt { .. }
    ));

    // Invalid JSON in the transcript.
    let mut c = b.clone();
    let s = section_start(&c, b"CHAT", 0);
    c[s + SECTION_HEADER_LEN as usize] = b'!';
    reseal(&mut c, s);
    let e = parse(&c).err().unwrap();
    assert!(
        matches!(&e, SessionError::Corrupt { section, .. } if section == "CHAT"),
        "{e}"
    );
}

#[test]
fn versions_magic_and_empty_files() {
    let model = tiny_model(0);
    let b = tiny_file(&model);
    let mut c = b.clone();
    c[8..12].copy_from_slice(&2u32.to_le_bytes());
    let e = parse(&c).err().unwrap();
    assert!(
        matches!(
            e,
            SessionError::NewerVersion {
                found: 2,
                supported: 1
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("update hearth"));
    c[8..12].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        parse(&c).err().unwrap(),
        SessionError::BadVersion { found: 0, .. }
    ));

    assert!(matches!(parse(&[]).err().unwrap(), SessionError::Empty));
    for junk in [
        &b"hello, world\n"[..],
        b"GGUF\x03\0\0\0",
        b"X",
        b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
    ] {
        let e = parse(junk).err().unwrap();
        assert!(
            matches!(e, SessionError::NotASession { .. }),
            "{junk:?}: {e}"
        );
    }
    // The start of the magic alone is a truncated session, not a foreign file.
    let e = parse(&MAGIC[..5]).err().unwrap();
    assert!(matches!(e, SessionError::Truncated { .. }), "{e}");
    // A real GGUF file is not a session.
    let g = tiny_gguf(0);
    assert!(matches!(
        parse(&g).err().unwrap(),
        SessionError::NotASession { .. }
    ));
}

#[test]
fn other_model_other_context_and_forged_fingerprint() {
    let model = tiny_model(0);
    let tok = tiny_tokenizer(&model);
    let dir = scratch("corrupt-foreign");
    let path = dir.join("s.hsession");
    std::fs::write(&path, tiny_file(&model)).unwrap();
    session::load(&path, &model, &tok, &params(64)).unwrap();

    let other = tiny_model(1);
    let e = session::load(&path, &other, &tiny_tokenizer(&other), &params(64))
        .err()
        .unwrap();
    assert!(matches!(e, SessionError::ModelMismatch { .. }), "{e}");
    let e = session::load(&path, &model, &tok, &params(128))
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            SessionError::ContextSizeMismatch {
                saved: 64,
                current: 128
            }
        ),
        "{e}"
    );
    let mut rp = params(64);
    rp.rope_freq_scale = Some(0.5);
    let e = session::load(&path, &model, &tok, &rp).err().unwrap();
    assert!(matches!(e, SessionError::RopeMismatch { .. }), "{e}");

    // A forged fingerprint (checksum fixed up) is caught by the model check.
    let mut c = std::fs::read(&path).unwrap();
    let s = section_start(&c, b"HEAD", 0);
    c[s + SECTION_HEADER_LEN as usize] ^= 0xff;
    reseal(&mut c, s);
    std::fs::write(&path, &c).unwrap();
    let e = session::load(&path, &model, &tok, &params(64))
        .err()
        .unwrap();
    assert!(matches!(e, SessionError::ModelMismatch { .. }), "{e}");

    // Damaged files through the path API name the problem too.
    std::fs::write(&path, b"").unwrap();
    let e = session::load(&path, &model, &tok, &params(64))
        .err()
        .unwrap();
    assert_eq!(e.to_string(), "the session file is empty");
    let e = session::load(&dir.join("missing"), &model, &tok, &params(64))
        .err()
        .unwrap();
    assert!(matches!(e, SessionError::Io { .. }), "{e}");
}
