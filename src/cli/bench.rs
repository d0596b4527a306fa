//! `hearth bench`: prompt processing (pp) and text generation (tg) speed, measured the way
//! llama-bench measures them. pp: one batch of N prompt tokens into an empty context. tg: N
//! single-token steps starting from an empty context (or after `-d` tokens of depth).

use super::common::ModelArgs;
use crate::context::Context;
use crate::model::{Model, Outputs};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt tokens of the pp test (0 skips it)
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    pub n_prompt: usize,
    /// Generated tokens of the tg test (0 skips it)
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    pub n_gen: usize,
    /// Tokens already in the context before each test
    #[arg(short = 'd', long = "depth", default_value_t = 0)]
    pub depth: usize,
    /// Repetitions of each test
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: usize,
    /// Output format
    #[arg(short = 'o', long = "output", value_parser = ["md", "json"], default_value = "md")]
    pub output: String,
}

#[derive(Serialize, Debug, Clone)]
pub struct BenchResult {
    pub model: String,
    pub model_type: String,
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
    pub n_threads: usize,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ts: Vec<f64>,
}

/// Deterministic pseudo-random token ids (llama-bench feeds random tokens too).
fn tokens(n: usize, n_vocab: usize, seed: u64) -> Vec<u32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n_vocab as u64) as u32
        })
        .collect()
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Runs one test (`n_prompt` > 0 for pp, else tg with `n_gen`) `reps` times after a warm-up.
pub fn run_test(
    model: &Model,
    ctx: &mut Context,
    n_prompt: usize,
    n_gen: usize,
    depth: usize,
    reps: usize,
) -> Result<Vec<f64>> {
    let n_vocab = model.hparams().n_vocab;
    let depth_tokens = tokens(depth, n_vocab, 7);
    let mut samples = Vec::with_capacity(reps);
    for rep in 0..=reps {
        ctx.truncate(0);
        if depth > 0 {
            ctx.eval(model, &depth_tokens, Outputs::Last, |_, _| {})?;
        }
        let t0 = Instant::now();
        let n = if n_prompt > 0 {
            ctx.eval(
                model,
                &tokens(n_prompt, n_vocab, rep as u64),
                Outputs::Last,
                |_, _| {},
            )?;
            n_prompt
        } else {
            let toks = tokens(n_gen, n_vocab, 100 + rep as u64);
            for t in toks {
                ctx.eval(model, &[t], Outputs::Last, |_, _| {})?;
            }
            n_gen
        };
        let dt = t0.elapsed().as_secs_f64();
        if rep > 0 {
            // The first run warms caches and the thread pool, as llama-bench's warm-up does.
            samples.push(n as f64 / dt);
        }
    }
    Ok(samples)
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.reps == 0 {
        bail!("--repetitions must be at least 1");
    }
    let mut params = args.model.context_params()?;
    let needed = args.depth + args.n_prompt.max(args.n_gen);
    params.n_ctx = params.n_ctx.max(needed);
    params.n_batch = params.n_batch.max(args.n_prompt);
    let model = Model::load(&args.model.model)?;
    let mut ctx = Context::new(&model, params)?;
    let mut results = Vec::new();
    let tests: Vec<(usize, usize)> = [(args.n_prompt, 0), (0, args.n_gen)]
        .into_iter()
        .filter(|&(p, g)| p + g > 0)
        .collect();
    for (p, g) in tests {
        let samples = run_test(&model, &mut ctx, p, g, args.depth, args.reps)?;
        let (avg, std) = mean_std(&samples);
        results.push(BenchResult {
            model: model.name.clone(),
            model_type: model.quant_label(),
            n_prompt: p,
            n_gen: g,
            n_depth: args.depth,
            n_threads: params.n_threads,
            avg_ts: avg,
            stddev_ts: std,
            samples_ts: samples,
        });
    }
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!("| model | quant | threads | test | t/s |");
        println!("| --- | --- | ---: | --- | ---: |");
        for r in &results {
            let test = if r.n_prompt > 0 {
                format!("pp{}", r.n_prompt)
            } else {
                format!("tg{}", r.n_gen)
            };
            let test = if r.n_depth > 0 {
                format!("{test} @ d{}", r.n_depth)
            } else {
                test
            };
            println!(
                "| {} | {} | {} | {} | {:.2} ± {:.2} |",
                r.model, r.model_type, r.n_threads, test, r.avg_ts, r.stddev_ts
            );
        }
    }
    Ok(())
}
