//! The engine thread: owns the model and its contexts (so rayon work never runs on the UI's
//! async workers), takes [`Command`]s from a channel and reports [`Event`]s.

use super::chat::{ChatEngine, Control};
use super::protocol::{Command, Event, StopReason};
use crate::context::ContextParams;
use crate::sampling::SamplerSettings;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::mpsc::UnboundedSender;

/// What the engine thread starts from.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub model: PathBuf,
    pub params: ContextParams,
    pub settings: SamplerSettings,
}

/// The UI's handle on the engine thread.
pub struct EngineHandle {
    tx: mpsc::Sender<Command>,
    cancel: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl EngineHandle {
    /// Starts the thread; it loads the model and reports `Loaded` (or `Error`).
    pub fn spawn(config: EngineConfig, events: UnboundedSender<Event>) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let join = std::thread::Builder::new()
            .name("hearth-engine".into())
            .spawn(move || run(config, rx, events, flag))?;
        Ok(EngineHandle {
            tx,
            cancel,
            join: Some(join),
        })
    }

    /// Sends a command. `Cancel` also raises the flag the generation loop checks per token.
    pub fn send(&self, cmd: Command) {
        if matches!(cmd, Command::Cancel | Command::Shutdown) {
            self.cancel.store(true, Ordering::SeqCst);
        }
        let _ = self.tx.send(cmd);
    }

    /// Asks the thread to stop and waits for it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.send(Command::Shutdown);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    config: EngineConfig,
    rx: mpsc::Receiver<Command>,
    events: UnboundedSender<Event>,
    cancel: Arc<AtomicBool>,
) {
    let emit = |e: Event| {
        let _ = events.send(e);
    };
    let mut engine = match ChatEngine::load(&config.model, config.params, config.settings) {
        Ok(e) => e,
        Err(e) => {
            emit(Event::Error(format!("cannot load the model: {e:#}")));
            // Stay alive so that the UI can still quit cleanly.
            while let Ok(cmd) = rx.recv() {
                if let Command::Shutdown = cmd {
                    return;
                }
            }
            return;
        }
    };
    emit(Event::Loaded {
        info: engine.info(),
        n_ctx: engine.ctx.n_ctx(),
    });
    // Commands that arrived while generating and still need handling.
    let mut deferred: Vec<Command> = Vec::new();
    loop {
        let cmd = match deferred.pop() {
            Some(c) => c,
            None => match rx.recv() {
                Ok(c) => c,
                Err(_) => return,
            },
        };
        cancel.store(false, Ordering::SeqCst);
        match cmd {
            Command::Shutdown => return,
            Command::Cancel => {}
            Command::Generate { messages } => {
                let mut shutdown = false;
                let result = {
                    let mut control = |eng: &mut ChatEngine| {
                        while let Ok(c) = rx.try_recv() {
                            match c {
                                Command::UpdateSampler(s) => {
                                    if let Err(e) = eng.update_sampler(s) {
                                        emit(Event::Error(format!("sampler settings: {e:#}")));
                                    }
                                }
                                Command::Cancel => cancel.store(true, Ordering::SeqCst),
                                Command::Shutdown => {
                                    shutdown = true;
                                    cancel.store(true, Ordering::SeqCst);
                                }
                                other => deferred.insert(0, other),
                            }
                        }
                        if cancel.load(Ordering::SeqCst) {
                            Control::Stop
                        } else {
                            Control::Continue
                        }
                    };
                    engine.generate(&messages, &mut |e| emit(e), &mut control)
                };
                let n_past = engine.ctx.n_past();
                match result {
                    Ok((stats, stop)) => emit(Event::Done {
                        stats,
                        stop,
                        n_past,
                    }),
                    Err(e) => {
                        emit(Event::Error(format!("{e:#}")));
                        emit(Event::Done {
                            stats: Default::default(),
                            stop: StopReason::Error,
                            n_past,
                        });
                    }
                }
                if shutdown {
                    return;
                }
            }
            Command::UpdateSampler(s) => {
                if let Err(e) = engine.update_sampler(s) {
                    emit(Event::Error(format!("sampler settings: {e:#}")));
                }
            }
            Command::Reconfigure { settings, messages } => {
                let r = engine
                    .reconfigure(settings)
                    .and_then(|()| engine.prefill(&messages, &mut |e| emit(e)));
                ready(&engine, r, &emit);
            }
            Command::Prefill { messages } => {
                let r = engine.prefill(&messages, &mut |e| emit(e));
                ready(&engine, r, &emit);
            }
            Command::Reset => {
                engine.ctx.truncate(0);
                ready(&engine, Ok((0, 0.0)), &emit);
            }
            Command::SaveSession { name, .. } | Command::LoadSession { name } => {
                emit(Event::Error(format!(
                    "sessions are not available yet (cannot save or load '{name}')"
                )));
            }
        }
    }
}

fn ready(engine: &ChatEngine, r: anyhow::Result<(usize, f64)>, emit: &dyn Fn(Event)) {
    match r {
        Ok((tokens, secs)) => emit(Event::Ready {
            n_past: engine.ctx.n_past(),
            n_ctx: engine.ctx.n_ctx(),
            tokens,
            secs,
        }),
        Err(e) => {
            emit(Event::Error(format!("{e:#}")));
            emit(Event::Ready {
                n_past: engine.ctx.n_past(),
                n_ctx: engine.ctx.n_ctx(),
                tokens: 0,
                secs: 0.0,
            });
        }
    }
}
