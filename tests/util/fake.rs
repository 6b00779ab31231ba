//! The fake API a test talks to: the project's own (in-process, [`FakeApi`]) or the second,
//! independent one written from the vendor's docs (`../shared/fakes/wemeet_docs_fake.py`,
//! run as a Python process). The exactly-once suites run against both; where they disagree,
//! one of them misreads the docs.
//!
//! The second fake needs Python with the vendor's SDK: `.ci/run` makes a venv at
//! `target/docs-fake-venv` (or set `WEMEET_DOCS_FAKE_PYTHON`), and the script beside the
//! repository at `../shared/fakes/` (or set `WEMEET_DOCS_FAKE`). Without them a test says
//! plainly that it did not run; under CI (`CI=true`) that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wemeet_fake_api::store::{JournalEntry, Meeting};
use wemeet_fake_api::{
    DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY, FakeApi, FakeConfig, FaultSpec, Faults, Stats,
};

/// Which fake a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Docs,
}

/// A running fake of either kind.
pub enum TestFake {
    Ours(FakeApi),
    Docs(DocsFake),
}

impl TestFake {
    pub fn base_url(&self) -> String {
        match self {
            TestFake::Ours(f) => f.base_url(),
            TestFake::Docs(f) => f.base_url.clone(),
        }
    }

    /// Every create, modify and cancel, in order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        match self {
            TestFake::Ours(f) => f.journal(),
            TestFake::Docs(f) => f.journal(),
        }
    }

    /// What the fake counted. The second fake journals its hangs and resets only.
    pub fn stats(&self) -> Stats {
        match self {
            TestFake::Ours(f) => f.stats(),
            TestFake::Docs(f) => f.stats(),
        }
    }

    /// Replaces the faults. The second fake can only have them all turned off.
    pub fn set_faults(&self, faults: Faults) {
        match self {
            TestFake::Ours(f) => f.set_faults(faults),
            TestFake::Docs(f) => {
                assert!(
                    faults == Faults::default(),
                    "the second fake's faults can only be turned off"
                );
                f.calm();
            }
        }
    }

    /// The meetings not cancelled (from the journal, for the second fake).
    pub fn live_meetings(&self) -> Vec<Meeting> {
        match self {
            TestFake::Ours(f) => f.live_meetings(),
            TestFake::Docs(f) => f.live_meetings(),
        }
    }
}

/// Where the second fake and a Python that runs it are, or why they are not here.
pub fn docs_fake_setup() -> Result<(PathBuf, PathBuf), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = std::env::var_os("WEMEET_DOCS_FAKE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/fakes/wemeet_docs_fake.py"));
    let python = std::env::var_os("WEMEET_DOCS_FAKE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/docs-fake-venv/bin/python"));
    if !script.is_file() {
        return Err(format!("no second fake at {}", script.display()));
    }
    if !python.is_file() {
        return Err(format!(
            "no Python with the vendor SDK at {} (.ci/run makes it: python3 -m venv target/docs-fake-venv && target/docs-fake-venv/bin/pip install wemeet-openapi-sdk-python requests_toolbelt)",
            python.display()
        ));
    }
    Ok((script, python))
}

/// Whether a test against the second fake can run here. When it cannot, says so plainly on
/// stderr and returns false; under CI (`CI=true`), where a skip would hide a failure, panics.
pub fn docs_fake_here(test: &str) -> bool {
    match docs_fake_setup() {
        Ok(_) => true,
        Err(why) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test} must run against the second fake in CI: {why}")
        }
        Err(why) => {
            eprintln!("NOT RUN: {test} against the second fake: {why}");
            false
        }
    }
}

/// `../shared/fakes/wemeet_docs_fake.py` as a child process on a free loopback port.
pub struct DocsFake {
    child: Child,
    dir: tempfile::TempDir,
    journal: PathBuf,
    pub base_url: String,
}

fn rate(spec: &FaultSpec, what: &str) -> f64 {
    match spec {
        FaultSpec::Off => 0.0,
        FaultSpec::Rate(p) => *p,
        FaultSpec::Count(_) => panic!("the second fake takes {what} as a rate only"),
    }
}

