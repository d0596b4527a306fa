//! Unit tests on tiny hand-built vocabularies (no model files).

use super::pretokenize::{PreTokenizer, PreType};
use super::*;
use crate::gguf::{GgufBuilder, Value};

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn merges(v: &[&str]) -> Vec<(String, String)> {
    v.iter()
        .map(|m| {
            let (a, b) = m.split_once(' ').unwrap();
            (a.to_string(), b.to_string())
        })
        .collect()
}

/// A byte-level BPE vocabulary: token 0 is a control token, then the given texts.
fn bpe(pre: &str, texts: &[&str], merge_list: &[&str], types: Option<Vec<TokenType>>) -> Tokenizer {
    let mut all = vec!["<|endoftext|>"];
    all.extend_from_slice(texts);
    let types = types.unwrap_or_else(|| {
        let mut t = vec![TokenType::Control];
        t.extend(std::iter::repeat_n(TokenType::Normal, texts.len()));
        t
    });
    let v = Vocab::build(
        "gpt2",
        pre,
        strings(&all),
        None,
        Some(types),
        merges(merge_list),
        Meta {
            bos: Some(0),
            eos: Some(0),
            ..Meta::default()
        },
    )
    .unwrap();
    Tokenizer::new(v).unwrap()
}

fn texts(tok: &Tokenizer, ids: &[TokenId]) -> Vec<String> {
    ids.iter()
        .map(|&i| tok.vocab().text(i).to_string())
        .collect()
}

#[test]
fn bpe_merges_follow_rank_order() {
    let vocab = ["a", "b", "c", "Ġ", "ab", "abc", "Ġab", "bc"];
    let tok = bpe("gpt-2", &vocab, &["a b", "ab c", "Ġ ab", "b c"], None);
    assert_eq!(texts(&tok, &tok.tokenize("abc", false, false)), ["abc"]);
    assert_eq!(texts(&tok, &tok.tokenize(" ab", false, false)), ["Ġab"]);
    assert_eq!(
        texts(&tok, &tok.tokenize("bc ab", false, false)),
        ["bc", "Ġab"]
    );
    // With "b c" ranked first, "abc" can no longer become one token.
    let tok = bpe("gpt-2", &vocab, &["b c", "a b", "ab c", "Ġ ab"], None);
    assert_eq!(texts(&tok, &tok.tokenize("abc", false, false)), ["a", "bc"]);
    // Equal ranks: the leftmost pair merges first.
    let tok = bpe("gpt-2", &["a", "aa", "aaa"], &["a a", "aa a"], None);
    assert_eq!(texts(&tok, &tok.tokenize("aaa", false, false)), ["aaa"]);
    assert_eq!(
        texts(&tok, &tok.tokenize("aaaa", false, false)),
        ["aa", "aa"]
    );
    // "aaaaa": a+a, a+a merge first (rank 0, leftmost first), then aa+a.
    assert_eq!(
        texts(&tok, &tok.tokenize("aaaaa", false, false)),
        ["aa", "aaa"]
    );
}

#[test]
fn bpe_long_word_is_fast() {
    let tok = bpe(
        "gpt-2",
        &["a", "aa", "aaaa", "aaaaaaaa"],
        &["a a", "aa aa", "aaaa aaaa"],
        None,
    );
    let text = "a".repeat(200_000);
    let t = std::time::Instant::now();
    let ids = tok.tokenize(&text, false, false);
    assert_eq!(ids.len(), 25_000);
    assert!(t.elapsed().as_secs_f64() < 2.0, "took {:?}", t.elapsed());
}

#[test]
fn bpe_byte_level_round_trip() {
    // Every byte's GPT-2 character is a token, so any text round-trips.
    let table = unicode::byte_to_char_table();
    let chars: Vec<String> = table.iter().map(|c| c.to_string()).collect();
    let refs: Vec<&str> = chars.iter().map(|s| s.as_str()).collect();
    let tok = bpe("gpt-2", &refs, &[], None);
    for text in ["héllo wörld", "😀 👨‍👩‍👧", "tab\tnew\nline", "日本語"] {
        let ids = tok.tokenize(text, false, false);
        assert_eq!(ids.len(), text.len(), "one token per byte");
        assert_eq!(tok.decode(&ids, false, false), text);
    }
    // A character that is not in the vocabulary and has no merges is dropped, as in llama.cpp.
    let tok = bpe("gpt-2", &["a"], &[], None);
    assert_eq!(texts(&tok, &tok.tokenize("a?a", false, false)), ["a", "a"]);
}

