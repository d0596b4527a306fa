//! Helpers of the session tests: a tiny synthetic llama model (fast, deterministic), the real
//! SmolLM2, scratch directories, greedy continuation.
#![allow(dead_code)]

use hearth::context::{Context, ContextParams};
use hearth::gguf::{GgufBuilder, GgufFile, Value};
use hearth::model::{Model, Outputs};
use hearth::quant::GgmlType;
use hearth::session::{Transcript, TranscriptMessage};
use hearth::tokenizer::Tokenizer;
use std::path::PathBuf;

#[path = "../common/mod.rs"]
pub mod common;

pub const TINY_VOCAB: usize = 64;

/// Deterministic pseudo-random numbers in [-scale, scale).
fn values(seed: &mut u64, n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// The GGUF bytes of a tiny llama model: 2 layers, 32-wide, 4 heads over 2 KV heads, 64
/// tokens with an SPM vocabulary. `seed` changes the weights (and so the fingerprint).
pub fn tiny_gguf(seed: u64) -> Vec<u8> {
    let (d, ff, heads, kv_heads, head_dim, layers) = (32u64, 64u64, 4u64, 2u64, 8u64, 2);
    let (qd, kvd, v) = (heads * head_dim, kv_heads * head_dim, TINY_VOCAB as u64);
    let mut s = seed.wrapping_add(0x5eed);
    let mut tokens = vec![
        Value::String("<unk>".into()),
        Value::String("<s>".into()),
        Value::String("</s>".into()),
    ];
    for i in 3..v {
        tokens.push(Value::String(format!("▁w{i}")));
    }
    let mut types = vec![Value::I32(2), Value::I32(3), Value::I32(3)];
    types.extend((3..v).map(|_| Value::I32(1)));
    let scores: Vec<Value> = (0..v).map(|i| Value::F32(-(i as f32))).collect();
    let mut b = GgufBuilder::new()
        .meta("general.architecture", Value::String("llama".into()))
        .meta("general.name", Value::String("tiny-example".into()))
        .meta("llama.embedding_length", Value::U32(d as u32))
        .meta("llama.feed_forward_length", Value::U32(ff as u32))
        .meta("llama.block_count", Value::U32(layers))
        .meta("llama.attention.head_count", Value::U32(heads as u32))
        .meta("llama.attention.head_count_kv", Value::U32(kv_heads as u32))
        .meta("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5))
        .meta("llama.context_length", Value::U32(256))
        .meta("llama.rope.freq_base", Value::F32(10000.0))
        .meta("tokenizer.ggml.model", Value::String("llama".into()))
        .meta("tokenizer.ggml.tokens", Value::Array(tokens))
        .meta("tokenizer.ggml.scores", Value::Array(scores))
        .meta("tokenizer.ggml.token_type", Value::Array(types))
        .meta("tokenizer.ggml.bos_token_id", Value::U32(1))
        .meta("tokenizer.ggml.eos_token_id", Value::U32(2));
    let f32t = GgmlType::F32;
    b = b.tensor_f32(
        "token_embd.weight",
        f32t,
        &[d, v],
        &values(&mut s, (d * v) as usize, 1.0),
    );
    b = b.tensor_f32("output_norm.weight", f32t, &[d], &vec![1.0; d as usize]);
    for l in 0..layers {
        let n = |x: &str| format!("blk.{l}.{x}.weight");
        let mut m = |name: &str, cols: u64, rows: u64, b: GgufBuilder| {
            let sc = 1.0 / (cols as f32).sqrt();
            b.tensor_f32(
                &n(name),
                f32t,
                &[cols, rows],
                &values(&mut s, (cols * rows) as usize, sc),
            )
        };
        b = m("attn_q", d, qd, b);
        b = m("attn_k", d, kvd, b);
        b = m("attn_v", d, kvd, b);
        b = m("attn_output", qd, d, b);
        b = m("ffn_gate", d, ff, b);
        b = m("ffn_up", d, ff, b);
        b = m("ffn_down", ff, d, b);
        b = b.tensor_f32(&n("attn_norm"), f32t, &[d], &vec![1.0; d as usize]);
        b = b.tensor_f32(&n("ffn_norm"), f32t, &[d], &vec![1.0; d as usize]);
    }
    b.build()
}

pub fn tiny_model(seed: u64) -> Model {
    Model::from_gguf(GgufFile::from_vec(tiny_gguf(seed)).unwrap(), None).unwrap()
}

pub fn tiny_tokenizer(m: &Model) -> Tokenizer {
    Tokenizer::from_gguf(&m.file).unwrap()
}

pub fn smollm() -> Model {
    Model::load(common::model(common::SMOLLM2)).unwrap()
}

pub fn params(n_ctx: usize) -> ContextParams {
    ContextParams {
        n_ctx,
        n_threads: 2,
        ..ContextParams::default()
    }
}

pub fn argmax(l: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in l.iter().enumerate() {
        if v > l[best] {
            best = i;
        }
    }
    best as u32
}

/// `n` greedy tokens from `ctx` (each is evaluated).
pub fn greedy(model: &Model, ctx: &mut Context, n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let t = argmax(ctx.logits());
            ctx.eval(model, &[t], Outputs::Last, |_, _| {}).unwrap();
            t
        })
        .collect()
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("session-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn transcript() -> Transcript {
    Transcript {
        system_prompt: Some("You are a helpful assistant.".into()),
        messages: vec![
            TranscriptMessage {
                role: "user".into(),
                content: "Name a colour.".into(),
                time_ms: 1_700_000_000_000,
            },
            TranscriptMessage {
                role: "assistant".into(),
                content: "Blue.".into(),
                time_ms: 1_700_000_001_500,
            },
        ],
    }
}
