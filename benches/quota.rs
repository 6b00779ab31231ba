//! Wasted requests under the vendor's hourly create quota: 10,000 one-offs for one user
//! against a fake that enforces 2,000 creates an hour per user (`fake-api
//! --creates-per-hour-per-user 2000`), the daemon `run` until the creates stop, then the
//! fake's quota refusals (500029) counted.
//!
//! `cargo bench --bench quota -- [BIN] [BOOKINGS]`: BIN is the daemon binary to measure
//! (default: this build), so an older build can be measured against the same fake for a
//! before/after figure.

#[path = "common/fake.rs"]
#[allow(dead_code)] // This benchmark does not look meetings up by subject.
mod fake;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wemeet_fake_api::{DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let bin = args
        .first()
        .cloned()
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_wemeet-scheduler").to_string());
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);

    let dir = tempfile::tempdir().expect("temp dir");
    let fake = fake::Fake::start(&["--creates-per-hour-per-user", "2000"], Some(dir.path()));
    let watch = dir.path().join("meetings.d");
    std::fs::create_dir_all(&watch).expect("watch dir");
    // Next year, a minute apart: all due at once (one-offs are booked as soon as seen).
    let first = chrono::Utc::now().timestamp() / 60 * 60 + 365 * 86_400;
    for i in 0..n {
        std::fs::write(
            watch.join(format!("m{i:05}.toml")),
            format!(
                "subject = \"Meeting {i}\"\nstart_time = {}\nduration = \"30m\"\n",
                first + i as i64 * 60
            ),
        )
        .expect("write");
    }
    let config = dir.path().join("config.toml");
    // No quota keys: an older build does not know them; this one keeps 2,000 an hour by
    // default.
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{}\"\napp_id = \"{DEMO_APP_ID}\"\nsecret_id = \"{DEMO_SECRET_ID}\"\nrequests_per_minute = 0\nconcurrency = 16\n[watch]\ndir = \"{}\"\nrescan_interval = \"1h\"\n[state]\nfile = \"{}\"\n[defaults]\nuserid = \"bot\"\ntimezone = \"UTC\"\n",
            fake.url,
            watch.display(),
            dir.path().join("state.db").display()
        ),
    )
    .expect("config");
    wemeet_scheduler::store::create_empty(&dir.path().join("state.db")).expect("state");
    let started = Instant::now();
    let mut daemon = Command::new(&bin)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .env("WEMEET_SECRET_KEY", DEMO_SECRET_KEY)
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .spawn()
        .expect("start the daemon");
    // Until the creates stop for three seconds (or a minute at most).
    let (mut last, mut still_since) = (0, Instant::now());
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(250));
        let creates = fake.creates().len();
        if creates != last {
            (last, still_since) = (creates, Instant::now());
        } else if creates > 0 && still_since.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    let summary = fake.stop();
    // "fake WeMeet API stopped after N requests; C creates, ...; error answers {500029: R}"
    let number_after = |text: &str, marker: &str| -> u64 {
        text.split(marker)
            .nth(1)
            .and_then(|rest| {
                rest.trim_start()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let requests = number_after(&summary, "stopped after");
    let refusals = number_after(&summary, "500029:");
    println!(
        "{n} one-offs for one user, fake enforcing 2000 creates/hour/user, daemon {bin}:\n  creates made: {last}\n  quota refusals (500029): {refusals} ({:.0} per 10,000 creates wanted)\n  requests: {requests}",
        refusals as f64 * 10_000.0 / n as f64
    );
}
