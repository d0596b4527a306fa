//! Pre-tokenizers for byte-level BPE: split text into words before merging.
//!
//! Each `tokenizer.ggml.pre` type is a list of regexes applied in sequence, each one splitting
//! the pieces left by the previous one further (llama.cpp's `unicode_regex_split`). The common
//! regexes (GPT-2, Llama 3, Qwen 2, "isolate every digit") have hand-written matchers that
//! behave exactly like llama.cpp's; the rare ones run through `fancy_regex` on the same
//! "collapsed" text llama.cpp gives `std::regex` (every non-ASCII code point replaced by one
//! placeholder per category), so `\p{L}` and friends mean what they mean there.

use super::unicode::{self, Flags};
use super::TokenizerError;
use fancy_regex::Regex;

/// One splitting pass.
enum Step {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    Gpt2,
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// with N = 3 (Llama 3) or 1 (Qwen 2).
    Llama3 { max_digits: usize },
    /// `\p{N}` (`runs == false`) or `\p{N}+` (`runs == true`).
    Numbers { runs: bool },
    /// Any other regex, run like llama.cpp's std::regex fallback.
    Regex { re: Regex, collapsed: bool },
}

pub struct PreTokenizer {
    steps: Vec<Step>,
}

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Regex lists per pre-tokenizer family (llama.cpp's `llm_tokenizer_bpe` table).
pub fn regexes_for(pre: PreType) -> Vec<&'static str> {
    use PreType::*;
    match pre {
        Default => vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
        Gpt2Like => vec![GPT2],
        Llama3 => vec![LLAMA3],
        Qwen2 => vec![QWEN2],
        Starcoder => vec![r"\p{N}", GPT2],
        Falcon => vec![
            r"[\p{P}\$\+<=>\^~\|`]+",
            GPT2,
            "[0-9][0-9][0-9]",
        ],
        DeepseekLlm => vec![
            "[\r\n]",
            "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            "[一-龥ࠀ-一가-퟿]+",
            r"\p{N}+",
        ],
        DeepseekCoder => vec![
            "[\r\n]",
            r"\s?\p{L}+",
            r"\s?\p{P}+",
            "[一-龥ࠀ-一가-퟿]+",
            r"\p{N}",
        ],
        Bloom => vec![r" ?[^(\s|.,!?…。，、।۔،)]+"],
        Viking => vec![r" ?[^(\s|.,!?…。，、।۔،)]+", r"\p{N}"],
    }
}

/// Pre-tokenizer families (several `tokenizer.ggml.pre` names share one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreType {
    Default,
    Gpt2Like,
    Llama3,
    Qwen2,
    Starcoder,
    Falcon,
    DeepseekLlm,
    DeepseekCoder,
    Bloom,
    Viking,
}

/// Per-name settings: (family, clean_spaces, ignore_merges, forces add_bos default).
pub struct PreInfo {
    pub ty: PreType,
    pub clean_spaces: bool,
    pub ignore_merges: bool,
    pub add_bos: bool,
}

/// Resolve a `tokenizer.ggml.pre` name the way llama.cpp's loader does.
pub fn pre_info(name: &str) -> Option<PreInfo> {
    use PreType::*;
    let info = |ty, clean_spaces, ignore_merges, add_bos| PreInfo {
        ty,
        clean_spaces,
        ignore_merges,
        add_bos,
    };
    Some(match name {
        "" | "default" => info(Default, true, false, false),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" => info(Llama3, true, true, true),
        "dbrx" | "smaug-bpe" => info(Llama3, true, false, false),
        "deepseek-llm" => info(DeepseekLlm, false, false, false),
        "deepseek-coder" => info(DeepseekCoder, false, false, false),
        "falcon" => info(Falcon, true, false, false),
        "mpt" | "olmo" | "jais" | "trillion" | "gpt-2" | "phi-2" | "jina-es" | "jina-de"
        | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum" => {
            info(Gpt2Like, true, false, false)
        }
        "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" => {
            info(Starcoder, true, false, false)
        }
        "command-r" | "smollm" => info(Starcoder, false, false, false),
        "qwen2" | "deepseek-r1-qwen" => info(Qwen2, false, false, false),
        "stablelm2" => info(Qwen2, true, false, false),
        "poro-chat" => info(Bloom, false, false, false),
        "bloom" | "gpt3-finnish" => info(Bloom, true, false, false),
        "viking" => info(Viking, false, false, false),
        _ => return None,
    })
}

