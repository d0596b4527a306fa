//! Code point classification and the GPT-2 byte <-> unicode mapping.
//!
//! The categories are the coarse ones llama.cpp's pre-tokenizers test (`\p{L}`, `\p{N}`, ...),
//! and "whitespace" is the Unicode `White_Space` set, exactly as llama.cpp defines them.

use super::unicode_data::RANGES;
use std::sync::OnceLock;

/// Coarse general category of a code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cat {
    /// Unassigned (Cn).
    Undefined,
    /// `\p{N}`
    Number,
    /// `\p{L}`
    Letter,
    /// `\p{Z}`
    Separator,
    /// `\p{M}`
    Mark,
    /// `\p{P}`
    Punct,
    /// `\p{S}`
    Symbol,
    /// `\p{C}` other than unassigned: controls, format characters (ZWJ), surrogates, private use.
    Control,
}

/// Category plus the whitespace bit for one code point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags {
    pub cat: Cat,
    pub ws: bool,
}

impl Flags {
    pub fn is_letter(self) -> bool {
        self.cat == Cat::Letter
    }
    pub fn is_number(self) -> bool {
        self.cat == Cat::Number
    }
}

pub fn is_whitespace(c: u32) -> bool {
    matches!(
        c,
        0x09..=0x0D | 0x20 | 0x85 | 0xA0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000
    )
}

fn ascii_table() -> &'static [Cat; 128] {
    static T: OnceLock<[Cat; 128]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = [Cat::Undefined; 128];
        for (c, slot) in t.iter_mut().enumerate() {
            *slot = lookup(c as u32);
        }
        t
    })
}

fn lookup(c: u32) -> Cat {
    // Last range whose start is <= c.
    let i = RANGES.partition_point(|&(start, _)| start <= c);
    if i == 0 {
        Cat::Undefined
    } else {
        RANGES[i - 1].1
    }
}

pub fn category(c: u32) -> Cat {
    if c < 128 {
        ascii_table()[c as usize]
    } else if c > 0x10FFFF {
        Cat::Undefined
    } else {
        lookup(c)
    }
}

pub fn flags(c: char) -> Flags {
    let c = c as u32;
    Flags {
        cat: category(c),
        ws: is_whitespace(c),
    }
}

/// GPT-2's reversible byte -> printable character table.
pub fn byte_to_char_table() -> &'static [char; 256] {
    static T: OnceLock<[char; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = ['\0'; 256];
        let mut assigned = [false; 256];
        for b in (0x21..=0x7Eu32).chain(0xA1..=0xAC).chain(0xAE..=0xFF) {
            t[b as usize] = char::from_u32(b).unwrap();
            assigned[b as usize] = true;
        }
        let mut n = 0;
        for b in 0..256 {
            if !assigned[b] {
                t[b] = char::from_u32(256 + n).unwrap();
                n += 1;
            }
        }
        t
    })
}

/// Inverse of [`byte_to_char_table`]; `None` for characters outside it.
pub fn char_to_byte(c: char) -> Option<u8> {
    static T: OnceLock<[Option<u8>; 0x144]> = OnceLock::new();
    let t = T.get_or_init(|| {
        let mut inv = [None; 0x144];
        for (b, &c) in byte_to_char_table().iter().enumerate() {
            inv[c as usize] = Some(b as u8);
        }
        inv
    });
    t.get(c as usize).copied().flatten()
}

/// Map raw bytes to their GPT-2 byte-level representation.
pub fn bytes_to_unicode(bytes: &[u8], out: &mut String) {
    let t = byte_to_char_table();
    for &b in bytes {
        out.push(t[b as usize]);
    }
}
