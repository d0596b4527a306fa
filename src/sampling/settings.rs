//! Sampler settings (plain data), validation, sampler-order parsing, presets.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::candidates::TokenId;

/// One configurable truncation/scaling stage of the classic chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    TopK,
    TailFree,
    Typical,
    TopP,
    MinP,
    Temperature,
}

impl SamplerKind {
    pub const ALL: [SamplerKind; 6] = [
        SamplerKind::TopK,
        SamplerKind::TailFree,
        SamplerKind::Typical,
        SamplerKind::TopP,
        SamplerKind::MinP,
        SamplerKind::Temperature,
    ];

    /// llama.cpp's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            SamplerKind::TopK => "top_k",
            SamplerKind::TailFree => "tfs_z",
            SamplerKind::Typical => "typical_p",
            SamplerKind::TopP => "top_p",
            SamplerKind::MinP => "min_p",
            SamplerKind::Temperature => "temperature",
        }
    }

    /// llama.cpp's single-letter code (`--sampling-seq`).
    pub fn letter(self) -> char {
        match self {
            SamplerKind::TopK => 'k',
            SamplerKind::TailFree => 'f',
            SamplerKind::Typical => 'y',
            SamplerKind::TopP => 'p',
            SamplerKind::MinP => 'm',
            SamplerKind::Temperature => 't',
        }
    }

    /// Canonical names plus llama.cpp's alternative spellings.
    pub fn from_name(name: &str) -> Option<Self> {
        let n = name.trim().to_ascii_lowercase().replace('-', "_");
        Some(match n.as_str() {
            "top_k" => SamplerKind::TopK,
            "tfs_z" | "tfs" | "tail_free" => SamplerKind::TailFree,
            "typical_p" | "typical" | "typ_p" | "typ" => SamplerKind::Typical,
            "top_p" | "nucleus" => SamplerKind::TopP,
            "min_p" => SamplerKind::MinP,
            "temperature" | "temp" => SamplerKind::Temperature,
            _ => return None,
        })
    }

    pub fn from_letter(c: char) -> Option<Self> {
        SamplerKind::ALL.into_iter().find(|k| k.letter() == c)
    }
}

pub const DEFAULT_SAMPLERS: &str = "top_k;tfs_z;typical_p;top_p;min_p;temperature";

/// Parse a sampler order: names separated by `;` or `,` (e.g.
/// `"top_k;top_p;temperature"`), or the single-letter form (`"kfypmt"`).
/// Names win when a string is valid both ways (e.g. `"typ"`).
pub fn parse_sampler_order(s: &str) -> Result<Vec<SamplerKind>, SettingsError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = s
        .split([';', ','])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let by_name: Option<Vec<SamplerKind>> =
        parts.iter().map(|p| SamplerKind::from_name(p)).collect();
    if let Some(v) = by_name {
        return Ok(v);
    }
    if parts.len() == 1 {
        if let Some(v) = s
            .chars()
            .map(SamplerKind::from_letter)
            .collect::<Option<Vec<_>>>()
        {
            return Ok(v);
        }
    }
    let bad = parts
        .iter()
        .find(|p| SamplerKind::from_name(p).is_none())
        .copied()
        .unwrap_or(s);
    Err(SettingsError::UnknownSampler(bad.to_string()))
}

/// Format an order with canonical names (round-trips through the parser).
pub fn format_sampler_order(order: &[SamplerKind]) -> String {
    order.iter().map(|k| k.name()).collect::<Vec<_>>().join(";")
}

/// A bias added to one token's logit. Serialized with infinities as the
/// strings `"-inf"` / `"inf"` (JSON has no infinity).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogitBias {
    pub token: TokenId,
    #[serde(with = "inf_f32")]
    pub bias: f32,
}

impl LogitBias {
    /// Parse llama.cpp's `TOKEN(+|-)BIAS`, e.g. `15043+1`, `15043-inf`.
    pub fn parse(s: &str) -> Result<Self, SettingsError> {
        let bad = || SettingsError::BadLogitBias(s.to_string());
        let s2 = s.trim();
        let pos = s2.find(['+', '-']).ok_or_else(bad)?;
        let (tok, rest) = s2.split_at(pos);
        let token: TokenId = tok.trim().parse().map_err(|_| bad())?;
        let (sign, val) = rest.split_at(1);
        let mag: f32 = val.trim().parse().map_err(|_| bad())?;
        if mag.is_nan() || val.trim().starts_with(['+', '-']) {
            return Err(bad());
        }
        let bias = if sign == "-" { -mag } else { mag };
        Ok(LogitBias { token, bias })
    }
}

