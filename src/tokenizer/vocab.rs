//! The vocabulary: token texts, scores, attributes, special ids and flags, read from GGUF
//! metadata with llama.cpp's defaults and fix-ups.

use super::TokenizerError;
use crate::gguf::{GgufFile, Value};
use std::collections::{HashMap, HashSet};

/// Token id.
pub type TokenId = u32;

/// `tokenizer.ggml.token_type` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    pub fn from_i64(v: i64) -> TokenType {
        match v {
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => TokenType::Undefined,
        }
    }
}

/// Token attribute bits (llama.cpp's `llama_token_attr`). A token can carry several, e.g. a
/// normal token that the loader promotes to control because it ends generation.
pub mod attr {
    pub const UNDEFINED: u32 = 0;
    pub const UNKNOWN: u32 = 1 << 0;
    pub const UNUSED: u32 = 1 << 1;
    pub const NORMAL: u32 = 1 << 2;
    pub const CONTROL: u32 = 1 << 3;
    pub const USER_DEFINED: u32 = 1 << 4;
    pub const BYTE: u32 = 1 << 5;
    pub const NORMALIZED: u32 = 1 << 6;
    pub const LSTRIP: u32 = 1 << 7;
    pub const RSTRIP: u32 = 1 << 8;
    pub const SINGLE_WORD: u32 = 1 << 9;
}

/// Which tokenizer algorithm the vocabulary uses (`tokenizer.ggml.model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabKind {
    /// SentencePiece (`llama`).
    Spm,
    /// Byte-level BPE (`gpt2`).
    Bpe,
}

#[derive(Clone, Debug)]
pub struct TokenData {
    pub text: String,
    pub score: f32,
    pub attr: u32,
}

/// A model's vocabulary.
#[derive(Clone, Debug)]
pub struct Vocab {
    pub kind: VocabKind,
    /// `tokenizer.ggml.pre` as written (empty when absent).
    pub pre: String,
    pub tokens: Vec<TokenData>,
    pub(super) token_to_id: HashMap<String, TokenId>,
    /// BPE merges, in rank order, as (left, right).
    pub merges: Vec<(String, String)>,
    pub bos: Option<TokenId>,
    pub eos: Option<TokenId>,
    pub eot: Option<TokenId>,
    pub eom: Option<TokenId>,
    pub unk: Option<TokenId>,
    pub pad: Option<TokenId>,
    pub sep: Option<TokenId>,
    pub mask: Option<TokenId>,
    /// Fill-in-the-middle markers: prefix, suffix, middle, pad, repo, file separator.
    pub fim: [Option<TokenId>; 6],
    /// The token for "\n" (set by the tokenizer once it can tokenize).
    pub nl: Option<TokenId>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    /// Detokenizer: drop spaces before punctuation and some contractions (BPE).
    pub clean_spaces: bool,
    /// BPE: a whole word that is a token is not merged (Llama 3).
    pub ignore_merges: bool,
    eog: HashSet<TokenId>,
    eog_sorted: Vec<TokenId>,
}

/// Token texts that end a turn, as llama.cpp's loader lists them.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
];

/// Fill-in-the-middle marker texts, in the order of `Vocab::fim`.
const FIM_TEXTS: [&[&str]; 6] = [
    &[
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
        "<|prefix|>",
    ],
    &[
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
        "<|suffix|>",
    ],
    &[
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
        "<|middle|>",
    ],
    &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
    &[
        "<|fim_repo|>",
        "<|repo_name|>",
        "<fim-repo>",
        "<REPO>",
        "<reponame>",
    ],
    &["<|file_sep|>"],
];

/// Candidates for the end-of-turn id when the metadata names none, in preference order.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];

fn bad(key: &str, problem: impl Into<String>) -> TokenizerError {
    TokenizerError::Metadata {
        key: key.to_string(),
        problem: problem.into(),
    }
}

fn array<'a>(f: &'a GgufFile, key: &str) -> Result<Option<&'a [Value]>, TokenizerError> {
    match f.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_array()
            .map(Some)
            .ok_or_else(|| bad(key, format!("expected an array, found {}", v.type_name()))),
    }
}

