//! End to end on Gemma 3: the real binary in a tmux pseudo-terminal, chatting through the
//! model's own chat template (from the GGUF, nothing special-cased). A greedy question gets a
//! streamed answer that ends by itself at Gemma's end-of-turn token; a follow-up turn reuses the
//! conversation; Ctrl-C exits with status 0.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::{status_line, Tmux};

#[test]
fn gemma3_chat_end_to_end_in_a_pty() {
    let model = common::model(common::GEMMA3);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_hearth"));
    let dir = std::env::temp_dir().join(format!("hearth-gemma-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exit_file = dir.join("exit");
    let _ = std::fs::remove_file(&exit_file);
    let name = format!("hearth-gemma-e2e-{}", std::process::id());
    let cmd = format!(
        "env HEARTH_CONFIG={cfg} HEARTH_LOG={log} {bin} chat -m {model} -c 2048 --preset greedy; echo $? > {exit}; sleep 60",
        cfg = dir.join("config.toml").display(),
        log = dir.join("hearth.log").display(),
        bin = bin.display(),
        model = model.display(),
        exit = exit_file.display(),
    );
    let st = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "110",
            "-y",
            "32",
            &cmd,
        ])
        .status()
        .expect("tmux is needed for this test");
    assert!(st.success());
    let t = Tmux { name };

    t.wait("the model to load", 90, |s| status_line(s).contains("idle"));

    t.text("What is the capital of France?");
    t.keys(&["Enter"]);
    t.wait("tokens to stream", 60, |s| {
        status_line(s).contains("generating")
    });
    // The reply ends on its own (end of turn) and names the city.
    let s = t.wait("the answer", 120, |s| {
        status_line(s).contains("idle") && s.contains("Paris")
    });
    assert!(s.contains("Assistant"), "{s}");
    assert!(
        !s.contains("<end_of_turn>"),
        "end-of-turn marker shown: {s}"
    );

    // A second turn in the same conversation.
    t.text("And of Italy?");
    t.keys(&["Enter"]);
    t.wait("the second answer", 120, |s| {
        status_line(s).contains("idle") && s.contains("Rome")
    });

    t.keys(&["C-c"]);
    let t0 = Instant::now();
    while !exit_file.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "hearth did not exit:\n{}",
            t.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(100));
    let code = std::fs::read_to_string(&exit_file).unwrap();
    assert_eq!(code.trim(), "0", "exit status");
    let _ = std::fs::remove_dir_all(&dir);
}
