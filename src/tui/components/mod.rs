//! Widgets that draw one part of the screen from [`crate::tui::app::App`] (read only).

pub mod dialog;
pub mod help;
pub mod input;
pub mod picker;
pub mod settings;
pub mod status;
pub mod transcript;

use ratatui::layout::Rect;

/// A centered rectangle of at most `w`×`h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
