//! The UI's state and its only mutator, [`App::apply`]. Side effects (engine commands,
//! clipboard, files) are queued in `effects` for the event loop to carry out.

use super::action::{Action, Bound};
use super::editor::Editor;
use super::fields::{Field, Values};
use super::keymap::{KeyMap, Mode};
use super::markdown::{code_blocks, render_markdown, render_plain};
use super::theme::Theme;
use crate::engine::protocol::{Command, ContextSettings, Event, GenStats, ModelInfo, StopReason};
use crate::sampling::{preset, SamplerSettings, PRESETS};
use crate::tokenizer::Message;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    Notice,
    Error,
}

/// One entry of the transcript, with its wrapped lines cached for the current width.
#[derive(Clone, Debug)]
pub struct Entry {
    pub role: Role,
    pub content: String,
    pub stop: Option<StopReason>,
    /// Dropped from the context by a context shift.
    pub out_of_context: bool,
    lines: Vec<Line<'static>>,
    width: usize,
}

impl Entry {
    pub fn new(role: Role, content: impl Into<String>) -> Entry {
        Entry {
            role,
            content: content.into(),
            stop: None,
            out_of_context: false,
            lines: Vec::new(),
            width: 0,
        }
    }

    /// The cached lines (header, body, blank separator).
    pub fn lines(&self) -> &[Line<'static>] {
        &self.lines
    }

    fn invalidate(&mut self) {
        self.width = 0;
    }

    fn layout(&mut self, width: usize, theme: &Theme, assistant_name: &str) {
        if self.width == width && !self.lines.is_empty() {
            return;
        }
        self.width = width;
        let (label, color) = match self.role {
            Role::User => ("You".to_string(), theme.user),
            Role::Assistant => (assistant_name.to_string(), theme.assistant),
            Role::Notice => ("notice".to_string(), theme.notice),
            Role::Error => ("error".to_string(), theme.error),
        };
        let mut header = vec![Span::styled(
            format!("▌{label}"),
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        )];
        if let Some(s) = self.stop {
            if s != StopReason::EndOfGeneration {
                header.push(Span::styled(
                    format!("  [{}]", s.label()),
                    Style::default().fg(theme.dim),
                ));
            }
        }
        if self.out_of_context {
            header.push(Span::styled(
                "  [out of context]",
                Style::default().fg(theme.dim),
            ));
        }
        let inner = width.saturating_sub(2).max(1);
        let body = match self.role {
            Role::Assistant => render_markdown(&self.content, inner, theme),
            Role::User => render_plain(&self.content, inner, Style::default()),
            Role::Notice => render_plain(&self.content, inner, Style::default().fg(theme.notice)),
            Role::Error => render_plain(&self.content, inner, Style::default().fg(theme.error)),
        };
        let mut lines = vec![Line::from(header)];
        for mut l in body {
            l.spans.insert(0, Span::raw("  "));
            lines.push(l);
        }
        lines.push(Line::default());
        self.lines = lines;
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EngineState {
    Loading,
    Prefilling {
        done: usize,
        total: usize,
    },
    Generating {
        tokens: usize,
    },
    Idle,
    /// The model could not be loaded.
    Failed,
}

impl EngineState {
    pub fn busy(self) -> bool {
        !matches!(self, EngineState::Idle | EngineState::Failed)
    }
}

/// Something the event loop must do outside the state.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Engine(Command),
    /// Copy to the clipboard with OSC 52.
    Clipboard(String),
    /// Write the chat as Markdown.
    Export(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Confirmable {
    ApplyStaged,
    SystemPrompt(String),
    /// Re-evaluate the transcript of the named session.
    Reevaluate(String),
}

#[derive(Clone, Debug)]
pub struct Confirm {
    pub text: String,
    pub what: Confirmable,
    /// Where to go back to.
    pub back: Mode,
}

#[derive(Clone, Debug)]
pub struct Picker {
    pub title: String,
    pub items: Vec<String>,
    pub selected: usize,
}

/// The settings panel: selection, the field being typed, and the staged values.
#[derive(Clone, Debug)]
pub struct SettingsPanel {
    pub selected: usize,
    pub edit: Option<Editor>,
    pub staged_ctx: ContextSettings,
    pub staged_negative: String,
    pub error: Option<String>,
}

/// What the UI starts from.
#[derive(Clone, Debug)]
pub struct AppOptions {
    pub theme: Theme,
    pub keymap: KeyMap,
    pub sampler: SamplerSettings,
    pub preset: String,
    pub ctx: ContextSettings,
    pub system_prompt: String,
    pub size: (u16, u16),
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            theme: Theme::default(),
            keymap: KeyMap::default(),
            sampler: SamplerSettings::default(),
            preset: "balanced".into(),
            ctx: ContextSettings {
                n_ctx: 4096,
                rope_freq_base: None,
                rope_freq_scale: None,
            },
            system_prompt: String::new(),
            size: (80, 24),
        }
    }
}

/// The screen's areas, computed from the size and the input's height.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    pub transcript: Rect,
    pub input: Rect,
    pub status: Rect,
}

