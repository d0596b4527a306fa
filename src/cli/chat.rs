//! `hearth chat` (and bare `hearth`): the full-screen chat.

use crate::config::{config_path, Config, Log};
use crate::context::{default_threads, ContextParams};
use crate::engine::protocol::{Command, ContextSettings};
use crate::engine::thread::{EngineConfig, EngineHandle};
use crate::sampling::{preset, SamplingArgs};
use crate::session::SessionStore;
use crate::tui::app::{App, AppOptions, Effect};
use crate::tui::keymap::KeyMap;
use crate::tui::theme::Theme;
use crate::tui::{event_loop, terminal};
use anyhow::{bail, Context as _, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct ChatArgs {
    /// The GGUF model file (default: models/SmolLM2-135M-Instruct.Q4_1.gguf, else the config's)
    #[arg(short = 'm', long = "model", value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Context size in tokens (default 4096, or the config's)
    #[arg(short = 'c', long = "ctx-size", value_name = "N")]
    pub ctx_size: Option<usize>,
    /// Worker threads (default: the number of physical cores)
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Theme: dark, light, high-contrast, or a theme file
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
    /// System prompt
    #[arg(long, value_name = "PROMPT")]
    pub system: Option<String>,
    /// Sampling preset: greedy, balanced, creative, mirostat
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// RoPE base frequency (default: from the model)
    #[arg(long = "rope-freq-base", value_name = "F")]
    pub rope_freq_base: Option<f32>,
    /// RoPE frequency scaling factor (default: from the model)
    #[arg(long = "rope-freq-scale", value_name = "F")]
    pub rope_freq_scale: Option<f32>,
    /// Resume the saved session NAME (with --new: start a new chat saved as NAME)
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,
    /// With --session: start a new session instead of resuming one
    #[arg(long = "new", requires = "session")]
    pub new_session: bool,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// Checks that `path` is a readable GGUF file, with a message that says what to do.
pub fn check_model(path: &Path) -> Result<()> {
    let hint = match config_path() {
        Some(c) => format!("pass -m FILE, or set `model = \"...\"` in {}", c.display()),
        None => "pass -m FILE".into(),
    };
    if !path.exists() {
        bail!("model file not found: {} ({hint})", path.display());
    }
    if path.is_dir() {
        bail!(
            "{} is a directory, not a GGUF model file ({hint})",
            path.display()
        );
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .with_context(|| format!("cannot read the model file {}", path.display()))?;
    if &magic != b"GGUF" {
        bail!("{} is not a GGUF model file ({hint})", path.display());
    }
    Ok(())
}

pub fn run(args: &ChatArgs) -> Result<()> {
    // Everything that can fail clearly is checked before the screen is taken over.
    let config = Config::load()?;
    let model = config.resolve_model(args.model.as_deref());
    check_model(&model)?;
    let theme_name = args
        .theme
        .clone()
        .or(config.theme.clone())
        .unwrap_or_else(|| "dark".into());
    let theme = Theme::choose(&theme_name)?;
    let keymap = KeyMap::with_overrides(&config.keys)?;
    let preset_name = args
        .preset
        .clone()
        .or(config.preset.clone())
        .unwrap_or_else(|| "balanced".into());
    let base = preset(&preset_name)?;
    let sampler = args.sampling.apply_to(base.clone())?;
    let preset_label = if sampler == base {
        preset_name.to_ascii_lowercase()
    } else {
        "custom".into()
    };
    let n_ctx = args.ctx_size.or(config.ctx_size).unwrap_or(4096);
    if n_ctx < 16 {
        bail!("--ctx-size must be at least 16");
    }
    let threads = args.threads.unwrap_or_else(default_threads);
    if threads == 0 || threads > 1024 {
        bail!("--threads must be between 1 and 1024");
    }
    for (name, v) in [
        ("--rope-freq-base", args.rope_freq_base),
        ("--rope-freq-scale", args.rope_freq_scale),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                bail!("{name} must be positive");
            }
        }
    }
    let params = ContextParams {
        n_ctx,
        n_threads: threads,
        n_batch: 512,
        rope_freq_base: args.rope_freq_base,
        rope_freq_scale: args.rope_freq_scale,
    };
    let system_prompt = args
        .system
        .clone()
        .or(config.system_prompt.clone())
        .unwrap_or_default();

    if let Some(name) = &args.session {
        let store = SessionStore::open_default()?;
        let exists = store.exists(name)?;
        if args.new_session && exists {
            bail!(
                "a session named {name:?} already exists in {}; resume it with `--session {name}` or choose another name",
                store.dir().display()
            );
        }
        if !args.new_session && !exists {
            bail!(
                "there is no session named {name:?} in {}; start one with `--session {name} --new`",
                store.dir().display()
            );
        }
    }
    let autosave = config.autosave.unwrap_or(true);

    let mut log = Log::open();
    log.write(&format!("chat: model {}", model.display()));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = EngineHandle::spawn(
        EngineConfig {
            model: model.clone(),
            params,
            settings: sampler.clone(),
        },
        tx,
    )?;
    if let (Some(name), false) = (&args.session, args.new_session) {
        // Handled once the model is loaded; the KV cache is restored, nothing re-evaluated.
        engine.send(Command::LoadSession { name: name.clone() });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;

    let mut guard = terminal::setup().context("cannot set up the terminal")?;
    let size = guard.terminal.size()?;
    let mut app = App::new(AppOptions {
        theme,
        keymap,
        sampler,
        preset: preset_label,
        ctx: ContextSettings {
            n_ctx,
            rope_freq_base: args.rope_freq_base,
            rope_freq_scale: args.rope_freq_scale,
        },
        system_prompt,
        size: (size.width, size.height),
    });
    app.autosave = autosave;
    if let Some(name) = &args.session {
        app.session = name.clone();
    }
    let mut side = |e: Effect| -> Option<String> {
        match e {
            Effect::Clipboard(text) => terminal::osc52(&text)
                .err()
                .map(|e| format!("clipboard: {e}")),
            Effect::Export(md) => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let path = PathBuf::from(format!("hearth-chat-{secs}.md"));
                Some(match std::fs::write(&path, md) {
                    Ok(()) => format!("exported to {}", path.display()),
                    Err(e) => format!("export failed: {e}"),
                })
            }
            Effect::Engine(_) => None,
        }
    };
    let input = crossterm::event::EventStream::new();
    let result = rt.block_on(event_loop(
        &mut guard.terminal,
        &mut app,
        input,
        &engine,
        rx,
        &mut side,
        |_, _| {},
    ));
    drop(guard);
    engine.shutdown();
    log.write("chat: exit");
    result.context("terminal error")?;
    Ok(())
}
