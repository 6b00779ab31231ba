//! The state store at scale (issue 11's table), the daemon as a process against the fake API
//! as another process, on loopback, pacing off:
//!
//! - `once` of 50,000 one-off definitions: wall time and peak RSS;
//! - 1,000 hourly series booked 100 hours ahead: 100,000 bookings on record (`once`);
//! - `run` on that state: time to `READY=1`, idle RSS, then 20 one-off files dropped 500 ms
//!   apart: bytes written to disk (`/proc/PID/io` `write_bytes`) and CPU per booking, and the
//!   latency from the file written to its create at the fake.
//!
//! Run: `cargo bench --bench store [-- BIN [--json-state]]`. BIN is the binary to measure
//! (default: this build); `--json-state` starts it on a version 1 JSON state file, for
//! measuring a build from before the SQLite store. Linux only (reads /proc).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/fake.rs"]
#[allow(dead_code)] // This benchmark does not read the fake's exit line.
mod fake;

#[path = "common/process.rs"]
mod process;

use fake::Fake;
use process::{Proc, stop, unix_ms, usage, wait_ready};
use wemeet_fake_api::{DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY};

struct Setup {
    bin: String,
    dir: tempfile::TempDir,
    config: PathBuf,
    watch: PathBuf,
    state: PathBuf,
}

impl Setup {
    fn new(bin: &str, json: bool, url: &str) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let watch = dir.path().join("meetings.d");
        std::fs::create_dir_all(&watch).expect("watch dir");
        let state = dir
            .path()
            .join(if json { "state.json" } else { "state.db" });
        // A state as an earlier start leaves it: with none, the daemon first looks up what a
        // lost state may have booked, which is not what these figures measure.
        if json {
            std::fs::write(&state, "{\"version\":1}").expect("state");
        } else {
            wemeet_scheduler::store::create_empty(&state).expect("state");
        }
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[api]\nbase_url = \"{url}\"\napp_id = \"{DEMO_APP_ID}\"\nsecret_id = \"{DEMO_SECRET_ID}\"\nrequests_per_minute = 0\nconcurrency = 32\ncreates_per_hour_per_user = 100000\n[watch]\ndir = \"{}\"\nrescan_interval = \"1h\"\n[state]\nfile = \"{}\"\n[defaults]\nuserid = \"bench\"\ntimezone = \"UTC\"\n",
                watch.display(),
                state.display()
            ),
        )
        .expect("config");
        Setup {
            bin: bin.into(),
            dir,
            config,
            watch,
            state,
        }
    }

    fn command(&self, sub: &str) -> Command {
        let mut c = Command::new(&self.bin);
        c.args([sub, "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .env("WEMEET_SECRET_KEY", DEMO_SECRET_KEY)
            .stdout(Stdio::null());
        c
    }

    /// Runs `once` to the end; returns its wall time and peak RSS (KiB).
    fn once(&self) -> (Duration, u64) {
        let t = Instant::now();
        let mut child = self.command("once").spawn().expect("start once");
        let mut peak = 0;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(
                    status.code().is_some_and(|c| c <= 1),
                    "once failed: {status}"
                );
                break;
            }
            peak = peak.max(usage(child.id()).peak_kib);
            std::thread::sleep(Duration::from_millis(50));
        }
        (t.elapsed(), peak)
    }

    fn run(&self) -> (Proc, UnixDatagram) {
        let sock_path = self.dir.path().join("notify.sock");
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
        let child = self
            .command("run")
            .env("NOTIFY_SOCKET", &sock_path)
            .spawn()
            .expect("start the daemon");
        (Proc(Some(child)), sock)
    }
}

fn write_one_offs(dir: &Path, n: usize, first: i64) {
    for i in 0..n {
        let sub = dir.join(format!("team-{:02}", i % 100));
        std::fs::create_dir_all(&sub).expect("dir");
        std::fs::write(
            sub.join(format!("m{i:05}.toml")),
            format!(
                "subject = \"Meeting {i}\"\nuserid = \"user{:02}\"\nstart_time = {}\nduration = \"30m\"\n",
                i % 100,
                first + i as i64 * 60
            ),
        )
        .expect("write");
    }
}

/// `n` series, each hourly and booked 100 hours ahead: 100 bookings each.
fn write_series(dir: &Path, n: usize) {
    let dir = dir.join("series");
    std::fs::create_dir_all(&dir).expect("dir");
    for i in 0..n {
        std::fs::write(
            dir.join(format!("s{i:05}.toml")),
            format!(
                "subject = \"Series {i}\"\nuserid = \"user{:02}\"\nduration = \"30m\"\n[schedule]\ncron = \"{} * * * *\"\nbook_ahead = \"100h\"\n",
                i % 100,
                i % 60
            ),
        )
        .expect("write");
    }
}

