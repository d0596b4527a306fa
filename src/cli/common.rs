//! Flags and helpers shared by the subcommands.

use crate::context::{default_threads, ContextParams};
use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;

/// Model and context flags.
#[derive(clap::Args, Clone, Debug)]
pub struct ModelArgs {
    /// The GGUF model file
    #[arg(short = 'm', long = "model", value_name = "FILE")]
    pub model: PathBuf,
    /// Context size in tokens
    #[arg(
        short = 'c',
        long = "ctx-size",
        value_name = "N",
        default_value_t = 4096
    )]
    pub ctx_size: usize,
    /// Worker threads (default: the number of physical cores)
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Prompt tokens evaluated per batch
    #[arg(
        short = 'b',
        long = "batch-size",
        value_name = "N",
        default_value_t = 512
    )]
    pub batch_size: usize,
    /// RoPE base frequency (default: from the model)
    #[arg(long = "rope-freq-base", value_name = "F")]
    pub rope_freq_base: Option<f32>,
    /// RoPE frequency scaling factor (default: from the model)
    #[arg(long = "rope-freq-scale", value_name = "F")]
    pub rope_freq_scale: Option<f32>,
}

impl ModelArgs {
    pub fn context_params(&self) -> Result<ContextParams> {
        if self.ctx_size == 0 {
            bail!("--ctx-size must be at least 1");
        }
        if self.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        let threads = self.threads.unwrap_or_else(default_threads);
        if threads == 0 || threads > 1024 {
            bail!("--threads must be between 1 and 1024");
        }
        Ok(ContextParams {
            n_ctx: self.ctx_size,
            n_threads: threads,
            n_batch: self.batch_size,
            rope_freq_base: self.rope_freq_base,
            rope_freq_scale: self.rope_freq_scale,
        })
    }
}

/// Text from `-p` or `-f`.
#[derive(clap::Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub struct TextArgs {
    /// The text
    #[arg(short = 'p', long = "prompt", value_name = "TEXT")]
    pub prompt: Option<String>,
    /// Read the text from a file
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
}

impl TextArgs {
    pub fn text(&self) -> Result<String> {
        match (&self.prompt, &self.file) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(f)) => {
                std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))
            }
            (None, None) => bail!("give a prompt with -p or a file with -f"),
        }
    }
}
