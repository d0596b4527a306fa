//! Everything that can change the UI's state. Keys, mouse, paste, resize, engine events and
//! the frame tick all become actions; [`crate::tui::app::App::apply`] is the only mutator.

use crate::engine::protocol::Event;

/// Actions that keys can be bound to (configurable; the help overlay and `docs/keys.md` are
/// generated from this table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bound {
    Send,
    Newline,
    Cancel,
    CancelOrQuit,
    Help,
    Settings,
    SystemPrompt,
    Presets,
    Regenerate,
    EditLast,
    NewChat,
    CopyReply,
    CopyCode,
    Export,
    SaveSession,
    LoadSession,
    ScrollUp,
    ScrollDown,
    PageUp,
    PageDown,
    ScrollTop,
    ScrollBottom,
    HistoryPrev,
    HistoryNext,
    FocusTranscript,
}

impl Bound {
    /// (action, config name, default keys, description)
    pub const TABLE: &'static [(Bound, &'static str, &'static [&'static str], &'static str)] = &[
        (Bound::Send, "send", &["enter"], "send the message"),
        (
            Bound::Newline,
            "newline",
            &["alt-enter", "shift-enter", "ctrl-j"],
            "insert a newline",
        ),
        (
            Bound::Cancel,
            "cancel",
            &["esc"],
            "stop the reply (keeps what was written)",
        ),
        (
            Bound::CancelOrQuit,
            "cancel_or_quit",
            &["ctrl-c"],
            "stop the reply; quit when idle",
        ),
        (
            Bound::Help,
            "help",
            &["f1"],
            "help (also `?` outside the editor)",
        ),
        (
            Bound::Settings,
            "settings",
            &["f2"],
            "sampler / RoPE / context settings panel",
        ),
        (
            Bound::SystemPrompt,
            "system_prompt",
            &["f3"],
            "edit the system prompt",
        ),
        (
            Bound::Presets,
            "presets",
            &["f4"],
            "choose a sampling preset",
        ),
        (
            Bound::Regenerate,
            "regenerate",
            &["ctrl-r"],
            "regenerate the last reply",
        ),
        (
            Bound::EditLast,
            "edit_last",
            &["ctrl-e"],
            "edit and resend the last message",
        ),
        (Bound::NewChat, "new_chat", &["ctrl-n"], "new chat"),
        (
            Bound::CopyReply,
            "copy_reply",
            &["ctrl-y"],
            "copy the last reply (OSC 52)",
        ),
        (
            Bound::CopyCode,
            "copy_code",
            &["alt-y"],
            "copy a code block of the last reply (repeat: previous block)",
        ),
        (
            Bound::Export,
            "export",
            &["ctrl-x"],
            "export the chat to Markdown",
        ),
        (
            Bound::SaveSession,
            "save_session",
            &["ctrl-s"],
            "save the session",
        ),
        (
            Bound::LoadSession,
            "load_session",
            &["ctrl-o"],
            "load a session",
        ),
        (
            Bound::ScrollUp,
            "scroll_up",
            &["ctrl-up", "shift-up"],
            "scroll up a line",
        ),
        (
            Bound::ScrollDown,
            "scroll_down",
            &["ctrl-down", "shift-down"],
            "scroll down a line",
        ),
        (Bound::PageUp, "page_up", &["pageup"], "scroll up a page"),
        (
            Bound::PageDown,
            "page_down",
            &["pagedown"],
            "scroll down a page",
        ),
        (
            Bound::ScrollTop,
            "scroll_top",
            &["ctrl-home"],
            "scroll to the top",
        ),
        (
            Bound::ScrollBottom,
            "scroll_bottom",
            &["ctrl-end"],
            "scroll to the bottom (resumes auto-scroll)",
        ),
        (
            Bound::HistoryPrev,
            "history_prev",
            &["alt-p"],
            "previous input (also Up on the first line)",
        ),
        (
            Bound::HistoryNext,
            "history_next",
            &["alt-n"],
            "next input (also Down on the last line)",
        ),
        (
            Bound::FocusTranscript,
            "focus_transcript",
            &["tab"],
            "move focus to the transcript (vim keys)",
        ),
    ];

    pub fn from_name(name: &str) -> Option<Bound> {
        Self::TABLE.iter().find(|r| r.1 == name).map(|r| r.0)
    }
    pub fn name(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|r| r.0 == self)
            .map(|r| r.1)
            .unwrap_or("?")
    }
    pub fn description(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|r| r.0 == self)
            .map(|r| r.3)
            .unwrap_or("")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Bound(Bound),
    // Text editing (the input, the system prompt editor and settings fields).
    Insert(char),
    Paste(String),
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    WordLeft,
    WordRight,
    ClearLine,
    // Transcript focus (vim keys).
    ScrollLines(i32),
    HalfPage(i32),
    FocusInput,
    Quit,
    // Overlays.
    Close,
    SelectPrev,
    SelectNext,
    Increase {
        big: bool,
    },
    Decrease {
        big: bool,
    },
    /// Enter in a list: edit the field / choose the entry.
    Choose,
    /// Apply the staged settings that need the cache re-processed.
    ApplyStaged,
    Confirm,
    Deny,
    // Outside input.
    Resize(u16, u16),
    Engine(Event),
}
