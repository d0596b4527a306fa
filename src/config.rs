//! The user's configuration file (`config.toml` in the platform's config directory, or
//! `$HEARTH_CONFIG`): default model, theme, sampling preset, system prompt, key bindings.
//! Logs go to the platform's data directory.

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The default model, relative to the current directory.
pub const DEFAULT_MODEL: &str = "models/SmolLM2-135M-Instruct.Q4_1.gguf";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Model used when none is given on the command line.
    pub model: Option<PathBuf>,
    /// Theme name (dark, light, high-contrast) or a path to a theme TOML file.
    pub theme: Option<String>,
    /// Sampling preset (greedy, balanced, creative, mirostat).
    pub preset: Option<String>,
    pub system_prompt: Option<String>,
    pub ctx_size: Option<usize>,
    /// Save the named session after each completed reply (default: on).
    pub autosave: Option<bool>,
    /// Action name → keys, e.g. `regenerate = ["ctrl-r", "f5"]`.
    pub keys: BTreeMap<String, Vec<String>>,
}

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "hearth")
}

/// Where the configuration file is looked for.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HEARTH_CONFIG") {
        return Some(PathBuf::from(p));
    }
    dirs().map(|d| d.config_dir().join("config.toml"))
}

/// Where the log file goes.
pub fn log_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HEARTH_LOG") {
        return PathBuf::from(p);
    }
    dirs()
        .map(|d| d.data_local_dir().join("hearth.log"))
        .unwrap_or_else(|| std::env::temp_dir().join("hearth.log"))
}

impl Config {
    /// Parses a configuration text.
    pub fn parse(text: &str) -> Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// Reads the configuration file; a missing file gives the defaults.
    pub fn load() -> Result<Config> {
        match config_path() {
            Some(p) => Self::load_from(&p),
            None => Ok(Config::default()),
        }
    }

    pub fn load_from(path: &Path) -> Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text).with_context(|| format!("in {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The model to use: the command line's, else `models/…` in the current directory when it
    /// exists, else the configured one, else the default path (which the caller reports).
    pub fn resolve_model(&self, cli: Option<&Path>) -> PathBuf {
        if let Some(p) = cli {
            return p.to_path_buf();
        }
        let local = PathBuf::from(DEFAULT_MODEL);
        if local.exists() {
            return local;
        }
        self.model.clone().unwrap_or(local)
    }
}

/// A minimal append-only log file (the UI owns the screen, so nothing is printed).
pub struct Log {
    file: Option<std::fs::File>,
}

impl Log {
    pub fn open() -> Log {
        let p = log_path();
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok();
        Log { file }
    }

    pub fn write(&mut self, msg: &str) {
        use std::io::Write;
        if let Some(f) = &mut self.file {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let _ = writeln!(f, "{t:.3} {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_full_config() {
        let c = Config::parse(
            r#"
model = "/m/x.gguf"
theme = "light"
preset = "greedy"
system_prompt = "Be brief."
ctx_size = 2048
[keys]
regenerate = ["ctrl-r", "f5"]
"#,
        )
        .unwrap();
        assert_eq!(c.theme.as_deref(), Some("light"));
        assert_eq!(c.ctx_size, Some(2048));
        assert_eq!(c.keys["regenerate"], vec!["ctrl-r", "f5"]);
        assert!(Config::parse("bogus = 1").is_err());
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn cli_model_wins() {
        let c = Config {
            model: Some("/cfg.gguf".into()),
            ..Default::default()
        };
        assert_eq!(
            c.resolve_model(Some(Path::new("/a.gguf"))),
            PathBuf::from("/a.gguf")
        );
    }
}
