//! A list picker (sampling presets) and the system prompt editor overlay.

use super::centered;
use crate::tui::app::App;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(p) = &app.picker else { return };
    let t = &app.theme;
    let r = centered(area, 40, p.items.len() as u16 + 2);
    let lines: Vec<Line> = p
        .items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let style = if i == p.selected {
                t.selected()
            } else {
                Style::default()
            };
            let cur = if *s == app.preset { " (current)" } else { "" };
            Line::styled(format!(" {s}{cur}"), style)
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} ", p.title))
        .border_style(Style::default().fg(t.accent));
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(block).style(t.base()), r);
}

pub fn draw_system_prompt(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let r = centered(area, 70, 12);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" System prompt — Enter saves, Alt-Enter newline, Esc discards ")
        .border_style(Style::default().fg(t.accent));
    let inner = block.inner(r);
    let lines: Vec<Line> = app
        .system_editor
        .lines()
        .iter()
        .map(|l| Line::raw(l.clone()))
        .collect();
    f.render_widget(Clear, r);
    let (row, col) = app.system_editor.cursor();
    let first = (row + 1).saturating_sub(inner.height.max(1) as usize);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(t.base())
            .scroll((first as u16, 0)),
        r,
    );
    let before: String = app.system_editor.lines()[row].chars().take(col).collect();
    let x = (before.width() as u16).min(inner.width.saturating_sub(1));
    if inner.height > 0 {
        f.set_cursor_position(Position::new(inner.x + x, inner.y + (row - first) as u16));
    }
    let _ = Wrap { trim: false };
}