impl PreTokenizer {
    pub fn new(ty: PreType) -> Result<PreTokenizer, TokenizerError> {
        Self::from_regexes(&regexes_for(ty))
    }

    pub fn from_regexes(exprs: &[&str]) -> Result<PreTokenizer, TokenizerError> {
        let mut steps = Vec::with_capacity(exprs.len());
        for &e in exprs {
            let step = match e {
                GPT2 => Step::Gpt2,
                LLAMA3 => Step::Llama3 { max_digits: 3 },
                QWEN2 => Step::Llama3 { max_digits: 1 },
                r"\p{N}" => Step::Numbers { runs: false },
                r"\p{N}+" => Step::Numbers { runs: true },
                _ => {
                    let collapsed = uses_categories(e);
                    let pattern = if collapsed {
                        collapse_regex(e)
                    } else {
                        e.to_string()
                    };
                    let re = Regex::new(&pattern).map_err(|err| {
                        TokenizerError::Unsupported(format!("pre-tokenizer regex {e:?}: {err}"))
                    })?;
                    Step::Regex { re, collapsed }
                }
            };
            steps.push(step);
        }
        Ok(PreTokenizer { steps })
    }

    /// Split `text` into words (slices of `text`, in order, covering it exactly).
    pub fn split<'t>(&self, text: &'t str) -> Vec<&'t str> {
        if text.is_empty() {
            return Vec::new();
        }
        let cpts: Vec<char> = text.chars().collect();
        let flags: Vec<Flags> = cpts.iter().map(|&c| unicode::flags(c)).collect();
        let mut offsets = vec![cpts.len()];
        for step in &self.steps {
            offsets = match step {
                Step::Gpt2 => split_gpt2(&cpts, &flags, &offsets),
                Step::Llama3 { max_digits } => split_llama3(&cpts, &flags, &offsets, *max_digits),
                Step::Numbers { runs } => split_numbers(&flags, &offsets, *runs),
                Step::Regex { re, collapsed } => {
                    split_regex(re, *collapsed, &cpts, &flags, &offsets)
                }
            };
        }
        let mut byte_at: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        byte_at.push(text.len());
        let mut words = Vec::with_capacity(offsets.len());
        let mut cp = 0;
        for len in offsets {
            words.push(&text[byte_at[cp]..byte_at[cp + len]]);
            cp += len;
        }
        debug_assert_eq!(cp, cpts.len());
        words
    }
}

/// Walks one chunk of code points, emitting piece lengths.
struct Chunk<'a> {
    cpts: &'a [char],
    flags: &'a [Flags],
    end: usize,
    prev: usize,
    out: &'a mut Vec<usize>,
}

impl Chunk<'_> {
    fn cpt(&self, p: usize) -> Option<char> {
        (p < self.end).then(|| self.cpts[p])
    }
    fn fl(&self, p: usize) -> Option<Flags> {
        (p < self.end).then(|| self.flags[p])
    }
    fn letter(&self, p: usize) -> bool {
        self.fl(p).is_some_and(|f| f.is_letter())
    }
    fn number(&self, p: usize) -> bool {
        self.fl(p).is_some_and(|f| f.is_number())
    }
    fn ws(&self, p: usize) -> bool {
        self.fl(p).is_some_and(|f| f.ws)
    }
    /// `[^\s\p{L}\p{N}]` inside the chunk.
    fn other(&self, p: usize) -> bool {
        self.fl(p)
            .is_some_and(|f| !(f.ws || f.is_letter() || f.is_number()))
    }
    fn emit(&mut self, end: usize) {
        if end > self.prev {
            self.out.push(end - self.prev);
        }
        self.prev = end;
    }
}

fn for_chunks(
    cpts: &[char],
    flags: &[Flags],
    offsets: &[usize],
    mut f: impl FnMut(&mut Chunk, usize),
) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len() * 4);
    let mut start = 0;
    for &len in offsets {
        let end = start + len;
        let mut ch = Chunk {
            cpts,
            flags,
            end,
            prev: start,
            out: &mut out,
        };
        f(&mut ch, start);
        start = end;
    }
    out
}

