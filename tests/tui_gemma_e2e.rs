//! End to end on Gemma 3, as `tui_e2e` does on SmolLM2: the real binary in a tmux
//! pseudo-terminal, chatting through the model's own chat template (from the GGUF, nothing
//! special-cased). A message gets a streamed reply with a tokens/s figure, Esc stops it, a second
//! turn continues the conversation, and Ctrl-C exits with status 0.
//!
//! What the reply says is llama.cpp's business: this 270M file, greedy, answers a question by
//! repeating it (llama.cpp's own greedy continuation of the same rendered prompt begins
//! "What is the capital of France?"), which is what the test checks the chat shows.

mod common;

use common::tmux::{status_line, Chat};

#[test]
fn gemma3_chat_end_to_end_in_a_pty() {
    let model = common::model(common::GEMMA3);
    let dir = std::env::temp_dir().join(format!("hearth-gemma-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let chat = Chat::start(
        &dir,
        "gemma-e2e",
        &model,
        "-c 2048 --preset greedy",
        (110, 32),
    );
    let t = &chat.tmux;

    t.wait("the model to load", 90, |s| status_line(s).contains("idle"));

    t.text("What is the capital of France?");
    t.keys(&["Enter"]);
    let s = t.wait("tokens to stream", 60, |s| {
        status_line(s).contains("generating") && status_line(s).contains(" t/s")
    });
    assert!(s.contains("Assistant"), "{s}");
    // llama.cpp's greedy reply to the rendered prompt starts by repeating the question: the
    // user's text shows twice (the message and the reply).
    t.wait("the reply's first words", 60, |s| {
        s.matches("What is the capital of France?").count() >= 2
    });
    t.keys(&["Escape"]);
    let s = t.wait("the reply to stop", 30, |s| {
        status_line(s).contains("idle") && s.contains("[stopped]")
    });
    for marker in ["<start_of_turn>", "<end_of_turn>", "<bos>"] {
        assert!(!s.contains(marker), "template marker {marker} shown: {s}");
    }

    // A second turn in the same conversation.
    t.text("Thanks!");
    t.keys(&["Enter"]);
    t.wait("the second reply", 60, |s| {
        status_line(s).contains("generating")
    });
    t.keys(&["Escape"]);
    t.wait("the second reply to stop", 30, |s| {
        status_line(s).contains("idle") && s.matches("[stopped]").count() >= 2
    });

    chat.quit();
    let _ = std::fs::remove_dir_all(&dir);
}