/// SentencePiece vocabulary: <unk>, <s>, </s>, 256 byte tokens, then scored pieces.
fn spm(pieces: &[(&str, f32)], extra: &[(&str, TokenType)], add_space_prefix: bool) -> Tokenizer {
    let mut texts = strings(&["<unk>", "<s>", "</s>"]);
    let mut scores = vec![0.0, 0.0, 0.0];
    let mut types = vec![TokenType::Unknown, TokenType::Control, TokenType::Control];
    for b in 0..=255u8 {
        texts.push(format!("<0x{b:02X}>"));
        scores.push(0.0);
        types.push(TokenType::Byte);
    }
    for &(p, s) in pieces {
        texts.push(p.to_string());
        scores.push(s);
        types.push(TokenType::Normal);
    }
    for &(p, t) in extra {
        texts.push(p.to_string());
        scores.push(0.0);
        types.push(t);
    }
    let v = Vocab::build(
        "llama",
        "default",
        texts,
        Some(scores),
        Some(types),
        Vec::new(),
        Meta {
            add_space_prefix: Some(add_space_prefix),
            ..Meta::default()
        },
    )
    .unwrap();
    Tokenizer::new(v).unwrap()
}

const PIECES: &[(&str, f32)] = &[
    ("▁", -1.0),
    ("h", -2.0),
    ("e", -2.0),
    ("l", -2.0),
    ("o", -2.0),
    ("w", -2.0),
    ("▁h", -3.0),
    ("he", -1.5),
    ("ll", -1.0),
    ("llo", -1.2),
    ("hello", -0.5),
    ("hellow", -9.0),
    ("▁hello", -0.1),
    ("lo", -0.2),
];

#[test]
fn spm_merges_by_score() {
    let tok = spm(PIECES, &[], true);
    // BOS by default for SentencePiece, and a space prefix.
    let ids = tok.tokenize("hello", true, false);
    assert_eq!(ids[0], 1);
    assert_eq!(texts(&tok, &ids[1..]), ["▁hello"]);
    // "lo" (-0.2) beats "ll" (-1.0): "hel" + "lo" never reaches "hello".
    let ids = tok.tokenize("hello", false, false);
    assert_eq!(texts(&tok, &ids), ["▁hello"]);
    let tok2 = spm(PIECES, &[], false);
    let ids = tok2.tokenize("hellow", false, false);
    // h e l l o w: he(-1.5) ll(-1.0) lo(-0.2): lo first -> h e l lo w; then he -> he l lo w;
    // no "llo" from l+lo? "llo" is a piece: l + lo -> llo (-1.2); then he+llo -> hello (-0.5);
    // hello+w -> hellow (-9.0).
    assert_eq!(texts(&tok2, &ids), ["hellow"]);
    // The space prefix is removed again on decoding; llama.cpp keeps it when a BOS is removed.
    let ids = tok.tokenize("hello hello", false, false);
    assert_eq!(tok.decode(&ids, false, false), "hello hello");
    let ids = tok.tokenize("hello hello", true, false);
    assert_eq!(tok.decode(&ids, true, false), " hello hello");
}

#[test]
fn spm_byte_fallback() {
    let tok = spm(PIECES, &[], false);
    let ids = tok.tokenize("hé", false, false);
    assert_eq!(texts(&tok, &ids), ["h", "<0xC3>", "<0xA9>"]);
    assert_eq!(tok.decode(&ids, false, false), "hé");
    let ids = tok.tokenize("😀", false, false);
    assert_eq!(texts(&tok, &ids), ["<0xF0>", "<0x9F>", "<0x98>", "<0x80>"]);
}

#[test]
fn special_tokens_partition() {
    let tok = bpe(
        "gpt-2",
        &[
            "a",
            "b",
            "c",
            "d",
            "<|im_start|>",
            "<x>",
            "bcd",
            "ab",
            "<",
            ">",
            "x",
        ],
        &[],
        Some(vec![
            TokenType::Control,
            TokenType::Normal,
            TokenType::Normal,
            TokenType::Normal,
            TokenType::Normal,
            TokenType::Control,
            TokenType::UserDefined,
            TokenType::Control,
            TokenType::Control,
            TokenType::Normal,
            TokenType::Normal,
            TokenType::Normal,
        ]),
    );
    let v = tok.vocab();
    let id = |t: &str| v.text_to_token(t).unwrap();
    // Control tokens only with parse_special; user-defined always.
    assert_eq!(
        tok.tokenize("a<|im_start|>b", false, true),
        [id("a"), id("<|im_start|>"), id("b")]
    );
    assert!(!tok
        .tokenize("a<|im_start|>b", false, false)
        .contains(&id("<|im_start|>")));
    assert_eq!(
        tok.tokenize("a<x>b", false, false),
        [id("a"), id("<x>"), id("b")]
    );
    // Longest special token first, even when a shorter one starts earlier.
    assert_eq!(tok.tokenize("abcd", false, true), [id("a"), id("bcd")]);
    assert_eq!(tok.tokenize("abab", false, true), [id("ab"), id("ab")]);
    // Adjacent and repeated.
    assert_eq!(
        tok.tokenize("<x><x>a<x>", false, false),
        [id("<x>"), id("<x>"), id("a"), id("<x>")]
    );
    // Control tokens are rendered only when asked.
    let ids = tok.tokenize("a<|im_start|>b", false, true);
    assert_eq!(tok.decode(&ids, false, true), "a<|im_start|>b");
    assert_eq!(tok.decode(&ids, false, false), "ab");
}

