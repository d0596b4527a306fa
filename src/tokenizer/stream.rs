//! Incremental detokenization for streaming generated text.

use super::{TokenId, Tokenizer};

/// Turns token ids into text as they are generated. A character whose UTF-8 bytes span several
/// tokens (byte-fallback tokens, emoji split by BPE) is held back until complete, so every
/// returned string is whole characters. Bytes that can never form a character are replaced by
/// U+FFFD.
///
/// The decoder does not borrow the tokenizer, so it can live next to it in a struct.
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    special: bool,
}

impl StreamDecoder {
    /// `special`: render control tokens (e.g. `<|im_end|>`) as text instead of dropping them.
    pub fn new(special: bool) -> StreamDecoder {
        StreamDecoder {
            pending: Vec::new(),
            special,
        }
    }

    /// Feed one token; returns the text that is now complete (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: TokenId) -> String {
        let piece = tokenizer.token_to_piece(id, self.special);
        self.push_bytes(piece)
    }

    /// Feed raw bytes; returns the text that is now complete.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(std::str::from_utf8(&rest[..valid]).expect("validated"));
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            rest = &rest[valid + bad..];
                        }
                        None => {
                            // An incomplete character at the end: wait for more bytes.
                            rest = &rest[valid..];
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let start = self.pending.len() - keep;
        self.pending.drain(..start);
        out
    }

    /// Bytes held back for an incomplete character.
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    /// End of stream: whatever is held back, invalid bytes replaced by U+FFFD.
    pub fn flush(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }
}