impl Vocab {
    /// Read the vocabulary from `tokenizer.*` metadata.
    pub fn from_gguf(f: &GgufFile) -> Result<Vocab, TokenizerError> {
        let model = f
            .get_str("tokenizer.ggml.model")?
            .ok_or_else(|| TokenizerError::Missing("tokenizer.ggml.model".into()))?;
        let pre = f.get_str("tokenizer.ggml.pre")?.unwrap_or("").to_string();

        let key = "tokenizer.ggml.tokens";
        let list = array(f, key)?.ok_or_else(|| TokenizerError::Missing(key.into()))?;
        let mut texts = Vec::with_capacity(list.len());
        for v in list {
            texts.push(
                v.as_str()
                    .ok_or_else(|| bad(key, "expected an array of strings"))?
                    .to_string(),
            );
        }
        let n = texts.len();

        let key = "tokenizer.ggml.scores";
        let scores = match array(f, key)? {
            None => None,
            Some(a) => {
                if a.len() < n {
                    return Err(bad(key, format!("{} scores for {n} tokens", a.len())));
                }
                let s: Option<Vec<f32>> = a[..n]
                    .iter()
                    .map(|v| v.as_f64().map(|x| x as f32))
                    .collect();
                Some(s.ok_or_else(|| bad(key, "expected numbers"))?)
            }
        };
        let key = "tokenizer.ggml.token_type";
        let types = match array(f, key)? {
            None => None,
            Some(a) => {
                if a.len() < n {
                    return Err(bad(key, format!("{} token types for {n} tokens", a.len())));
                }
                let t: Option<Vec<TokenType>> = a[..n]
                    .iter()
                    .map(|v| v.as_i64().map(TokenType::from_i64))
                    .collect();
                Some(t.ok_or_else(|| bad(key, "expected integers"))?)
            }
        };
        let key = "tokenizer.ggml.merges";
        let mut merges = Vec::new();
        if let Some(a) = array(f, key)? {
            merges.reserve(a.len());
            for v in a {
                let s = v
                    .as_str()
                    .ok_or_else(|| bad(key, "expected an array of strings"))?;
                merges.push(split_merge(s));
            }
        }

        let get_id = |key: &str| -> Result<Option<u64>, TokenizerError> { Ok(f.get_u64(key)?) };
        let get_bool = |key: &str| -> Result<Option<bool>, TokenizerError> { Ok(f.get_bool(key)?) };

        let meta = Meta {
            bos: get_id("tokenizer.ggml.bos_token_id")?,
            eos: get_id("tokenizer.ggml.eos_token_id")?,
            eot: get_id("tokenizer.ggml.eot_token_id")?,
            eom: get_id("tokenizer.ggml.eom_token_id")?,
            unk: get_id("tokenizer.ggml.unknown_token_id")?,
            sep: get_id("tokenizer.ggml.seperator_token_id")?
                .or(get_id("tokenizer.ggml.separator_token_id")?),
            pad: get_id("tokenizer.ggml.padding_token_id")?,
            mask: get_id("tokenizer.ggml.mask_token_id")?,
            fim: [
                get_id("tokenizer.ggml.fim_pre_token_id")?
                    .or(get_id("tokenizer.ggml.prefix_token_id")?),
                get_id("tokenizer.ggml.fim_suf_token_id")?
                    .or(get_id("tokenizer.ggml.suffix_token_id")?),
                get_id("tokenizer.ggml.fim_mid_token_id")?
                    .or(get_id("tokenizer.ggml.middle_token_id")?),
                get_id("tokenizer.ggml.fim_pad_token_id")?,
                get_id("tokenizer.ggml.fim_rep_token_id")?,
                get_id("tokenizer.ggml.fim_sep_token_id")?,
            ],
            add_bos: get_bool("tokenizer.ggml.add_bos_token")?,
            add_eos: get_bool("tokenizer.ggml.add_eos_token")?,
            add_space_prefix: get_bool("tokenizer.ggml.add_space_prefix")?,
        };
        Vocab::build(model, &pre, texts, scores, types, merges, meta)
    }

