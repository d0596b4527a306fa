//! Golden tokenizer tests: our tokenizer against llama.cpp's output for the same models.
//!
//! The golden files come from `scripts/golden_tokenize.py` (llama-cpp-python) over
//! `golden/tokenizer/corpus.txt`. The models are read from `$HEARTH_MODELS_DIR`, or `models/`
//! at the repository root; `.ci/fetch-models` puts them there.

use hearth::gguf::GgufFile;
use hearth::tokenizer::{ChatTemplate, Message, StreamDecoder, Tokenizer};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Instant;

fn models_dir() -> PathBuf {
    match std::env::var_os("HEARTH_MODELS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"),
    }
}

fn load(model_file: &str) -> Tokenizer {
    let path = models_dir().join(model_file);
    if !path.is_file() {
        panic!(
            "model {} is missing: run `.ci/fetch-models` (or point HEARTH_MODELS_DIR at a folder \
             holding {model_file})",
            path.display()
        );
    }
    let f = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tokenizer::from_gguf(&f).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn golden(name: &str) -> Value {
    // HEARTH_TOKENIZER_GOLDEN_DIR lets extra (e.g. fuzzed) golden sets be checked the same way.
    let dir = std::env::var_os("HEARTH_TOKENIZER_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/tokenizer"));
    let path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/golden_tokenize.py)", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn opt_id(v: &Value) -> Option<u32> {
    v.as_u64().map(|x| x as u32)
}

fn check_model(name: &str, model_file: &str) {
    let tok = load(model_file);
    let g = golden(name);
    let vocab = tok.vocab();
    let mut failures: Vec<String> = Vec::new();

    // Vocabulary facts.
    assert_eq!(
        vocab.n_tokens() as u64,
        g["n_vocab"].as_u64().unwrap(),
        "{name}: n_vocab"
    );
    assert_eq!(vocab.bos, opt_id(&g["bos"]), "{name}: bos");
    assert_eq!(vocab.eos, opt_id(&g["eos"]), "{name}: eos");
    assert_eq!(vocab.nl, opt_id(&g["nl"]), "{name}: newline token");
    assert_eq!(
        vocab.add_bos,
        g["add_bos"].as_bool().unwrap(),
        "{name}: add_bos"
    );
    assert_eq!(
        vocab.eog_ids(),
        ids(&g["eog"]).as_slice(),
        "{name}: end-of-generation ids"
    );
    if let Some(eot) = vocab.eot {
        assert!(vocab.is_eog(eot), "{name}: eot is not end-of-generation");
    }

    // Pieces.
    for p in g["pieces"].as_array().unwrap() {
        let id = p[0].as_u64().unwrap() as u32;
        for (special, want) in [(true, &p[1]), (false, &p[2])] {
            let want = hex(want.as_str().unwrap());
            let got = tok.token_to_piece(id, special);
            if got != want.as_slice() {
                failures.push(format!(
                    "piece {id} special={special}: got {:?}, llama.cpp {:?}",
                    String::from_utf8_lossy(got),
                    String::from_utf8_lossy(&want)
                ));
            }
        }
    }

    // Chat templates, against Jinja2's rendering of the model's own template.
    let f = GgufFile::open(models_dir().join(model_file)).unwrap();
    let template = ChatTemplate::from_gguf(&f).unwrap();
    let chats = g["chats"].as_array().unwrap();
    assert_eq!(
        template.is_builtin(),
        chats.is_empty(),
        "{name}: has a chat template"
    );
    for c in chats {
        let messages: Vec<Message> = c["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        let agp = c["add_generation_prompt"].as_bool().unwrap();
        let want = c["text"].as_str().unwrap();
        match template.render(&messages, agp) {
            Ok(got) if got == want => {}
            other => failures.push(format!("chat template: got {other:?}, Jinja2 {want:?}")),
        }
    }

    let samples = g["samples"].as_array().unwrap();
    let mut matched = 0;
    let mut matched_plain = 0;
    let mut round_trips = 0;
    for s in samples {
        let text = s["text"].as_str().unwrap();
        let want = ids(&s["ids"]);
        let got = tok.tokenize(text, true, true);
        if got == want {
            matched += 1;
        } else {
            failures.push(format!(
                "tokenize({text:?}, special):\n   got      {got:?}\n   llama.cpp {want:?}"
            ));
        }
        let want_plain = ids(&s["ids_no_special"]);
        let got_plain = tok.tokenize(text, false, false);
        if got_plain == want_plain {
            matched_plain += 1;
        } else {
            failures.push(format!(
                "tokenize({text:?}, plain):\n   got      {got_plain:?}\n   llama.cpp {want_plain:?}"
            ));
        }
        // Detokenize llama.cpp's ids both ways and compare with llama.cpp's text.
        for (remove, unparse, key) in [(true, true, "detok_hex"), (false, false, "detok_raw_hex")] {
            let want = hex(s[key].as_str().unwrap());
            let got = tok.detokenize(&ids(&s["ids"]), remove, unparse);
            if got != want {
                failures.push(format!(
                    "detokenize({text:?}, remove_special={remove}, unparse_special={unparse}): \
                     got {:?}, llama.cpp {:?}",
                    String::from_utf8_lossy(&got),
                    String::from_utf8_lossy(&want)
                ));
            }
        }
        // Round trip: the text comes back exactly.
        let back = tok.detokenize(&want, true, true);
        if back == text.as_bytes() {
            round_trips += 1;
        } else {
            failures.push(format!(
                "round trip of {text:?} gave {:?}",
                String::from_utf8_lossy(&back)
            ));
        }
        // Streaming: token by token, never a broken character, same text in the end.
        let mut dec = StreamDecoder::new(false);
        let mut streamed = String::new();
        for &id in &want {
            let part = dec.push(&tok, id);
            streamed.push_str(&part);
        }
        streamed.push_str(&dec.flush());
        let whole = String::from_utf8_lossy(&tok.detokenize(&want, false, false)).into_owned();
        if streamed != whole {
            failures.push(format!(
                "stream decode of {text:?} gave {streamed:?}, want {whole:?}"
            ));
        }
    }
    let n = samples.len();
    eprintln!(
        "{name}: {matched}/{n} samples match llama.cpp (parse_special), {matched_plain}/{n} \
         (plain), {round_trips}/{n} round trips"
    );
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(25).collect();
        panic!(
            "{name}: {} mismatches with llama.cpp, first ones:\n{}",
            failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    // Speed: the whole corpus (every line, once) a few times.
    let lines: Vec<&str> = samples
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    let t = Instant::now();
    let mut n_tokens = 0;
    for _ in 0..3 {
        for l in &lines {
            n_tokens += tok.tokenize(l, true, true).len();
        }
    }
    let dt = t.elapsed();
    eprintln!(
        "{name}: tokenized {} samples ({n_tokens} tokens) in {:.1} ms",
        lines.len() * 3,
        dt.as_secs_f64() * 1e3
    );
    assert!(
        dt.as_secs_f64() < 20.0,
        "{name}: tokenizing is far too slow ({dt:?})"
    );
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_model("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf");
}

#[test]
fn gemma3_matches_llama_cpp() {
    check_model("gemma3", "gemma-3-270m-q4_k_m.gguf");
}
