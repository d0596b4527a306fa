//! End to end: the real binary in a tmux pseudo-terminal, on SmolLM2. Sends a message, sees
//! tokens stream with a tokens/s figure, stops a long reply with Esc, changes the temperature
//! in the settings panel, opens help with F1, quits with Ctrl-C, and checks the exit status.

mod common;

use std::path::Path;
use std::process::Command;

use common::tmux::{status_line, Chat};

fn has_tps(s: &str) -> bool {
    // "12.3 t/s" somewhere on the status line.
    let st = status_line(s);
    st.split(" t/s").next().is_some_and(|before| {
        before != st
            && before
                .rsplit(' ')
                .next()
                .is_some_and(|n| n.parse::<f64>().is_ok_and(|v| v > 0.0))
    })
}

#[test]
fn chat_end_to_end_in_a_pty() {
    let model = common::model(common::SMOLLM2);
    let dir = std::env::temp_dir().join(format!("hearth-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let chat = Chat::start(
        &dir,
        "e2e",
        &model,
        "-c 1024 --seed 7 --ignore-eos",
        (110, 32),
    );
    let t = &chat.tmux;

    t.wait("the model to load", 60, |s| status_line(s).contains("idle"));

    // Send a message; tokens stream with a live tokens/s figure (replies never end on their
    // own here because of --ignore-eos, so this one is long by construction).
    t.text("Tell me a long story about a dragon.");
    t.keys(&["Enter"]);
    let s = t.wait("tokens to stream", 60, |s| {
        status_line(s).contains("generating") && has_tps(s)
    });
    let n1: usize = status_line(&s)
        .split("generating ")
        .nth(1)
        .and_then(|x| x.split_whitespace().next())
        .and_then(|x| x.parse().ok())
        .unwrap();
    t.wait("more tokens", 30, |s| {
        status_line(s)
            .split("generating ")
            .nth(1)
            .and_then(|x| x.split_whitespace().next())
            .and_then(|x| x.parse::<usize>().ok())
            .is_some_and(|n| n > n1)
    });

    // Esc stops the reply at the next token and keeps the text.
    t.keys(&["Escape"]);
    let s = t.wait("the reply to stop", 20, |s| {
        status_line(s).contains("idle") && s.contains("[stopped]")
    });
    assert!(has_tps(&s), "tokens/s of the last reply: {s}");
    assert!(s.contains("Assistant"));

    // The settings panel: temperature 0.80 → 0.85.
    t.keys(&["F2"]);
    t.wait("the settings panel", 10, |s| s.contains("temperature"));
    t.keys(&["Down"]);
    t.keys(&["Right"]);
    t.wait("the new temperature", 10, |s| {
        s.lines()
            .any(|l| l.contains("temperature") && l.contains("0.85"))
    });
    t.keys(&["Escape"]);
    t.wait("the panel to close", 10, |s| !s.contains("temperature"));

    // Help on F1.
    t.keys(&["F1"]);
    t.wait("help", 10, |s| {
        s.contains("Help") && s.contains("regenerate the last reply")
    });
    t.keys(&["Escape"]);
    t.wait("help to close", 10, |s| {
        !s.contains("regenerate the last reply")
    });

    // Ctrl-C when idle quits with status 0 and gives the terminal back.
    chat.quit();
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

#[test]
fn missing_model_is_a_clear_message_before_the_screen_is_taken() {
    let bin = env!("CARGO_BIN_EXE_hearth");
    let o = Command::new(bin)
        .args(["chat", "-m", "/nonexistent/model.gguf"])
        .env("HEARTH_CONFIG", "/nonexistent/config.toml")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("model file not found: /nonexistent/model.gguf"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("\x1b[?1049h"));
    // Not a GGUF file.
    let o = Command::new(bin)
        .args(["chat", "-m", file!()])
        .env("HEARTH_CONFIG", "/nonexistent/config.toml")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not a GGUF model file"));
}
