//! The chat engine without threads: the model, its contexts and the generator, plus the
//! bookkeeping of a conversation (template rendering, KV-cache reuse, context shifting).
//! `thread.rs` runs it on its own OS thread; tests can drive it directly.

use super::protocol::{ContextSettings, Event, GenStats, ModelInfo, StopReason};
use super::{Generator, Guidance};
use crate::context::{Context, ContextParams};
use crate::model::{Model, Outputs};
use crate::sampling::SamplerSettings;
use crate::tokenizer::{ChatTemplate, Message, StreamDecoder, Tokenizer};
use anyhow::{bail, Result};
use std::path::Path;
use std::time::Instant;

/// What the generation loop asks between tokens.
pub enum Control {
    Continue,
    Stop,
}

/// Length of the common prefix of two token lists.
pub fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Tokens kept free for the reply when fitting a conversation into the context.
pub fn reply_reserve(n_ctx: usize) -> usize {
    (n_ctx / 4).clamp(1, 512)
}

pub struct ChatEngine {
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    pub ctx: Context,
    pub gen: Generator,
    pub params: ContextParams,
    settings: SamplerSettings,
    /// Tokens of the guidance context's negative prompt.
    guidance_len: usize,
}

impl ChatEngine {
    pub fn load(path: &Path, params: ContextParams, settings: SamplerSettings) -> Result<Self> {
        let model = Model::load(path)?;
        let tokenizer = Tokenizer::from_gguf(&model.file)?;
        let template =
            ChatTemplate::from_gguf(&model.file).unwrap_or_else(|_| ChatTemplate::chatml());
        let ctx = Context::new(&model, params)?;
        let gen = Generator::new(settings.clone(), &tokenizer, params.n_ctx)?;
        let mut e = ChatEngine {
            model,
            tokenizer,
            template,
            ctx,
            gen,
            params,
            settings: SamplerSettings::default(),
            guidance_len: 0,
        };
        e.update_sampler(settings)?;
        Ok(e)
    }

    pub fn info(&self) -> ModelInfo {
        let hp = self.model.hparams();
        ModelInfo {
            name: self.model.name.clone(),
            quant: self.model.quant_label(),
            n_ctx_train: hp.n_ctx_train,
            rope_freq_base: self.ctx.forward.rope_freq_base,
            rope_freq_scale: self.ctx.forward.rope_freq_scale,
            builtin_template: self.template.is_builtin(),
        }
    }

    pub fn settings(&self) -> &SamplerSettings {
        &self.settings
    }

    /// The prompt tokens of a conversation (with the opening of the assistant's turn when
    /// `open` is set).
    pub fn prompt_tokens(&self, messages: &[Message], open: bool) -> Result<Vec<u32>> {
        let text = self.template.render(messages, open)?;
        let mut toks = self.tokenizer.tokenize(&text, true, true);
        if let (Some(b), [x, y, ..]) = (self.tokenizer.bos(), toks.as_slice()) {
            if *x == b && *y == b {
                toks.remove(0);
            }
        }
        Ok(toks)
    }

    /// Renders `messages` and drops the oldest messages after the system prompt until the
    /// prompt plus `reserve` tokens fit. Returns the tokens and how many messages were dropped.
    pub fn fit(
        &self,
        messages: &[Message],
        open: bool,
        reserve: usize,
    ) -> Result<(Vec<u32>, usize)> {
        let n_ctx = self.ctx.n_ctx();
        let sys = usize::from(messages.first().is_some_and(|m| m.role == "system"));
        let mut dropped = 0;
        loop {
            let mut conv: Vec<Message> = messages[..sys].to_vec();
            conv.extend_from_slice(&messages[sys + dropped..]);
            let toks = self.prompt_tokens(&conv, open)?;
            if toks.len() + reserve <= n_ctx {
                return Ok((toks, dropped));
            }
            // Keep at least the last message.
            if sys + dropped + 1 >= messages.len() {
                if toks.len() < n_ctx {
                    return Ok((toks, dropped));
                }
                bail!(
                    "the message needs {} tokens, more than the context holds ({n_ctx}); shorten it or raise the context size",
                    toks.len()
                );
            }
            // Drop a whole user/assistant exchange when possible.
            dropped += if messages.len() >= sys + dropped + 3 {
                2
            } else {
                1
            };
        }
    }