#[test]
fn end_of_generation_detection() {
    let tok = bpe("gpt-2", &["<|im_start|>", "<|im_end|>", "a"], &[], None);
    let v = tok.vocab();
    let im_end = v.text_to_token("<|im_end|>").unwrap();
    assert!(v.is_eog(im_end));
    assert!(v.is_eog(0), "eos");
    assert!(!v.is_eog(v.text_to_token("<|im_start|>").unwrap()));
    assert_eq!(v.eot, Some(im_end));
    // Promoted to control: not rendered without `special`.
    assert!(tok.token_to_piece(im_end, false).is_empty());
    assert_eq!(tok.token_to_piece(im_end, true), b"<|im_end|>");
}

#[test]
fn stream_decoder_holds_split_characters() {
    let tok = spm(PIECES, &[], false);
    let ids = tok.tokenize("h😀é", false, false);
    let mut dec = StreamDecoder::new(false);
    let outs: Vec<String> = ids.iter().map(|&id| dec.push(&tok, id)).collect();
    assert_eq!(outs, ["h", "", "", "", "😀", "", "é"]);
    assert_eq!(dec.flush(), "");
    // Invalid bytes become U+FFFD; an unfinished character is flushed lossily at the end.
    let mut dec = StreamDecoder::new(false);
    assert_eq!(
        dec.push(&tok, tok.vocab().byte_to_token(0xFF).unwrap()),
        "\u{FFFD}"
    );
    assert_eq!(dec.push(&tok, tok.vocab().byte_to_token(0xF0).unwrap()), "");
    assert_eq!(dec.pending(), &[0xF0]);
    assert_eq!(dec.push_bytes(b"\x9F"), "");
    assert_eq!(dec.push_bytes(b"a"), "\u{FFFD}a");
    assert_eq!(dec.push_bytes(b"\xE2\x82"), "");
    assert_eq!(dec.flush(), "\u{FFFD}");
    assert_eq!(dec.flush(), "");
}

#[test]
fn pretokenizer_splits() {
    let split = |ty, s| -> Vec<String> {
        PreTokenizer::new(ty)
            .unwrap()
            .split(s)
            .into_iter()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        split(PreType::Starcoder, "Hello world's 123  end"),
        ["Hello", " world", "'s", " ", "1", "2", "3", " ", " end"]
    );
    assert_eq!(
        split(PreType::Llama3, "I'LL pay 12345 dollars!!\n\n  ok"),
        ["I", "'LL", " pay", " ", "123", "45", " dollars", "!!\n\n", " ", " ok"]
    );
    assert_eq!(split(PreType::Qwen2, "x 42"), ["x", " ", "4", "2"]);
    // Runs through the generic regex path (punctuation runs, digit groups).
    assert_eq!(
        split(PreType::Default, "Hello, world! 12345"),
        ["Hello", ",", " world", "!", " ", "123", "45"]
    );
    // Non-ASCII letters and digits count as \p{L} / \p{N}.
    assert_eq!(split(PreType::Gpt2Like, "héllo ١٢٣"), ["héllo", " ١٢٣"]);
    assert!(split(PreType::Gpt2Like, "").is_empty());
}

#[test]
fn clean_spaces_like_llama_cpp() {
    let run = |s: &str| {
        let mut v = s.as_bytes().to_vec();
        super::clean_spaces(&mut v);
        String::from_utf8(v).unwrap()
    };
    assert_eq!(
        run("Hello , world ! How are you ?"),
        "Hello, world! How are you?"
    );
    assert_eq!(run("it ' s"), "it's");
    assert_eq!(
        run("he 's here , they 're done , I 'll go"),
        "he's here, they're done, I 'll go"
    );
    assert_eq!(run(""), "");
}