/// Try the English contractions at `pos`; returns the end of the match.
fn contraction(ch: &Chunk, pos: usize, ignore_case: bool) -> Option<usize> {
    if ch.cpts[pos] != '\'' || pos + 1 >= ch.end {
        return None;
    }
    let norm = |c: char| {
        if ignore_case {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let n1 = norm(ch.cpts[pos + 1]);
    if matches!(n1, 's' | 't' | 'm' | 'd') {
        return Some(pos + 2);
    }
    if pos + 2 < ch.end {
        let n2 = norm(ch.cpts[pos + 2]);
        if matches!((n1, n2), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
            return Some(pos + 3);
        }
    }
    None
}

/// The whitespace tail shared by the GPT-2 style regexes: `\s+(?!\S)|\s+`, or one code point.
fn whitespace_or_single(ch: &mut Chunk, pos: usize) -> usize {
    let mut n = 0;
    while ch.ws(pos + n) {
        n += 1;
    }
    let end = if n > 1 && ch.cpt(pos + n).is_some() {
        pos + n - 1
    } else if n > 0 {
        pos + n
    } else {
        pos + 1
    };
    ch.emit(end);
    end
}

fn split_gpt2(cpts: &[char], flags: &[Flags], offsets: &[usize]) -> Vec<usize> {
    for_chunks(cpts, flags, offsets, |ch, mut pos| {
        while pos < ch.end {
            if let Some(e) = contraction(ch, pos, false) {
                ch.emit(e);
                pos = e;
                continue;
            }
            let c = ch.cpts[pos];
            // The class tested is that of the code point after an optional leading space.
            let q = pos + (c == ' ') as usize;
            if ch.letter(q) {
                pos = q;
                while ch.letter(pos) {
                    pos += 1;
                }
                ch.emit(pos);
                continue;
            }
            if ch.number(q) {
                pos = q;
                while ch.number(pos) {
                    pos += 1;
                }
                ch.emit(pos);
                continue;
            }
            if ch.other(q) {
                pos = q;
                while ch.other(pos) {
                    pos += 1;
                }
                ch.emit(pos);
                continue;
            }
            pos = whitespace_or_single(ch, pos);
        }
    })
}

fn split_llama3(
    cpts: &[char],
    flags: &[Flags],
    offsets: &[usize],
    max_digits: usize,
) -> Vec<usize> {
    for_chunks(cpts, flags, offsets, |ch, mut pos| {
        while pos < ch.end {
            if let Some(e) = contraction(ch, pos, true) {
                ch.emit(e);
                pos = e;
                continue;
            }
            let c = ch.cpts[pos];
            let f = ch.flags[pos];
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == '\r' || c == '\n' || f.is_number()) && (f.is_letter() || ch.letter(pos + 1)) {
                pos += 1;
                while ch.letter(pos) {
                    pos += 1;
                }
                ch.emit(pos);
                continue;
            }
            // \p{N}{1,max}
            if f.is_number() {
                let mut ini = pos;
                while ch.number(pos) {
                    pos += 1;
                    if pos - ini >= max_digits {
                        ch.emit(pos);
                        ini = pos;
                    }
                }
                ch.emit(pos);
                continue;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'; past the chunk's end the class test passes, as in
            // llama.cpp, which only matters for a lone trailing space (same split either way).
            let q = pos + (c == ' ') as usize;
            let other_or_end = |p: usize| match ch.fl(p) {
                None => true,
                Some(f) => !(f.ws || f.is_letter() || f.is_number()),
            };
            if other_or_end(q) {
                pos = q;
                while ch.other(pos) {
                    pos += 1;
                }
                while matches!(ch.cpt(pos), Some('\r' | '\n')) {
                    pos += 1;
                }
                ch.emit(pos);
                continue;
            }
            // \s*[\r\n]+
            let mut n = 0;
            let mut last_rn = None;
            while ch.ws(pos + n) {
                if matches!(ch.cpts[pos + n], '\r' | '\n') {
                    last_rn = Some(pos + n + 1);
                }
                n += 1;
            }
            if let Some(e) = last_rn {
                ch.emit(e);
                pos = e;
                continue;
            }
            pos = whitespace_or_single(ch, pos);
        }
    })
}

fn split_numbers(flags: &[Flags], offsets: &[usize], runs: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len() * 2);
    let mut start = 0;
    for &len in offsets {
        let end = start + len;
        let mut pos = start;
        while pos < end {
            let num = flags[pos].is_number();
            let run_start = pos;
            pos += 1;
            if !num || runs {
                while pos < end && flags[pos].is_number() == num {
                    pos += 1;
                }
            }
            out.push(pos - run_start);
        }
        start = end;
    }
    out
}

const CATEGORY_NAMES: [&str; 10] = [
    r"\p{N}", r"\p{L}", r"\p{P}", r"\p{M}", r"\p{S}", r"\p{Lu}", r"\p{Ll}", r"\p{Lt}", r"\p{Lm}",
    r"\p{Lo}",
];

fn uses_categories(e: &str) -> bool {
    CATEGORY_NAMES.iter().any(|c| e.contains(c))
}

/// Placeholder characters of the collapsed text, one per category.
fn placeholder(f: Flags) -> char {
    use unicode::Cat::*;
    if f.ws {
        return '\u{0B}';
    }
    match f.cat {
        Number => '\u{D1}',
        Letter => '\u{D2}',
        Punct => '\u{D3}',
        Mark => '\u{D4}',
        Symbol => '\u{D5}',
        _ => '\u{D0}',
    }
}

/// Class contents standing for a category in the collapsed text: the placeholder plus the
/// ASCII members of the category (ASCII is kept as is).
fn category_class(name: &str) -> &'static str {
    match name {
        r"\p{N}" => r"\x{D1}0-9",
        r"\p{P}" => r"\x{D3}!-#%-*,-/:-;?-@\[-\]_\{\}",
        r"\p{M}" => r"\x{D4}",
        r"\p{S}" => r"\x{D5}\$\+<->\^`\|~",
        _ => r"\x{D2}A-Za-z",
    }
}