impl fmt::Display for LogitBias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bias.is_sign_negative() {
            write!(f, "{}-{}", self.token, -self.bias)
        } else {
            write!(f, "{}+{}", self.token, self.bias)
        }
    }
}

mod inf_f32 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f32),
        Str(String),
    }

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f32(*v)
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" => Ok(f32::INFINITY),
                "-inf" | "-infinity" => Ok(f32::NEG_INFINITY),
                other => other.parse().map_err(serde::de::Error::custom),
            },
        }
    }
}

/// All sampling knobs. `Default` gives llama.cpp's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplerSettings {
    /// Temperature; `<= 0` means greedy.
    pub temp: f32,
    /// Top-k; 0 disables.
    pub top_k: i32,
    /// Top-p (nucleus); 1.0 disables.
    pub top_p: f32,
    /// Min-p; 0.0 disables.
    pub min_p: f32,
    /// Tail-free z; 1.0 disables.
    pub tfs_z: f32,
    /// Locally typical p; 1.0 disables.
    pub typical_p: f32,
    /// Repetition penalty; 1.0 disables.
    pub repeat_penalty: f32,
    /// Penalty window; 0 disables, -1 = context size.
    pub repeat_last_n: i32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    /// Whether the newline token is penalized too.
    pub penalize_nl: bool,
    /// 0 = off, 1 = Mirostat, 2 = Mirostat 2.0.
    pub mirostat: u8,
    /// Mirostat target entropy τ (`--mirostat-ent`).
    pub mirostat_tau: f32,
    /// Mirostat learning rate η (`--mirostat-lr`).
    pub mirostat_eta: f32,
    /// RNG seed; -1 = random.
    pub seed: i64,
    /// Classifier-free guidance scale; 1.0 disables.
    pub cfg_scale: f32,
    pub cfg_negative_prompt: String,
    pub logit_bias: Vec<LogitBias>,
    /// Ban end-of-generation tokens.
    pub ignore_eos: bool,
    /// Stage order (names or letters, see [`parse_sampler_order`]).
    pub samplers: String,
    /// Minimum candidates the truncating stages keep (0 behaves as 1).
    pub min_keep: usize,
}

impl Default for SamplerSettings {
    fn default() -> Self {
        Self {
            temp: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            tfs_z: 1.0,
            typical_p: 1.0,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalize_nl: false,
            mirostat: 0,
            mirostat_tau: 5.0,
            mirostat_eta: 0.1,
            seed: -1,
            cfg_scale: 1.0,
            cfg_negative_prompt: String::new(),
            logit_bias: Vec::new(),
            ignore_eos: false,
            samplers: DEFAULT_SAMPLERS.to_string(),
            min_keep: 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("{name} must be {expected}, got {value}")]
    OutOfRange {
        name: &'static str,
        expected: &'static str,
        value: String,
    },
    #[error("unknown sampler '{0}' (expected names from: top_k, tfs_z, typical_p, top_p, min_p, temperature; or letters from 'kfypmt')")]
    UnknownSampler(String),
    #[error(
        "invalid logit bias '{0}' (expected TOKEN+BIAS or TOKEN-BIAS, e.g. 15043+1 or 15043-inf)"
    )]
    BadLogitBias(String),
    #[error("logit bias token {token} is outside the vocabulary (size {n_vocab})")]
    BiasTokenOutOfVocab { token: TokenId, n_vocab: usize },
    #[error("unknown sampling preset '{0}' (available: {list})", list = PRESETS.join(", "))]
    UnknownPreset(String),
}

fn range_err(
    name: &'static str,
    expected: &'static str,
    value: impl fmt::Display,
) -> SettingsError {
    SettingsError::OutOfRange {
        name,
        expected,
        value: value.to_string(),
    }
}