pub struct App {
    pub mode: Mode,
    /// The mode under an overlay (help, confirm) to return to.
    pub back: Mode,
    pub keymap: KeyMap,
    pub theme: Theme,
    pub entries: Vec<Entry>,
    pub system_prompt: String,
    pub system_editor: Editor,
    pub input: Editor,
    history: Vec<String>,
    history_pos: Option<usize>,
    history_draft: String,
    pub engine: EngineState,
    pub model: Option<ModelInfo>,
    pub n_ctx: usize,
    pub n_past: usize,
    pub last_stats: Option<GenStats>,
    /// Measured prompt speed (tokens/s), for re-processing estimates.
    pub prompt_speed: Option<f64>,
    pub live_tps: Option<f64>,
    gen_first_token: Option<Instant>,
    pub sampler: SamplerSettings,
    pub preset: String,
    pub ctx: ContextSettings,
    pub panel: SettingsPanel,
    pub confirm: Option<Confirm>,
    pub picker: Option<Picker>,
    pub session: String,
    /// Save the named session after each completed reply.
    pub autosave: bool,
    pub streaming: Option<usize>,
    pending_notices: Vec<String>,
    /// Lines scrolled up from the bottom (0: following the output).
    pub scroll: usize,
    pub help_scroll: usize,
    pub size: (u16, u16),
    total_lines: usize,
    code_copy: usize,
    /// A short message in the status bar.
    pub banner: Option<String>,
    pub effects: Vec<Effect>,
    pub quit: bool,
}

impl App {
    pub fn new(o: AppOptions) -> App {
        let mut a = App {
            mode: Mode::Input,
            back: Mode::Input,
            keymap: o.keymap,
            theme: o.theme,
            entries: Vec::new(),
            system_editor: Editor::with_text(&o.system_prompt),
            system_prompt: o.system_prompt,
            input: Editor::default(),
            history: Vec::new(),
            history_pos: None,
            history_draft: String::new(),
            engine: EngineState::Loading,
            model: None,
            n_ctx: o.ctx.n_ctx,
            n_past: 0,
            last_stats: None,
            prompt_speed: None,
            live_tps: None,
            gen_first_token: None,
            sampler: o.sampler.clone(),
            preset: o.preset,
            panel: SettingsPanel {
                selected: 0,
                edit: None,
                staged_ctx: o.ctx,
                staged_negative: o.sampler.cfg_negative_prompt.clone(),
                error: None,
            },
            ctx: o.ctx,
            confirm: None,
            picker: None,
            session: "unsaved".into(),
            autosave: true,
            streaming: None,
            pending_notices: Vec::new(),
            scroll: 0,
            help_scroll: 0,
            size: o.size,
            total_lines: 0,
            code_copy: 0,
            banner: None,
            effects: Vec::new(),
            quit: false,
        };
        a.relayout();
        a
    }

    // ---- geometry -------------------------------------------------------------------------

    pub fn areas(&self) -> Areas {
        let (w, h) = self.size;
        let status_h = u16::from(h >= 2);
        let input_lines = (self.input.lines().len() as u16).clamp(1, 6);
        let border = if h >= 8 { 2 } else { 0 };
        let input_h = (input_lines + border)
            .min(h.saturating_sub(status_h + 1))
            .max(1.min(h));
        let transcript_h = h.saturating_sub(status_h + input_h);
        Areas {
            transcript: Rect::new(0, 0, w, transcript_h),
            input: Rect::new(0, transcript_h, w, input_h),
            status: Rect::new(0, transcript_h + input_h, w, status_h),
        }
    }

    /// Width of the transcript's text (one column is the scrollbar).
    pub fn transcript_width(&self) -> usize {
        (self.size.0 as usize).saturating_sub(1).max(4)
    }

    fn page(&self) -> usize {
        (self.areas().transcript.height as usize).max(1)
    }

    pub fn total_lines(&self) -> usize {
        self.total_lines
    }

    fn assistant_name(&self) -> String {
        "Assistant".to_string()
    }

    fn relayout(&mut self) {
        let w = self.transcript_width();
        let name = self.assistant_name();
        let mut total = 0;
        for e in &mut self.entries {
            e.layout(w, &self.theme, &name);
            total += e.lines.len();
        }
        self.total_lines = total;
        self.clamp_scroll();
    }

    fn clamp_scroll(&mut self) {
        let max = self.total_lines.saturating_sub(self.page());
        self.scroll = self.scroll.min(max);
    }

