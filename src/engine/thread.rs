//! The engine thread: owns the model and its contexts (so rayon work never runs on the UI's
//! async workers), takes [`Command`]s from a channel and reports [`Event`]s.

use super::chat::{ChatEngine, Control};
use super::protocol::{Command, Event, StopReason};
use crate::context::ContextParams;
use crate::sampling::SamplerSettings;
use crate::session::{now_ms, SessionData, SessionStore, Transcript, TranscriptMessage};
use crate::tokenizer::Message;
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
    // The transcript last saved or loaded (for its timestamps) and its session's creation time.
    let mut last: Option<(String, Transcript, u64)> = None;
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
            Command::SaveSession {
                name,
                transcript,
                overwrite,
            } => {
                let prev = last.as_ref().filter(|(n, ..)| *n == name);
                let t = to_transcript(&transcript, prev.map(|(_, t, _)| t));
                let created = prev.map_or_else(now_ms, |(.., c)| *c);
                let r = SessionStore::open_default().and_then(|store| {
                    let data = SessionData::new(&engine.model, &engine.ctx, &t)
                        .with_generator(&engine.gen)
                        .created(created);
                    store.save(&name, &data, overwrite)
                });
                match r {
                    Ok(_) => {
                        last = Some((name.clone(), t, created));
                        emit(Event::SessionSaved { name });
                    }
                    Err(e) => emit(Event::Error(format!("cannot save session '{name}': {e}"))),
                }
            }
            Command::LoadSession { name } => {
                let r = SessionStore::open_default().and_then(|store| {
                    store.load(&name, &engine.model, &engine.tokenizer, &engine.params)
                });
                match r {
                    Ok(r) => {
                        engine.install(r.context, r.generator);
                        let messages = from_transcript(&r.transcript);
                        last = Some((name.clone(), r.transcript, r.header.created_ms));
                        emit(Event::SessionLoaded {
                            name,
                            transcript: messages,
                            n_past: engine.ctx.n_past(),
                        });
                    }
                    Err(e) if e.is_mismatch() => emit(Event::SessionMismatch {
                        name,
                        reason: e.to_string(),
                    }),
                    Err(e) => emit(Event::Error(format!("cannot load session '{name}': {e}"))),
                }
            }
            Command::ReevaluateSession { name } => {
                let r = SessionStore::open_default().and_then(|store| store.read_transcript(&name));
                match r {
                    Ok(session) => {
                        let messages = from_transcript(&session.transcript);
                        if let Some(s) = session.sampler {
                            if let Err(e) = engine.update_sampler(s.settings) {
                                emit(Event::Error(format!("saved sampler settings: {e:#}")));
                            }
                        }
                        last = Some((name.clone(), session.transcript, session.header.created_ms));
                        emit(Event::SessionLoaded {
                            name,
                            transcript: messages.clone(),
                            n_past: 0,
                        });
                        engine.ctx.truncate(0);
                        let r = engine.prefill(&messages, &mut |e| emit(e));
                        ready(&engine, r, &emit);
                    }
                    Err(e) => emit(Event::Error(format!(
                        "cannot read the transcript of session '{name}': {e}"
                    ))),
                }
            }
        }
    }
}

/// The UI's conversation (system prompt first) as a session transcript; messages that match
/// `prev` (the transcript last saved or loaded) keep their timestamps.
fn to_transcript(messages: &[Message], prev: Option<&Transcript>) -> Transcript {
    let (system_prompt, rest) = match messages.split_first() {
        Some((m, rest)) if m.role == "system" => (Some(m.content.clone()), rest),
        _ => (None, messages),
    };
    let now = now_ms();
    let messages = rest
        .iter()
        .enumerate()
        .map(|(i, m)| TranscriptMessage {
            role: m.role.clone(),
            content: m.content.clone(),
            time_ms: prev
                .and_then(|p| p.messages.get(i))
                .filter(|p| p.role == m.role && p.content == m.content)
                .map_or(now, |p| p.time_ms),
        })
        .collect();
    Transcript {
        system_prompt,
        messages,
    }
}

/// A session transcript as the UI's conversation (system prompt first when there is one).
fn from_transcript(t: &Transcript) -> Vec<Message> {
    let mut v = Vec::new();
    if let Some(s) = t.system_prompt.as_ref().filter(|s| !s.trim().is_empty()) {
        v.push(Message::new("system", s.clone()));
    }
    v.extend(
        t.messages
            .iter()
            .map(|m| Message::new(m.role.clone(), m.content.clone())),
    );
    v
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