/// Rewrite `\p{..}` classes for the collapsed text, as llama.cpp does.
fn collapse_regex(e: &str) -> String {
    let b = e.as_bytes();
    let mut out = String::with_capacity(e.len() * 2);
    let mut inside = false;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'[' && (i == 0 || b[i - 1] != b'\\') {
            out.push('[');
            inside = true;
            i += 1;
            continue;
        }
        if inside && b[i] == b']' && b[i - 1] != b'\\' {
            out.push(']');
            inside = false;
            i += 1;
            continue;
        }
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'p') && b.get(i + 2) == Some(&b'{') {
            if let Some(close) = e[i..].find('}') {
                let name = &e[i..i + close + 1];
                if CATEGORY_NAMES.contains(&name) {
                    if !inside {
                        out.push('[');
                    }
                    out.push_str(category_class(name));
                    if !inside {
                        out.push(']');
                    }
                    i += close + 1;
                    continue;
                }
            }
        }
        let c = e[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn split_regex(
    re: &Regex,
    collapsed: bool,
    cpts: &[char],
    flags: &[Flags],
    offsets: &[usize],
) -> Vec<usize> {
    // The text the regex sees, and the byte offset of every code point in it.
    let mut text = String::with_capacity(cpts.len());
    let mut byte_of = Vec::with_capacity(cpts.len() + 1);
    for (&c, &f) in cpts.iter().zip(flags) {
        byte_of.push(text.len());
        let c = if (c as u32) < 128 {
            c
        } else if collapsed {
            placeholder(f)
        } else if f.ws {
            '\u{0B}'
        } else {
            c
        };
        text.push(c);
    }
    byte_of.push(text.len());
    let cp_of = |byte: usize| byte_of.partition_point(|&b| b < byte);

    let mut out = Vec::with_capacity(offsets.len() * 2);
    let mut start = 0;
    for &len in offsets {
        let end = start + len;
        let base = byte_of[start];
        let hay = &text[base..byte_of[end]];
        let mut last = start;
        for m in re.find_iter(hay).flatten() {
            let (ms, me) = (cp_of(base + m.start()), cp_of(base + m.end()));
            if ms > last {
                out.push(ms - last);
            }
            if me > ms {
                out.push(me - ms);
            }
            last = me;
        }
        if last < end {
            out.push(end - last);
        }
        start = end;
    }
    out
}
