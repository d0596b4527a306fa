//! Tokenizers built from GGUF metadata, matching llama.cpp token for token.
//!
//! - [`Vocab`]: token texts, scores, attributes, special ids, end-of-generation set.
//! - [`Tokenizer`]: `tokenize` / `token_to_piece` / `detokenize` for SentencePiece (`llama`)
//!   and byte-level BPE (`gpt2`) vocabularies, with special-token parsing.
//! - [`StreamDecoder`]: turns generated ids into text without splitting UTF-8 characters.
//! - [`ChatTemplate`]: renders `tokenizer.chat_template` (Jinja) for a conversation.

mod bpe;
pub mod chat_template;
mod pretokenize;
mod special;
mod spm;
mod stream;
mod unicode;
mod unicode_data;
mod vocab;

pub use chat_template::{ChatTemplate, Message};
pub use pretokenize::PreTokenizer;
pub use stream::StreamDecoder;
pub use vocab::{attr, Meta, TokenData, TokenId, TokenType, Vocab, VocabKind};

use crate::gguf::{GgufError, GgufFile};
use bpe::BpeMerges;
use special::{Fragment, SpecialTokens};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TokenizerError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("the model has no {0:?} metadata; it cannot be tokenized")]
    Missing(String),
    #[error("metadata key {key:?}: {problem}")]
    Metadata { key: String, problem: String },
    #[error("unsupported {0}")]
    Unsupported(String),
    #[error("chat template: {0}")]
    Template(String),
}

pub type Result<T> = std::result::Result<T, TokenizerError>;

enum Algo {
    Spm,
    Bpe {
        pre: PreTokenizer,
        merges: Box<BpeMerges>,
    },
}

/// A ready-to-use tokenizer for one model.
pub struct Tokenizer {
    vocab: Vocab,
    algo: Algo,
    special: SpecialTokens,
    /// `token_to_piece(id, true)` for every token, concatenated.
    pieces: Vec<u8>,
    piece_start: Vec<u32>,
}

const SPM_SPACE: &str = "\u{2581}";

impl Tokenizer {
    /// Build the tokenizer described by a GGUF file's `tokenizer.*` metadata.
    pub fn from_gguf(f: &GgufFile) -> Result<Tokenizer> {
        Tokenizer::new(Vocab::from_gguf(f)?)
    }

    pub fn new(vocab: Vocab) -> Result<Tokenizer> {
        let algo = match vocab.kind {
            VocabKind::Spm => Algo::Spm,
            VocabKind::Bpe => {
                let info = pretokenize::pre_info(&vocab.pre).ok_or_else(|| {
                    TokenizerError::Unsupported(format!("pre-tokenizer type {:?}", vocab.pre))
                })?;
                Algo::Bpe {
                    pre: PreTokenizer::new(info.ty)?,
                    merges: Box::new(BpeMerges::new(&vocab)),
                }
            }
        };
        let special = SpecialTokens::new(&vocab);
        let mut t = Tokenizer {
            vocab,
            algo,
            special,
            pieces: Vec::new(),
            piece_start: Vec::new(),
        };
        t.build_pieces();
        if t.vocab.kind == VocabKind::Bpe {
            t.vocab.nl = t
                .tokenize("\n", false, false)
                .first()
                .copied()
                .or(t.vocab.pad);
        }
        Ok(t)
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }
    pub fn n_tokens(&self) -> usize {
        self.vocab.n_tokens()
    }
    pub fn bos(&self) -> Option<TokenId> {
        self.vocab.bos
    }
    pub fn eos(&self) -> Option<TokenId> {
        self.vocab.eos
    }
    pub fn is_eog(&self, id: TokenId) -> bool {
        self.vocab.is_eog(id)
    }

