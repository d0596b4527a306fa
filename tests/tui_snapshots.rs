//! Snapshots of the main screens (ratatui's TestBackend + insta). Update with
//! `INSTA_UPDATE=always cargo test --release --test tui_snapshots` and review the diffs.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hearth::engine::protocol::{Event, GenStats, ModelInfo, StopReason};
use hearth::tui::action::Action;
use hearth::tui::app::{App, AppOptions};
use hearth::tui::keymap::map_key;
use hearth::tui::ui;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

fn app(w: u16, h: u16) -> App {
    let mut app = App::new(AppOptions {
        size: (w, h),
        ..Default::default()
    });
    app.apply(Action::Engine(Event::Loaded {
        info: ModelInfo {
            name: "SmolLM2 135M Instruct".into(),
            quant: "Q4_1".into(),
            n_ctx_train: 8192,
            rope_freq_base: 100000.0,
            rope_freq_scale: 1.0,
            builtin_template: false,
        },
        n_ctx: 4096,
    }));
    app
}

fn key(app: &mut App, code: KeyCode, m: KeyModifiers) {
    if let Some(a) = map_key(&app.keymap, app.mode, &KeyEvent::new(code, m)) {
        app.apply(a);
    }
}

fn say(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c), KeyModifiers::NONE);
    }
    key(app, KeyCode::Enter, KeyModifiers::NONE);
}

fn reply(app: &mut App, text: &str, done: bool) {
    // Stream in small pieces, as the engine does.
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.chunks(3).enumerate() {
        app.apply(Action::Engine(Event::Token {
            text: c.iter().collect(),
            n_past: 30 + i,
        }));
    }
    if done {
        app.apply(Action::Engine(Event::Done {
            stats: GenStats {
                prompt_tokens: 30,
                prompt_secs: 0.25,
                gen_tokens: 40,
                gen_secs: 0.8,
            },
            stop: StopReason::EndOfGeneration,
            n_past: 312,
        }));
    }
}

fn render(app: &App) -> String {
    let (w, h) = app.size;
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, app)).unwrap();
    t.backend().to_string()
}

const CODE_REPLY: &str = "## Reversing a string\n\nUse **iterators** — it is *short*:\n\n```rust\nfn reverse(s: &str) -> String {\n    // chars, not bytes\n    s.chars().rev().collect()\n}\n```\n\n- works with `UTF-8`\n- allocates once\n\n> Note: graphemes need a crate.\n";

#[test]
fn streamed_reply_with_code_block() {
    let mut a = app(80, 30);
    say(&mut a, "How do I reverse a string in Rust?");
    reply(&mut a, CODE_REPLY, true);
    insta::assert_snapshot!("reply_with_code", render(&a));
}

#[test]
fn streaming_in_progress() {
    let mut a = app(80, 24);
    say(&mut a, "Show me Python");
    reply(
        &mut a,
        "Sure:\n\n```python\ndef hi():\n    print(\"hi\")  # greet",
        false,
    );
    insta::assert_snapshot!("streaming", render(&a));
}

#[test]
fn help_overlay() {
    let mut a = app(100, 40);
    key(&mut a, KeyCode::F(1), KeyModifiers::NONE);
    insta::assert_snapshot!("help", render(&a));
}

#[test]
fn settings_panel() {
    let mut a = app(80, 30);
    key(&mut a, KeyCode::F(2), KeyModifiers::NONE);
    key(&mut a, KeyCode::Down, KeyModifiers::NONE);
    key(&mut a, KeyCode::Right, KeyModifiers::NONE);
    for _ in 0..19 {
        key(&mut a, KeyCode::Down, KeyModifiers::NONE);
    }
    key(&mut a, KeyCode::Left, KeyModifiers::NONE); // stage a smaller context
    insta::assert_snapshot!("settings", render(&a));
}

#[test]
fn engine_error_in_chat() {
    let mut a = app(80, 16);
    say(&mut a, "Hello");
    reply(&mut a, "Hi! How can I", false);
    a.apply(Action::Engine(Event::Error(
        "context is full: 4090 tokens in the context plus 10 new exceed its size 4096".into(),
    )));
    a.apply(Action::Engine(Event::Done {
        stats: GenStats::default(),
        stop: StopReason::Error,
        n_past: 4090,
    }));
    insta::assert_snapshot!("error", render(&a));
}

#[test]
fn tiny_terminal() {
    let mut a = app(40, 10);
    say(&mut a, "Hi");
    reply(&mut a, CODE_REPLY, true);
    insta::assert_snapshot!("tiny", render(&a));
    // Every overlay and a few degenerate sizes draw without panicking.
    for k in [KeyCode::F(1), KeyCode::F(2), KeyCode::F(3), KeyCode::F(4)] {
        let mut b = app(40, 10);
        say(&mut b, "Hi");
        reply(&mut b, CODE_REPLY, true);
        key(&mut b, k, KeyModifiers::NONE);
        render(&b);
        for (w, h) in [(1, 1), (5, 3), (20, 4), (40, 10)] {
            b.apply(Action::Resize(w, h));
            render(&b);
        }
    }
}

#[test]
fn no_color_theme() {
    let mut a = App::new(AppOptions {
        theme: hearth::tui::theme::Theme::no_color(),
        size: (60, 12),
        ..Default::default()
    });
    a.apply(Action::Engine(Event::Loaded {
        info: ModelInfo {
            name: "m".into(),
            quant: "Q8_0".into(),
            n_ctx_train: 512,
            rope_freq_base: 1e4,
            rope_freq_scale: 1.0,
            builtin_template: true,
        },
        n_ctx: 512,
    }));
    say(&mut a, "hi");
    let s = render(&a);
    assert!(s.contains("You"));
}
