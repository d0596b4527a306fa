//! The chat TUI: a tokio event loop that selects over terminal events, engine events and a
//! frame tick, and draws from the state once per frame.
//!
//! - `app.rs`: the state and its only mutator (`App::apply`)
//! - `action.rs`, `keymap.rs`: actions, and keys → actions (a pure function)
//! - `components/`: drawing (reads the state only); `ui.rs` puts them together
//! - `markdown.rs`, `highlight.rs`: transcript rendering
//! - `theme.rs`, `terminal.rs`: themes, terminal setup and restore

pub mod action;
pub mod app;
pub mod components;
pub mod editor;
pub mod fields;
pub mod highlight;
pub mod keymap;
pub mod markdown;
pub mod terminal;
pub mod theme;
pub mod ui;

use crate::engine::protocol::Event;
use crate::engine::thread::EngineHandle;
use action::Action;
use app::{App, Effect};
use crossterm::event::Event as TermEvent;
use futures_util::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::Terminal;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// One frame: the loop draws at most this often (and only when something changed).
pub const FRAME: Duration = Duration::from_millis(25);

/// Turns a terminal event into an action (keys through the key map).
pub fn term_action(app: &App, ev: TermEvent) -> Option<Action> {
    match ev {
        TermEvent::Key(k) => keymap::map_key(&app.keymap, app.mode, &k),
        TermEvent::Mouse(m) => keymap::map_mouse(&m),
        TermEvent::Paste(s) => Some(Action::Paste(s)),
        TermEvent::Resize(w, h) => Some(Action::Resize(w, h)),
        _ => None,
    }
}

/// Carries out the side effects that are not engine commands; returns a message to show.
pub type SideEffects<'a> = dyn FnMut(Effect) -> Option<String> + 'a;

/// The event loop. `on_frame` is called after each drawn frame (tests look at the buffer).
pub async fn event_loop<B: Backend, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut input: S,
    engine: &EngineHandle,
    mut events: UnboundedReceiver<Event>,
    side: &mut SideEffects<'_>,
    mut on_frame: impl FnMut(&Terminal<B>, &App),
) -> std::io::Result<()>
where
    S: Stream<Item = std::io::Result<TermEvent>> + Unpin,
{
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    let mut input_open = true;
    loop {
        tokio::select! {
            ev = input.next(), if input_open => match ev {
                Some(Ok(ev)) => {
                    if let Some(a) = term_action(app, ev) {
                        app.apply(a);
                        dirty = true;
                    }
                }
                Some(Err(_)) | None => input_open = false,
            },
            ev = events.recv() => {
                if let Some(ev) = ev {
                    app.apply(Action::Engine(ev));
                    // Take every event already waiting: one frame for a burst of tokens.
                    while let Ok(ev) = events.try_recv() {
                        app.apply(Action::Engine(ev));
                    }
                    dirty = true;
                }
            }
            _ = tick.tick() => {
                if dirty {
                    let size = terminal.size()?;
                    if (size.width, size.height) != app.size {
                        app.apply(Action::Resize(size.width, size.height));
                    }
                    terminal.draw(|f| ui::draw(f, app))?;
                    on_frame(terminal, app);
                    dirty = false;
                }
            }
        }
        for e in std::mem::take(&mut app.effects) {
            match e {
                Effect::Engine(c) => engine.send(c),
                other => {
                    if let Some(msg) = side(other) {
                        app.banner = Some(msg);
                        dirty = true;
                    }
                }
            }
        }
        if app.quit {
            return Ok(());
        }
    }
}