    /// Re-lays out entry `i` after its content changed, keeping the view still when the user
    /// has scrolled up.
    fn touch(&mut self, i: usize) {
        let before = self.entries[i].lines.len();
        self.entries[i].invalidate();
        let w = self.transcript_width();
        let name = self.assistant_name();
        self.entries[i].layout(w, &self.theme, &name);
        let after = self.entries[i].lines.len();
        self.total_lines = self.total_lines + after - before;
        if self.scroll > 0 {
            self.scroll += after.saturating_sub(before);
        }
        self.clamp_scroll();
    }

    fn push_entry(&mut self, e: Entry) -> usize {
        self.entries.push(e);
        let i = self.entries.len() - 1;
        let w = self.transcript_width();
        let name = self.assistant_name();
        self.entries[i].layout(w, &self.theme, &name);
        let n = self.entries[i].lines.len();
        self.total_lines += n;
        if self.scroll > 0 {
            self.scroll += n;
        }
        i
    }

    fn remove_from(&mut self, i: usize) {
        self.entries.truncate(i);
        self.relayout();
    }

    pub fn notice(&mut self, text: impl Into<String>) {
        let text = text.into();
        if self.streaming.is_some() {
            self.pending_notices.push(text);
        } else {
            self.push_entry(Entry::new(Role::Notice, text));
        }
    }

    // ---- the conversation -------------------------------------------------------------

    /// The messages the engine sees: the system prompt and the entries still in context.
    pub fn conversation(&self) -> Vec<Message> {
        let mut v = Vec::new();
        if !self.system_prompt.trim().is_empty() {
            v.push(Message::system(self.system_prompt.clone()));
        }
        for (i, e) in self.entries.iter().enumerate() {
            if Some(i) == self.streaming || e.out_of_context {
                continue;
            }
            match e.role {
                Role::User => v.push(Message::user(e.content.clone())),
                Role::Assistant if !e.content.is_empty() => {
                    v.push(Message::assistant(e.content.clone()))
                }
                _ => {}
            }
        }
        v
    }

    /// The whole conversation for saving: like [`App::conversation`], but with the messages
    /// that no longer fit in the context.
    pub fn session_transcript(&self) -> Vec<Message> {
        let mut v = Vec::new();
        if !self.system_prompt.trim().is_empty() {
            v.push(Message::system(self.system_prompt.clone()));
        }
        for (i, e) in self.entries.iter().enumerate() {
            if Some(i) == self.streaming {
                continue;
            }
            match e.role {
                Role::User => v.push(Message::user(e.content.clone())),
                Role::Assistant if !e.content.is_empty() => {
                    v.push(Message::assistant(e.content.clone()))
                }
                _ => {}
            }
        }
        v
    }

    fn start_reply(&mut self) {
        let msgs = self.conversation();
        let i = self.push_entry(Entry::new(Role::Assistant, ""));
        self.streaming = Some(i);
        self.engine = EngineState::Prefilling { done: 0, total: 0 };
        self.live_tps = None;
        self.gen_first_token = None;
        self.scroll = 0;
        self.effects
            .push(Effect::Engine(Command::Generate { messages: msgs }));
    }

    fn busy_banner(&mut self) {
        self.banner = Some(match self.engine {
            EngineState::Failed => "no model loaded".into(),
            _ => "busy: wait for the reply or press Esc".into(),
        });
    }

    fn send(&mut self) {
        let text = self.input.text();
        if text.trim().is_empty() {
            return;
        }
        if self.engine.busy() || self.engine == EngineState::Failed {
            return self.busy_banner();
        }
        if self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        self.history_pos = None;
        self.input.clear();
        self.push_entry(Entry::new(Role::User, text));
        self.start_reply();
    }

    fn last_index(&self, role: Role) -> Option<usize> {
        self.entries.iter().rposition(|e| e.role == role)
    }

    fn regenerate(&mut self) {
        if self.engine.busy() || self.engine == EngineState::Failed {
            return self.busy_banner();
        }
        let (Some(u), a) = (
            self.last_index(Role::User),
            self.last_index(Role::Assistant),
        ) else {
            self.banner = Some("nothing to regenerate".into());
            return;
        };
        match a {
            Some(a) if a > u => self.remove_from(a),
            _ => self.remove_from(u + 1),
        }
        self.start_reply();
    }

    fn edit_last(&mut self) {
        if self.engine.busy() {
            return self.busy_banner();
        }
        let Some(u) = self.last_index(Role::User) else {
            self.banner = Some("no message to edit".into());
            return;
        };
        let text = self.entries[u].content.clone();
        self.remove_from(u);
        self.input.set_text(&text);
        self.mode = Mode::Input;
    }

    fn new_chat(&mut self) {
        if self.engine.busy() {
            return self.busy_banner();
        }
        self.entries.clear();
        self.relayout();
        self.scroll = 0;
        self.session = "unsaved".into();
        self.effects.push(Effect::Engine(Command::Reset));
        self.banner = Some("new chat".into());
    }

