//! The chat UI's state and key handling, with no terminal and no model.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use hearth::engine::protocol::{Command, Event, GenStats, ModelInfo, StopReason};
use hearth::tui::action::{Action, Bound};
use hearth::tui::app::{App, AppOptions, Effect, EngineState, Role};
use hearth::tui::keymap::{map_key, KeyMap, KeySpec, Mode};
use std::collections::BTreeMap;

fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, m)
}
fn press(app: &mut App, code: KeyCode, m: KeyModifiers) {
    if let Some(a) = map_key(&app.keymap, app.mode, &key(code, m)) {
        app.apply(a);
    }
}
fn typ(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c), KeyModifiers::NONE);
    }
}

fn loaded() -> App {
    let mut app = App::new(AppOptions::default());
    app.apply(Action::Engine(Event::Loaded {
        info: ModelInfo {
            name: "Test".into(),
            quant: "Q4_1".into(),
            n_ctx_train: 8192,
            rope_freq_base: 10000.0,
            rope_freq_scale: 1.0,
            builtin_template: false,
        },
        n_ctx: 4096,
    }));
    app
}

fn engine_cmds(app: &mut App) -> Vec<Command> {
    std::mem::take(&mut app.effects)
        .into_iter()
        .filter_map(|e| match e {
            Effect::Engine(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn stream(app: &mut App, pieces: &[&str], stop: StopReason) {
    for (i, p) in pieces.iter().enumerate() {
        app.apply(Action::Engine(Event::Token {
            text: p.to_string(),
            n_past: 20 + i,
        }));
    }
    app.apply(Action::Engine(Event::Done {
        stats: GenStats {
            prompt_tokens: 20,
            prompt_secs: 0.1,
            gen_tokens: pieces.len(),
            gen_secs: 0.5,
        },
        stop,
        n_past: 20 + pieces.len(),
    }));
}

#[test]
fn keymap_modes() {
    let km = KeyMap::default();
    let none = KeyModifiers::NONE;
    assert_eq!(
        map_key(&km, Mode::Input, &key(KeyCode::Enter, none)),
        Some(Action::Bound(Bound::Send))
    );
    assert_eq!(
        map_key(&km, Mode::Input, &key(KeyCode::Enter, KeyModifiers::ALT)),
        Some(Action::Bound(Bound::Newline))
    );
    assert_eq!(
        map_key(&km, Mode::Input, &key(KeyCode::Enter, KeyModifiers::SHIFT)),
        Some(Action::Bound(Bound::Newline))
    );
    assert_eq!(
        map_key(&km, Mode::Input, &key(KeyCode::Char('?'), none)),
        Some(Action::Insert('?'))
    );
    assert_eq!(
        map_key(&km, Mode::Transcript, &key(KeyCode::Char('?'), none)),
        Some(Action::Bound(Bound::Help))
    );
    assert_eq!(
        map_key(&km, Mode::Transcript, &key(KeyCode::Char('k'), none)),
        Some(Action::ScrollLines(1))
    );
    assert_eq!(
        map_key(&km, Mode::Settings, &key(KeyCode::Right, none)),
        Some(Action::Increase { big: false })
    );
    for mode in [Mode::Input, Mode::Settings, Mode::Help, Mode::Transcript] {
        assert_eq!(
            map_key(&km, mode, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Bound(Bound::CancelOrQuit)),
            "{mode:?}"
        );
    }
    assert_eq!(
        map_key(&km, Mode::Input, &key(KeyCode::F(1), none)),
        Some(Action::Bound(Bound::Help))
    );
}

#[test]
fn key_bindings_are_configurable() {
    let mut o = BTreeMap::new();
    o.insert("regenerate".to_string(), vec!["f5".to_string()]);
    let km = KeyMap::with_overrides(&o).unwrap();
    let none = KeyModifiers::NONE;
    assert_eq!(
        map_key(&km, Mode::Input, &key(KeyCode::F(5), none)),
        Some(Action::Bound(Bound::Regenerate))
    );
    // The old binding is gone: Ctrl-R is no longer bound.
    assert_eq!(
        map_key(
            &km,
            Mode::Input,
            &key(KeyCode::Char('r'), KeyModifiers::CONTROL)
        ),
        None
    );
    o.insert("bogus".into(), vec!["f6".into()]);
    assert!(KeyMap::with_overrides(&o).is_err());
    assert_eq!(KeySpec::parse("ctrl-r").unwrap().to_string(), "Ctrl-R");
    assert!(KeySpec::parse("hyper-x").is_err());
}

#[test]
fn send_stream_and_kv_friendly_conversation() {
    let mut app = loaded();
    typ(&mut app, "Hello");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    let cmds = engine_cmds(&mut app);
    assert!(
        matches!(&cmds[..], [Command::Generate { messages }] if messages.len() == 1 && messages[0].content == "Hello")
    );
    assert!(app.input.is_empty());
    assert!(app.engine.busy());
    stream(&mut app, &["Hi", " there"], StopReason::EndOfGeneration);
    assert_eq!(app.engine, EngineState::Idle);
    assert_eq!(app.entries.last().unwrap().content, "Hi there");
    assert!(app.last_stats.unwrap().gen_tps().unwrap() > 0.0);
    // The next turn sends the whole conversation (the engine reuses the KV prefix).
    typ(&mut app, "More");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    match &engine_cmds(&mut app)[..] {
        [Command::Generate { messages }] => {
            let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
            assert_eq!(roles, ["user", "assistant", "user"]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn esc_cancels_and_keeps_the_text_ctrl_c_quits_when_idle() {
    let mut app = loaded();
    typ(&mut app, "Story");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    engine_cmds(&mut app);
    app.apply(Action::Engine(Event::Token {
        text: "Once".into(),
        n_past: 10,
    }));
    press(&mut app, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(engine_cmds(&mut app), vec![Command::Cancel]);
    stream(&mut app, &[" upon"], StopReason::Cancelled);
    let last = app.entries.last().unwrap();
    assert_eq!(last.content, "Once upon");
    assert_eq!(last.stop, Some(StopReason::Cancelled));
    assert!(!app.quit);
    // Ctrl-C while generating cancels; when idle it quits.
    typ(&mut app, "x");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    engine_cmds(&mut app);
    press(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(engine_cmds(&mut app), vec![Command::Cancel]);
    assert!(!app.quit);
    stream(&mut app, &[], StopReason::Cancelled);
    press(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.quit);
}

#[test]
fn multiline_paste_history_edit_regenerate_new_chat() {
    let mut app = loaded();
    app.apply(Action::Paste("line one\nline two\nline three".into()));
    assert_eq!(
        app.input.lines().len(),
        3,
        "a paste is one edit and does not send"
    );
    press(&mut app, KeyCode::Enter, KeyModifiers::ALT);
    typ(&mut app, "four");
    assert_eq!(app.input.text(), "line one\nline two\nline three\nfour");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    engine_cmds(&mut app);
    stream(&mut app, &["ok"], StopReason::EndOfGeneration);
    // History.
    press(&mut app, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(app.input.text(), "line one\nline two\nline three\nfour");
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    assert!(app.input.is_empty());
    // Regenerate drops the last reply and asks again.
    press(&mut app, KeyCode::Char('r'), KeyModifiers::CONTROL);
    match &engine_cmds(&mut app)[..] {
        [Command::Generate { messages }] => assert_eq!(messages.len(), 1),
        other => panic!("{other:?}"),
    }
    stream(&mut app, &["again"], StopReason::EndOfGeneration);
    assert_eq!(app.entries.len(), 2);
    assert_eq!(app.entries[1].content, "again");
    // Edit the last message: it comes back into the editor, the exchange is removed.
    press(&mut app, KeyCode::Char('e'), KeyModifiers::CONTROL);
    assert!(app.entries.is_empty());
    assert!(app.input.text().ends_with("four"));
    // New chat.
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    engine_cmds(&mut app);
    stream(&mut app, &["x"], StopReason::EndOfGeneration);
    press(&mut app, KeyCode::Char('n'), KeyModifiers::CONTROL);
    assert!(app.entries.is_empty());
    assert_eq!(engine_cmds(&mut app), vec![Command::Reset]);
}

#[test]
fn copy_and_export() {
    let mut app = loaded();
    typ(&mut app, "code?");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    engine_cmds(&mut app);
    stream(
        &mut app,
        &["Two:\n```rust\nfn a() {}\n```\nand\n```py\nb = 1\n```\n"],
        StopReason::EndOfGeneration,
    );
    press(&mut app, KeyCode::Char('y'), KeyModifiers::ALT);
    assert_eq!(app.effects.pop(), Some(Effect::Clipboard("b = 1\n".into())));
    press(&mut app, KeyCode::Char('y'), KeyModifiers::ALT);
    assert_eq!(
        app.effects.pop(),
        Some(Effect::Clipboard("fn a() {}\n".into()))
    );
    press(&mut app, KeyCode::Char('y'), KeyModifiers::CONTROL);
    assert!(matches!(app.effects.pop(), Some(Effect::Clipboard(s)) if s.starts_with("Two:")));
    press(&mut app, KeyCode::Char('x'), KeyModifiers::CONTROL);
    match app.effects.pop() {
        Some(Effect::Export(md)) => {
            assert!(md.contains("## You\n\ncode?"));
            assert!(md.contains("```rust"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn settings_live_and_staged() {
    let mut app = loaded();
    press(&mut app, KeyCode::F(2), KeyModifiers::NONE);
    assert_eq!(app.mode, Mode::Settings);
    press(&mut app, KeyCode::Down, KeyModifiers::NONE); // temperature
    press(&mut app, KeyCode::Right, KeyModifiers::NONE);
    assert!((app.sampler.temp - 0.85).abs() < 1e-6);
    match &engine_cmds(&mut app)[..] {
        [Command::UpdateSampler(s)] => assert!((s.temp - 0.85).abs() < 1e-6),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.preset, "custom");
    // Type a value.
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(app.mode, Mode::FieldEdit);
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typ(&mut app, "0.3");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!((app.sampler.temp - 0.3).abs() < 1e-6);
    // Invalid typed values are refused with a message.
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    press(&mut app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    typ(&mut app, "abc");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert!(app.panel.error.is_some());
    assert!((app.sampler.temp - 0.3).abs() < 1e-6);
    engine_cmds(&mut app);
    // The context size is staged, then applied after a confirmation with an estimate.
    app.n_past = 500;
    app.prompt_speed = Some(250.0);
    for _ in 0..20 {
        press(&mut app, KeyCode::Up, KeyModifiers::NONE);
    } // wraps to the last rows
    while app.field() != hearth::tui::fields::Field::CtxSize {
        press(&mut app, KeyCode::Down, KeyModifiers::NONE);
    }
    press(&mut app, KeyCode::Left, KeyModifiers::NONE);
    assert!(app.has_staged());
    assert!(engine_cmds(&mut app).is_empty(), "staged, not applied yet");
    press(&mut app, KeyCode::Char('a'), KeyModifiers::NONE);
    assert_eq!(app.mode, Mode::Confirm);
    let text = app.confirm.as_ref().unwrap().text.clone();
    assert!(
        text.contains("re-process 500 tokens, about 2.0 s"),
        "{text}"
    );
    press(&mut app, KeyCode::Char('y'), KeyModifiers::NONE);
    match &engine_cmds(&mut app)[..] {
        [Command::Reconfigure { settings, .. }] => assert_eq!(settings.n_ctx, 2048),
        other => panic!("{other:?}"),
    }
    assert!(!app.has_staged());
    app.apply(Action::Engine(Event::Prefill {
        done: 256,
        total: 500,
    }));
    assert_eq!(app.state_label(), "prefilling 256 of 500");
}

#[test]
fn system_prompt_change_asks_first() {
    let mut app = loaded();
    app.n_past = 100;
    press(&mut app, KeyCode::F(3), KeyModifiers::NONE);
    assert_eq!(app.mode, Mode::SystemPrompt);
    typ(&mut app, "Be brief.");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(app.mode, Mode::Confirm);
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(app.system_prompt, "Be brief.");
    match &engine_cmds(&mut app)[..] {
        [Command::Prefill { messages }] => assert_eq!(messages[0].role, "system"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scrolling_stops_auto_follow_and_resumes_at_the_bottom() {
    let mut app = loaded();
    app.apply(Action::Resize(60, 12));
    typ(&mut app, "long");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    for _ in 0..40 {
        app.apply(Action::Engine(Event::Token {
            text: "word word word word\n\n".into(),
            n_past: 1,
        }));
    }
    assert!(app.following());
    app.apply(Action::ScrollLines(3)); // mouse wheel up
    assert_eq!(app.scroll, 3);
    let before = app.scroll;
    app.apply(Action::Engine(Event::Token {
        text: "more\n\n".into(),
        n_past: 2,
    }));
    assert!(
        app.scroll > before,
        "the view stays put while the reply grows"
    );
    press(&mut app, KeyCode::End, KeyModifiers::CONTROL);
    assert!(app.following());
    press(&mut app, KeyCode::Tab, KeyModifiers::NONE);
    assert_eq!(app.mode, Mode::Transcript);
    press(&mut app, KeyCode::Char('g'), KeyModifiers::NONE);
    assert_eq!(
        app.scroll,
        app.total_lines() - app.areas().transcript.height as usize
    );
    press(&mut app, KeyCode::Char('G'), KeyModifiers::NONE);
    assert!(app.following());
}

#[test]
fn context_shift_marks_old_turns_and_errors_keep_the_transcript() {
    let mut app = loaded();
    for i in 0..3 {
        typ(&mut app, &format!("q{i}"));
        press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
        stream(&mut app, &["a"], StopReason::EndOfGeneration);
    }
    engine_cmds(&mut app);
    typ(&mut app, "q3");
    press(&mut app, KeyCode::Enter, KeyModifiers::NONE);
    app.apply(Action::Engine(Event::ContextShift { dropped: 2 }));
    stream(&mut app, &["b"], StopReason::EndOfGeneration);
    assert!(app.entries[0].out_of_context && app.entries[1].out_of_context);
    assert!(!app.entries[2].out_of_context);
    assert!(app.entries.iter().any(|e| e.role == Role::Notice));
    assert_eq!(app.conversation().len(), 6);
    let n = app.entries.len();
    app.apply(Action::Engine(Event::Error("boom".into())));
    assert_eq!(app.entries.len(), n + 1);
    assert_eq!(app.entries.last().unwrap().role, Role::Error);
}

#[test]
fn sessions_hook_reports_errors_in_chat() {
    let mut app = loaded();
    press(&mut app, KeyCode::Char('s'), KeyModifiers::CONTROL);
    assert!(matches!(
        &engine_cmds(&mut app)[..],
        [Command::SaveSession { .. }]
    ));
    app.apply(Action::Engine(Event::SessionSaved {
        name: "work".into(),
    }));
    assert_eq!(app.session, "work");
}

#[test]
fn keys_doc_is_current() {
    let md = hearth::tui::components::help::markdown(&KeyMap::default());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keys.md");
    if std::env::var_os("UPDATE_DOCS").is_some() || !path.exists() {
        std::fs::write(&path, &md).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        md,
        "docs/keys.md is stale: run with UPDATE_DOCS=1"
    );
}
