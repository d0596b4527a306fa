//! Key handling as a pure function: `(keymap, mode, key) → action`. Bindable actions come
//! from [`Bound::TABLE`] (overridable in the config file); keys inside panels are fixed.

use super::action::{Action, Bound};
use anyhow::{bail, Result};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use std::collections::BTreeMap;

/// Where the keys go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The message editor has focus.
    Input,
    /// The transcript has focus (vim-style scrolling).
    Transcript,
    Help,
    Settings,
    /// Typing a value into a settings field.
    FieldEdit,
    SystemPrompt,
    Confirm,
    Picker,
}

/// One key with modifiers, e.g. `ctrl-r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeySpec {
    pub code: KeyCodeOrd,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

/// `KeyCode` with an order (for maps); only the codes that can be bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyCodeOrd {
    Char(char),
    F(u8),
    Enter,
    Esc,
    Tab,
    Backspace,
    Delete,
    Insert,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
}

impl KeySpec {
    pub fn parse(s: &str) -> Result<KeySpec> {
        let s = s.trim();
        let mut k = KeySpec {
            code: KeyCodeOrd::Esc,
            ctrl: false,
            alt: false,
            shift: false,
        };
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-").or(lower.strip_prefix("c-")) {
                k.ctrl = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-").or(lower.strip_prefix("m-")) {
                k.alt = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("shift-").or(lower.strip_prefix("s-")) {
                k.shift = true;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let lower = rest.to_ascii_lowercase();
        k.code = match lower.as_str() {
            "enter" | "return" => KeyCodeOrd::Enter,
            "esc" | "escape" => KeyCodeOrd::Esc,
            "tab" => KeyCodeOrd::Tab,
            "backspace" => KeyCodeOrd::Backspace,
            "delete" | "del" => KeyCodeOrd::Delete,
            "insert" => KeyCodeOrd::Insert,
            "up" => KeyCodeOrd::Up,
            "down" => KeyCodeOrd::Down,
            "left" => KeyCodeOrd::Left,
            "right" => KeyCodeOrd::Right,
            "home" => KeyCodeOrd::Home,
            "end" => KeyCodeOrd::End,
            "pageup" | "pgup" => KeyCodeOrd::PageUp,
            "pagedown" | "pgdn" => KeyCodeOrd::PageDown,
            "space" => KeyCodeOrd::Char(' '),
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCodeOrd::F(f[1..].parse().unwrap())
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCodeOrd::Char(if k.ctrl || k.alt {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }),
                    _ => bail!("unknown key '{s}'"),
                }
            }
        };
        Ok(k)
    }

    /// From a terminal key event (None for keys that cannot be bound).
    pub fn from_event(ev: &KeyEvent) -> Option<KeySpec> {
        let m = ev.modifiers;
        let mut shift = m.contains(KeyModifiers::SHIFT);
        let code = match ev.code {
            KeyCode::Char(c) => {
                // Shift is part of the character itself.
                shift = false;
                let c = if m.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                KeyCodeOrd::Char(c)
            }
            KeyCode::F(n) => KeyCodeOrd::F(n),
            KeyCode::Enter => KeyCodeOrd::Enter,
            KeyCode::Esc => KeyCodeOrd::Esc,
            KeyCode::Tab => KeyCodeOrd::Tab,
            KeyCode::BackTab => {
                shift = true;
                KeyCodeOrd::Tab
            }
            KeyCode::Backspace => KeyCodeOrd::Backspace,
            KeyCode::Delete => KeyCodeOrd::Delete,
            KeyCode::Insert => KeyCodeOrd::Insert,
            KeyCode::Up => KeyCodeOrd::Up,
            KeyCode::Down => KeyCodeOrd::Down,
            KeyCode::Left => KeyCodeOrd::Left,
            KeyCode::Right => KeyCodeOrd::Right,
            KeyCode::Home => KeyCodeOrd::Home,
            KeyCode::End => KeyCodeOrd::End,
            KeyCode::PageUp => KeyCodeOrd::PageUp,
            KeyCode::PageDown => KeyCodeOrd::PageDown,
            _ => return None,
        };
        Some(KeySpec {
            code,
            ctrl: m.contains(KeyModifiers::CONTROL),
            alt: m.contains(KeyModifiers::ALT),
            shift,
        })
    }
}

