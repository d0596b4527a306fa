//! The rows of the settings panel: how each shows, steps and parses its value.

use crate::engine::protocol::{ContextSettings, ModelInfo};
use crate::sampling::{preset, SamplerSettings, PRESETS};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Preset,
    Temp,
    TopK,
    TopP,
    MinP,
    TfsZ,
    TypicalP,
    RepeatPenalty,
    RepeatLastN,
    FrequencyPenalty,
    PresencePenalty,
    PenalizeNl,
    Mirostat,
    MirostatTau,
    MirostatEta,
    Seed,
    CfgScale,
    CfgNegativePrompt,
    RopeFreqBase,
    RopeFreqScale,
    CtxSize,
}

/// What a row edits: the live sampler settings (applied at the next token) or the staged
/// values that re-process the context when applied.
pub struct Values<'a> {
    pub sampler: &'a mut SamplerSettings,
    pub preset: &'a mut String,
    pub ctx: &'a mut ContextSettings,
    pub negative_prompt: &'a mut String,
}

impl Field {
    pub const ALL: [Field; 21] = [
        Field::Preset,
        Field::Temp,
        Field::TopK,
        Field::TopP,
        Field::MinP,
        Field::TfsZ,
        Field::TypicalP,
        Field::RepeatPenalty,
        Field::RepeatLastN,
        Field::FrequencyPenalty,
        Field::PresencePenalty,
        Field::PenalizeNl,
        Field::Mirostat,
        Field::MirostatTau,
        Field::MirostatEta,
        Field::Seed,
        Field::CfgScale,
        Field::CfgNegativePrompt,
        Field::RopeFreqBase,
        Field::RopeFreqScale,
        Field::CtxSize,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Field::Preset => "preset",
            Field::Temp => "temperature",
            Field::TopK => "top-k",
            Field::TopP => "top-p",
            Field::MinP => "min-p",
            Field::TfsZ => "tail-free z",
            Field::TypicalP => "typical p",
            Field::RepeatPenalty => "repeat penalty",
            Field::RepeatLastN => "penalty window",
            Field::FrequencyPenalty => "frequency penalty",
            Field::PresencePenalty => "presence penalty",
            Field::PenalizeNl => "penalize newline",
            Field::Mirostat => "mirostat mode",
            Field::MirostatTau => "mirostat tau",
            Field::MirostatEta => "mirostat eta",
            Field::Seed => "seed",
            Field::CfgScale => "CFG scale",
            Field::CfgNegativePrompt => "CFG negative prompt",
            Field::RopeFreqBase => "RoPE freq base",
            Field::RopeFreqScale => "RoPE freq scale",
            Field::CtxSize => "context size",
        }
    }

    /// Changing it invalidates the KV cache (staged until applied).
    pub fn needs_reprocess(self) -> bool {
        matches!(
            self,
            Field::CfgNegativePrompt | Field::RopeFreqBase | Field::RopeFreqScale | Field::CtxSize
        )
    }

    /// Text entry instead of stepping.
    pub fn is_text(self) -> bool {
        self == Field::CfgNegativePrompt
    }

    pub fn show(self, v: &Values, model: Option<&ModelInfo>) -> String {
        let s = &*v.sampler;
        match self {
            Field::Preset => v.preset.clone(),
            Field::Temp => format!("{:.2}", s.temp),
            Field::TopK => s.top_k.to_string(),
            Field::TopP => format!("{:.2}", s.top_p),
            Field::MinP => format!("{:.2}", s.min_p),
            Field::TfsZ => format!("{:.2}", s.tfs_z),
            Field::TypicalP => format!("{:.2}", s.typical_p),
            Field::RepeatPenalty => format!("{:.2}", s.repeat_penalty),
            Field::RepeatLastN => s.repeat_last_n.to_string(),
            Field::FrequencyPenalty => format!("{:.2}", s.frequency_penalty),
            Field::PresencePenalty => format!("{:.2}", s.presence_penalty),
            Field::PenalizeNl => if s.penalize_nl { "on" } else { "off" }.into(),
            Field::Mirostat => match s.mirostat {
                0 => "off".into(),
                n => format!("v{n}"),
            },
            Field::MirostatTau => format!("{:.2}", s.mirostat_tau),
            Field::MirostatEta => format!("{:.3}", s.mirostat_eta),
            Field::Seed => {
                if s.seed < 0 {
                    "random".into()
                } else {
                    s.seed.to_string()
                }
            }
            Field::CfgScale => format!("{:.2}", s.cfg_scale),
            Field::CfgNegativePrompt => {
                if v.negative_prompt.is_empty() {
                    "(none)".into()
                } else {
                    format!("\"{}\"", v.negative_prompt)
                }
            }
            Field::RopeFreqBase => match v.ctx.rope_freq_base {
                Some(b) => format!("{b}"),
                None => match model {
                    Some(m) => format!("{} (model)", m.rope_freq_base),
                    None => "model".into(),
                },
            },
            Field::RopeFreqScale => match v.ctx.rope_freq_scale {
                Some(b) => format!("{b}"),
                None => match model {
                    Some(m) => format!("{} (model)", m.rope_freq_scale),
                    None => "model".into(),
                },
            },
            Field::CtxSize => v.ctx.n_ctx.to_string(),
        }
    }

    /// Steps the value by `dir` (±1); `big` steps further.
    pub fn step(self, v: &mut Values, dir: i32, big: bool, model: Option<&ModelInfo>) {
        let d = dir as f32;
        let s = &mut *v.sampler;
        let unit = |x: &mut f32, step: f32| *x = ((*x + d * step) * 1000.0).round() / 1000.0;
        let clamp01 = |x: &mut f32| *x = x.clamp(0.0, 1.0);
        let f = if big { 5.0 } else { 1.0 };
        match self {
            Field::Preset => {
                let i = PRESETS.iter().position(|p| p == v.preset).unwrap_or(0) as i32;
                let n = PRESETS.len() as i32;
                let j = (i + dir).rem_euclid(n) as usize;
                let keep_neg = s.cfg_negative_prompt.clone();
                if let Ok(p) = preset(PRESETS[j]) {
                    *s = SamplerSettings {
                        cfg_negative_prompt: keep_neg,
                        ..p
                    };
                    *v.preset = PRESETS[j].to_string();
                }
            }
            Field::Temp => {
                unit(&mut s.temp, 0.05 * f);
                s.temp = s.temp.clamp(0.0, 5.0);
            }
            Field::TopK => s.top_k = (s.top_k + dir * if big { 10 } else { 1 }).max(0),
            Field::TopP => {
                unit(&mut s.top_p, 0.01 * f);
                clamp01(&mut s.top_p)
            }
            Field::MinP => {
                unit(&mut s.min_p, 0.01 * f);
                clamp01(&mut s.min_p)
            }
            Field::TfsZ => {
                unit(&mut s.tfs_z, 0.01 * f);
                clamp01(&mut s.tfs_z)
            }
            Field::TypicalP => {
                unit(&mut s.typical_p, 0.01 * f);
                clamp01(&mut s.typical_p)
            }
            Field::RepeatPenalty => {
                unit(&mut s.repeat_penalty, 0.01 * f);
                s.repeat_penalty = s.repeat_penalty.max(0.01)
            }
            Field::RepeatLastN => {
                s.repeat_last_n = (s.repeat_last_n + dir * if big { 64 } else { 8 }).max(-1)
            }
            Field::FrequencyPenalty => unit(&mut s.frequency_penalty, 0.05 * f),
            Field::PresencePenalty => unit(&mut s.presence_penalty, 0.05 * f),
            Field::PenalizeNl => s.penalize_nl = !s.penalize_nl,
            Field::Mirostat => s.mirostat = ((s.mirostat as i32 + dir).rem_euclid(3)) as u8,
            Field::MirostatTau => {
                unit(&mut s.mirostat_tau, 0.1 * f);
                s.mirostat_tau = s.mirostat_tau.max(0.0)
            }
            Field::MirostatEta => {
                unit(&mut s.mirostat_eta, 0.01 * f);
                s.mirostat_eta = s.mirostat_eta.max(0.0)
            }
            Field::Seed => s.seed = (s.seed + (dir as i64) * if big { 100 } else { 1 }).max(-1),
            Field::CfgScale => {
                unit(&mut s.cfg_scale, 0.1 * f);
                s.cfg_scale = s.cfg_scale.max(0.0)
            }
            Field::CfgNegativePrompt => {}
            Field::RopeFreqBase => {
                let cur = v
                    .ctx
                    .rope_freq_base
                    .or(model.map(|m| m.rope_freq_base))
                    .unwrap_or(10000.0);
                let k: f32 = if big { 2.0 } else { 1.25 };
                let nv = if dir > 0 { cur * k } else { cur / k };
                v.ctx.rope_freq_base = Some(nv.round().max(1.0));
            }
            Field::RopeFreqScale => {
                let cur = v
                    .ctx
                    .rope_freq_scale
                    .or(model.map(|m| m.rope_freq_scale))
                    .unwrap_or(1.0);
                let mut nv = cur + d * if big { 0.25 } else { 0.05 };
                nv = (nv * 100.0).round() / 100.0;
                v.ctx.rope_freq_scale = Some(nv.max(0.05));
            }
            Field::CtxSize => {
                let n = v.ctx.n_ctx;
                v.ctx.n_ctx = if dir > 0 {
                    (n * 2).min(1 << 20)
                } else {
                    (n / 2).max(128)
                };
            }
        }
    }

    /// The value as typed text (for editing).
    pub fn raw(self, v: &Values) -> String {
        match self {
            Field::CfgNegativePrompt => v.negative_prompt.clone(),
            Field::Seed => v.sampler.seed.to_string(),
            Field::RopeFreqBase => v
                .ctx
                .rope_freq_base
                .map(|x| x.to_string())
                .unwrap_or_default(),
            Field::RopeFreqScale => v
                .ctx
                .rope_freq_scale
                .map(|x| x.to_string())
                .unwrap_or_default(),
            _ => self.show(v, None),
        }
    }

    /// Sets the value from typed text.
    pub fn set(self, v: &mut Values, text: &str) -> Result<(), String> {
        let t = text.trim();
        let f = || {
            t.parse::<f32>()
                .map_err(|_| format!("{}: not a number: {t}", self.label()))
        };
        let i = || {
            t.parse::<i64>()
                .map_err(|_| format!("{}: not an integer: {t}", self.label()))
        };
        let s = &mut *v.sampler;
        match self {
            Field::Preset => {
                let p = preset(t).map_err(|e| e.to_string())?;
                *s = SamplerSettings {
                    cfg_negative_prompt: s.cfg_negative_prompt.clone(),
                    ..p
                };
                *v.preset = t.to_ascii_lowercase();
            }
            Field::Temp => s.temp = f()?,
            Field::TopK => s.top_k = i()? as i32,
            Field::TopP => s.top_p = f()?,
            Field::MinP => s.min_p = f()?,
            Field::TfsZ => s.tfs_z = f()?,
            Field::TypicalP => s.typical_p = f()?,
            Field::RepeatPenalty => s.repeat_penalty = f()?,
            Field::RepeatLastN => s.repeat_last_n = i()? as i32,
            Field::FrequencyPenalty => s.frequency_penalty = f()?,
            Field::PresencePenalty => s.presence_penalty = f()?,
            Field::PenalizeNl => {
                s.penalize_nl = matches!(t, "on" | "true" | "1" | "yes");
            }
            Field::Mirostat => {
                s.mirostat = match t {
                    "off" | "0" => 0,
                    "v1" | "1" => 1,
                    "v2" | "2" => 2,
                    _ => return Err(format!("mirostat: 0, 1 or 2, got {t}")),
                }
            }
            Field::MirostatTau => s.mirostat_tau = f()?,
            Field::MirostatEta => s.mirostat_eta = f()?,
            Field::Seed => {
                s.seed = if t == "random" { -1 } else { i()? };
            }
            Field::CfgScale => s.cfg_scale = f()?,
            Field::CfgNegativePrompt => *v.negative_prompt = text.to_string(),
            Field::RopeFreqBase => {
                v.ctx.rope_freq_base = if t.is_empty() || t == "model" {
                    None
                } else {
                    let x = f()?;
                    if !(x > 0.0 && x.is_finite()) {
                        return Err("RoPE base must be positive".into());
                    }
                    Some(x)
                }
            }
            Field::RopeFreqScale => {
                v.ctx.rope_freq_scale = if t.is_empty() || t == "model" {
                    None
                } else {
                    let x = f()?;
                    if !(x > 0.0 && x.is_finite()) {
                        return Err("RoPE scale must be positive".into());
                    }
                    Some(x)
                }
            }
            Field::CtxSize => {
                let n = i()?;
                if !(16..=(1 << 22)).contains(&n) {
                    return Err(format!("context size must be 16 or more, got {n}"));
                }
                v.ctx.n_ctx = n as usize;
            }
        }
        if !self.needs_reprocess() {
            v.sampler.validate().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
