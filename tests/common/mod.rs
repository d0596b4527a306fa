//! Shared helpers of the integration tests: where the real models live, and golden data.
#![allow(dead_code)]

pub mod tmux;

use std::path::PathBuf;

pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The models directory: `$HEARTH_MODELS_DIR`, or `models/` in the repository.
pub fn models_dir() -> PathBuf {
    std::env::var_os("HEARTH_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models"))
}

/// Path of a test model. Fails (never skips) when it has not been fetched.
pub fn model(name: &str) -> PathBuf {
    let p = models_dir().join(name);
    assert!(
        p.exists(),
        "test model {} is missing: run `.ci/fetch-models` first (or set HEARTH_MODELS_DIR)",
        p.display()
    );
    p
}

/// The Botchan perplexity corpus (fetched with the models).
pub fn botchan() -> String {
    let p = models_dir().join("botchan.txt");
    std::fs::read_to_string(&p).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run `.ci/fetch-models` first",
            p.display()
        )
    })
}

pub fn golden(rel: &str) -> PathBuf {
    repo().join("golden").join(rel)
}

pub fn read_f32(path: &std::path::Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
