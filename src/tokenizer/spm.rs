//! SentencePiece (BPE-by-score) as llama.cpp runs it: start from UTF-8 characters, repeatedly
//! merge the adjacent pair whose concatenation is the highest-scoring vocabulary entry, and
//! spell out leftovers that are not tokens as `<0xXX>` byte tokens.

use super::vocab::{TokenId, Vocab};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Tokenize `text` (spaces already replaced by U+2581) into `out`.
pub fn tokenize(vocab: &Vocab, text: &str, out: &mut Vec<TokenId>) {
    if text.is_empty() {
        return;
    }
    let mut syms: Vec<Sym> = Vec::with_capacity(text.len());
    for (i, (start, c)) in text.char_indices().enumerate() {
        let len = c.len_utf8();
        syms.push(Sym {
            start: start as u32,
            len: len as u32,
            prev: i as i32 - 1,
            next: if start + len < text.len() {
                i as i32 + 1
            } else {
                -1
            },
        });
    }
    let mut heap = BinaryHeap::with_capacity(syms.len());
    for i in 1..syms.len() {
        push_pair(vocab, text, &syms, i - 1, i, &mut heap);
    }
    while let Some(p) = heap.pop() {
        let (l, r) = (p.left as usize, p.right as usize);
        if syms[l].len == 0 || syms[r].len == 0 || syms[l].len + syms[r].len != p.size {
            continue;
        }
        syms[l].len += syms[r].len;
        syms[r].len = 0;
        let next = syms[r].next;
        syms[l].next = next;
        if next >= 0 {
            syms[next as usize].prev = l as i32;
        }
        if syms[l].prev >= 0 {
            push_pair(vocab, text, &syms, syms[l].prev as usize, l, &mut heap);
        }
        if next >= 0 {
            push_pair(vocab, text, &syms, l, next as usize, &mut heap);
        }
    }
    let mut i = 0i32;
    while i >= 0 {
        let s = &syms[i as usize];
        let piece = &text[s.start as usize..(s.start + s.len) as usize];
        match vocab.text_to_token(piece) {
            Some(id) => out.push(id),
            None => {
                // Only single characters can get here: merged symbols are tokens.
                for &b in piece.as_bytes() {
                    if let Some(id) = vocab.byte_to_token(b).or(vocab.unk) {
                        out.push(id);
                    }
                }
            }
        }
        i = s.next;
    }
}

fn push_pair(
    vocab: &Vocab,
    text: &str,
    syms: &[Sym],
    l: usize,
    r: usize,
    heap: &mut BinaryHeap<Pair>,
) {
    let start = syms[l].start as usize;
    let size = syms[l].len + syms[r].len;
    let s = &text[start..start + size as usize];
    if let Some(id) = vocab.text_to_token(s) {
        heap.push(Pair {
            score: vocab.score(id),
            left: l as u32,
            right: r as u32,
            size,
        });
    }
}

struct Sym {
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
}

struct Pair {
    score: f32,
    left: u32,
    right: u32,
    size: u32,
}

impl PartialEq for Pair {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl Ord for Pair {
    /// Max-heap order: the highest score, then the leftmost pair, is the greatest.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then(o.left.cmp(&self.left))
    }
}
impl PartialOrd for Pair {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
