//! The fake WeMeet API as a separate process, for the benchmarks: started on a free loopback
//! port, stopped with SIGTERM (or killed if the benchmark panics).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Fake {
    child: Child,
    pub url: String,
    stdout: BufReader<std::process::ChildStdout>,
    journal: Option<PathBuf>,
}

impl Fake {
    /// Starts `fake-api` with `extra` options; with `journal_dir`, it keeps a journal there.
    pub fn start(extra: &[&str], journal_dir: Option<&Path>) -> Fake {
        let journal = journal_dir.map(|d| d.join("journal.jsonl"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"));
        cmd.args(["fake-api", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped());
        if let Some(j) = &journal {
            cmd.arg("--journal").arg(j);
        }
        let mut child = cmd.spawn().expect("start the fake API");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("fake prints its address");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("address in the first line")
            .to_string();
        Fake {
            child,
            url,
            stdout,
            journal,
        }
    }

    /// How many creates the journal holds so far, counted without parsing it: what a
    /// benchmark polls while it waits (parsing 20,000 entries every 20 ms took a core from the
    /// daemon and the fake it measures).
    pub fn create_count(&self) -> usize {
        let Some(journal) = &self.journal else {
            return 0;
        };
        std::fs::read_to_string(journal)
            .unwrap_or_default()
            .matches("{\"op\":\"create\"")
            .count()
    }

    /// Create times (server clock, unix ms) in the journal so far.
    pub fn creates(&self) -> Vec<i64> {
        let Some(journal) = &self.journal else {
            return Vec::new();
        };
        std::fs::read_to_string(journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["op"] == "create")
            .filter_map(|v| v["at_ms"].as_i64())
            .collect()
    }

    /// The create time (server clock, unix ms) of the meeting with this subject, if any.
    pub fn created(&self, subject: &str) -> Option<i64> {
        let journal = self.journal.as_ref()?;
        std::fs::read_to_string(journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["op"] == "create" && v["subject"] == subject)
            .and_then(|v| v["at_ms"].as_i64())
    }

    /// Stops the fake with SIGTERM and returns what it printed on the way out.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.stdout, &mut rest);
        rest
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