fn tiny_gguf(model: &str, tokens: &[&str], extra: Vec<(&str, Value)>) -> GgufFile {
    let mut b = GgufBuilder::new()
        .meta("general.architecture", Value::String("llama".into()))
        .meta("tokenizer.ggml.model", Value::String(model.into()))
        .meta(
            "tokenizer.ggml.tokens",
            Value::Array(
                tokens
                    .iter()
                    .map(|t| Value::String(t.to_string()))
                    .collect(),
            ),
        );
    for (k, v) in extra {
        b = b.meta(k, v);
    }
    GgufFile::from_vec(b.build()).unwrap()
}

#[test]
fn vocab_from_gguf_defaults() {
    let toks = ["<unk>", "<s>", "</s>", "▁a", "a"];
    let f = tiny_gguf("llama", &toks, vec![]);
    let t = Tokenizer::from_gguf(&f).unwrap();
    let v = t.vocab();
    assert_eq!((v.bos, v.eos, v.unk), (Some(1), Some(2), Some(0)));
    assert!(v.add_bos && v.add_space_prefix && !v.add_eos);
    assert_eq!(t.tokenize("a", true, false), [1, 3]);
    assert!(v.is_eog(2) && v.is_eog(2));

    let f = tiny_gguf(
        "gpt2",
        &["<|endoftext|>", "a", "Ċ"],
        vec![
            ("tokenizer.ggml.pre", Value::String("smollm".into())),
            ("tokenizer.ggml.merges", Value::Array(vec![])),
            ("tokenizer.ggml.bos_token_id", Value::U32(0)),
            ("tokenizer.ggml.eos_token_id", Value::U32(0)),
            (
                "tokenizer.ggml.token_type",
                Value::Array(vec![Value::I32(3), Value::I32(1), Value::I32(1)]),
            ),
        ],
    );
    let t = Tokenizer::from_gguf(&f).unwrap();
    assert!(!t.vocab().add_bos);
    assert_eq!(t.vocab().nl, Some(2));
    assert_eq!(t.tokenize("a\n", true, true), [1, 2]);

    let f = tiny_gguf("t5", &["a"], vec![]);
    assert!(matches!(
        Tokenizer::from_gguf(&f),
        Err(TokenizerError::Unsupported(_))
    ));
    let f = tiny_gguf(
        "gpt2",
        &["a"],
        vec![("tokenizer.ggml.pre", Value::String("nope".into()))],
    );
    assert!(matches!(
        Tokenizer::from_gguf(&f),
        Err(TokenizerError::Unsupported(_))
    ));
}

#[test]
fn chat_templates() {
    let msgs = [
        Message::system("Be brief."),
        Message::user("Hi"),
        Message::assistant("Hello!"),
        Message::user("2+2?"),
    ];
    let t = ChatTemplate::chatml();
    assert_eq!(
        t.render(&msgs[1..2], true).unwrap(),
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    // Python string methods, trim_blocks, bos_token, raise_exception.
    let src = "{{ bos_token }}{% for m in messages %}\n{% if m.role == 'assistant' and m.content.startswith('Hel') %}[{{ m.content.strip('!').upper() }}]{% else %}{{ m['content'] }}{% endif %}\n{% endfor %}{% if add_generation_prompt %}>{% endif %}";
    let t = ChatTemplate::new(src, "<s>", "</s>").unwrap();
    assert_eq!(t.render(&msgs, true).unwrap(), "<s>Be brief.Hi[HELLO]2+2?>");
    let t = ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
    let err = t.render(&msgs, false).unwrap_err().to_string();
    assert!(err.contains("no system role"), "{err}");
    assert!(ChatTemplate::new("{% for %}", "", "").is_err());

    // Built-in Gemma format when the vocabulary has Gemma's turn markers and no template.
    let f = tiny_gguf(
        "llama",
        &[
            "<pad>",
            "<eos>",
            "<bos>",
            "<start_of_turn>",
            "<end_of_turn>",
        ],
        vec![
            ("tokenizer.ggml.bos_token_id", Value::U32(2)),
            ("tokenizer.ggml.eos_token_id", Value::U32(1)),
        ],
    );
    let t = ChatTemplate::from_gguf(&f).unwrap();
    assert!(t.is_builtin());
    assert_eq!(
        t.render(&msgs, true).unwrap(),
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n"
    );
    // The model's own template wins.
    let f = tiny_gguf(
        "gpt2",
        &["a"],
        vec![(
            "tokenizer.chat_template",
            Value::String("{{ messages|length }}".into()),
        )],
    );
    let t = ChatTemplate::from_gguf(&f).unwrap();
    assert!(!t.is_builtin());
    assert_eq!(t.render(&msgs, false).unwrap(), "4");
}