    /// Build a vocabulary from its parts (what `from_gguf` reads).
    pub fn build(
        model: &str,
        pre: &str,
        texts: Vec<String>,
        scores: Option<Vec<f32>>,
        types: Option<Vec<TokenType>>,
        merges: Vec<(String, String)>,
        meta: Meta,
    ) -> Result<Vocab, TokenizerError> {
        let kind = match model {
            "llama" => VocabKind::Spm,
            "gpt2" => VocabKind::Bpe,
            other => {
                return Err(TokenizerError::Unsupported(format!(
                    "tokenizer model {other:?} (supported: llama, gpt2)"
                )))
            }
        };
        let n = texts.len();
        if n == 0 {
            return Err(bad("tokenizer.ggml.tokens", "empty vocabulary"));
        }
        if n > u32::MAX as usize / 2 {
            return Err(bad("tokenizer.ggml.tokens", "too many tokens"));
        }

        // Family defaults, then metadata.
        let (mut bos, mut eos, mut unk) = match kind {
            VocabKind::Spm => (Some(1), Some(2), Some(0)),
            VocabKind::Bpe => (Some(11), Some(11), None),
        };
        let (mut add_bos, mut add_space_prefix, mut clean_spaces, mut ignore_merges) = match kind {
            VocabKind::Spm => (true, true, false, false),
            VocabKind::Bpe => (false, false, true, false),
        };
        if kind == VocabKind::Bpe {
            let info = super::pretokenize::pre_info(pre).ok_or_else(|| {
                TokenizerError::Unsupported(format!("pre-tokenizer type {pre:?}"))
            })?;
            clean_spaces = info.clean_spaces;
            ignore_merges = info.ignore_merges;
            add_bos = add_bos || info.add_bos;
        }
        if let Some(v) = meta.add_space_prefix {
            add_space_prefix = v;
        }

        let mut tokens = Vec::with_capacity(n);
        let mut token_to_id = HashMap::with_capacity(n);
        for (i, mut text) in texts.into_iter().enumerate() {
            if text.is_empty() {
                text = format!("[EMPTY_{i}]");
            }
            token_to_id.insert(text.clone(), i as TokenId);
            let attr = match types.as_ref().map(|t| t[i]) {
                None | Some(TokenType::Normal) => attr::NORMAL,
                Some(TokenType::Unknown) => attr::UNKNOWN,
                Some(TokenType::Control) => attr::CONTROL,
                Some(TokenType::UserDefined) => attr::USER_DEFINED,
                Some(TokenType::Unused) => attr::UNUSED,
                Some(TokenType::Byte) => attr::BYTE,
                Some(TokenType::Undefined) => attr::UNDEFINED,
            };
            tokens.push(TokenData {
                text,
                score: scores.as_ref().map_or(0.0, |s| s[i]),
                attr,
            });
        }

        let in_range = |id: Option<TokenId>| id.filter(|&i| (i as usize) < n);
        let set = |slot: &mut Option<TokenId>, v: Option<u64>| {
            *slot = in_range(*slot);
            if let Some(v) = v {
                if (v as usize) < n {
                    *slot = Some(v as TokenId);
                }
            }
        };
        set(&mut bos, meta.bos);
        set(&mut eos, meta.eos);
        set(&mut unk, meta.unk);
        let (mut eot, mut eom, mut sep, mut pad, mut mask) = (None, None, None, None, None);
        set(&mut eot, meta.eot);
        set(&mut eom, meta.eom);
        set(&mut sep, meta.sep);
        set(&mut pad, meta.pad);
        set(&mut mask, meta.mask);
        let mut fim = [None; 6];
        for (slot, v) in fim.iter_mut().zip(meta.fim) {
            set(slot, v);
        }
        if let Some(v) = meta.add_bos {
            add_bos = v;
        }
        let add_eos = meta.add_eos.unwrap_or(false);

        let mut v = Vocab {
            kind,
            pre: pre.to_string(),
            tokens,
            token_to_id,
            merges,
            bos,
            eos,
            eot,
            eom,
            unk,
            pad,
            sep,
            mask,
            fim,
            nl: None,
            add_bos,
            add_eos,
            add_space_prefix,
            clean_spaces,
            ignore_merges,
            eog: HashSet::new(),
            eog_sorted: Vec::new(),
        };
        v.detect_special();
        if kind == VocabKind::Spm {
            v.nl = v.byte_to_token(b'\n').or(v.pad);
        }
        Ok(v)
    }

