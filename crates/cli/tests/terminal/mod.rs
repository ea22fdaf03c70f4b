//! Running `tidewatch` under a pseudo-terminal (util-linux `script`), for what only a terminal
//! shows: colours, prompts without echo, the progress display.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// `args` quoted for `sh -c`.
fn shell_words(args: &[&str]) -> String {
    args.iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `script` running `tidewatch args…` on a new pseudo-terminal; its output is the terminal's.
pub fn under_pty(args: &[&str]) -> Command {
    assert!(
        std::path::Path::new("/usr/bin/script").exists(),
        "`script` is missing (package bsdutils / util-linux)"
    );
    let mut words = vec![env!("CARGO_BIN_EXE_tidewatch")];
    words.extend_from_slice(args);
    let mut command = Command::new("/usr/bin/script");
    command
        .args(["-q", "-f", "-e", "-c", &shell_words(&words), "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE");
    command
}

/// A running `script`: what the terminal shows so far, and a way to type.
pub struct Pty {
    pub child: Child,
    output: Receiver<Vec<u8>>,
    pub seen: Vec<u8>,
}

impl Pty {
    pub fn spawn(mut command: Command) -> Pty {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start script");
        let mut stdout = child.stdout.take().expect("stdout");
        let (sender, output) = channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buffer) {
                if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            output,
            seen: Vec::new(),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Reads until `needle` was shown, or fails after `limit`.
    pub fn wait_for(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.text().contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{needle:?} did not appear; the terminal showed:\n{}",
                self.text()
            );
            if let Ok(chunk) = self.output.recv_timeout(left.min(Duration::from_millis(100))) {
                self.seen.extend(chunk);
            }
        }
    }

    /// Everything shown during `duration`.
    pub fn watch(&mut self, duration: Duration) {
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            if let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(50)) {
                self.seen.extend(chunk);
            }
        }
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(format!("{line}\r").as_bytes()).expect("type");
        stdin.flush().expect("flush");
    }

    /// Waits for the end and returns the exit status, reading the rest of the output.
    pub fn finish(mut self, limit: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                while let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(200)) {
                    self.seen.extend(chunk);
                }
                return (status.code(), self.text());
            }
            assert!(
                Instant::now() < deadline,
                "still running; the terminal showed:\n{}",
                self.text()
            );
            if let Ok(chunk) = self.output.recv_timeout(Duration::from_millis(50)) {
                self.seen.extend(chunk);
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
