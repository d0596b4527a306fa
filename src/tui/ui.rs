//! Draws the whole screen from the state (never changes it).

use super::app::App;
use super::components::{dialog, help, input, picker, settings, status, transcript};
use super::keymap::Mode;
use ratatui::widgets::Block;
use ratatui::Frame;

pub fn draw(f: &mut Frame, app: &App) {
    let full = f.area();
    if full.width == 0 || full.height == 0 {
        return;
    }
    f.render_widget(Block::default().style(app.theme.base()), full);
    let a = app.areas();
    let clip = |r: ratatui::layout::Rect| r.intersection(full);
    transcript::draw(f, app, clip(a.transcript));
    input::draw(f, app, clip(a.input));
    status::draw(f, app, clip(a.status));
    let over = full;
    match app.mode {
        Mode::Help => help::draw(f, app, over),
        Mode::Settings | Mode::FieldEdit => settings::draw(f, app, over),
        Mode::SystemPrompt => picker::draw_system_prompt(f, app, over),
        Mode::Picker => picker::draw(f, app, over),
        Mode::Confirm => {
            if app
                .confirm
                .as_ref()
                .is_some_and(|c| c.back == Mode::Settings)
            {
                settings::draw(f, app, over);
            }
            dialog::draw(f, app, over);
        }
        Mode::Input | Mode::Transcript => {}
    }
}
