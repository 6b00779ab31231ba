//! The daemon as a process against the fake API as another process, on loopback:
//!
//! - startup: 10,000 definitions (none due) to `READY=1`;
//! - backlog: 10,000 one-off definitions at once, pacing off, concurrency 32: time until the
//!   fake has received every create, bookings/s, daemon CPU seconds per 1,000 bookings, peak
//!   RSS, and the time to `READY=1` with that backlog;
//! - idle: 1,000 recurring definitions loaded, nothing due: RSS and CPU over 60 s;
//! - latency: a file written -> its create received by the fake, p50 and p99 over 200 drops.
//!
//! Run: `cargo bench --bench daemon` (optionally `-- IDLE_SECONDS`). Linux only (reads /proc).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/fake.rs"]
#[allow(dead_code)] // This benchmark does not read the fake's exit line.
mod fake;

#[path = "common/process.rs"]
#[allow(dead_code)] // This benchmark does not read disk writes.
mod process;

use fake::Fake;
use process::{Proc, stop, unix_ms, wait_ready};
use wemeet_fake_api::{DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_wemeet-scheduler");

fn write_one_offs(dir: &Path, n: usize, first: i64) {
    for i in 0..n {
        let sub = dir.join(format!("team-{:02}", i % 50));
        std::fs::create_dir_all(&sub).expect("dir");
        std::fs::write(
            sub.join(format!("m{i:05}.toml")),
            format!(
                "subject = \"Meeting {i}\"\nuserid = \"user{:02}\"\nstart_time = {}\nduration = \"30m\"\n",
                i % 50,
                first + i as i64 * 60
            ),
        )
        .expect("write");
    }
}

/// A temp dir with a config, a watch dir and a state file for one daemon.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    watch: PathBuf,
}

