//! `hearth generate`: complete a prompt, streaming the text to stdout; timings to stderr.

use super::common::{ModelArgs, TextArgs};
use crate::context::Context;
use crate::engine::{Generator, Guidance};
use crate::model::{Model, Outputs};
use crate::sampling::SamplingArgs;
use crate::session::prompt_cache;
use crate::tokenizer::{StreamDecoder, Tokenizer};
use anyhow::{bail, Result};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub text: TextArgs,
    /// Tokens to generate (-1: until end of generation or a full context)
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    pub n_predict: i64,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Reuse the evaluated prompt from FILE when it matches, and save the prompt's state there
    #[arg(long = "prompt-cache", value_name = "FILE")]
    pub prompt_cache: Option<PathBuf>,
    /// Save the generated tokens to the prompt cache too (at the end)
    #[arg(long = "prompt-cache-all", requires = "prompt_cache")]
    pub prompt_cache_all: bool,
    /// Use the prompt cache but never write it
    #[arg(long = "prompt-cache-ro", requires = "prompt_cache")]
    pub prompt_cache_ro: bool,
}

pub fn run(args: &GenerateArgs) -> Result<()> {
    let settings = args.sampling.to_settings()?;
    let params = args.model.context_params()?;
    let prompt = args.text.text()?;
    if args.n_predict < -1 {
        bail!("--n-predict must be -1 or more");
    }
    let model = Model::load(&args.model.model)?;
    let tokenizer = Tokenizer::from_gguf(&model.file)?;
    let mut ctx = Context::new(&model, params)?;
    let tokens = tokenizer.tokenize(&prompt, true, true);
    if tokens.is_empty() {
        bail!("the prompt is empty");
    }
    if tokens.len() >= params.n_ctx {
        bail!(
            "the prompt has {} tokens, which does not fit a context of {} (raise -c)",
            tokens.len(),
            params.n_ctx
        );
    }
    let mut gen = Generator::new(settings.clone(), &tokenizer, params.n_ctx)?;
    if settings.cfg_scale != 1.0 {
        gen.guidance = Some(Guidance::new(
            &model,
            &tokenizer,
            params,
            &settings.cfg_negative_prompt,
            settings.cfg_scale,
        )?);
    }

    let t0 = Instant::now();
    let mut save_prompt = false;
    if let Some(path) = &args.prompt_cache {
        match prompt_cache::load_into(path, &model, &params, &mut ctx, &tokens) {
            Ok(None) => {
                eprintln!("prompt cache {}: not found, creating it", path.display());
                save_prompt = true;
            }
            Ok(Some(r)) => {
                eprintln!(
                    "prompt cache {}: reusing {} of {} prompt tokens ({} cached)",
                    path.display(),
                    r.reused,
                    tokens.len(),
                    r.cached
                );
                save_prompt = r.matched < tokens.len();
            }
            Err(e) => {
                eprintln!(
                    "warning: ignoring prompt cache {}: {e}{}",
                    path.display(),
                    if args.prompt_cache_ro {
                        ""
                    } else {
                        " (it will be replaced)"
                    }
                );
                save_prompt = true;
            }
        }
    }
    let n_reused = ctx.n_past();
    ctx.eval(&model, &tokens[n_reused..], Outputs::Last, |_, _| {})?;
    let prompt_time = t0.elapsed().as_secs_f64();
    if let Some(path) = &args.prompt_cache {
        if save_prompt && !args.prompt_cache_ro {
            prompt_cache::save(path, &model, &ctx)?;
        }
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut decoder = StreamDecoder::new(false);
    let t1 = Instant::now();
    let mut n_gen = 0u64;
    let mut stop = "length";
    loop {
        if args.n_predict >= 0 && n_gen >= args.n_predict as u64 {
            break;
        }
        let tok = gen.sample(&ctx);
        n_gen += 1;
        if tokenizer.is_eog(tok) && !settings.ignore_eos {
            stop = "end of generation";
            break;
        }
        out.write_all(decoder.push(&tokenizer, tok).as_bytes())?;
        out.flush()?;
        if ctx.n_past() >= params.n_ctx {
            stop = "context full";
            break;
        }
        gen.accept(&model, &mut ctx, tok)?;
    }
    out.write_all(decoder.flush().as_bytes())?;
    out.flush()?;
    let gen_time = t1.elapsed().as_secs_f64();
    if let Some(path) = &args.prompt_cache {
        if args.prompt_cache_all && !args.prompt_cache_ro {
            prompt_cache::save(path, &model, &ctx)?;
        }
    }
    eprintln!();
    let n_eval = tokens.len() - n_reused;
    eprintln!(
        "prompt: {} tokens ({} from the cache) in {:.3} s ({:.1} tokens/s)",
        tokens.len(),
        n_reused,
        prompt_time,
        n_eval as f64 / prompt_time.max(1e-9)
    );
    eprintln!(
        "generation: {} tokens in {:.3} s ({:.1} tokens/s), stopped: {stop}",
        n_gen,
        gen_time,
        n_gen as f64 / gen_time.max(1e-9)
    );
    if let Some(kib) = peak_rss_kib() {
        eprintln!("memory: peak resident {:.1} MiB", kib as f64 / 1024.0);
    }
    Ok(())
}

/// The process's peak resident set (`VmHWM`), where the OS reports it (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
