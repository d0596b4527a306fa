//! The help overlay (F1, `?` outside the editor), generated from the key map; the same table
//! gives `docs/keys.md`.

use super::centered;
use crate::tui::action::Bound;
use crate::tui::app::App;
use crate::tui::keymap::{KeyMap, FIXED_KEYS};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

/// (section, keys, description) for every binding.
pub fn rows(km: &KeyMap) -> Vec<(String, String, String)> {
    let mut v = Vec::new();
    for (b, _, _, desc) in Bound::TABLE {
        let keys: Vec<String> = km.keys_for(*b).iter().map(|k| k.to_string()).collect();
        let keys = if keys.is_empty() {
            "(unbound)".into()
        } else {
            keys.join(", ")
        };
        v.push(("chat".to_string(), keys, desc.to_string()));
    }
    for (section, keys, desc) in FIXED_KEYS {
        v.push((section.to_string(), keys.to_string(), desc.to_string()));
    }
    v
}

/// The key-binding table as Markdown.
pub fn markdown(km: &KeyMap) -> String {
    let mut s = String::from(
        "# Key bindings\n\nThe `chat` bindings can be changed in the config file's `[keys]` section \
(action name = list of keys, e.g. `regenerate = [\"ctrl-r\", \"f5\"]`).\n\n\
| Where | Keys | Action | Config name |\n|---|---|---|---|\n",
    );
    let names: Vec<&str> = Bound::TABLE.iter().map(|r| r.1).collect();
    for (i, (section, keys, desc)) in rows(km).into_iter().enumerate() {
        let name = names.get(i).map(|n| format!("`{n}`")).unwrap_or_default();
        s.push_str(&format!("| {section} | {keys} | {desc} | {name} |\n"));
    }
    s
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let r = centered(area, 100, area.height.saturating_sub(2).max(3));
    let rows = rows(&app.keymap);
    let kw = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(10)
        .min(30);
    let mut lines = Vec::new();
    let mut section = String::new();
    for (s, keys, desc) in rows {
        if s != section {
            if !section.is_empty() {
                lines.push(Line::default());
            }
            lines.push(Line::from(Span::styled(
                s.clone(),
                Style::default().fg(t.heading).add_modifier(Modifier::BOLD),
            )));
            section = s;
        }
        lines.push(Line::from(vec![
            Span::styled(format!("  {keys:<kw$}  "), Style::default().fg(t.accent)),
            Span::raw(desc),
        ]));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Help — Esc closes ")
        .border_style(Style::default().fg(t.accent));
    f.render_widget(Clear, r);
    let inner_h = r.height.saturating_sub(2) as usize;
    let max = lines.len().saturating_sub(inner_h);
    let scroll = app.help_scroll.min(max) as u16;
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(t.base())
            .scroll((scroll, 0)),
        r,
    );
}
