//! Memory and writes that grow with what matters, the daemon as a process:
//!
//! - N series definitions loaded (never due): RSS and peak RSS once `READY=1`, the memory a
//!   loaded series costs (RSS over that of a daemon with none, divided by N), and the same
//!   after a SIGHUP (the reload reads every file again);
//! - 100,000 invalid definition files: bytes written (`/proc/PID/io` `wchar`: what SQLite hands
//!   the kernel, WAL and checkpoints; `write_bytes` misses rewrites of pages not yet written
//!   back) when one of them is edited, and the peak RSS.
//!
//! Run: `cargo bench --bench memory [-- BIN...]`: one column per binary (default: this build),
//! measured one after the other in this run. `WEMEET_MEMORY_SERIES=20000,100000` sets the
//! series counts (default 20,000), `WEMEET_MEMORY_INVALID` the invalid files (default
//! 100,000). Linux only (reads /proc).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/process.rs"]
#[allow(dead_code)] // This benchmark does not use the notify helper.
mod process;

use process::{Proc, stop, usage};
use wemeet_fake_api::{DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY};

/// A temp dir with a config, a watch dir and a state store for one daemon. The API is never
/// called: nothing is due.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    watch: PathBuf,
    state: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let watch = dir.path().join("meetings.d");
        std::fs::create_dir_all(&watch).expect("watch dir");
        let state = dir.path().join("state.db");
        // A store as an earlier start leaves it (else the daemon would look up first).
        wemeet_scheduler::store::create_empty(&state).expect("state");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[api]\nbase_url = \"http://127.0.0.1:9\"\napp_id = \"{DEMO_APP_ID}\"\nsecret_id = \"{DEMO_SECRET_ID}\"\n[watch]\ndir = \"{}\"\nrescan_interval = \"1h\"\n[state]\nfile = \"{}\"\n[defaults]\nuserid = \"bench\"\ntimezone = \"UTC\"\n",
                watch.display(),
                state.display()
            ),
        )
        .expect("config");
        Setup {
            dir,
            config,
            watch,
            state,
        }
    }

    /// Series that are never due during the run: 29 February, booked an hour ahead.
    fn write_series(&self, n: usize) {
        for i in 0..n {
            let sub = self.watch.join(format!("team-{:02}", i % 100));
            std::fs::create_dir_all(&sub).expect("dir");
            std::fs::write(
                sub.join(format!("s{i:06}.toml")),
                format!(
                    "subject = \"Series {i}\"\nduration = \"30m\"\n[schedule]\ncron = \"{} {} 29 2 *\"\nbook_ahead = \"1h\"\n",
                    i % 60,
                    i % 24
                ),
            )
            .expect("write");
        }
    }

    /// Definitions that do not validate: a password of two digits.
    fn write_invalid(&self, n: usize) {
        for i in 0..n {
            let sub = self.watch.join(format!("team-{:02}", i % 100));
            std::fs::create_dir_all(&sub).expect("dir");
            std::fs::write(sub.join(format!("bad{i:06}.toml")), invalid_text(i)).expect("write");
        }
    }

    /// Starts `run` of `bin` with a notify socket.
    fn run(&self, bin: &str) -> (Proc, Notify) {
        let sock_path = self.dir.path().join("notify.sock");
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
        sock.set_read_timeout(Some(Duration::from_secs(600)))
            .expect("timeout");
        let child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&self.config)
            // Not each invalid file's warning: the writes measured are the store's.
            .env("RUST_LOG", "error")
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WEMEET_SECRET_KEY", DEMO_SECRET_KEY)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the daemon");
        (Proc(Some(child)), Notify(sock))
    }
}

fn invalid_text(i: usize) -> String {
    format!(
        "subject = \"Broken {i}\"\nstart_time = 2031-01-01T10:00:00Z\nduration = \"30m\"\npassword = \"12\"\n"
    )
}

/// The daemon's notify socket, read as systemd does.
struct Notify(UnixDatagram);

impl Notify {
    /// Waits for the next `READY=1`.
    fn ready(&self) {
        let mut buf = [0u8; 4096];
        loop {
            let n = self.0.recv(&mut buf).expect("a notify message");
            if String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1")
            {
                return;
            }
        }
    }
}

/// Waits until the daemon has written nothing for `quiet`; returns its `wchar` then.
fn settled(pid: u32, quiet: Duration) -> u64 {
    let mut last = usage(pid).write_chars;
    let mut since = Instant::now();
    let t = Instant::now();
    while since.elapsed() < quiet && t.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(100));
        let now = usage(pid).write_chars;
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
    last
}

