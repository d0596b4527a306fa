//! The immutable model: hyper-parameters, weights borrowed from the map, and the forward pass.
//!
//! Each architecture is one module implementing [`Architecture`]; [`Model::load`] picks it from
//! `general.architecture`. Everything mutable lives in a [`crate::context::Context`].

pub mod attention;
#[cfg(target_arch = "x86_64")]
mod attention_avx512;
mod blocks;
mod gemma3;
mod hparams;
mod llama;
pub mod numerics;
pub mod ops;
#[cfg(target_arch = "x86_64")]
mod simd512;
pub mod weight;

pub use hparams::HParams;

use crate::context::{KvCache, Scratch};
use crate::gguf::GgufFile;
use anyhow::{bail, Result};
use std::path::Path;

/// Per-context settings that change the numerics of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForwardParams {
    pub rope_freq_base: f32,
    pub rope_freq_scale: f32,
}

/// What a layer's KV cache must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerCacheSpec {
    /// Elements per position (KV heads × head size), for K and for V.
    pub kv_dim: usize,
    /// Sliding-window layers only need the last `window` positions.
    pub window: Option<usize>,
}

/// Which rows of the batch need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outputs {
    Last,
    All,
}

/// One model family's forward pass.
pub trait Architecture: Send + Sync {
    fn hparams(&self) -> &HParams;
    /// Default RoPE settings from the file.
    fn default_forward_params(&self) -> ForwardParams {
        ForwardParams {
            rope_freq_base: self.hparams().rope_freq_base,
            rope_freq_scale: self.hparams().rope_freq_scale,
        }
    }
    fn cache_spec(&self) -> Vec<LayerCacheSpec>;
    /// Runs `tokens` at positions `start..`, appending their keys and values to `cache`, and
    /// writes logits (`n_vocab` per output row) into `logits`.
    fn forward(
        &self,
        params: &ForwardParams,
        tokens: &[u32],
        start: usize,
        cache: &mut KvCache,
        scratch: &mut Scratch,
        outputs: Outputs,
        logits: &mut Vec<f32>,
    ) -> Result<()>;
}

pub struct Model {
    pub file: GgufFile,
    pub arch: Box<dyn Architecture>,
    pub name: String,
}

impl Model {
    pub fn load(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let file = GgufFile::open(path)?;
        Self::from_gguf(
            file,
            path.file_name().map(|s| s.to_string_lossy().into_owned()),
        )
    }

    pub fn from_gguf(file: GgufFile, file_name: Option<String>) -> Result<Model> {
        let hp = HParams::from_gguf(&file)?;
        let arch: Box<dyn Architecture> = match hp.arch.as_str() {
            "llama" | "mistral" | "smollm" => Box::new(llama::Llama::load(&file, hp)?),
            "gemma3" => Box::new(gemma3::Gemma3::load(&file, hp)?),
            other => bail!("architecture {other:?} is not supported (supported: llama, gemma3)"),
        };
        let name = file
            .get_str("general.name")
            .ok()
            .flatten()
            .map(str::to_string)
            .or(file_name)
            .unwrap_or_else(|| "model".into());
        Ok(Model { file, arch, name })
    }

    pub fn hparams(&self) -> &HParams {
        self.arch.hparams()
    }

    /// The most common weight type among the matrices ("Q4_1", "Q4_K", …).
    pub fn quant_label(&self) -> String {
        let mut counts = std::collections::BTreeMap::<&str, u64>::new();
        for t in &self.file.tensors {
            if t.dims.len() >= 2 {
                *counts.entry(t.ty.name()).or_default() += t.n_elements();
            }
        }
        counts
            .into_iter()
            .max_by_key(|&(_, n)| n)
            .map(|(t, _)| t.to_string())
            .unwrap_or_default()
    }
}
