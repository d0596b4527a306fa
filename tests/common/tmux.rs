//! A tmux session driving the real binary in a pseudo-terminal, for the chat's end-to-end tests.

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    pub name: String,
}

impl Tmux {
    pub fn capture(&self) -> String {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn keys(&self, keys: &[&str]) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.name])
            .args(keys)
            .status()
            .unwrap();
        assert!(st.success());
    }

    pub fn text(&self, s: &str) {
        let st = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.name, s])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits until `pred` holds for the screen; panics with the screen after `secs`.
    pub fn wait(&self, what: &str, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            if t0.elapsed() > Duration::from_secs(secs) {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

pub fn status_line(screen: &str) -> String {
    screen
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}
