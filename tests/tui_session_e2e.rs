//! End to end for sessions: the real binary in a tmux pseudo-terminal, on SmolLM2. Starts
//! `hearth chat --session demo --new`, gets a reply (which autosaves the session), quits with
//! Ctrl-C; then resumes with `--session demo`: the old messages are shown, the restored context
//! usage is on the status bar at once with the state idle (the KV cache was restored, not
//! re-evaluated: no "re-processed" banner, same token count as when it was saved), and a new
//! message gets a reply on top of it. Also: resuming a missing session and clobbering an
//! existing one are refused before the screen is taken.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::tmux::{status_line, Chat};

/// The number before `/` in the status line's `ctx ███░░ N/M`.
fn ctx_used(screen: &str) -> Option<usize> {
    let st = status_line(screen);
    let after = st.split("ctx ").nth(1)?;
    let gauge_end = after.find(' ')?;
    let nm = after[gauge_end..].trim_start().split_whitespace().next()?;
    nm.split('/').next()?.parse().ok()
}

fn reply_done(s: &str) -> bool {
    let st = status_line(s);
    st.contains("idle") && st.contains(" t/s")
}

fn start(dir: &Path, tag: &str, args: &str) -> Chat {
    let model = common::model(common::SMOLLM2);
    Chat::start(
        dir,
        &format!("sess-{tag}"),
        &model,
        &format!("-c 512 --preset greedy {args}"),
        (150, 40),
    )
}

/// Sessions-specific steps on a running chat.
trait Ask {
    fn ask(&self, text: &str) -> String;
}

impl Ask for Chat {
    /// Sends `text`, lets a few tokens stream, then stops the reply with Esc (greedy SmolLM2
    /// can ramble until the context is full) and waits until it has ended.
    fn ask(&self, text: &str) -> String {
        let t = &self.tmux;
        t.text(text);
        t.keys(&["Enter"]);
        let s = t.wait("some tokens", 120, |s| {
            status_line(s)
                .split("generating ")
                .nth(1)
                .and_then(|x| x.split_whitespace().next())
                .and_then(|x| x.parse::<usize>().ok())
                .is_some_and(|n| n >= 8)
                || (reply_done(s) && s.contains(text))
        });
        if !reply_done(&s) {
            t.keys(&["Escape"]);
        }
        t.wait("the reply to end", 60, reply_done)
    }
}

#[test]
fn session_save_and_resume_in_a_pty() {
    let dir = std::env::temp_dir().join(format!("hearth-sess-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("data").join("sessions").join("demo.hsession");

    // A new session: the reply autosaves it.
    let run = start(&dir, "1", "--session demo --new");
    let s = run.tmux.wait("the model to load", 120, |s| {
        status_line(s).contains("idle")
    });
    assert!(status_line(&s).contains("session demo"), "{s}");
    let s = run.ask("What is the capital of France?");
    let used = ctx_used(&s).expect("context usage on the status line");
    assert!(used > 0, "{s}");
    // The autosave follows the reply.
    let t0 = Instant::now();
    while !file.is_file() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the session was not saved: {}\n{}",
            file.display(),
            run.tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    run.tmux.wait("the saved banner", 30, |s| {
        s.contains("session saved: demo")
    });
    run.quit();
    drop(run);

    // `--new` does not clobber it; a missing session is a clear message.
    let bin = env!("CARGO_BIN_EXE_hearth");
    let model = common::model(common::SMOLLM2);
    for (args, expect) in [
        (&["--session", "demo", "--new"][..], "already exists"),
        (&["--session", "nope"][..], "--session nope --new"),
    ] {
        let o = Command::new(bin)
            .arg("chat")
            .arg("-m")
            .arg(&model)
            .args(args)
            .env("HEARTH_CONFIG", dir.join("config.toml"))
            .env("HEARTH_DATA_DIR", dir.join("data"))
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expect), "{args:?}: {err}");
    }

    // Resume: old messages shown, the context restored without re-evaluation.
    let run = start(&dir, "2", "--session demo");
    let s = run.tmux.wait("the session to load", 120, |s| {
        let st = status_line(s);
        st.contains("idle") && st.contains("session demo") && ctx_used(s).is_some_and(|n| n > 0)
    });
    assert_eq!(
        ctx_used(&s),
        Some(used),
        "the restored context holds the saved tokens:\n{s}"
    );
    assert!(s.contains("What is the capital of France?"), "{s}");
    assert!(s.contains("Assistant"), "{s}");
    assert!(s.contains("session loaded: demo"), "{s}");
    assert!(!s.contains("re-processed"), "nothing is re-evaluated:\n{s}");
    assert!(
        !status_line(&s).contains("t/s"),
        "no prompt was processed: {s}"
    );
    let s = run.ask("And of Italy?");
    assert!(s.contains("And of Italy?"), "{s}");
    let used2 = ctx_used(&s).unwrap();
    assert!(
        used2 > used,
        "the new turn adds to the restored context: {used} -> {used2}"
    );
    run.quit();
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
}
