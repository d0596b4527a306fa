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

/// `hearth chat` running in its own tmux session, with its config, data and log files in
/// `dir`; the shell writes the exit status to a file once it ends.
pub struct Chat {
    pub tmux: Tmux,
    pub exit_file: std::path::PathBuf,
}

impl Chat {
    /// Starts `hearth chat -m MODEL ARGS` in a `cols`×`rows` terminal.
    pub fn start(
        dir: &std::path::Path,
        tag: &str,
        model: &std::path::Path,
        args: &str,
        size: (u16, u16),
    ) -> Chat {
        let bin = env!("CARGO_BIN_EXE_hearth");
        let exit_file = dir.join(format!("exit-{tag}"));
        let _ = std::fs::remove_file(&exit_file);
        let name = format!("hearth-{tag}-{}", std::process::id());
        let cmd = format!(
            "env HEARTH_CONFIG={cfg} HEARTH_DATA_DIR={data} HEARTH_LOG={log} {bin} chat -m {model} {args}; echo $? > {exit}; sleep 60",
            cfg = dir.join("config.toml").display(),
            data = dir.join("data").display(),
            log = dir.join("hearth.log").display(),
            model = model.display(),
            exit = exit_file.display(),
        );
        let (cols, rows) = (size.0.to_string(), size.1.to_string());
        let st = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                &cols,
                "-y",
                &rows,
                &cmd,
            ])
            .status()
            .expect("tmux is needed for this test");
        assert!(st.success());
        Chat {
            tmux: Tmux { name },
            exit_file,
        }
    }

    /// Ctrl-C, then the process must end with status 0 and give the terminal back.
    pub fn quit(&self) {
        let t = &self.tmux;
        t.keys(&["C-c"]);
        let t0 = Instant::now();
        while !self.exit_file.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "hearth did not exit:\n{}",
                t.capture()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(100));
        let code = std::fs::read_to_string(&self.exit_file).unwrap();
        assert_eq!(code.trim(), "0", "exit status; screen:\n{}", t.capture());
        let s = t.capture();
        assert!(
            !s.contains("Message (Enter sends"),
            "the screen was not restored: {s}"
        );
    }
}