    /// End-of-turn, end-of-generation and "unused" detection by token text.
    fn detect_special(&mut self) {
        let promote = |tokens: &mut [TokenData], id: TokenId| {
            tokens[id as usize].attr |= attr::CONTROL;
        };
        if self.eot.is_none() {
            if let Some(id) = EOT_TEXTS.iter().find_map(|t| self.text_to_token(t)) {
                self.eot = Some(id);
                promote(&mut self.tokens, id);
            }
        }
        if self.eom.is_none() {
            if let Some(id) = self.text_to_token("<|eom_id|>") {
                self.eom = Some(id);
                promote(&mut self.tokens, id);
            }
        }
        for (slot, texts) in self.fim.iter_mut().zip(FIM_TEXTS) {
            if slot.is_none() {
                if let Some(id) = texts.iter().find_map(|t| self.token_to_id.get(*t).copied()) {
                    *slot = Some(id);
                    self.tokens[id as usize].attr |= attr::CONTROL;
                }
            }
        }
        for t in &mut self.tokens {
            if t.attr & attr::CONTROL != 0 && t.text.contains("unused") {
                t.attr |= attr::UNUSED;
            }
        }
        // FIM pad, repo and file-separator tokens end generation too.
        let mut eog: HashSet<TokenId> = self.fim[3..].iter().flatten().copied().collect();
        for text in EOG_TEXTS {
            if let Some(id) = self.text_to_token(text) {
                eog.insert(id);
                promote(&mut self.tokens, id);
            }
        }
        for id in [self.eos, self.eot, self.eom].into_iter().flatten() {
            eog.insert(id);
        }
        // gpt-oss: "<|end|>" ends a message, not the generation, when "<|return|>" and
        // "<|call|>" exist.
        let has = |eog: &HashSet<TokenId>, t: &str| {
            self.token_to_id.get(t).is_some_and(|id| eog.contains(id))
        };
        let end = self.text_to_token("<|end|>").filter(|id| eog.contains(id));
        if let Some(end) = end {
            if (has(&eog, "<|return|>") && has(&eog, "<|call|>"))
                || (has(&eog, "<|calls|>") && has(&eog, "<|flush|>"))
            {
                eog.remove(&end);
                self.tokens[end as usize].attr = attr::USER_DEFINED;
            }
        }
        let s_id = self.text_to_token("</s>").filter(|id| eog.contains(id));
        if let Some(s) = s_id {
            if has(&eog, "<|tool_response>") || has(&eog, "<|plamo:eos|>") {
                eog.remove(&s);
                self.tokens[s as usize].attr = attr::NORMAL;
            }
        }
        let mut sorted: Vec<TokenId> = eog.iter().copied().collect();
        sorted.sort_unstable();
        self.eog = eog;
        self.eog_sorted = sorted;
    }

    pub fn n_tokens(&self) -> usize {
        self.tokens.len()
    }
    pub fn text(&self, id: TokenId) -> &str {
        &self.tokens[id as usize].text
    }
    pub fn score(&self, id: TokenId) -> f32 {
        self.tokens[id as usize].score
    }
    pub fn attr(&self, id: TokenId) -> u32 {
        self.tokens[id as usize].attr
    }
    pub fn text_to_token(&self, text: &str) -> Option<TokenId> {
        self.token_to_id.get(text).copied()
    }
    /// Ends generation (EOS, EOT and the turn-end markers llama.cpp knows).
    pub fn is_eog(&self, id: TokenId) -> bool {
        self.eog.contains(&id)
    }
    /// All end-of-generation ids, ascending.
    pub fn eog_ids(&self) -> &[TokenId] {
        &self.eog_sorted
    }
    pub fn is_control(&self, id: TokenId) -> bool {
        self.attr(id) & attr::CONTROL != 0
    }
    pub fn is_byte(&self, id: TokenId) -> bool {
        self.attr(id) & attr::BYTE != 0
    }
    /// The token for one raw byte: `<0xXX>` (SentencePiece) or the byte's GPT-2 character.
    pub fn byte_to_token(&self, b: u8) -> Option<TokenId> {
        match self.kind {
            VocabKind::Spm => self.text_to_token(&format!("<0x{b:02X}>")).or_else(|| {
                std::str::from_utf8(&[b])
                    .ok()
                    .and_then(|s| self.text_to_token(s))
            }),
            VocabKind::Bpe => {
                let c = super::unicode::byte_to_char_table()[b as usize];
                self.text_to_token(c.encode_utf8(&mut [0; 4]))
            }
        }
    }
    /// The byte a `<0xXX>` token stands for.
    pub fn token_to_byte(&self, id: TokenId) -> Option<u8> {
        let t = self.text(id);
        t.get(3..5).and_then(|h| u8::from_str_radix(h, 16).ok())
    }
}

/// Metadata values that override the family defaults.
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub bos: Option<u64>,
    pub eos: Option<u64>,
    pub eot: Option<u64>,
    pub eom: Option<u64>,
    pub unk: Option<u64>,
    pub sep: Option<u64>,
    pub pad: Option<u64>,
    pub mask: Option<u64>,
    pub fim: [Option<u64>; 6],
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
}

/// "left right", split at the first space after the first byte (a merge may start with one).
fn split_merge(s: &str) -> (String, String) {
    match s.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) {
        Some(p) => (s[..p].to_string(), s[p + 1..].to_string()),
        None => (String::new(), String::new()),
    }
}