impl Setup {
    fn new(url: &str, concurrency: usize) -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let watch = dir.path().join("meetings.d");
        std::fs::create_dir_all(&watch).expect("watch dir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[api]\nbase_url = \"{url}\"\napp_id = \"{DEMO_APP_ID}\"\nsecret_id = \"{DEMO_SECRET_ID}\"\nrequests_per_minute = 0\nconcurrency = {concurrency}\n[watch]\ndir = \"{}\"\nrescan_interval = \"1h\"\n[state]\nfile = \"{}\"\n[defaults]\nuserid = \"bench\"\ntimezone = \"UTC\"\n",
                watch.display(),
                dir.path().join("state.db").display()
            ),
        )
        .expect("config");
        // A state as an earlier start leaves it: with none, the daemon would first look up
        // what a lost state may have booked (twice the request timeout before the first
        // create), which is not what the backlog figures measure.
        wemeet_scheduler::store::create_empty(&dir.path().join("state.db")).expect("state");
        Setup { dir, config, watch }
    }

    fn write_one_offs(&self, n: usize, first: i64) {
        write_one_offs(&self.watch, n, first);
    }

    /// Series that are never due during the run: once a year, booked an hour ahead.
    fn write_series(&self, n: usize) {
        for i in 0..n {
            std::fs::write(
                self.watch.join(format!("s{i:05}.toml")),
                format!(
                    "subject = \"Series {i}\"\nduration = \"30m\"\n[schedule]\ncron = \"{} {} 29 2 *\"\nbook_ahead = \"1h\"\n",
                    i % 60,
                    i % 24
                ),
            )
            .expect("write");
        }
    }

    /// Starts `run` with a notify socket; returns the process and the socket.
    fn run(&self) -> (Proc, UnixDatagram) {
        let sock_path = self.dir.path().join("notify.sock");
        let _ = std::fs::remove_file(&sock_path);
        let sock = UnixDatagram::bind(&sock_path).expect("notify socket");
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "warn")
            .env("NOTIFY_SOCKET", &sock_path)
            .env("WEMEET_SECRET_KEY", DEMO_SECRET_KEY)
            .stdout(Stdio::null())
            .spawn()
            .expect("start the daemon");
        (Proc(Some(child)), sock)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let idle_secs: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(60);
    let year_ahead = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        / 3600
        * 3600
        + 365 * 86400;
    let mut rows = Vec::new();

    // Startup: 10,000 definitions, none due.
    {
        let work = tempfile::tempdir().expect("dir");
        let fake = Fake::start(&[], Some(work.path()));
        let s = Setup::new(&fake.url, 32);
        s.write_series(10_000);
        let t = Instant::now();
        let (child, sock) = s.run();
        wait_ready(sock);
        let ready = t.elapsed();
        stop(child);
        rows.push(format!(
            "| startup: 10,000 definitions (none due) to READY=1 | {:.0} ms |",
            ready.as_secs_f64() * 1e3
        ));
    }

    // Backlog: 10,000 one-offs at startup, then 10,000 dropped at once into a running daemon.
    {
        let work = tempfile::tempdir().expect("dir");
        let fake = Fake::start(&[], Some(work.path()));
        let s = Setup::new(&fake.url, 32);
        s.write_one_offs(10_000, year_ahead);
        let t = Instant::now();
        let (child, sock) = s.run();
        wait_ready(sock);
        let ready = t.elapsed();
        while fake.create_count() < 10_000 {
            assert!(
                t.elapsed() < Duration::from_secs(600),
                "backlog did not finish"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let at_start = t.elapsed();
        // The same again, dropped at once: a prepared folder renamed into the watch dir.
        let staging = s.dir.path().join("staging");
        write_one_offs(&staging, 10_000, year_ahead + 10_000 * 60);
        let cpu0 = process::usage(child.id()).cpu_s;
        let t = Instant::now();
        std::fs::rename(&staging, s.watch.join("dropped")).expect("drop the folder");
        while fake.create_count() < 20_000 {
            assert!(
                t.elapsed() < Duration::from_secs(600),
                "dropped backlog did not finish"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let dropped = t.elapsed();
        let u = process::usage(child.id());
        let (cpu1, peak) = (u.cpu_s, u.peak_kib);
        let mut at: Vec<i64> = fake.creates()[10_000..].to_vec();
        at.sort_unstable();
        let sending = (at[at.len() - 1] - at[0]) as f64 / 1e3;
        stop(child);
        let state = wemeet_scheduler::store::read(&s.dir.path().join("state.db")).expect("state");
        let booked = state
            .bookings
            .iter()
            .filter(|r| r.status == wemeet_scheduler::state::Status::Booked)
            .count();
        assert_eq!(booked, 20_000, "all booked in the state file after SIGTERM");
        rows.push(format!("| backlog at startup: 10,000 one-offs to READY=1 (scan, plan, intents written) | {:.0} ms |", ready.as_secs_f64() * 1e3));
        rows.push(format!(
            "| backlog at startup: until the fake has all 10,000 creates | {:.2} s |",
            at_start.as_secs_f64()
        ));
        rows.push(format!("| backlog dropped at once (10,000 files renamed in): until the fake has every create | {:.2} s ({:.0} bookings/s) |", dropped.as_secs_f64(), 10_000.0 / dropped.as_secs_f64()));
        rows.push(format!(
            "| backlog dropped at once: first to last create at the fake (the sending phase) | {sending:.2} s ({:.0} bookings/s) |",
            10_000.0 / sending
        ));
        rows.push(format!(
            "| backlog dropped at once: daemon CPU per 1,000 bookings | {:.2} s |",
            (cpu1 - cpu0) / 10.0
        ));
        rows.push(format!(
            "| backlog: daemon peak RSS (20,000 bookings on record) | {:.1} MiB |",
            peak as f64 / 1024.0
        ));
    }

    // Idle: 1,000 series loaded, nothing due.
    {
        let work = tempfile::tempdir().expect("dir");
        let fake = Fake::start(&[], Some(work.path()));
        let s = Setup::new(&fake.url, 4);
        s.write_series(1_000);
        let (child, sock) = s.run();
        wait_ready(sock);
        std::thread::sleep(Duration::from_secs(2));
        let cpu0 = process::usage(child.id()).cpu_s;
        std::thread::sleep(Duration::from_secs(idle_secs));
        let u = process::usage(child.id());
        let (cpu1, rss) = (u.cpu_s, u.rss_kib);
        stop(child);
        rows.push(format!(
            "| idle: 1,000 series loaded, RSS | {:.1} MiB |",
            rss as f64 / 1024.0
        ));
        rows.push(format!(
            "| idle: CPU over {idle_secs} s | {:.2} s ({:.3}% of one core) |",
            cpu1 - cpu0,
            (cpu1 - cpu0) / idle_secs as f64 * 100.0
        ));
    }

    // Latency: file written -> create received, 200 drops.
    {
        let work = tempfile::tempdir().expect("dir");
        let fake = Fake::start(&[], Some(work.path()));
        let s = Setup::new(&fake.url, 4);
        let (child, sock) = s.run();
        wait_ready(sock);
        let mut lat = Vec::new();
        for i in 0..200 {
            let written = unix_ms();
            std::fs::write(
                s.watch.join(format!("drop{i:03}.toml")),
                format!(
                    "subject = \"Drop {i}\"\nstart_time = {}\nduration = \"30m\"\n",
                    year_ahead + i * 60
                ),
            )
            .expect("write");
            let t = Instant::now();
            let created = loop {
                let c = fake.creates();
                if c.len() > i as usize {
                    break c[i as usize];
                }
                assert!(t.elapsed() < Duration::from_secs(10), "drop {i} not booked");
                std::thread::sleep(Duration::from_millis(2));
            };
            lat.push((created - written) as f64);
            // Let the daemon settle between drops, so each is measured alone.
            std::thread::sleep(Duration::from_millis(150));
        }
        stop(child);
        lat.sort_by(f64::total_cmp);
        rows.push(format!(
            "| latency: file written -> create at the fake (200 drops, debounce 100 ms) | p50 {:.0} ms, p99 {:.0} ms |",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        ));
    }

    println!("daemon benchmark (daemon and fake API in separate processes, loopback)");
    println!("| what | result |");
    println!("|---|---|");
    for r in rows {
        println!("{r}");
    }
}
