//! Booking throughput with a notification receiver that hangs, against none: 2,000 one-offs
//! at once, pacing off, the daemon and the fake API in separate processes; the time until the
//! fake has every create, median of 3 runs each, alternating.
//!
//! Run: `cargo bench --bench notify`. Linux only.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/fake.rs"]
#[allow(dead_code)] // This benchmark does not read the fake's exit line.
mod fake;

use fake::Fake;
use wemeet_fake_api::{DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY};

const BOOKINGS: usize = 2_000;

/// A receiver that accepts connections and never answers.
fn hanging_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // Kept open, never read or answered.
        }
    });
    url
}

/// Seconds until the fake has every create.
fn run(notify: Option<&str>) -> f64 {
    let work = tempfile::tempdir().expect("dir");
    let fake = Fake::start(&[], Some(work.path()));
    let dir = tempfile::tempdir().expect("dir");
    let watch = dir.path().join("meetings.d");
    std::fs::create_dir_all(&watch).expect("watch");
    let state = dir.path().join("state.db");
    wemeet_scheduler::store::create_empty(&state).expect("state");
    let notify = notify
        .map(|url| format!("[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\n"))
        .unwrap_or_default();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{}\"\napp_id = \"{DEMO_APP_ID}\"\nsecret_id = \"{DEMO_SECRET_ID}\"\nrequests_per_minute = 0\nconcurrency = 32\ncreates_per_hour_per_user = 100000\n[watch]\ndir = \"{}\"\nrescan_interval = \"1h\"\n[state]\nfile = \"{}\"\n[defaults]\nuserid = \"bench\"\ntimezone = \"UTC\"\n{notify}",
            fake.url,
            watch.display(),
            state.display()
        ),
    )
    .expect("config");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let first = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
        + 365 * 86400;
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    for i in 0..BOOKINGS {
        std::fs::write(
            staging.join(format!("m{i:05}.toml")),
            format!(
                "subject = \"Meeting {i}\"\nuserid = \"user{:02}\"\nstart_time = {}\nduration = \"30m\"\n",
                i % 50,
                first + i as i64 * 60
            ),
        )
        .expect("write");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .env("WEMEET_SECRET_KEY", DEMO_SECRET_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    std::fs::rename(&staging, watch.join("dropped")).expect("drop");
    while fake.create_count() < BOOKINGS {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "backlog did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = t.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    took
}

fn main() {
    let hang = hanging_receiver();
    let (mut none, mut hanging) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        none.push(run(None));
        hanging.push(run(Some(&hang)));
    }
    none.sort_by(f64::total_cmp);
    hanging.sort_by(f64::total_cmp);
    let (a, b) = (none[1], hanging[1]);
    println!("notify benchmark ({BOOKINGS} one-offs dropped at once, pacing off, median of 3)");
    println!("| receiver | until the fake has every create | bookings/s |");
    println!("|---|---|---|");
    println!("| no [[notify]] | {a:.2} s | {:.0} |", BOOKINGS as f64 / a);
    println!(
        "| a webhook that never answers | {b:.2} s | {:.0} ({:+.1}%) |",
        BOOKINGS as f64 / b,
        (a / b - 1.0) * 100.0
    );
}
