//! Byte-level BPE: rank-ordered merges over one pre-tokenized word at a time.
//!
//! Symbols live in a doubly linked list over the word; candidate pairs sit in a binary heap
//! ordered by (rank, position), so a word of n characters costs O(n log n). Stale heap entries
//! (a side already merged away or grown) are skipped when popped.

use super::unicode::byte_to_char_table;
use super::vocab::{TokenId, Vocab};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// Merge tables, keyed by interned strings: token ids first, then merge halves that are not
/// tokens themselves.
pub struct BpeMerges {
    /// (left, right) -> (rank, merged string's intern id).
    pairs: HashMap<(u32, u32), (u32, u32)>,
    /// Intern id of each byte's GPT-2 character (`u32::MAX` when not interned).
    byte_ids: [u32; 256],
    /// Token id for single printable ASCII bytes (the fallback for unmergeable symbols).
    ascii_tokens: [Option<TokenId>; 128],
    n_tokens: u32,
}

const NONE: u32 = u32::MAX;

impl BpeMerges {
    pub fn new(vocab: &Vocab) -> BpeMerges {
        let n_tokens = vocab.n_tokens() as u32;
        let mut extra: HashMap<String, u32> = HashMap::new();
        let intern = |s: &str, extra: &mut HashMap<String, u32>| -> u32 {
            if let Some(id) = vocab.text_to_token(s) {
                return id;
            }
            let next = n_tokens + extra.len() as u32;
            *extra.entry(s.to_string()).or_insert(next)
        };
        let mut pairs = HashMap::with_capacity(vocab.merges.len());
        for (rank, (l, r)) in vocab.merges.iter().enumerate() {
            let li = intern(l, &mut extra);
            let ri = intern(r, &mut extra);
            let mut merged = String::with_capacity(l.len() + r.len());
            merged.push_str(l);
            merged.push_str(r);
            let mi = intern(&merged, &mut extra);
            // The first occurrence of a pair wins, as in llama.cpp.
            pairs.entry((li, ri)).or_insert((rank as u32, mi));
        }
        let table = byte_to_char_table();
        let mut byte_ids = [NONE; 256];
        for b in 0..256 {
            let c = table[b];
            let s = c.encode_utf8(&mut [0; 4]).to_string();
            byte_ids[b] = vocab
                .text_to_token(&s)
                .or_else(|| extra.get(&s).copied())
                .unwrap_or(NONE);
        }
        let mut ascii_tokens = [None; 128];
        for (b, slot) in ascii_tokens.iter_mut().enumerate() {
            *slot = vocab.text_to_token(std::str::from_utf8(&[b as u8]).unwrap());
        }
        BpeMerges {
            pairs,
            byte_ids,
            ascii_tokens,
            n_tokens,
        }
    }

    /// Tokenize one word (raw bytes; the GPT-2 byte mapping is implicit) into `out`.
    pub fn tokenize_word(&self, vocab: &Vocab, word: &[u8], out: &mut Vec<TokenId>) {
        if word.is_empty() {
            return;
        }
        if vocab.ignore_merges {
            let mut enc = String::with_capacity(word.len() * 2);
            super::unicode::bytes_to_unicode(word, &mut enc);
            if let Some(id) = vocab.text_to_token(&enc) {
                out.push(id);
                return;
            }
        }
        // One symbol per character of the byte-encoded word, i.e. per byte.
        let n = word.len();
        if n == 1 {
            self.emit(self.byte_ids[word[0] as usize], word, out);
            return;
        }
        let mut syms: Vec<Sym> = (0..n)
            .map(|i| Sym {
                start: i as u32,
                len: 1,
                prev: i as i32 - 1,
                next: if i + 1 < n { i as i32 + 1 } else { -1 },
                id: self.byte_ids[word[i] as usize],
            })
            .collect();
        let mut heap = BinaryHeap::with_capacity(n);
        for i in 1..n {
            self.push_pair(&syms, i - 1, i, &mut heap);
        }
        while let Some(p) = heap.pop() {
            let (l, r) = (p.left as usize, p.right as usize);
            if syms[l].len == 0
                || syms[r].len == 0
                || syms[l].len != p.left_len
                || syms[r].len != p.right_len
            {
                continue;
            }
            syms[l].len += syms[r].len;
            syms[l].id = p.merged;
            syms[r].len = 0;
            let next = syms[r].next;
            syms[l].next = next;
            if next >= 0 {
                syms[next as usize].prev = l as i32;
            }
            if syms[l].prev >= 0 {
                self.push_pair(&syms, syms[l].prev as usize, l, &mut heap);
            }
            if next >= 0 {
                self.push_pair(&syms, l, next as usize, &mut heap);
            }
        }
        let mut i = 0i32;
        while i >= 0 {
            let s = &syms[i as usize];
            let bytes = &word[s.start as usize..(s.start + s.len) as usize];
            self.emit(s.id, bytes, out);
            i = s.next;
        }
    }

    fn push_pair(&self, syms: &[Sym], l: usize, r: usize, heap: &mut BinaryHeap<Pair>) {
        let (a, b) = (syms[l].id, syms[r].id);
        if a == NONE || b == NONE {
            return;
        }
        if let Some(&(rank, merged)) = self.pairs.get(&(a, b)) {
            heap.push(Pair {
                rank,
                left: l as u32,
                right: r as u32,
                left_len: syms[l].len,
                right_len: syms[r].len,
                merged,
            });
        }
    }

    /// A finished symbol: its token, or else its printable ASCII bytes as single tokens (other
    /// bytes are dropped, as llama.cpp does).
    fn emit(&self, id: u32, bytes: &[u8], out: &mut Vec<TokenId>) {
        if id < self.n_tokens {
            out.push(id);
            return;
        }
        for &b in bytes {
            if b < 128 && byte_to_char_table()[b as usize] as u32 == b as u32 {
                if let Some(t) = self.ascii_tokens[b as usize] {
                    out.push(t);
                }
            }
        }
    }
}

struct Sym {
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
    id: u32,
}

#[derive(PartialEq, Eq)]
struct Pair {
    rank: u32,
    left: u32,
    right: u32,
    left_len: u32,
    right_len: u32,
    merged: u32,
}

impl Ord for Pair {
    /// Max-heap order: the lowest rank, then the leftmost pair, is the greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        o.rank.cmp(&self.rank).then(o.left.cmp(&self.left))
    }
}
impl PartialOrd for Pair {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
