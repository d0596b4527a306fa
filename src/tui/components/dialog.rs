//! Yes/no confirmation (changes that re-process the context).

use super::centered;
use crate::tui::app::App;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(c) = &app.confirm else { return };
    let t = &app.theme;
    let r = centered(area, 56, 7);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Confirm ")
        .border_style(Style::default().fg(t.notice));
    f.render_widget(Clear, r);
    let lines = vec![
        Line::raw(c.text.clone()),
        Line::default(),
        Line::styled(
            "y / Enter: apply    n / Esc: cancel",
            Style::default().fg(t.dim),
        ),
    ];
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .style(t.base())
            .wrap(Wrap { trim: true }),
        r,
    );
}
