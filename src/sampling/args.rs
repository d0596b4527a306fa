//! Command-line flags (llama.cpp names), flattened into the main CLI.

use anyhow::Result;

use super::settings::{LogitBias, SamplerSettings};

fn parse_bias(s: &str) -> Result<LogitBias, String> {
    LogitBias::parse(s).map_err(|e| e.to_string())
}

/// Sampling flags. Every flag is optional; unset ones keep the base value
/// (llama.cpp defaults for [`SamplingArgs::to_settings`]).
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
#[command(next_help_heading = "Sampling")]
pub struct SamplingArgs {
    /// Temperature (default 0.8; <= 0 is greedy)
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub temp: Option<f32>,
    /// Top-k sampling (default 40, 0 = disabled)
    #[arg(long = "top-k", value_name = "N", allow_negative_numbers = true)]
    pub top_k: Option<i32>,
    /// Top-p (nucleus) sampling (default 0.95, 1.0 = disabled)
    #[arg(long = "top-p", value_name = "P", allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// Min-p sampling (default 0.05, 0.0 = disabled)
    #[arg(long = "min-p", value_name = "P", allow_negative_numbers = true)]
    pub min_p: Option<f32>,
    /// Tail-free sampling parameter z (default 1.0 = disabled)
    #[arg(long = "tfs", value_name = "Z", allow_negative_numbers = true)]
    pub tfs: Option<f32>,
    /// Locally typical sampling parameter p (default 1.0 = disabled)
    #[arg(long = "typical", value_name = "P", allow_negative_numbers = true)]
    pub typical: Option<f32>,
    /// Penalize repeated tokens (default 1.0 = disabled)
    #[arg(
        long = "repeat-penalty",
        value_name = "X",
        allow_negative_numbers = true
    )]
    pub repeat_penalty: Option<f32>,
    /// Last N tokens to consider for penalties (default 64, 0 = disabled, -1 = context size)
    #[arg(
        long = "repeat-last-n",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub repeat_last_n: Option<i32>,
    /// Repeat alpha frequency penalty (default 0.0 = disabled)
    #[arg(
        long = "frequency-penalty",
        value_name = "X",
        allow_negative_numbers = true
    )]
    pub frequency_penalty: Option<f32>,
    /// Repeat alpha presence penalty (default 0.0 = disabled)
    #[arg(
        long = "presence-penalty",
        value_name = "X",
        allow_negative_numbers = true
    )]
    pub presence_penalty: Option<f32>,
    /// Penalize the newline token too
    #[arg(long = "penalize-nl")]
    pub penalize_nl: bool,
    /// Use Mirostat sampling (0 = disabled, 1 = Mirostat, 2 = Mirostat 2.0); top-k/p etc. are ignored
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=2))]
    pub mirostat: Option<u8>,
    /// Mirostat learning rate, eta (default 0.1)
    #[arg(
        long = "mirostat-lr",
        value_name = "ETA",
        allow_negative_numbers = true
    )]
    pub mirostat_lr: Option<f32>,
    /// Mirostat target entropy, tau (default 5.0)
    #[arg(
        long = "mirostat-ent",
        value_name = "TAU",
        allow_negative_numbers = true
    )]
    pub mirostat_ent: Option<f32>,
    /// Negative prompt for classifier-free guidance
    #[arg(long = "cfg-negative-prompt", value_name = "PROMPT")]
    pub cfg_negative_prompt: Option<String>,
    /// Strength of classifier-free guidance (default 1.0 = disabled)
    #[arg(long = "cfg-scale", value_name = "X", allow_negative_numbers = true)]
    pub cfg_scale: Option<f32>,
    /// Modify the likelihood of a token, TOKEN(+|-)BIAS, e.g. 15043+1 or 15043-inf (repeatable)
    #[arg(long = "logit-bias", value_name = "TOKEN(+|-)BIAS", value_parser = parse_bias)]
    pub logit_bias: Vec<LogitBias>,
    /// Ignore end-of-stream tokens and keep generating
    #[arg(long = "ignore-eos")]
    pub ignore_eos: bool,
    /// RNG seed (default -1 = random)
    #[arg(long, value_name = "SEED", allow_negative_numbers = true)]
    pub seed: Option<i64>,
    /// Sampler order, ';'-separated names (top_k;tfs_z;typical_p;top_p;min_p;temperature) or letters (kfypmt)
    #[arg(long, value_name = "ORDER")]
    pub samplers: Option<String>,
    /// Minimum number of candidates the truncating samplers keep (default 0)
    #[arg(long = "min-keep", value_name = "N")]
    pub min_keep: Option<usize>,
}

impl SamplingArgs {
    /// Settings from llama.cpp defaults plus the given flags, validated.
    pub fn to_settings(&self) -> Result<SamplerSettings> {
        self.apply_to(SamplerSettings::default())
    }