impl SamplerSettings {
    /// Check every value; the error names the offending setting.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let unit = |name: &'static str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(range_err(name, "within [0, 1]", v))
            }
        };
        let finite = |name: &'static str, v: f32| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(range_err(name, "a finite number", v))
            }
        };
        finite("temp", self.temp)?;
        if self.top_k < 0 {
            return Err(range_err("top_k", ">= 0 (0 disables)", self.top_k));
        }
        unit("top_p", self.top_p)?;
        unit("min_p", self.min_p)?;
        unit("tfs_z", self.tfs_z)?;
        unit("typical_p", self.typical_p)?;
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(range_err(
                "repeat_penalty",
                "> 0 (1.0 disables)",
                self.repeat_penalty,
            ));
        }
        if self.repeat_last_n < -1 {
            return Err(range_err(
                "repeat_last_n",
                ">= 0, or -1 for the context size",
                self.repeat_last_n,
            ));
        }
        finite("frequency_penalty", self.frequency_penalty)?;
        finite("presence_penalty", self.presence_penalty)?;
        if self.mirostat > 2 {
            return Err(range_err("mirostat", "0, 1 or 2", self.mirostat));
        }
        if !(self.mirostat_tau.is_finite() && self.mirostat_tau >= 0.0) {
            return Err(range_err("mirostat_tau", ">= 0", self.mirostat_tau));
        }
        if !(self.mirostat_eta.is_finite() && self.mirostat_eta >= 0.0) {
            return Err(range_err("mirostat_eta", ">= 0", self.mirostat_eta));
        }
        if self.seed < -1 {
            return Err(range_err("seed", ">= 0, or -1 for random", self.seed));
        }
        if !(self.cfg_scale.is_finite() && self.cfg_scale >= 0.0) {
            return Err(range_err(
                "cfg_scale",
                ">= 0 (1.0 disables)",
                self.cfg_scale,
            ));
        }
        for lb in &self.logit_bias {
            if lb.bias.is_nan() {
                return Err(SettingsError::BadLogitBias(format!("{}+NaN", lb.token)));
            }
        }
        parse_sampler_order(&self.samplers)?;
        Ok(())
    }

    /// The parsed stage order.
    pub fn sampler_order(&self) -> Result<Vec<SamplerKind>, SettingsError> {
        parse_sampler_order(&self.samplers)
    }

    /// Classifier-free guidance is active.
    pub fn cfg_enabled(&self) -> bool {
        self.cfg_scale != 1.0
    }

    /// Penalty window size given the context size (-1 -> n_ctx).
    pub fn penalty_window(&self, n_ctx: usize) -> usize {
        if self.repeat_last_n < 0 {
            n_ctx
        } else {
            self.repeat_last_n as usize
        }
    }
}

/// Available preset names.
pub const PRESETS: &[&str] = &["greedy", "balanced", "creative", "mirostat"];

/// Names of the presets.
pub fn preset_names() -> &'static [&'static str] {
    PRESETS
}