fn mib(kib: u64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

/// What a daemon with `n` series uses: at `READY=1`, and after a SIGHUP.
struct Series {
    rss: u64,
    peak: u64,
    ready: Duration,
    hup_rss: u64,
    hup_peak: u64,
    reload: Duration,
}

fn series(bin: &str, n: usize) -> Series {
    let s = Setup::new();
    s.write_series(n);
    let t = Instant::now();
    let (child, notify) = s.run(bin);
    notify.ready();
    let ready = t.elapsed();
    settled(child.id(), Duration::from_secs(2));
    let at_start = usage(child.id());
    let t = Instant::now();
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success(), "SIGHUP sent");
    notify.ready();
    let reload = t.elapsed();
    settled(child.id(), Duration::from_secs(2));
    let after = usage(child.id());
    stop(child);
    Series {
        rss: at_start.rss_kib,
        peak: at_start.peak_kib,
        ready,
        hup_rss: after.rss_kib,
        hup_peak: after.peak_kib,
        reload,
    }
}

/// What one edit of one invalid file among `n` costs: bytes written, and the peak RSS.
fn invalid(bin: &str, n: usize) -> (u64, u64, Duration) {
    let s = Setup::new();
    s.write_invalid(n);
    let (child, notify) = s.run(bin);
    notify.ready();
    let before = settled(child.id(), Duration::from_secs(3));
    let t = Instant::now();
    // A file in the middle of the list, edited: a line on top (its problem moves from line 4
    // to 5) and a misspelt key (a second problem). (An edit that kept the list's length would
    // let SQLite rewrite only the pages that differ.)
    std::fs::write(
        s.watch.join("team-50/bad000050.toml"),
        format!("# edited\n{}romm = \"x\"\n", invalid_text(50)),
    )
    .expect("edit");
    let on_record = |state: &Path| {
        wemeet_scheduler::store::read(state).ok().is_some_and(|st| {
            st.invalid.iter().any(|f| {
                f.path.ends_with("bad000050.toml")
                    && f.problems.iter().any(|p| p.contains("bad000050.toml:5:"))
            })
        })
    };
    while !on_record(&s.state) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the edit did not reach the store"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let took = t.elapsed();
    let after = settled(child.id(), Duration::from_secs(3));
    let peak = usage(child.id()).peak_kib;
    stop(child);
    (after - before, peak, took)
}

fn main() {
    let mut bins: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if bins.is_empty() {
        bins.push(env!("CARGO_BIN_EXE_wemeet-scheduler").to_string());
    }
    let counts: Vec<usize> = std::env::var("WEMEET_MEMORY_SERIES")
        .unwrap_or_else(|_| "20000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let invalid_files: usize = std::env::var("WEMEET_MEMORY_INVALID")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);

    let mut columns: Vec<Vec<String>> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    for (b, bin) in bins.iter().enumerate() {
        eprintln!("measuring {bin}");
        let mut col = Vec::new();
        let mut label = |text: String| {
            if b == 0 {
                labels.push(text);
            }
        };
        let none = series(bin, 0);
        label("no definitions: RSS at READY=1".into());
        col.push(mib(none.rss));
        for &n in &counts {
            let s = series(bin, n);
            let per = (s.rss.saturating_sub(none.rss) * 1024) as f64 / n.max(1) as f64;
            label(format!("{n} series: RSS at READY=1 (peak)"));
            col.push(format!(
                "{} ({}), {:.1} s",
                mib(s.rss),
                mib(s.peak),
                s.ready.as_secs_f64()
            ));
            label(format!("{n} series: memory per loaded series"));
            col.push(format!("{:.2} KiB", per / 1024.0));
            label(format!("{n} series: after one SIGHUP, RSS (peak)"));
            col.push(format!(
                "{} ({}), reload {:.1} s",
                mib(s.hup_rss),
                mib(s.hup_peak),
                s.reload.as_secs_f64()
            ));
        }
        let (written, peak, took) = invalid(bin, invalid_files);
        label(format!(
            "{invalid_files} invalid files: one edited, bytes written"
        ));
        col.push(format!(
            "{:.0} KiB (on record in {:.1} s)",
            written as f64 / 1024.0,
            took.as_secs_f64()
        ));
        label(format!("{invalid_files} invalid files: peak RSS"));
        col.push(mib(peak));
        columns.push(col);
    }

    println!("memory benchmark (the daemon as a process; nothing due, the API never called)");
    let heads: Vec<String> = bins
        .iter()
        .map(|b| {
            Path::new(b)
                .parent()
                .map_or(b.clone(), |p| p.display().to_string())
        })
        .collect();
    println!("| what | {} |", heads.join(" | "));
    println!("|---|{}", "---|".repeat(bins.len()));
    for (i, label) in labels.iter().enumerate() {
        let cells: Vec<&str> = columns.iter().map(|c| c[i].as_str()).collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}