fn unix_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let json = args.iter().any(|a| a == "--json-state");
    let bin = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_wemeet-scheduler").to_string());
    let year_ahead = unix_s() / 3600 * 3600 + 365 * 86400;
    let mut rows = Vec::new();

    // `once` of 50,000 one-offs.
    {
        let work = tempfile::tempdir().expect("dir");
        let fake = Fake::start(&[], Some(work.path()));
        let s = Setup::new(&bin, json, &fake.url);
        write_one_offs(&s.watch, 50_000, year_ahead);
        let (took, peak) = s.once();
        assert_eq!(fake.creates().len(), 50_000, "once booked every one-off");
        rows.push(format!(
            "| `once` of 50,000 one-offs: peak RSS | {:.0} MiB ({:.1} s) | <= 150 MiB |",
            peak as f64 / 1024.0,
            took.as_secs_f64()
        ));
    }

    // 100,000 bookings on record from 1,000 series, then the daemon on them.
    let work = tempfile::tempdir().expect("dir");
    let fake = Fake::start(&[], Some(work.path()));
    let s = Setup::new(&bin, json, &fake.url);
    write_series(&s.watch, 1_000);
    let (took, _) = s.once();
    let on_record = fake.creates().len();
    let size: u64 = std::fs::read_dir(s.dir.path())
        .expect("state dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("state."))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "setup: {on_record} bookings from 1,000 series in {:.1} s; state {:.0} MiB",
        took.as_secs_f64(),
        size as f64 / 1048576.0
    );

    let t = Instant::now();
    let (child, sock) = s.run();
    wait_ready(sock);
    let ready = t.elapsed();
    std::thread::sleep(Duration::from_secs(5));
    let idle = usage(child.id());
    rows.push(format!(
        "| start to READY=1 with {on_record} bookings on record | {:.0} ms | <= 1 s |",
        ready.as_secs_f64() * 1e3
    ));
    rows.push(format!(
        "| idle RSS, {on_record} bookings + 1,000 series | {:.0} MiB | <= 64 MiB |",
        idle.rss_kib as f64 / 1024.0
    ));

    // 20 files dropped 500 ms apart.
    let drops = 20;
    let mut latency = Vec::new();
    let before = usage(child.id());
    for i in 0..drops {
        let written = unix_ms();
        std::fs::write(
            s.watch.join(format!("drop{i:02}.toml")),
            format!(
                "subject = \"Drop {i}\"\nuserid = \"drop\"\nstart_time = {}\nduration = \"30m\"\n",
                year_ahead + i * 60
            ),
        )
        .expect("write");
        let t = Instant::now();
        let created = loop {
            // By subject: the series' windows slide meanwhile and add creates of their own.
            if let Some(at) = fake.created(&format!("Drop {i}")) {
                break at;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "drop {i} not booked");
            std::thread::sleep(Duration::from_millis(5));
        };
        latency.push((created - written) as f64);
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = usage(child.id());
    stop(child);
    let state = wemeet_scheduler::store::read(&s.state).ok();
    if let Some(state) = state {
        // The series' windows slide while it runs: their new occurrences are booked too.
        assert!(
            state.bookings.len() >= on_record + drops as usize,
            "every booking on record"
        );
    }
    latency.sort_by(f64::total_cmp);
    rows.push(format!(
        "| one booking with {on_record} on record: bytes written to disk | {:.0} KiB | <= 64 KiB |",
        (after.write_bytes - before.write_bytes) as f64 / drops as f64 / 1024.0
    ));
    rows.push(format!(
        "| one booking with {on_record} on record: daemon CPU | {:.0} ms | <= 5 ms |",
        (after.cpu_s - before.cpu_s) / drops as f64 * 1e3
    ));
    rows.push(format!(
        "| file drop -> create at the fake, {on_record} bookings and 1,000 series loaded | p50 {:.0} ms, p99 {:.0} ms | p99 <= 150 ms (debounce + 50 ms) |",
        latency[latency.len() / 2],
        latency[(latency.len() - 1) * 99 / 100]
    ));

    println!(
        "store benchmark ({}; daemon and fake API in separate processes, loopback)",
        if json {
            "JSON state file"
        } else {
            "SQLite store"
        }
    );
    println!("| what | result | goal |");
    println!("|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
