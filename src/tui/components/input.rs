//! The message editor at the bottom (placing the terminal cursor).

use crate::tui::app::App;
use crate::tui::keymap::Mode;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let t = &app.theme;
    let focused = app.mode == Mode::Input;
    let bordered = area.height >= 3;
    let title = if app.engine.busy() {
        " Esc stops the reply "
    } else {
        " Message (Enter sends, Alt-Enter newline) "
    };
    let block = if bordered {
        let mut b = Block::default()
            .borders(Borders::ALL)
            .title(title)
            .border_style(Style::default().fg(if focused { t.accent } else { t.border }));
        if let Some(msg) = &app.banner {
            b = b.title_bottom(
                Line::styled(format!(" {msg} "), Style::default().fg(t.notice)).right_aligned(),
            );
        }
        b
    } else {
        Block::default()
    };
    let inner = block.inner(area);
    let (row, col) = app.input.cursor();
    let h = inner.height as usize;
    let first = (row + 1).saturating_sub(h);
    let lines: Vec<Line> = app.input.lines()[first..]
        .iter()
        .take(h)
        .map(|l| Line::raw(l.replace('\t', " ")))
        .collect();
    // Horizontal scroll keeps the cursor visible on long lines.
    let cur_line = &app.input.lines()[row];
    let before: String = cur_line.chars().take(col).collect();
    let cx = before.width() as u16;
    let hscroll = cx.saturating_sub(inner.width.saturating_sub(1));
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((0, hscroll))
            .style(t.base()),
        area,
    );
    if focused {
        f.set_cursor_position(Position::new(
            inner.x + cx - hscroll,
            inner.y + (row - first) as u16,
        ));
    }
}
