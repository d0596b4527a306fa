//! Resuming a saved 2,000-token conversation vs re-evaluating it from its text, on SmolLM2
//! with 2 threads: time to the first new token, their ratio, and the file size per 1,000 tokens.
//!
//! `cargo bench --bench resume` (HEARTH_BENCH_THREADS, HEARTH_BENCH_TOKENS to change).

#[path = "../tests/common/mod.rs"]
mod common;

use hearth::context::{Context, ContextParams};
use hearth::model::{Model, Outputs};
use hearth::session::{self, SessionData, Transcript, TranscriptMessage};
use hearth::tokenizer::Tokenizer;
use std::time::Instant;

fn argmax(l: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in l.iter().enumerate() {
        if v > l[best] {
            best = i;
        }
    }
    best as u32
}

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    let threads = env_usize("HEARTH_BENCH_THREADS", 2);
    let n_tokens = env_usize("HEARTH_BENCH_TOKENS", 2000);
    let model = Model::load(common::model(common::SMOLLM2)).unwrap();
    let tok = Tokenizer::from_gguf(&model.file).unwrap();
    let params = ContextParams {
        n_ctx: 4096,
        n_threads: threads,
        ..ContextParams::default()
    };

    // A conversation: paragraphs of Botchan as alternating user and assistant turns, cut to
    // exactly `n_tokens` tokens of ChatML.
    let corpus = common::botchan();
    let paras: Vec<&str> = corpus
        .split("\n\n")
        .map(str::trim)
        .filter(|p| p.len() > 80)
        .collect();
    let mut transcript = Transcript {
        system_prompt: Some("You are a helpful assistant.".into()),
        messages: Vec::new(),
    };
    let mut text = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n".to_string();
    for (i, p) in paras.iter().enumerate() {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        text += &format!("<|im_start|>{role}\n{p}<|im_end|>\n");
        transcript.messages.push(TranscriptMessage {
            role: role.into(),
            content: p.to_string(),
            time_ms: 1_700_000_000_000 + i as u64 * 1000,
        });
        if tok.tokenize(&text, true, true).len() > n_tokens {
            break;
        }
    }
    let full = tok.tokenize(&text, true, true);
    assert!(full.len() >= n_tokens, "the corpus is too short");
    // The text of the first `n_tokens` tokens (it tokenizes back to about as many).
    let conv = tok.decode(&full[..n_tokens], true, true);

    // Re-evaluation from text: tokenize, evaluate, first new token.
    let t = Instant::now();
    let toks = tok.tokenize(&conv, true, true);
    let mut ctx = Context::new(&model, params).unwrap();
    ctx.eval(&model, &toks, Outputs::Last, |_, _| {}).unwrap();
    let first_eval = argmax(ctx.logits());
    let t_eval = t.elapsed().as_secs_f64();

    let dir = std::env::temp_dir().join(format!("hearth-resume-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("conversation.hsession");
    let t = Instant::now();
    let size = session::save_to_path(&path, &SessionData::new(&model, &ctx, &transcript)).unwrap();
    let t_save = t.elapsed().as_secs_f64();

    // Resume: read, check, restore, first new token. Best of 5 (the file is in the page cache,
    // as it is right after a save; a cold read adds about size / disk bandwidth).
    let mut t_resume = f64::INFINITY;
    let mut first_resume = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = session::load(&path, &model, &tok, &params).unwrap();
        first_resume = argmax(r.context.logits());
        t_resume = t_resume.min(t.elapsed().as_secs_f64());
        drop(r);
    }
    assert_eq!(first_eval, first_resume, "the resumed context disagrees");
    let t = Instant::now();
    let _ = session::read_header(&path).unwrap();
    let t_header = t.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir).ok();

    let n = toks.len();
    println!("resume bench: SmolLM2-135M Q4_1, {n} tokens, {threads} threads, n_ctx 4096");
    println!(
        "  re-evaluate from text : {:9.3} ms (first token {first_eval})",
        t_eval * 1e3
    );
    println!(
        "  resume from session   : {:9.3} ms (first token {first_resume})",
        t_resume * 1e3
    );
    println!(
        "  speed-up              : {:9.1}x (target >= 20x)",
        t_eval / t_resume
    );
    println!("  save                  : {:9.3} ms", t_save * 1e3);
    println!("  header only (list)    : {:9.3} ms", t_header * 1e3);
    println!(
        "  file size             : {:.2} MiB, {:.2} MiB per 1,000 tokens",
        size as f64 / (1 << 20) as f64,
        size as f64 / (1 << 20) as f64 * 1000.0 / n as f64
    );
}
