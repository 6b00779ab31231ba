//! Shared helpers for the integration tests: run the real binary, write files.

#![allow(dead_code)] // Each test crate uses its own subset.

pub mod api;
pub mod daemon;
pub mod fake;
pub mod postgres;
pub mod receiver;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One finished run of the `wemeet-scheduler` binary, from the repository root.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(args: &[&str]) -> Run {
        let out = binary()
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            // Never pick up a config installed on the machine running the tests.
            .env_remove("WEMEET_SCHEDULER_CONFIG")
            .output()
            .expect("the binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Runs `command` to its end, with `PATIENCE` to do it in: a command that hangs is killed
    /// and fails the test instead of hanging the suite.
    pub fn bounded(mut command: Command) -> Run {
        use std::io::Read as _;
        use std::process::Stdio;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let deadline = std::time::Instant::now() + daemon::PATIENCE;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the binary") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running after {:?}: {command:?}", daemon::PATIENCE);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        if let Some(pipe) = child.stdout.as_mut() {
            let _ = pipe.read_to_string(&mut stdout);
        }
        if let Some(pipe) = child.stderr.as_mut() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The `wemeet-scheduler` binary, logging warnings only and never talking to systemd.
pub fn binary() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"));
    c.env("RUST_LOG", "warn").env_remove("NOTIFY_SOCKET");
    c
}

/// Writes `text` to `dir/rel`, creating parent directories; returns the path.
pub fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create test dir");
    }
    std::fs::write(&path, text).expect("write test file");
    path
}