/// A named preset.
pub fn preset(name: &str) -> Result<SamplerSettings, SettingsError> {
    let d = SamplerSettings::default();
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "greedy" => SamplerSettings {
            temp: 0.0,
            top_k: 1,
            ..d
        },
        "balanced" | "default" => d,
        "creative" => SamplerSettings {
            temp: 1.1,
            top_k: 100,
            top_p: 0.98,
            min_p: 0.02,
            repeat_penalty: 1.05,
            presence_penalty: 0.2,
            ..d
        },
        "mirostat" => SamplerSettings {
            mirostat: 2,
            mirostat_tau: 5.0,
            mirostat_eta: 0.1,
            temp: 1.0,
            ..d
        },
        _ => return Err(SettingsError::UnknownPreset(name.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_llama_cpp() {
        let d = SamplerSettings::default();
        assert_eq!((d.temp, d.top_k, d.top_p, d.min_p), (0.8, 40, 0.95, 0.05));
        assert_eq!((d.tfs_z, d.typical_p, d.repeat_penalty), (1.0, 1.0, 1.0));
        assert_eq!(
            (d.repeat_last_n, d.frequency_penalty, d.presence_penalty),
            (64, 0.0, 0.0)
        );
        assert!(!d.penalize_nl && !d.ignore_eos);
        assert_eq!((d.mirostat, d.mirostat_tau, d.mirostat_eta), (0, 5.0, 0.1));
        assert_eq!((d.seed, d.cfg_scale), (-1, 1.0));
        assert_eq!(d.sampler_order().unwrap(), SamplerKind::ALL.to_vec());
        d.validate().unwrap();
    }

    #[test]
    fn order_parsing() {
        use SamplerKind::*;
        assert_eq!(
            parse_sampler_order("kfypmt").unwrap(),
            SamplerKind::ALL.to_vec()
        );
        assert_eq!(
            parse_sampler_order("min_p;temperature;top_k").unwrap(),
            vec![MinP, Temperature, TopK]
        );
        assert_eq!(
            parse_sampler_order("top-p, temp").unwrap(),
            vec![TopP, Temperature]
        );
        assert_eq!(parse_sampler_order("mk").unwrap(), vec![MinP, TopK]);
        assert_eq!(parse_sampler_order("typ").unwrap(), vec![Typical]);
        assert_eq!(parse_sampler_order("").unwrap(), vec![]);
        let e = parse_sampler_order("top_k;bogus").unwrap_err();
        assert_eq!(e, SettingsError::UnknownSampler("bogus".into()));
        assert!(e.to_string().contains("bogus"));
        assert!(parse_sampler_order("kx").is_err());
        let s = format_sampler_order(&SamplerKind::ALL);
        assert_eq!(s, DEFAULT_SAMPLERS);
    }

    #[test]
    fn logit_bias_parsing() {
        assert_eq!(
            LogitBias::parse("15043+1").unwrap(),
            LogitBias {
                token: 15043,
                bias: 1.0
            }
        );
        assert_eq!(LogitBias::parse("15043-1.5").unwrap().bias, -1.5);
        assert_eq!(
            LogitBias::parse("15043-inf").unwrap().bias,
            f32::NEG_INFINITY
        );
        assert_eq!(LogitBias::parse("7+inf").unwrap().bias, f32::INFINITY);
        for bad in ["15043", "abc+1", "1+x", "1+nan", "+1", "1--1", ""] {
            assert!(LogitBias::parse(bad).is_err(), "{bad}");
        }
        let lb = LogitBias::parse("3-inf").unwrap();
        assert_eq!(LogitBias::parse(&lb.to_string()).unwrap(), lb);
    }

    #[test]
    fn serde_roundtrip_with_infinite_bias() {
        let s = SamplerSettings {
            logit_bias: vec![
                LogitBias {
                    token: 1,
                    bias: f32::NEG_INFINITY,
                },
                LogitBias {
                    token: 2,
                    bias: 0.5,
                },
            ],
            seed: 42,
            samplers: "kmt".into(),
            ..Default::default()
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"-inf\""));
        let back: SamplerSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        // missing fields take defaults
        let partial: SamplerSettings = serde_json::from_str(r#"{"temp": 0.5}"#).unwrap();
        assert_eq!(
            partial,
            SamplerSettings {
                temp: 0.5,
                ..Default::default()
            }
        );
    }

    #[test]
    fn validation_errors() {
        let d = SamplerSettings::default;
        let cases: Vec<(SamplerSettings, &str)> = vec![
            (SamplerSettings { top_k: -1, ..d() }, "top_k"),
            (SamplerSettings { top_p: 1.5, ..d() }, "top_p"),
            (SamplerSettings { top_p: -0.1, ..d() }, "top_p"),
            (SamplerSettings { min_p: 2.0, ..d() }, "min_p"),
            (SamplerSettings { tfs_z: -1.0, ..d() }, "tfs_z"),
            (
                SamplerSettings {
                    typical_p: 1.1,
                    ..d()
                },
                "typical_p",
            ),
            (
                SamplerSettings {
                    temp: f32::NAN,
                    ..d()
                },
                "temp",
            ),
            (
                SamplerSettings {
                    repeat_penalty: 0.0,
                    ..d()
                },
                "repeat_penalty",
            ),
            (
                SamplerSettings {
                    repeat_last_n: -2,
                    ..d()
                },
                "repeat_last_n",
            ),
            (SamplerSettings { mirostat: 3, ..d() }, "mirostat"),
            (
                SamplerSettings {
                    mirostat_tau: -1.0,
                    ..d()
                },
                "mirostat_tau",
            ),
            (SamplerSettings { seed: -5, ..d() }, "seed"),
            (
                SamplerSettings {
                    samplers: "top_k;nope".into(),
                    ..d()
                },
                "nope",
            ),
            (
                SamplerSettings {
                    frequency_penalty: f32::INFINITY,
                    ..d()
                },
                "frequency_penalty",
            ),
        ];
        for (s, needle) in cases {
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        SamplerSettings {
            repeat_last_n: -1,
            ..d()
        }
        .validate()
        .unwrap();
        SamplerSettings {
            temp: -1.0,
            top_k: 0,
            ..d()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn presets() {
        for name in preset_names() {
            preset(name).unwrap().validate().unwrap();
        }
        assert_eq!(preset("greedy").unwrap().temp, 0.0);
        assert_eq!(preset("balanced").unwrap(), SamplerSettings::default());
        assert_eq!(preset("mirostat").unwrap().mirostat, 2);
        assert!(preset("creative").unwrap().temp > 1.0);
        assert!(preset("wild").unwrap_err().to_string().contains("greedy"));
    }
}