impl std::fmt::Display for KeySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        if self.shift {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCodeOrd::Char(' ') => f.write_str("Space"),
            KeyCodeOrd::Char(c) if self.ctrl || self.alt => write!(f, "{}", c.to_ascii_uppercase()),
            KeyCodeOrd::Char(c) => write!(f, "{c}"),
            KeyCodeOrd::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The bindable keys.
#[derive(Clone, Debug)]
pub struct KeyMap {
    map: BTreeMap<KeySpec, Bound>,
}

impl Default for KeyMap {
    fn default() -> Self {
        let mut map = BTreeMap::new();
        for (b, _, keys, _) in Bound::TABLE {
            for k in *keys {
                map.insert(KeySpec::parse(k).expect("default keys parse"), *b);
            }
        }
        KeyMap { map }
    }
}

impl KeyMap {
    /// Defaults with the config file's `[keys]` section applied: each named action gets
    /// exactly the listed keys.
    pub fn with_overrides(overrides: &BTreeMap<String, Vec<String>>) -> Result<KeyMap> {
        let mut km = KeyMap::default();
        for (name, keys) in overrides {
            let Some(b) = Bound::from_name(name) else {
                bail!(
                    "unknown action '{name}' in [keys] (known: {})",
                    Bound::TABLE
                        .iter()
                        .map(|r| r.1)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            km.map.retain(|_, v| *v != b);
            for k in keys {
                km.map.insert(KeySpec::parse(k)?, b);
            }
        }
        Ok(km)
    }

    pub fn lookup(&self, k: &KeySpec) -> Option<Bound> {
        self.map.get(k).copied()
    }

    /// Keys bound to `b`, for the help overlay.
    pub fn keys_for(&self, b: Bound) -> Vec<KeySpec> {
        self.map
            .iter()
            .filter(|(_, v)| **v == b)
            .map(|(k, _)| *k)
            .collect()
    }
}

/// Fixed keys of the panels and the transcript focus, for the help overlay and the docs.
pub const FIXED_KEYS: &[(&str, &str, &str)] = &[
    (
        "editor",
        "Up / Down",
        "move between lines; history at the first / last line",
    ),
    (
        "editor",
        "Left / Right / Home / End",
        "move the cursor (Ctrl-Left/Right: by word)",
    ),
    ("editor", "Ctrl-U", "clear the input"),
    (
        "editor",
        "paste",
        "bracketed paste inserts the text as one edit",
    ),
    ("transcript", "j / k", "scroll a line"),
    ("transcript", "Ctrl-D / Ctrl-U", "scroll half a page"),
    ("transcript", "Ctrl-F / Ctrl-B", "scroll a page"),
    ("transcript", "g / G", "top / bottom"),
    ("transcript", "?", "help"),
    ("transcript", "i / Tab / Esc", "back to the editor"),
    ("transcript", "q", "quit (when idle)"),
    ("any", "mouse wheel", "scroll the transcript"),
    ("settings", "Up / Down (k / j)", "choose a setting"),
    (
        "settings",
        "Left / Right (h / l)",
        "change it (Shift: bigger steps)",
    ),
    ("settings", "Enter", "type a value"),
    ("settings", "a", "apply changes that re-process the context"),
    ("settings", "Esc / F2", "close"),
    ("dialogs", "y / Enter, n / Esc", "confirm, cancel"),
    (
        "system prompt",
        "Enter / Esc",
        "save / discard (Alt-Enter: newline)",
    ),
];

fn is(k: &KeyEvent, code: KeyCode) -> bool {
    k.code == code
}

/// Maps a key to an action in `mode`. Pure: no state is read but the mode and keymap.
pub fn map_key(km: &KeyMap, mode: Mode, key: &KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let spec = KeySpec::from_event(key);
    let bound = spec.and_then(|s| km.lookup(&s));
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    // Ctrl-C works everywhere.
    if bound == Some(Bound::CancelOrQuit) {
        return Some(Action::Bound(Bound::CancelOrQuit));
    }
    match mode {
        Mode::Input => {
            if let Some(b) = bound {
                return Some(Action::Bound(b));
            }
            editor_key(key, ctrl, alt)
        }
        Mode::Transcript => {
            if let KeyCode::Char(c) = key.code {
                if !alt {
                    let a = match (ctrl, c) {
                        (false, 'j') => Action::ScrollLines(-1),
                        (false, 'k') => Action::ScrollLines(1),
                        (true, 'd') => Action::HalfPage(-1),
                        (true, 'u') => Action::HalfPage(1),
                        (true, 'f') => Action::Bound(Bound::PageDown),
                        (true, 'b') => Action::Bound(Bound::PageUp),
                        (false, 'g') => Action::Bound(Bound::ScrollTop),
                        (false, 'G') => Action::Bound(Bound::ScrollBottom),
                        (false, '?') => Action::Bound(Bound::Help),
                        (false, 'i') | (false, 'a') => Action::FocusInput,
                        (false, 'q') => Action::Quit,
                        _ => return bound.map(Action::Bound),
                    };
                    return Some(a);
                }
            }
            match key.code {
                KeyCode::Up => return Some(Action::ScrollLines(1)),
                KeyCode::Down => return Some(Action::ScrollLines(-1)),
                KeyCode::Tab | KeyCode::Enter => return Some(Action::FocusInput),
                _ => {}
            }
            if bound == Some(Bound::Cancel) {
                return Some(Action::Bound(Bound::Cancel));
            }
            bound.map(Action::Bound)
        }
        Mode::Help => match key.code {
            KeyCode::Esc | KeyCode::F(1) | KeyCode::Char('q') | KeyCode::Char('?') => {
                Some(Action::Close)
            }
            KeyCode::Up | KeyCode::Char('k') => Some(Action::ScrollLines(1)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::ScrollLines(-1)),
            _ if bound == Some(Bound::Help) => Some(Action::Close),
            _ => None,
        },
        Mode::Settings => {
            let big = key.modifiers.contains(KeyModifiers::SHIFT);
            match key.code {
                KeyCode::Esc | KeyCode::F(2) => Some(Action::Close),
                KeyCode::Up | KeyCode::Char('k') => Some(Action::SelectPrev),
                KeyCode::Down | KeyCode::Char('j') => Some(Action::SelectNext),
                KeyCode::Left | KeyCode::Char('h') => Some(Action::Decrease { big }),
                KeyCode::Right | KeyCode::Char('l') => Some(Action::Increase { big }),
                KeyCode::Char('H') => Some(Action::Decrease { big: true }),
                KeyCode::Char('L') => Some(Action::Increase { big: true }),
                KeyCode::Enter => Some(Action::Choose),
                KeyCode::Char('a') | KeyCode::Char('A') => Some(Action::ApplyStaged),
                KeyCode::Char('?') | KeyCode::F(1) => Some(Action::Bound(Bound::Help)),
                _ if bound == Some(Bound::Settings) => Some(Action::Close),
                _ => None,
            }
        }
        Mode::FieldEdit => match key.code {
            KeyCode::Esc => Some(Action::Close),
            KeyCode::Enter => Some(Action::Choose),
            _ => editor_key(key, ctrl, alt),
        },
        Mode::SystemPrompt => match key.code {
            KeyCode::Esc => Some(Action::Close),
            KeyCode::Enter if !(alt || key.modifiers.contains(KeyModifiers::SHIFT)) => {
                Some(Action::Choose)
            }
            _ if bound == Some(Bound::Newline) => Some(Action::Bound(Bound::Newline)),
            _ => editor_key(key, ctrl, alt),
        },
        Mode::Confirm => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => Some(Action::Confirm),
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => Some(Action::Deny),
            _ => None,
        },
        Mode::Picker => match key.code {
            KeyCode::Esc => Some(Action::Close),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::SelectPrev),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::SelectNext),
            KeyCode::Enter => Some(Action::Choose),
            _ => None,
        },
    }
}

fn editor_key(key: &KeyEvent, ctrl: bool, alt: bool) -> Option<Action> {
    Some(match key.code {
        KeyCode::Char('u') if ctrl => Action::ClearLine,
        KeyCode::Char('a') if ctrl => Action::Home,
        KeyCode::Char(c) if !ctrl && !alt => Action::Insert(c),
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Delete => Action::Delete,
        KeyCode::Left if ctrl || alt => Action::WordLeft,
        KeyCode::Right if ctrl || alt => Action::WordRight,
        KeyCode::Left => Action::Left,
        KeyCode::Right => Action::Right,
        KeyCode::Up => Action::Up,
        KeyCode::Down => Action::Down,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        _ if is(key, KeyCode::Tab) => Action::Insert('\t'),
        _ => return None,
    })
}

/// The mouse: the wheel scrolls the transcript.
pub fn map_mouse(ev: &MouseEvent) -> Option<Action> {
    match ev.kind {
        MouseEventKind::ScrollUp => Some(Action::ScrollLines(3)),
        MouseEventKind::ScrollDown => Some(Action::ScrollLines(-3)),
        _ => None,
    }
}