    fn last_reply(&self) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.role == Role::Assistant && !e.content.is_empty())
            .map(|e| e.content.as_str())
    }

    /// The chat as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut s = String::from("# Chat\n\n");
        if let Some(m) = &self.model {
            s.push_str(&format!("_Model: {} ({})_\n\n", m.name, m.quant));
        }
        if !self.system_prompt.is_empty() {
            s.push_str(&format!("## System\n\n{}\n\n", self.system_prompt));
        }
        for e in &self.entries {
            let h = match e.role {
                Role::User => "## You",
                Role::Assistant => "## Assistant",
                Role::Notice => "> **notice:**",
                Role::Error => "> **error:**",
            };
            match e.role {
                Role::User | Role::Assistant => s.push_str(&format!("{h}\n\n{}\n\n", e.content)),
                _ => s.push_str(&format!("{h} {}\n\n", e.content)),
            }
        }
        s
    }

    // ---- scrolling ------------------------------------------------------------------------

    fn scroll_by(&mut self, up: i64) {
        let s = self.scroll as i64 + up;
        self.scroll = s.max(0) as usize;
        self.clamp_scroll();
    }

    pub fn following(&self) -> bool {
        self.scroll == 0
    }

    // ---- settings ---------------------------------------------------------------------

    pub fn field(&self) -> Field {
        Field::ALL[self.panel.selected.min(Field::ALL.len() - 1)]
    }

    /// Shows a field's value (staged values for the fields that need re-processing).
    pub fn field_value(&self, f: Field) -> String {
        let mut s = self.sampler.clone();
        let mut p = self.preset.clone();
        let mut c = self.panel.staged_ctx;
        let mut n = self.panel.staged_negative.clone();
        let v = Values {
            sampler: &mut s,
            preset: &mut p,
            ctx: &mut c,
            negative_prompt: &mut n,
        };
        f.show(&v, self.model.as_ref())
    }

    pub fn field_is_staged(&self, f: Field) -> bool {
        match f {
            Field::CfgNegativePrompt => {
                self.panel.staged_negative != self.sampler.cfg_negative_prompt
            }
            Field::RopeFreqBase => self.panel.staged_ctx.rope_freq_base != self.ctx.rope_freq_base,
            Field::RopeFreqScale => {
                self.panel.staged_ctx.rope_freq_scale != self.ctx.rope_freq_scale
            }
            Field::CtxSize => self.panel.staged_ctx.n_ctx != self.ctx.n_ctx,
            _ => false,
        }
    }

    pub fn has_staged(&self) -> bool {
        Field::ALL.iter().any(|f| self.field_is_staged(*f))
    }

    /// "re-process N tokens, about X s".
    pub fn reprocess_estimate(&self) -> String {
        let n = self.n_past;
        match self.prompt_speed {
            Some(sp) if sp > 0.0 => format!("re-process {n} tokens, about {:.1} s", n as f64 / sp),
            _ => format!("re-process {n} tokens"),
        }
    }

    fn edit_field(&mut self, f: impl FnOnce(Field, &mut Values) -> Result<(), String>) {
        let field = self.field();
        let mut s = self.sampler.clone();
        let mut p = self.preset.clone();
        let mut c = self.panel.staged_ctx;
        let mut n = self.panel.staged_negative.clone();
        let mut v = Values {
            sampler: &mut s,
            preset: &mut p,
            ctx: &mut c,
            negative_prompt: &mut n,
        };
        match f(field, &mut v) {
            Ok(()) => {
                if let Err(e) = s.validate() {
                    self.panel.error = Some(e.to_string());
                    return;
                }
                self.panel.error = None;
                self.panel.staged_ctx = c;
                self.panel.staged_negative = n;
                if s != self.sampler {
                    if field != Field::Preset && p == self.preset {
                        // A hand-tuned value: no longer exactly a preset.
                        if preset(&self.preset).ok().as_ref() != Some(&s) {
                            p = "custom".into();
                        }
                    }
                    self.sampler = s;
                    self.effects
                        .push(Effect::Engine(Command::UpdateSampler(self.sampler.clone())));
                }
                self.preset = p;
            }
            Err(e) => self.panel.error = Some(e),
        }
    }

    fn apply_staged(&mut self) {
        let neg_changed = self.panel.staged_negative != self.sampler.cfg_negative_prompt;
        let ctx_changed = self.panel.staged_ctx != self.ctx;
        if neg_changed {
            self.sampler.cfg_negative_prompt = self.panel.staged_negative.clone();
            self.effects
                .push(Effect::Engine(Command::UpdateSampler(self.sampler.clone())));
        }
        if ctx_changed {
            self.ctx = self.panel.staged_ctx;
            self.engine = EngineState::Prefilling { done: 0, total: 0 };
            self.effects.push(Effect::Engine(Command::Reconfigure {
                settings: self.ctx,
                messages: self.conversation(),
            }));
        }
    }

    fn set_system_prompt(&mut self, text: String) {
        self.system_prompt = text;
        if self.n_past > 0 && !self.engine.busy() {
            self.engine = EngineState::Prefilling { done: 0, total: 0 };
            self.effects.push(Effect::Engine(Command::Prefill {
                messages: self.conversation(),
            }));
        }
        self.banner = Some("system prompt updated".into());
    }

    fn choose_preset(&mut self, name: &str) {
        if let Ok(p) = preset(name) {
            self.sampler = SamplerSettings {
                cfg_negative_prompt: self.sampler.cfg_negative_prompt.clone(),
                ..p
            };
            self.preset = name.to_string();
            self.effects
                .push(Effect::Engine(Command::UpdateSampler(self.sampler.clone())));
            self.banner = Some(format!("preset: {name}"));
        }
    }

    // ---- the mutator ------------------------------------------------------------------

    /// Applies one action.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Resize(w, h) => {
                self.size = (w, h);
                self.relayout();
            }
            Action::Engine(ev) => self.on_engine(ev),
            Action::Bound(b) => self.on_bound(b),
            Action::Quit => {
                if self.engine.busy() && !matches!(self.engine, EngineState::Loading) {
                    self.cancel();
                } else {
                    self.quit = true;
                }
            }
            Action::ScrollLines(n) => {
                if self.mode == Mode::Help {
                    self.help_scroll = (self.help_scroll as i64 - n as i64).max(0) as usize;
                } else {
                    self.scroll_by(n as i64)
                }
            }
            Action::HalfPage(n) => {
                let p = (self.page() / 2).max(1) as i64;
                self.scroll_by(n as i64 * p)
            }
            Action::FocusInput => self.mode = Mode::Input,
            other => match self.mode {
                Mode::Input => self.on_edit(other, Target::Input),
                Mode::SystemPrompt => match other {
                    Action::Close => {
                        self.system_editor = Editor::with_text(&self.system_prompt);
                        self.mode = Mode::Input;
                    }
                    Action::Choose => {
                        let text = self.system_editor.text();
                        self.mode = Mode::Input;
                        if text != self.system_prompt {
                            if self.n_past > 0 {
                                self.confirm = Some(Confirm {
                                    text: format!(
                                        "The new system prompt changes the start of the conversation: {}. Apply?",
                                        self.reprocess_estimate()
                                    ),
                                    what: Confirmable::SystemPrompt(text),
                                    back: Mode::Input,
                                });
                                self.mode = Mode::Confirm;
                            } else {
                                self.set_system_prompt(text);
                            }
                        }
                    }
                    a => self.on_edit(a, Target::System),
                },
                Mode::FieldEdit => match other {
                    Action::Close => {
                        self.panel.edit = None;
                        self.mode = Mode::Settings;
                    }
                    Action::Choose => {
                        let text = self.panel.edit.take().map(|e| e.text()).unwrap_or_default();
                        self.mode = Mode::Settings;
                        self.edit_field(|f, v| f.set(v, &text));
                    }
                    a => self.on_edit(a, Target::Field),
                },
                Mode::Settings => match other {
                    Action::Close => self.mode = Mode::Input,
                    Action::SelectPrev => {
                        self.panel.selected =
                            (self.panel.selected + Field::ALL.len() - 1) % Field::ALL.len()
                    }
                    Action::SelectNext => {
                        self.panel.selected = (self.panel.selected + 1) % Field::ALL.len()
                    }
                    Action::Increase { big } => {
                        let m = self.model.clone();
                        self.edit_field(|f, v| {
                            f.step(v, 1, big, m.as_ref());
                            Ok(())
                        })
                    }
                    Action::Decrease { big } => {
                        let m = self.model.clone();
                        self.edit_field(|f, v| {
                            f.step(v, -1, big, m.as_ref());
                            Ok(())
                        })
                    }
                    Action::Choose => {
                        let f = self.field();
                        let mut s = self.sampler.clone();
                        let mut p = self.preset.clone();
                        let mut c = self.panel.staged_ctx;
                        let mut n = self.panel.staged_negative.clone();
                        let v = Values {
                            sampler: &mut s,
                            preset: &mut p,
                            ctx: &mut c,
                            negative_prompt: &mut n,
                        };
                        self.panel.edit = Some(Editor::with_text(&f.raw(&v)));
                        self.mode = Mode::FieldEdit;
                    }
                    Action::ApplyStaged => {
                        if !self.has_staged() {
                            self.banner = Some("nothing to apply".into());
                        } else if self.engine.busy() {
                            self.busy_banner();
                        } else {
                            let text = if self.panel.staged_ctx != self.ctx {
                                format!(
                                    "Rebuild the context: {}. Apply?",
                                    self.reprocess_estimate()
                                )
                            } else {
                                "Rebuild the guidance context with the new negative prompt. Apply?"
                                    .to_string()
                            };
                            self.confirm = Some(Confirm {
                                text,
                                what: Confirmable::ApplyStaged,
                                back: Mode::Settings,
                            });
                            self.mode = Mode::Confirm;
                        }
                    }
                    _ => {}
                },
                Mode::Confirm => match other {
                    Action::Confirm => {
                        if let Some(c) = self.confirm.take() {
                            self.mode = c.back;
                            match c.what {
                                Confirmable::ApplyStaged => self.apply_staged(),
                                Confirmable::SystemPrompt(t) => self.set_system_prompt(t),
                                Confirmable::Reevaluate(name) => {
                                    self.engine = EngineState::Prefilling { done: 0, total: 0 };
                                    self.effects
                                        .push(Effect::Engine(Command::ReevaluateSession { name }));
                                }
                            }
                        }
                    }
                    Action::Deny | Action::Close => {
                        if let Some(c) = self.confirm.take() {
                            self.mode = c.back;
                            if let Confirmable::SystemPrompt(_) = c.what {
                                self.system_editor = Editor::with_text(&self.system_prompt);
                            }
                        }
                    }
                    _ => {}
                },
                Mode::Picker => match other {
                    Action::Close => {
                        self.picker = None;
                        self.mode = Mode::Input;
                    }
                    Action::SelectPrev | Action::SelectNext => {
                        if let Some(p) = &mut self.picker {
                            let n = p.items.len().max(1);
                            p.selected = if other == Action::SelectPrev {
                                (p.selected + n - 1) % n
                            } else {
                                (p.selected + 1) % n
                            };
                        }
                    }
                    Action::Choose => {
                        if let Some(p) = self.picker.take() {
                            if let Some(name) = p.items.get(p.selected) {
                                let name = name.clone();
                                self.choose_preset(&name);
                            }
                        }
                        self.mode = Mode::Input;
                    }
                    _ => {}
                },
                Mode::Help => {
                    if other == Action::Close {
                        self.mode = self.back;
                    }
                }
                Mode::Transcript => {}
            },
        }
    }

    fn cancel(&mut self) {
        if matches!(
            self.engine,
            EngineState::Generating { .. } | EngineState::Prefilling { .. }
        ) && self.streaming.is_some()
        {
            self.effects.push(Effect::Engine(Command::Cancel));
            self.banner = Some("stopping…".into());
        }
    }

    fn on_bound(&mut self, b: Bound) {
        match b {
            Bound::CancelOrQuit => {
                if self.streaming.is_some() {
                    self.cancel();
                } else if matches!(
                    self.mode,
                    Mode::Help | Mode::Confirm | Mode::Picker | Mode::FieldEdit
                ) {
                    self.mode = Mode::Input;
                    self.confirm = None;
                    self.picker = None;
                    self.panel.edit = None;
                } else {
                    self.quit = true;
                }
            }
            Bound::Cancel => {
                if self.streaming.is_some() {
                    self.cancel();
                } else if self.mode == Mode::Transcript {
                    self.mode = Mode::Input;
                }
            }
            Bound::Send => {
                if self.mode == Mode::Input {
                    self.send()
                }
            }
            Bound::Newline => match self.mode {
                Mode::SystemPrompt => self.system_editor.newline(),
                _ => self.input.newline(),
            },
            Bound::Help => {
                if self.mode == Mode::Help {
                    self.mode = self.back;
                } else {
                    self.back = if matches!(self.mode, Mode::Settings | Mode::Transcript) {
                        self.mode
                    } else {
                        Mode::Input
                    };
                    self.help_scroll = 0;
                    self.mode = Mode::Help;
                }
            }
            Bound::Settings => {
                self.mode = if self.mode == Mode::Settings {
                    Mode::Input
                } else {
                    Mode::Settings
                }
            }
            Bound::SystemPrompt => {
                self.system_editor = Editor::with_text(&self.system_prompt);
                self.mode = Mode::SystemPrompt;
            }
            Bound::Presets => {
                let selected = PRESETS.iter().position(|p| *p == self.preset).unwrap_or(0);
                self.picker = Some(Picker {
                    title: "Sampling preset".into(),
                    items: PRESETS.iter().map(|s| s.to_string()).collect(),
                    selected,
                });
                self.mode = Mode::Picker;
            }
            Bound::Regenerate => self.regenerate(),
            Bound::EditLast => self.edit_last(),
            Bound::NewChat => self.new_chat(),
            Bound::CopyReply => match self.last_reply() {
                Some(r) => {
                    let r = r.to_string();
                    self.banner = Some(format!(
                        "copied the last reply ({} chars)",
                        r.chars().count()
                    ));
                    self.effects.push(Effect::Clipboard(r));
                }
                None => self.banner = Some("no reply to copy".into()),
            },
            Bound::CopyCode => {
                let blocks = self.last_reply().map(code_blocks).unwrap_or_default();
                if blocks.is_empty() {
                    self.banner = Some("no code block in the last reply".into());
                } else {
                    let i = blocks.len() - 1 - (self.code_copy % blocks.len());
                    self.code_copy += 1;
                    self.banner = Some(format!("copied code block {} of {}", i + 1, blocks.len()));
                    self.effects.push(Effect::Clipboard(blocks[i].clone()));
                }
            }
            Bound::Export => self.effects.push(Effect::Export(self.to_markdown())),
            Bound::SaveSession => {
                let named = self.session != "unsaved";
                let name = if named {
                    self.session.clone()
                } else {
                    "chat".to_string()
                };
                self.effects.push(Effect::Engine(Command::SaveSession {
                    name,
                    transcript: self.session_transcript(),
                    overwrite: named,
                }));
            }
            Bound::LoadSession => {
                let name = if self.session == "unsaved" {
                    "chat".to_string()
                } else {
                    self.session.clone()
                };
                if self.engine.busy() {
                    return self.busy_banner();
                }
                self.effects
                    .push(Effect::Engine(Command::LoadSession { name }));
            }
            Bound::ScrollUp => self.scroll_by(1),
            Bound::ScrollDown => self.scroll_by(-1),
            Bound::PageUp => self.scroll_by(self.page().saturating_sub(1).max(1) as i64),
            Bound::PageDown => self.scroll_by(-(self.page().saturating_sub(1).max(1) as i64)),
            Bound::ScrollTop => self.scroll = self.total_lines,
            Bound::ScrollBottom => self.scroll = 0,
            Bound::HistoryPrev => self.history_step(-1),
            Bound::HistoryNext => self.history_step(1),
            Bound::FocusTranscript => self.mode = Mode::Transcript,
        }
        self.clamp_scroll();
    }

    fn history_step(&mut self, dir: i32) {
        if self.history.is_empty() {
            return;
        }
        let n = self.history.len();
        let pos = match (self.history_pos, dir) {
            (None, -1) => {
                self.history_draft = self.input.text();
                Some(n - 1)
            }
            (None, _) => return,
            (Some(0), -1) => Some(0),
            (Some(p), -1) => Some(p - 1),
            (Some(p), _) if p + 1 < n => Some(p + 1),
            (Some(_), _) => None,
        };
        self.history_pos = pos;
        let text = match pos {
            Some(p) => self.history[p].clone(),
            None => std::mem::take(&mut self.history_draft),
        };
        self.input.set_text(&text);
    }

    fn on_edit(&mut self, a: Action, target: Target) {
        let ed = match target {
            Target::Input => &mut self.input,
            Target::System => &mut self.system_editor,
            Target::Field => match &mut self.panel.edit {
                Some(e) => e,
                None => return,
            },
        };
        match a {
            Action::Insert(c) => ed.insert(c),
            Action::Paste(s) => {
                if target == Target::Field {
                    ed.insert_str(&s.replace(['\n', '\r'], " "))
                } else {
                    ed.insert_str(&s)
                }
            }
            Action::Backspace => ed.backspace(),
            Action::Delete => ed.delete(),
            Action::Left => ed.left(),
            Action::Right => ed.right(),
            Action::Home => ed.home(),
            Action::End => ed.end(),
            Action::WordLeft => ed.word_left(),
            Action::WordRight => ed.word_right(),
            Action::ClearLine => ed.clear(),
            Action::Up => {
                if !ed.up() && target == Target::Input {
                    self.history_step(-1);
                }
            }
            Action::Down => {
                if !ed.down() && target == Target::Input {
                    self.history_step(1);
                }
            }
            _ => {}
        }
        if target == Target::Input {
            // The input's height may have changed.
            self.clamp_scroll();
        }
    }

    fn on_engine(&mut self, ev: Event) {
        match ev {
            Event::Loaded { info, n_ctx } => {
                self.model = Some(info);
                self.n_ctx = n_ctx;
                self.ctx.n_ctx = n_ctx;
                self.panel.staged_ctx.n_ctx = n_ctx;
                self.engine = EngineState::Idle;
                self.relayout();
            }
            Event::Prefill { done, total } => {
                if !matches!(self.engine, EngineState::Generating { .. })
                    || self.streaming.is_none()
                {
                    self.engine = EngineState::Prefilling { done, total };
                }
            }
            Event::Token { text, n_past } => {
                self.n_past = n_past;
                let now = Instant::now();
                let n = match self.engine {
                    EngineState::Generating { tokens } => tokens + 1,
                    _ => {
                        self.gen_first_token = Some(now);
                        1
                    }
                };
                self.engine = EngineState::Generating { tokens: n };
                if let Some(t0) = self.gen_first_token {
                    let dt = now.duration_since(t0).as_secs_f64();
                    if n >= 8 && dt >= 0.25 {
                        self.live_tps = Some((n - 1) as f64 / dt);
                    }
                }
                if let Some(i) = self.streaming {
                    self.entries[i].content.push_str(&text);
                    self.touch(i);
                }
            }
            Event::Done {
                stats,
                stop,
                n_past,
            } => {
                self.n_past = n_past;
                self.engine = EngineState::Idle;
                if stats.prompt_tokens >= 16 {
                    self.prompt_speed = stats.prompt_tps().or(self.prompt_speed);
                }
                if stats.prompt_tokens > 0 || stats.gen_tokens > 0 {
                    self.last_stats = Some(stats);
                }
                self.live_tps = None;
                if let Some(i) = self.streaming.take() {
                    self.entries[i].stop = Some(stop);
                    if self.entries[i].content.is_empty() && stop != StopReason::Error {
                        self.entries[i].content = "_(no reply)_".into();
                    }
                    self.touch(i);
                    if stop == StopReason::Error && self.entries[i].content.is_empty() {
                        self.entries.remove(i);
                        self.relayout();
                    }
                }
                if stop == StopReason::Cancelled {
                    self.banner = Some("reply stopped".into());
                } else if stop == StopReason::ContextFull {
                    self.banner = Some("the context is full".into());
                }
                for n in std::mem::take(&mut self.pending_notices) {
                    self.notice(n);
                }
                if self.autosave && self.session != "unsaved" && stop != StopReason::Error {
                    self.effects.push(Effect::Engine(Command::SaveSession {
                        name: self.session.clone(),
                        transcript: self.session_transcript(),
                        overwrite: true,
                    }));
                }
            }
            Event::Ready {
                n_past,
                n_ctx,
                tokens,
                secs,
            } => {
                self.n_past = n_past;
                self.n_ctx = n_ctx;
                if self.streaming.is_none() {
                    self.engine = EngineState::Idle;
                }
                if tokens >= 16 && secs > 0.0 {
                    self.prompt_speed = Some(tokens as f64 / secs);
                }
                if tokens > 0 {
                    self.banner = Some(format!("re-processed {tokens} tokens in {secs:.1} s"));
                }
            }
            Event::ContextShift { dropped } => {
                // `dropped` counts the messages after the system prompt of those last sent.
                let mut left = dropped;
                let streaming = self.streaming;
                for (i, e) in self.entries.iter_mut().enumerate() {
                    if left == 0 {
                        break;
                    }
                    if Some(i) == streaming || e.out_of_context {
                        continue;
                    }
                    if matches!(e.role, Role::User | Role::Assistant) {
                        e.out_of_context = true;
                        e.invalidate();
                        left -= 1;
                    }
                }
                self.relayout();
                self.notice(format!(
                    "The conversation outgrew the context ({} tokens): the oldest messages after the system prompt were dropped from it.",
                    self.n_ctx
                ));
            }
            Event::SessionSaved { name } => {
                self.session = name.clone();
                self.banner = Some(format!("session saved: {name}"));
            }
            Event::SessionLoaded {
                name,
                transcript,
                n_past,
            } => {
                self.entries.clear();
                self.system_prompt.clear();
                for m in transcript {
                    match m.role.as_str() {
                        "system" => self.system_prompt = m.content,
                        "user" => self.entries.push(Entry::new(Role::User, m.content)),
                        _ => self.entries.push(Entry::new(Role::Assistant, m.content)),
                    }
                }
                self.system_editor = Editor::with_text(&self.system_prompt);
                self.session = name.clone();
                self.n_past = n_past;
                self.scroll = 0;
                self.banner = Some(format!("session loaded: {name}"));
                self.relayout();
            }
            Event::SessionMismatch { name, reason } => {
                self.confirm = Some(Confirm {
                    text: format!(
                        "Session '{name}' cannot be restored as saved: {reason}. Re-evaluate its transcript instead?"
                    ),
                    what: Confirmable::Reevaluate(name),
                    back: Mode::Input,
                });
                self.mode = Mode::Confirm;
            }
            Event::Error(msg) => {
                if self.engine == EngineState::Loading {
                    self.engine = EngineState::Failed;
                }
                let i = self.streaming.map_or(self.entries.len(), |i| i + 1);
                self.entries.insert(i, Entry::new(Role::Error, msg));
                self.relayout();
            }
        }
    }

    /// The status line's state label.
    pub fn state_label(&self) -> String {
        match self.engine {
            EngineState::Loading => "loading".into(),
            EngineState::Prefilling { done, total } if total > 0 => {
                format!("prefilling {done} of {total}")
            }
            EngineState::Prefilling { .. } => "prefilling".into(),
            EngineState::Generating { tokens } => format!("generating {tokens}"),
            EngineState::Idle => "idle".into(),
            EngineState::Failed => "no model".into(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Input,
    System,
    Field,
}
