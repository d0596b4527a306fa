//! Hyper-parameters every architecture shares, read from `{arch}.*` GGUF metadata.

use crate::gguf::GgufFile;
use anyhow::{bail, Context as _, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct HParams {
    pub arch: String,
    pub n_vocab: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    pub n_ff: usize,
    pub norm_eps: f32,
    pub n_ctx_train: usize,
    pub rope_dims: usize,
    pub rope_freq_base: f32,
    /// 1 / `rope.scaling.factor` for linear scaling, 1 otherwise.
    pub rope_freq_scale: f32,
}

impl HParams {
    pub fn from_gguf(file: &GgufFile) -> Result<HParams> {
        let arch = file.architecture()?.to_string();
        let key = |k: &str| format!("{arch}.{k}");
        let req = |k: &str| -> Result<usize> {
            let v = file.require_u64(&key(k))?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v > 0 && v < 1 << 32)
                .with_context(|| format!("{}: {v} is out of range", key(k)))
        };
        let n_embd = req("embedding_length")?;
        let n_head = req("attention.head_count")?;
        let n_head_kv = match file.get_u64(&key("attention.head_count_kv"))? {
            Some(v) => v as usize,
            None => n_head,
        };
        let head_dim = match file.get_u64(&key("attention.key_length"))? {
            Some(v) => v as usize,
            None => n_embd / n_head,
        };
        if n_head_kv == 0 || n_head % n_head_kv != 0 {
            bail!("{n_head} attention heads cannot be grouped over {n_head_kv} KV heads");
        }
        let n_vocab = match file.get_u64(&key("vocab_size"))? {
            Some(v) => v as usize,
            None => file
                .get("tokenizer.ggml.tokens")
                .and_then(|v| v.as_array())
                .map(|a| a.len())
                .context("the model has neither a vocab_size nor a token list")?,
        };
        let norm_eps = file
            .get_f64(&key("attention.layer_norm_rms_epsilon"))?
            .unwrap_or(1e-5) as f32;
        let rope_dims = match file.get_u64(&key("rope.dimension_count"))? {
            Some(v) => v as usize,
            None => head_dim,
        };
        if rope_dims > head_dim || rope_dims % 2 != 0 {
            bail!("rope.dimension_count {rope_dims} does not fit a head of {head_dim}");
        }
        let rope_freq_base = file.get_f64(&key("rope.freq_base"))?.unwrap_or(10000.0) as f32;
        let scaling = file.get_str(&key("rope.scaling.type"))?.unwrap_or("none");
        let rope_freq_scale = match scaling {
            "linear" => {
                let f = file.get_f64(&key("rope.scaling.factor"))?.unwrap_or(1.0) as f32;
                if f > 0.0 {
                    1.0 / f
                } else {
                    1.0
                }
            }
            "none" => 1.0,
            other => bail!("RoPE scaling {other:?} is not supported (only linear)"),
        };
        Ok(HParams {
            n_vocab,
            n_embd,
            n_layer: req("block_count")?,
            n_head,
            n_head_kv,
            head_dim,
            n_ff: req("feed_forward_length")?,
            norm_eps,
            n_ctx_train: file.get_u64(&key("context_length"))?.unwrap_or(2048) as usize,
            rope_dims,
            rope_freq_base,
            rope_freq_scale,
            arch,
        })
    }

    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}