    /// Makes the KV cache hold exactly `tokens`, evaluating only what is not there yet.
    /// Returns the number of tokens evaluated.
    pub fn sync(
        &mut self,
        tokens: &[u32],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<usize> {
        let mut keep = common_prefix(self.ctx.tokens(), tokens);
        // The last token is always evaluated again so that its logits are fresh.
        if keep == tokens.len() {
            keep = keep.saturating_sub(1);
        }
        self.ctx.truncate(keep);
        let rest = &tokens[keep..];
        if !rest.is_empty() {
            self.ctx.eval(&self.model, rest, Outputs::Last, progress)?;
        }
        Ok(rest.len())
    }

    /// Applies new sampler settings (at the next token). A changed guidance prompt rebuilds
    /// the guidance context.
    pub fn update_sampler(&mut self, s: SamplerSettings) -> Result<()> {
        s.validate()?;
        self.gen.sampler.update_settings(s.clone())?;
        let neg_changed = s.cfg_negative_prompt != self.settings.cfg_negative_prompt;
        if s.cfg_enabled() {
            if self.gen.guidance.is_none() || neg_changed {
                let g = Guidance::new(
                    &self.model,
                    &self.tokenizer,
                    self.params,
                    &s.cfg_negative_prompt,
                    s.cfg_scale,
                )?;
                self.guidance_len = g.ctx.n_past();
                self.gen.guidance = Some(g);
            }
            if let Some(g) = &mut self.gen.guidance {
                g.scale = s.cfg_scale;
            }
        } else {
            self.gen.guidance = None;
        }
        self.settings = s;
        Ok(())
    }

    /// Installs a restored conversation context and, when one was saved, the generator
    /// (sampler settings and state, guidance context) of a loaded session.
    pub fn install(&mut self, ctx: Context, gen: Option<Generator>) {
        self.ctx = ctx;
        if let Some(gen) = gen {
            let s = gen.sampler.settings().clone();
            self.guidance_len = if gen.guidance.is_some() {
                let toks = self.tokenizer.tokenize(&s.cfg_negative_prompt, true, true);
                if toks.is_empty() {
                    usize::from(self.tokenizer.bos().is_some())
                } else {
                    toks.len()
                }
            } else {
                0
            };
            self.gen = gen;
            self.settings = s;
        }
    }

    /// Rebuilds the contexts with new size / RoPE settings.
    pub fn reconfigure(&mut self, cs: ContextSettings) -> Result<()> {
        let params = ContextParams {
            n_ctx: cs.n_ctx,
            rope_freq_base: cs.rope_freq_base,
            rope_freq_scale: cs.rope_freq_scale,
            ..self.params
        };
        let ctx = Context::new(&self.model, params)?;
        self.ctx = ctx;
        self.params = params;
        self.gen.sampler.set_context_size(params.n_ctx);
        self.gen.guidance = None;
        let s = self.settings.clone();
        self.update_sampler(s)
    }

    /// Brings the guidance context back to the end of its negative prompt.
    fn reset_guidance(&mut self) -> Result<()> {
        let n = self.guidance_len;
        if let Some(g) = &mut self.gen.guidance {
            if n > 0 && g.ctx.n_past() > n {
                let last = g.ctx.tokens()[n - 1];
                g.ctx.truncate(n - 1);
                g.ctx.eval(&self.model, &[last], Outputs::Last, |_, _| {})?;
            }
        }
        Ok(())
    }

    /// Prefills `messages` (closed, no generation prompt). Returns (tokens evaluated, seconds).
    pub fn prefill(
        &mut self,
        messages: &[Message],
        emit: &mut dyn FnMut(Event),
    ) -> Result<(usize, f64)> {
        if messages.is_empty() {
            self.ctx.truncate(0);
            return Ok((0, 0.0));
        }
        let (toks, dropped) = self.fit(messages, false, reply_reserve(self.ctx.n_ctx()))?;
        if dropped > 0 {
            emit(Event::ContextShift { dropped });
        }
        let t0 = Instant::now();
        let n = self.sync(&toks, &mut |done, total| {
            emit(Event::Prefill { done, total })
        })?;
        Ok((n, t0.elapsed().as_secs_f64()))
    }

    /// Generates a reply to `messages`, streaming events through `emit`; `control` is asked
    /// between tokens (cancellation, live sampler updates).
    pub fn generate(
        &mut self,
        messages: &[Message],
        emit: &mut dyn FnMut(Event),
        control: &mut dyn FnMut(&mut ChatEngine) -> Control,
    ) -> Result<(GenStats, StopReason)> {
        let reserve = reply_reserve(self.ctx.n_ctx());
        let (toks, mut dropped) = self.fit(messages, true, reserve)?;
        if dropped > 0 {
            emit(Event::ContextShift { dropped });
        }
        let mut stats = GenStats::default();
        let t0 = Instant::now();
        stats.prompt_tokens = self.sync(&toks, &mut |done, total| {
            emit(Event::Prefill { done, total })
        })?;
        stats.prompt_secs = t0.elapsed().as_secs_f64();
        self.reset_guidance()?;

        let mut decoder = StreamDecoder::new(false);
        let mut generated: Vec<u32> = Vec::new();
        let t1 = Instant::now();
        let mut prompt_time_in_gen = 0.0;
        let stop = loop {
            if let Control::Stop = control(self) {
                break StopReason::Cancelled;
            }
            let tok = self.gen.sample(&self.ctx);
            if self.tokenizer.is_eog(tok) && !self.settings.ignore_eos {
                break StopReason::EndOfGeneration;
            }
            generated.push(tok);
            stats.gen_tokens += 1;
            let text = decoder.push(&self.tokenizer, tok);
            if !text.is_empty() {
                emit(Event::Token {
                    text,
                    n_past: self.ctx.n_past() + 1,
                });
            }
            if self.ctx.n_past() >= self.ctx.n_ctx() {
                // Context shift: drop more old turns, re-process, and go on.
                let sys = usize::from(messages.first().is_some_and(|m| m.role == "system"));
                if sys + dropped + 1 >= messages.len() {
                    break StopReason::ContextFull;
                }
                let mut all = Vec::new();
                while sys + dropped + 1 < messages.len() {
                    dropped += if messages.len() >= sys + dropped + 3 {
                        2
                    } else {
                        1
                    };
                    let mut conv: Vec<Message> = messages[..sys].to_vec();
                    conv.extend_from_slice(&messages[sys + dropped..]);
                    all = self.prompt_tokens(&conv, true)?;
                    all.extend_from_slice(&generated);
                    if all.len() + reserve / 2 <= self.ctx.n_ctx() {
                        break;
                    }
                }
                if all.is_empty() || all.len() + reserve / 2 > self.ctx.n_ctx() {
                    break StopReason::ContextFull;
                }
                emit(Event::ContextShift { dropped });
                let ts = Instant::now();
                // The newest token is fed by `accept` below.
                all.pop();
                self.sync(&all, &mut |done, total| {
                    emit(Event::Prefill { done, total })
                })?;
                prompt_time_in_gen += ts.elapsed().as_secs_f64();
            }
            self.gen.accept(&self.model, &mut self.ctx, tok)?;
        };
        let rest = decoder.flush();
        if !rest.is_empty() {
            emit(Event::Token {
                text: rest,
                n_past: self.ctx.n_past(),
            });
        }
        stats.gen_secs = (t1.elapsed().as_secs_f64() - prompt_time_in_gen).max(0.0);
        Ok((stats, stop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix() {
        assert_eq!(common_prefix(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(common_prefix(&[], &[1]), 0);
        assert_eq!(common_prefix(&[1, 2], &[1, 2, 3]), 2);
    }

    #[test]
    fn reserve_is_bounded() {
        assert_eq!(reply_reserve(4096), 512);
        assert_eq!(reply_reserve(256), 64);
        assert_eq!(reply_reserve(1), 1);
    }
}
