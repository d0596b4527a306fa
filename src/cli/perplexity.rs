//! `hearth perplexity`: llama.cpp's method. The text is cut into chunks of `n_ctx` tokens; each
//! chunk is evaluated from an empty cache and only its second half is scored.

use super::common::{ModelArgs, TextArgs};
use crate::context::Context;
use crate::model::{Model, Outputs};
use crate::tokenizer::Tokenizer;
use anyhow::{bail, Result};
use std::io::Write;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub text: TextArgs,
    /// Chunks to score (default: all)
    #[arg(long = "chunks", value_name = "N")]
    pub chunks: Option<usize>,
}

/// Negative log-likelihood of `target` under the logit row, computed in f64.
pub fn nll(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    (sum.ln() + max) - logits[target as usize] as f64
}

/// Result of a perplexity run.
pub struct Perplexity {
    pub ppl: f64,
    pub chunks: usize,
    pub scored: usize,
}

pub fn compute(
    model: &Model,
    tokenizer: &Tokenizer,
    ctx: &mut Context,
    text: &str,
    max_chunks: Option<usize>,
    mut progress: impl FnMut(usize, usize, f64),
) -> Result<Perplexity> {
    let n_ctx = ctx.n_ctx();
    if n_ctx < 4 {
        bail!("the context must hold at least 4 tokens");
    }
    let tokens = tokenizer.tokenize(text, true, false);
    let available = tokens.len() / n_ctx;
    if available == 0 {
        bail!(
            "the text has {} tokens; at least {} (one context) are needed",
            tokens.len(),
            n_ctx
        );
    }
    let n_chunks = max_chunks.map_or(available, |c| c.min(available));
    let add_bos = tokenizer.vocab().add_bos;
    let first = n_ctx / 2;
    let (mut total, mut count) = (0f64, 0usize);
    for c in 0..n_chunks {
        let mut chunk = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
        if add_bos {
            if let Some(b) = tokenizer.bos() {
                chunk[0] = b;
            }
        }
        ctx.truncate(0);
        ctx.eval(model, &chunk, Outputs::All, |_, _| {})?;
        let n_vocab = ctx.n_vocab();
        let logits = ctx.all_logits();
        for j in first..n_ctx - 1 {
            total += nll(&logits[j * n_vocab..(j + 1) * n_vocab], chunk[j + 1]);
            count += 1;
        }
        progress(c + 1, n_chunks, (total / count as f64).exp());
    }
    Ok(Perplexity {
        ppl: (total / count as f64).exp(),
        chunks: n_chunks,
        scored: count,
    })
}

pub fn run(args: &PerplexityArgs) -> Result<()> {
    let params = args.model.context_params()?;
    let text = args.text.text()?;
    let model = Model::load(&args.model.model)?;
    let tokenizer = Tokenizer::from_gguf(&model.file)?;
    let mut ctx = Context::new(&model, params)?;
    let t0 = Instant::now();
    let mut err = std::io::stderr();
    let r = compute(
        &model,
        &tokenizer,
        &mut ctx,
        &text,
        args.chunks,
        |i, n, ppl| {
            let _ = write!(err, "[{i}/{n}] {ppl:.4}  ");
            let _ = err.flush();
        },
    )?;
    eprintln!(
        "\n{} chunks of {} tokens, {} scored, {:.1} s",
        r.chunks,
        params.n_ctx,
        r.scored,
        t0.elapsed().as_secs_f64()
    );
    println!("PPL = {:.4}", r.ppl);
    Ok(())
}
