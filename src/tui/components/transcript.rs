//! The transcript: cached wrapped lines of every entry; only the visible ones are copied.

use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState};
use ratatui::Frame;

/// The lines visible in a window of `height` lines, `scroll` lines up from the bottom.
pub fn visible_lines(app: &App, height: usize) -> Vec<Line<'static>> {
    let total = app.total_lines();
    let end = total.saturating_sub(app.scroll);
    let start = end.saturating_sub(height);
    let mut out = Vec::with_capacity(height);
    let mut pos = 0;
    for e in &app.entries {
        let n = e.lines().len();
        if pos + n <= start {
            pos += n;
            continue;
        }
        if pos >= end {
            break;
        }
        let a = start.saturating_sub(pos);
        let b = (end - pos).min(n);
        out.extend_from_slice(&e.lines()[a..b]);
        pos += n;
    }
    out
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    let t = &app.theme;
    let text_area = Rect::new(area.x, area.y, area.width.saturating_sub(1), area.height);
    let mut lines = visible_lines(app, area.height as usize);
    if app.entries.is_empty() {
        let hint = match &app.model {
            Some(m) => format!(
                "{} is ready. Type a message and press Enter; F1 for help.",
                m.name
            ),
            None => "Loading the model…".to_string(),
        };
        lines = vec![Line::from(Span::styled(hint, Style::default().fg(t.dim)))];
    }
    f.render_widget(Paragraph::new(lines).style(t.base()), text_area);
    let total = app.total_lines();
    if total > area.height as usize {
        let max = total - area.height as usize;
        let pos = max.saturating_sub(app.scroll);
        let mut st = ScrollbarState::new(max).position(pos);
        f.render_stateful_widget(
            Scrollbar::new(ScrollbarOrientation::VerticalRight)
                .begin_symbol(None)
                .end_symbol(None)
                .style(Style::default().fg(t.border)),
            area,
            &mut st,
        );
    }
    if !app.following() && area.height > 2 {
        let msg = format!(" ↓ {} more lines ", app.scroll);
        let w = msg.chars().count() as u16;
        if w + 2 < area.width {
            let r = Rect::new(area.x + area.width - w - 2, area.y + area.height - 1, w, 1);
            f.render_widget(Paragraph::new(msg).style(t.selected()), r);
        }
    }
}
