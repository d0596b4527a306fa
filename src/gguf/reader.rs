//! A bounds-checked little-endian cursor over the file's bytes. Every read says what it was
//! reading, so a truncated file gets an error that names the field.

use super::error::{GgufError, Result};
use super::value::Value;

/// Nested arrays deeper than this are rejected.
pub const MAX_ARRAY_DEPTH: usize = 8;

pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }
    pub fn pos(&self) -> usize {
        self.pos
    }
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                what: what.to_string(),
                offset: self.pos,
                needed: n,
                len: self.buf.len(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.bytes(N, what)?.try_into().expect("length checked"))
    }
    pub fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count that precedes `count` items of at least `min_item_size` bytes each: rejected
    /// when the rest of the file could not possibly hold them (no huge allocations).
    pub fn count(&mut self, what: &str, min_item_size: usize) -> Result<usize> {
        let offset = self.pos;
        let count = self.u64(what)?;
        let fits = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(min_item_size.max(1)))
            .is_some_and(|bytes| bytes <= self.remaining());
        if !fits {
            return Err(GgufError::AbsurdCount {
                what: what.to_string(),
                count,
                offset,
                len: self.buf.len(),
            });
        }
        Ok(count as usize)
    }

    pub fn string(&mut self, what: &str) -> Result<String> {
        let len = self.count(&format!("{what} length"), 1)?;
        let offset = self.pos;
        let b = self.bytes(len, what)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(GgufError::BadUtf8 { offset }),
        }
    }

    /// One metadata value of GGUF type `ty`.
    pub fn value(&mut self, key: &str, ty: u32, depth: usize) -> Result<Value> {
        let what = format!("value of {key:?}");
        let w = what.as_str();
        Ok(match ty {
            0 => Value::U8(self.u8(w)?),
            1 => Value::I8(self.u8(w)? as i8),
            2 => Value::U16(self.u16(w)?),
            3 => Value::I16(self.u16(w)? as i16),
            4 => Value::U32(self.u32(w)?),
            5 => Value::I32(self.u32(w)? as i32),
            6 => Value::F32(f32::from_bits(self.u32(w)?)),
            7 => match self.u8(w)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(GgufError::BadMetadata {
                        key: key.to_string(),
                        problem: format!("boolean byte is {b}, expected 0 or 1"),
                    })
                }
            },
            8 => Value::String(self.string(w)?),
            9 => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::TooDeep(MAX_ARRAY_DEPTH));
                }
                let elem_ty = self.u32(w)?;
                let min = min_value_size(elem_ty).ok_or_else(|| GgufError::UnknownValueType {
                    key: key.to_string(),
                    ty: elem_ty,
                })?;
                let n = self.count(&format!("array {key:?} element"), min)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(key, elem_ty, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(w)?),
            11 => Value::I64(self.u64(w)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(w)?)),
            _ => {
                return Err(GgufError::UnknownValueType {
                    key: key.to_string(),
                    ty,
                })
            }
        })
    }
}

/// The fewest bytes a value of GGUF type `ty` can take, `None` for unknown types.
fn min_value_size(ty: u32) -> Option<usize> {
    Some(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4 | 5 | 6 => 4,
        8 => 8,
        9 => 12,
        10..=12 => 8,
        _ => return None,
    })
}