    /// Token ids for `text`. `add_special` adds BOS/EOS as the model asks (`add_bos`,
    /// `add_eos`); `parse_special` turns control-token texts such as `<|im_start|>` into their
    /// ids (user-defined tokens are always recognized).
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<TokenId> {
        let v = &self.vocab;
        let frags = if self.special.is_empty() {
            if text.is_empty() {
                Vec::new()
            } else {
                vec![Fragment::Text(0, text.len())]
            }
        } else {
            self.special.partition(v, text, parse_special)
        };
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && v.add_bos {
            out.extend(v.bos);
        }
        match &self.algo {
            Algo::Spm => {
                let mut prev_special = true;
                let mut buf = String::new();
                for f in frags {
                    match f {
                        Fragment::Text(a, b) => {
                            buf.clear();
                            if v.add_space_prefix && prev_special {
                                buf.push_str(SPM_SPACE);
                            }
                            for c in text[a..b].chars() {
                                if c == ' ' {
                                    buf.push_str(SPM_SPACE);
                                } else {
                                    buf.push(c);
                                }
                            }
                            spm::tokenize(v, &buf, &mut out);
                            prev_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                    }
                }
            }
            Algo::Bpe { pre, merges } => {
                for f in frags {
                    match f {
                        Fragment::Text(a, b) => {
                            for word in pre.split(&text[a..b]) {
                                merges.tokenize_word(v, word.as_bytes(), &mut out);
                            }
                        }
                        Fragment::Token(id) => out.push(id),
                    }
                }
            }
        }
        if add_special && v.add_eos {
            out.extend(v.eos);
        }
        out
    }

    fn build_pieces(&mut self) {
        let v = &self.vocab;
        let mut pieces = Vec::with_capacity(v.n_tokens() * 6);
        let mut starts = Vec::with_capacity(v.n_tokens() + 1);
        for id in 0..v.n_tokens() as TokenId {
            starts.push(pieces.len() as u32);
            let a = v.attr(id);
            let text = v.text(id);
            if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
                pieces.extend_from_slice(text.as_bytes());
            } else if a & attr::NORMAL != 0 {
                match v.kind {
                    VocabKind::Spm => {
                        pieces.extend_from_slice(text.replace(SPM_SPACE, " ").as_bytes())
                    }
                    VocabKind::Bpe => decode_byte_level(text, &mut pieces),
                }
            } else if a & attr::BYTE != 0 {
                pieces.extend(v.token_to_byte(id));
            }
        }
        starts.push(pieces.len() as u32);
        self.pieces = pieces;
        self.piece_start = starts;
    }

    /// The bytes a token stands for. With `special == false`, control and unknown tokens give
    /// nothing; with `true`, their text. Out-of-range ids give nothing.
    pub fn token_to_piece(&self, id: TokenId, special: bool) -> &[u8] {
        let i = id as usize;
        if i >= self.vocab.n_tokens() {
            return &[];
        }
        if !special && self.vocab.attr(id) & (attr::UNKNOWN | attr::CONTROL) != 0 {
            return &[];
        }
        &self.pieces[self.piece_start[i] as usize..self.piece_start[i + 1] as usize]
    }

    /// Bytes for a sequence of ids, as llama.cpp's `llama_detokenize`: `remove_special` drops a
    /// leading BOS / trailing EOS the model adds itself; `unparse_special` renders control
    /// tokens as their text. May not be valid UTF-8 (use [`Tokenizer::decode`] for a string).
    pub fn detokenize(
        &self,
        ids: &[TokenId],
        remove_special: bool,
        unparse_special: bool,
    ) -> Vec<u8> {
        let v = &self.vocab;
        let mut ids = ids;
        let mut remove_space = v.add_space_prefix;
        if remove_special && v.add_bos && !ids.is_empty() && Some(ids[0]) == v.bos {
            remove_space = false;
            ids = &ids[1..];
        }
        if remove_special && v.add_eos && !ids.is_empty() && Some(ids[ids.len() - 1]) == v.eos {
            ids = &ids[..ids.len() - 1];
        }
        let mut text = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            let mut p = self.token_to_piece(id, unparse_special);
            if remove_space {
                if let Some(rest) = p.strip_prefix(b" ") {
                    p = rest;
                }
                remove_space = false;
            }
            text.extend_from_slice(p);
        }
        if v.clean_spaces {
            clean_spaces(&mut text);
        }
        text
    }

    /// [`Tokenizer::detokenize`] as a string, invalid UTF-8 replaced.
    pub fn decode(&self, ids: &[TokenId], remove_special: bool, unparse_special: bool) -> String {
        String::from_utf8_lossy(&self.detokenize(ids, remove_special, unparse_special)).into_owned()
    }
}

/// Undo the GPT-2 byte-level encoding of a token's text; characters outside the mapping are
/// spelled `[UNK_BYTE_0x..]` as llama.cpp does.
fn decode_byte_level(text: &str, out: &mut Vec<u8>) {
    for c in text.chars() {
        match unicode::char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                for b in c.encode_utf8(&mut [0; 4]).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text.as_bytes());
                out.push(b']');
            }
        }
    }
}

/// llama.cpp's `clean_spaces` post-processing: " ?" " !" " ." " ," lose the space, a lone
/// apostrophe between spaces loses both, and " 's" " 'm" " 're" " 've" lose the space.
fn clean_spaces(t: &mut Vec<u8>) {
    // Pass 1.
    let n = t.len();
    let mut total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        t[total] = x;
        total += 1;
    }
    // Pass 2.
    let n = total;
    total = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = t[i];
        if x == b'\'' && i + 1 < n && t[i - 1] == b' ' && t[i + 1] == b' ' {
            total -= 1;
            i += 1;
            t[i] = 0;
        }
        t[total] = x;
        total += 1;
        i += 1;
    }
    // Pass 3.
    let n = total;
    total = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = t[i + 1];
            if x1 == b's' || x1 == b'm' {
                total -= 1;
            } else if i + 2 < n {
                let x2 = t[i + 2];
                if x2 == b'e' && (x1 == b'r' || x1 == b'v') {
                    total -= 1;
                }
            }
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
}

#[cfg(test)]
mod tests;