impl DocsFake {
    /// Starts it with `config`'s faults and seed (the faults it has: 5xx, rate limits, hangs
    /// and resets after a create). Panics when it is not here: check [`docs_fake_here`] first.
    pub fn start(config: &FakeConfig) -> DocsFake {
        let (script, python) = docs_fake_setup().unwrap_or_else(|why| panic!("{why}"));
        let dir = tempfile::tempdir().expect("temp dir");
        let port_file = dir.path().join("port");
        let journal = dir.path().join("journal.jsonl");
        let f = &config.faults;
        assert!(
            f.create_error.is_none() && f.modify_error.is_none() && f.cancel_error.is_none(),
            "error faults are not mapped to the second fake"
        );
        let mut cmd = Command::new(python);
        cmd.env("DOCS_FAKE_CALM_ACK", dir.path().join("calm"));
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/util/docs_fake_calm.py"))
            .arg(script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--journal")
            .arg(&journal)
            .args(["--app-id", DEMO_APP_ID])
            .args(["--secret-id", DEMO_SECRET_ID])
            .args(["--secret-key", DEMO_SECRET_KEY])
            .args(["--seed", &config.seed.to_string()])
            .args([
                "--fail-5xx",
                &rate(&f.internal_error, "5xx").to_string(),
                "--rate-limit",
                &rate(&f.rate_limited, "rate limits").to_string(),
                "--commit-then-hang",
                &rate(&f.create_then_hang, "hangs").to_string(),
                "--hang-s",
                &f.hang_for.as_secs_f64().to_string(),
                "--commit-then-reset",
                &rate(&f.create_then_reset, "resets").to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // Its tracebacks for connections the faults reset are noise in a test's output; they
        // stay in the fake's temp dir for as long as it runs.
        if let Ok(log) = std::fs::File::create(dir.path().join("stderr.log")) {
            cmd.stderr(log);
        }
        if config.creates_per_hour_per_user > 0 {
            cmd.args([
                "--user-hourly-creates",
                &config.creates_per_hour_per_user.to_string(),
            ]);
        }
        let mut child = cmd.spawn().expect("start the second fake");
        let started = Instant::now();
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse::<u16>()
            {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the second fake exited at start: {status}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the second fake did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        DocsFake {
            child,
            dir,
            journal,
            base_url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Its journal, one JSON object a line.
    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.journal)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Its journal as ours writes it: `created`, `modified` and `cancelled` become `create`,
    /// `modify` and `cancel`, with the subject, user and times of the meeting as it then is.
    pub fn journal(&self) -> Vec<JournalEntry> {
        let mut meetings: std::collections::HashMap<String, JournalEntry> = Default::default();
        let mut out = Vec::new();
        let seconds = |v: &Value| match v {
            Value::String(s) => s.parse().unwrap_or_default(),
            other => other.as_i64().unwrap_or_default(),
        };
        for line in self.lines() {
            let op = match line["event"].as_str() {
                Some("created") => "create",
                Some("modified") => "modify",
                Some("cancelled") => "cancel",
                _ => continue,
            };
            let id = line["meeting_id"].as_str().unwrap_or_default().to_string();
            let body = &line["body"];
            let at_ms = (line["at"].as_f64().unwrap_or_default() * 1000.0) as i64;
            let mut entry = meetings.get(&id).cloned().unwrap_or(JournalEntry {
                op,
                meeting_id: id.clone(),
                userid: body["userid"].as_str().unwrap_or_default().to_string(),
                subject: String::new(),
                start_time: 0,
                end_time: 0,
                changes: None,
                sub_meeting_id: None,
                occurrences: None,
                at_ms,
            });
            entry.op = op;
            entry.at_ms = at_ms;
            entry.changes = None;
            if let Some(s) = body["subject"].as_str() {
                entry.subject = s.to_string();
            }
            if !body["start_time"].is_null() {
                entry.start_time = seconds(&body["start_time"]);
            }
            if !body["end_time"].is_null() {
                entry.end_time = seconds(&body["end_time"]);
            }
            if op == "modify" {
                entry.changes = body.as_object().cloned();
            }
            meetings.insert(id, entry.clone());
            out.push(entry);
        }
        out
    }

    /// Hangs and resets after a create, from the journal's fault lines.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for line in self.lines() {
            match line["kind"].as_str() {
                Some("hang_after_commit") => stats.hangs += 1,
                Some("reset_after_commit") => stats.resets += 1,
                _ => {}
            }
        }
        stats
    }

    /// The meetings created and not cancelled, as the journal last shows them.
    pub fn live_meetings(&self) -> Vec<Meeting> {
        let mut live: std::collections::BTreeMap<String, JournalEntry> = Default::default();
        for e in self.journal() {
            if e.op == "cancel" {
                live.remove(&e.meeting_id);
            } else {
                live.insert(e.meeting_id.clone(), e);
            }
        }
        live.into_values()
            .map(|e| Meeting {
                meeting_id: e.meeting_id,
                meeting_code: String::new(),
                userid: e.userid,
                instanceid: 1,
                subject: e.subject,
                meeting_type: 0,
                hosts: Vec::new(),
                invitees: Vec::new(),
                start_time: e.start_time,
                end_time: e.end_time,
                password: None,
                settings: Default::default(),
                extra: Default::default(),
                cancelled: false,
                updated_ms: e.at_ms,
                series: None,
            })
            .collect()
    }

    /// Turns every fault off (SIGUSR1 to `docs_fake_calm.py`).
    pub fn calm(&self) {
        let ack = self.dir.path().join("calm");
        let _ = std::fs::remove_file(&ack);
        let status = Command::new("kill")
            .args(["-USR1", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "signal the second fake");
        // Handled between two polls of its server loop; it then writes the file.
        let asked = Instant::now();
        while !ack.exists() {
            assert!(
                asked.elapsed() < Duration::from_secs(20),
                "the second fake did not turn its faults off"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for DocsFake {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