    /// Override `base` (e.g. a preset or a config file) with the given flags,
    /// then validate.
    pub fn apply_to(&self, base: SamplerSettings) -> Result<SamplerSettings> {
        let mut s = base;
        macro_rules! set {
            ($($field:ident => $target:ident),* $(,)?) => {
                $(if let Some(v) = self.$field.clone() { s.$target = v; })*
            };
        }
        set!(
            temp => temp,
            top_k => top_k,
            top_p => top_p,
            min_p => min_p,
            tfs => tfs_z,
            typical => typical_p,
            repeat_penalty => repeat_penalty,
            repeat_last_n => repeat_last_n,
            frequency_penalty => frequency_penalty,
            presence_penalty => presence_penalty,
            mirostat => mirostat,
            mirostat_lr => mirostat_eta,
            mirostat_ent => mirostat_tau,
            cfg_negative_prompt => cfg_negative_prompt,
            cfg_scale => cfg_scale,
            seed => seed,
            samplers => samplers,
            min_keep => min_keep,
        );
        if self.penalize_nl {
            s.penalize_nl = true;
        }
        if self.ignore_eos {
            s.ignore_eos = true;
        }
        s.logit_bias.extend(self.logit_bias.iter().copied());
        s.validate()?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        sampling: SamplingArgs,
    }

    fn parse(args: &[&str]) -> Result<SamplerSettings> {
        let cli = Cli::try_parse_from(std::iter::once("hearth").chain(args.iter().copied()))?;
        cli.sampling.to_settings()
    }

    #[test]
    fn no_flags_gives_defaults() {
        assert_eq!(parse(&[]).unwrap(), SamplerSettings::default());
    }

    #[test]
    fn all_flags() {
        let s = parse(&[
            "--temp",
            "0.5",
            "--top-k",
            "0",
            "--top-p",
            "0.9",
            "--min-p",
            "0.1",
            "--tfs",
            "0.95",
            "--typical",
            "0.9",
            "--repeat-penalty",
            "1.1",
            "--repeat-last-n",
            "-1",
            "--frequency-penalty",
            "0.2",
            "--presence-penalty",
            "-0.1",
            "--penalize-nl",
            "--mirostat",
            "2",
            "--mirostat-lr",
            "0.2",
            "--mirostat-ent",
            "4",
            "--cfg-negative-prompt",
            "be rude",
            "--cfg-scale",
            "1.5",
            "--logit-bias",
            "15043+1",
            "--logit-bias",
            "15043-inf",
            "--ignore-eos",
            "--seed",
            "42",
            "--samplers",
            "kpmt",
            "--min-keep",
            "2",
        ])
        .unwrap();
        assert_eq!(s.temp, 0.5);
        assert_eq!(s.top_k, 0);
        assert_eq!(
            (s.top_p, s.min_p, s.tfs_z, s.typical_p),
            (0.9, 0.1, 0.95, 0.9)
        );
        assert_eq!((s.repeat_penalty, s.repeat_last_n), (1.1, -1));
        assert_eq!((s.frequency_penalty, s.presence_penalty), (0.2, -0.1));
        assert!(s.penalize_nl && s.ignore_eos);
        assert_eq!((s.mirostat, s.mirostat_eta, s.mirostat_tau), (2, 0.2, 4.0));
        assert_eq!(
            (s.cfg_negative_prompt.as_str(), s.cfg_scale),
            ("be rude", 1.5)
        );
        assert_eq!(
            s.logit_bias,
            vec![
                LogitBias {
                    token: 15043,
                    bias: 1.0
                },
                LogitBias {
                    token: 15043,
                    bias: f32::NEG_INFINITY
                }
            ]
        );
        assert_eq!((s.seed, s.samplers.as_str(), s.min_keep), (42, "kpmt", 2));
    }

    #[test]
    fn invalid_values_are_rejected_clearly() {
        let e = parse(&["--top-k", "-3"]).unwrap_err().to_string();
        assert!(e.contains("top_k"), "{e}");
        let e = parse(&["--top-p", "1.5"]).unwrap_err().to_string();
        assert!(e.contains("top_p"), "{e}");
        let e = parse(&["--samplers", "top_k;warp"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("warp"), "{e}");
        assert!(parse(&["--mirostat", "3"]).is_err());
        assert!(parse(&["--logit-bias", "15043"]).is_err());
        let e = parse(&["--repeat-last-n", "-2"]).unwrap_err().to_string();
        assert!(e.contains("repeat_last_n"), "{e}");
    }

    #[test]
    fn apply_to_preset_keeps_unset_fields() {
        let cli = Cli::try_parse_from(["hearth", "--seed", "7"]).unwrap();
        let s = cli
            .sampling
            .apply_to(crate::sampling::preset("mirostat").unwrap())
            .unwrap();
        assert_eq!((s.mirostat, s.seed), (2, 7));
    }
}
