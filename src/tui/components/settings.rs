//! The settings panel: every sampler setting (live), and the context settings that re-process
//! the conversation when applied.

use super::centered;
use crate::tui::app::App;
use crate::tui::fields::Field;
use crate::tui::keymap::Mode;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let n = Field::ALL.len() as u16;
    let r = centered(area, 60, n + 4);
    let mut lines = Vec::new();
    for (i, field) in Field::ALL.iter().enumerate() {
        let selected = i == app.panel.selected;
        let value = if selected && app.mode == Mode::FieldEdit {
            app.panel
                .edit
                .as_ref()
                .map(|e| format!("{}▏", e.text()))
                .unwrap_or_default()
        } else {
            app.field_value(*field)
        };
        let mark = if app.field_is_staged(*field) {
            "*"
        } else if field.needs_reprocess() {
            "†"
        } else {
            " "
        };
        let label = format!(" {:<20}{mark} ", field.label());
        let style = if selected {
            t.selected()
        } else {
            Style::default()
        };
        let vstyle = if selected {
            t.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(t.accent)
        };
        lines.push(Line::from(vec![
            Span::styled(label, style),
            Span::styled(format!("{value} "), vstyle),
        ]));
    }
    lines.push(Line::default());
    let footer = if let Some(e) = &app.panel.error {
        Line::from(Span::styled(e.clone(), Style::default().fg(t.error)))
    } else if app.has_staged() {
        Line::from(Span::styled(
            format!("* staged — press a to apply ({})", app.reprocess_estimate()),
            Style::default().fg(t.notice),
        ))
    } else {
        Line::from(Span::styled(
            "←/→ change (Shift: more) · Enter type · † re-processes the context",
            Style::default().fg(t.dim),
        ))
    };
    lines.push(footer);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Settings — sampler changes apply at the next token ")
        .border_style(Style::default().fg(t.accent));
    f.render_widget(Clear, r);
    // Keep the selection visible in small terminals.
    let inner_h = r.height.saturating_sub(2) as usize;
    let scroll = (app.panel.selected + 1).saturating_sub(inner_h) as u16;
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(t.base())
            .scroll((scroll, 0)),
        r,
    );
}
