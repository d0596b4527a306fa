//! Splitting text around special tokens before normal tokenization (llama.cpp's
//! `tokenizer_st_partition`).
//!
//! Special tokens (control, user-defined, unknown) are taken longest first: every
//! non-overlapping occurrence of the longest one splits the text, then the next one is searched
//! in the remaining text pieces, and so on. User-defined tokens are always split out; control and
//! unknown ones only when `parse_special` is set.

use super::vocab::{attr, TokenId, Vocab};
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fragment {
    /// A byte range of the input text.
    Text(usize, usize),
    Token(TokenId),
}

pub struct SpecialTokens {
    /// Special token ids, longest text first (ties by id).
    order: Vec<TokenId>,
    /// Rank of each special token in `order`.
    rank: HashMap<TokenId, usize>,
    by_text: HashMap<Box<[u8]>, TokenId>,
    /// For each first byte, the distinct text lengths of special tokens starting with it,
    /// longest first.
    lens_by_first: Vec<Vec<usize>>,
}

impl SpecialTokens {
    pub fn new(vocab: &Vocab) -> SpecialTokens {
        let mask = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
        let mut order: Vec<TokenId> = (0..vocab.n_tokens() as TokenId)
            .filter(|&id| vocab.attr(id) & mask != 0)
            .collect();
        order.sort_by(|&a, &b| {
            vocab
                .text(b)
                .len()
                .cmp(&vocab.text(a).len())
                .then(a.cmp(&b))
        });
        let rank = order.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let mut by_text = HashMap::with_capacity(order.len());
        let mut lens_by_first = vec![Vec::new(); 256];
        for &id in &order {
            let t = vocab.text(id).as_bytes();
            // Equal texts cannot occur (the vocabulary maps text to one id); keep the first.
            by_text.entry(t.into()).or_insert(id);
            let lens: &mut Vec<usize> = &mut lens_by_first[t[0] as usize];
            if !lens.contains(&t.len()) {
                lens.push(t.len());
            }
        }
        for l in &mut lens_by_first {
            l.sort_unstable_by(|a, b| b.cmp(a));
        }
        SpecialTokens {
            order,
            rank,
            by_text,
            lens_by_first,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Split `text` into text ranges and special tokens.
    pub fn partition(&self, vocab: &Vocab, text: &str, parse_special: bool) -> Vec<Fragment> {
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Vec::new();
        }
        // Every occurrence of every eligible special token, grouped by token.
        let mut hits: HashMap<TokenId, Vec<usize>> = HashMap::new();
        for p in 0..bytes.len() {
            for &len in &self.lens_by_first[bytes[p] as usize] {
                if p + len > bytes.len() {
                    continue;
                }
                if let Some(&id) = self.by_text.get(&bytes[p..p + len]) {
                    let a = vocab.attr(id);
                    if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                        continue;
                    }
                    hits.entry(id).or_default().push(p);
                }
            }
        }
        let mut frags = vec![Fragment::Text(0, bytes.len())];
        if hits.is_empty() {
            return frags;
        }
        let mut found: Vec<(usize, TokenId)> =
            hits.keys().map(|&id| (self.rank[&id], id)).collect();
        found.sort_unstable();
        for (_, id) in found {
            let positions = &hits[&id];
            let tlen = vocab.text(id).len();
            let a = vocab.attr(id);
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Fragment::Text(mut start, end) = f else {
                    next.push(f);
                    continue;
                };
                // Occurrences inside [start, end), taken left to right without overlap.
                let mut i = positions.partition_point(|&p| p < start);
                loop {
                    while i < positions.len() && positions[i] < start {
                        i += 1;
                    }
                    let Some(&m) = positions.get(i).filter(|&&m| m + tlen <= end) else {
                        if start < end {
                            next.push(Fragment::Text(start, end));
                        }
                        break;
                    };
                    let mut left_end = m;
                    if a & attr::LSTRIP != 0 {
                        while left_end > start && is_space(bytes[left_end - 1]) {
                            left_end -= 1;
                        }
                    }
                    if left_end > start {
                        next.push(Fragment::Text(start, left_end));
                    }
                    next.push(Fragment::Token(id));
                    start = m + tlen;
                    if a & attr::RSTRIP != 0 {
                        while start < end && is_space(bytes[start]) {
                            start += 1;
                        }
                    }
                    if start >= end {
                        break;
                    }
                }
            }
            frags = next;
        }
        frags
    }
}

/// C `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}
