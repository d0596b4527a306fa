//! One step of generation, shared by `hearth generate` and the chat engine: sample from the
//! context's logits (mixed with a classifier-free guidance context when one is active), then
//! feed the chosen token to every context.

use crate::context::Context;
use crate::model::{Model, Outputs};
use crate::sampling::{apply_guidance, Sampler, SamplerSettings};
use crate::tokenizer::Tokenizer;
use anyhow::Result;

/// A second context that follows the conversation from a negative prompt.
pub struct Guidance {
    pub ctx: Context,
    pub scale: f32,
}

impl Guidance {
    /// Evaluates the negative prompt in a fresh context.
    pub fn new(
        model: &Model,
        tokenizer: &Tokenizer,
        params: crate::context::ContextParams,
        negative_prompt: &str,
        scale: f32,
    ) -> Result<Guidance> {
        let mut ctx = Context::new(model, params)?;
        let toks = tokenizer.tokenize(negative_prompt, true, true);
        let toks = if toks.is_empty() {
            tokenizer.bos().into_iter().collect()
        } else {
            toks
        };
        ctx.eval(model, &toks, Outputs::Last, |_, _| {})?;
        Ok(Guidance { ctx, scale })
    }
}

pub struct Generator {
    pub sampler: Sampler,
    pub guidance: Option<Guidance>,
    mixed: Vec<f32>,
}

impl Generator {
    pub fn new(settings: SamplerSettings, tokenizer: &Tokenizer, n_ctx: usize) -> Result<Self> {
        let v = tokenizer.vocab();
        let eog: Vec<u32> = (0..tokenizer.n_tokens() as u32)
            .filter(|&t| tokenizer.is_eog(t))
            .collect();
        let mut sampler = Sampler::new(settings, tokenizer.n_tokens(), &eog, v.nl)?;
        sampler.set_context_size(n_ctx);
        Ok(Generator {
            sampler,
            guidance: None,
            mixed: Vec::new(),
        })
    }

    /// Picks the next token from `ctx`'s last logits (does not accept it).
    pub fn sample(&mut self, ctx: &Context) -> u32 {
        match &self.guidance {
            Some(g) if g.scale != 1.0 => {
                self.mixed.clear();
                self.mixed.extend_from_slice(ctx.logits());
                apply_guidance(&mut self.mixed, g.ctx.logits(), g.scale);
                self.sampler.sample(&self.mixed)
            }
            _ => self.sampler.sample(ctx.logits()),
        }
    }

    /// Accepts `tok` and evaluates it in the context (and the guidance context).
    pub fn accept(&mut self, model: &Model, ctx: &mut Context, tok: u32) -> Result<()> {
        self.sampler.accept(tok);
        ctx.eval(model, &[tok], Outputs::Last, |_, _| {})?;
        if let Some(g) = &mut self.guidance {
            if g.ctx.n_past() < g.ctx.n_ctx() {
                g.ctx.eval(model, &[tok], Outputs::Last, |_, _| {})?;
            }
        }
        Ok(())
    }
}
