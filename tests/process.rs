//! The daemon as a process: killed with SIGKILL between send and record, stopped with
//! SIGTERM, started twice on one state, and the README's `demo`.

mod util;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use util::binary;
use util::daemon::{Env, PATIENCE};
use wemeet_fake_api::{FakeConfig, FaultSpec, Faults};
use wemeet_scheduler::state::Status;

const ONE_OFF: &str =
    "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";

fn daemon(env: &Env, command: &str) -> Child {
    env.command(command)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig}");
}

/// Polls `cond` until it holds; a safety net for waiting on another process.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what} within {PATIENCE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The daemon has made its first pass (so it holds the state's lock).
fn first_pass_done(env: &Env) -> bool {
    wemeet_scheduler::store::read(&env.config.state.file).is_ok_and(|s| s.last_pass.is_some())
}

async fn wait(mut child: Child) -> (ExitStatus, String) {
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().expect("wait for the daemon");
        let mut err = String::new();
        if let Some(e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut BufReader::new(e), &mut err);
        }
        (status, err)
    });
    tokio::time::timeout(PATIENCE, status)
        .await
        .expect("the daemon exits in time")
        .expect("join")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_between_send_and_record_then_restart_books_exactly_once() {
    let env = Env::new(FakeConfig {
        faults: Faults {
            create_then_hang: FaultSpec::Count(1),
            hang_for: Duration::from_secs(60),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let child = daemon(&env, "run");
    // The create reached the server; its answer is held back, so nothing is recorded yet.
    until("create on the fake", || env.creates() == 1).await;
    let state = env.state();
    assert_eq!(
        state.bookings.len(),
        1,
        "the intent was on disk before the create was sent"
    );
    assert_eq!(state.bookings[0].status, Status::Pending);
    signal(&child, "-KILL");
    let (status, _) = wait(child).await;
    assert!(!status.success());

    env.fake.set_faults(Faults::default());
    let (status, stderr) = wait(daemon(&env, "once")).await;
    assert!(status.success(), "{stderr}");
    assert_eq!(
        env.creates(),
        1,
        "the restart found the meeting instead of booking it again"
    );
    let state = env.state();
    assert_eq!(state.bookings[0].status, Status::Booked);
    assert_eq!(
        state.bookings[0].meeting_id.as_deref(),
        Some(env.fake.journal()[0].meeting_id.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_zero_with_the_state_flushed() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    let child = daemon(&env, "run");
    until("a booking on the fake", || env.creates() == 1).await;
    until("the booking in the state file", || {
        wemeet_scheduler::store::read(&env.config.state.file)
            .is_ok_and(|s| s.bookings.iter().any(|r| r.status == Status::Booked))
    })
    .await;
    signal(&child, "-TERM");
    let (status, stderr) = wait(child).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    let state = env.state();
    assert_eq!(state.bookings[0].status, Status::Booked);
    assert!(state.last_pass.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_a_create_in_flight_and_records_it() {
    // The fake holds the create for 700 ms (inside the 1 s timeout): SIGTERM lands while it is
    // in flight, and the booking is recorded after the signal, before the exit.
    let env = Env::new(FakeConfig {
        faults: Faults {
            slow: FaultSpec::Count(1),
            latency: Duration::from_millis(700),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let child = daemon(&env, "run");
    until("the intent in the state file", || {
        wemeet_scheduler::store::read(&env.config.state.file)
            .is_ok_and(|s| s.bookings.iter().any(|r| r.status == Status::Pending))
    })
    .await;
    assert_eq!(env.creates(), 0, "the create is still held by the fake");
    signal(&child, "-TERM");
    let (status, stderr) = wait(child).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(env.creates(), 1);
    let state = env.state();
    assert_eq!(
        state.bookings[0].status,
        Status::Booked,
        "recorded after the signal"
    );
    assert_eq!(
        state.bookings[0].meeting_id.as_deref(),
        Some(env.fake.journal()[0].meeting_id.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_backlog_sends_only_what_is_in_flight_and_the_restart_books_the_rest_once() {
    // 40 creates due at once, each held 500 ms by the fake, 4 at a time: a stop soon after
    // the intents are on disk finishes the few in flight and does not send the rest of the
    // backlog on its way out. They stay pending; the next start books each exactly once.
    let env = Env::new(FakeConfig {
        faults: Faults {
            slow: FaultSpec::Rate(1.0),
            latency: Duration::from_millis(500),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    let n = 40;
    for i in 0..n {
        env.write(
            &format!("m{i:02}.toml"),
            &format!(
                "subject = \"Backlog {i}\"\nstart_time = 2030-01-03T{:02}:{:02}:00Z\nduration = \"30m\"\n",
                i / 60,
                i % 60
            ),
        );
    }
    let child = daemon(&env, "run");
    until("every intent in the state file", || {
        wemeet_scheduler::store::read(&env.config.state.file).is_ok_and(|s| s.bookings.len() == n)
    })
    .await;
    signal(&child, "-TERM");
    let (status, stderr) = wait(child).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    let sent = env.creates();
    assert!(
        sent < n,
        "the stop sent only what was in flight, not the backlog ({sent} of {n} sent)"
    );
    let state = env.state();
    let pending = state
        .bookings
        .iter()
        .filter(|r| r.status == Status::Pending)
        .count();
    assert_eq!(pending, n - sent, "what was not sent stays pending");

    env.fake.set_faults(Faults::default());
    let (status, stderr) = wait(daemon(&env, "once")).await;
    assert!(status.success(), "{stderr}");
    let mut subjects: Vec<String> = env
        .fake
        .journal()
        .iter()
        .filter(|e| e.op == "create")
        .map(|e| e.subject.clone())
        .collect();
    subjects.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("Backlog {i}")).collect();
    want.sort();
    assert_eq!(subjects, want, "each booked exactly once");
    assert!(
        env.state()
            .bookings
            .iter()
            .all(|r| r.status == Status::Booked)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_process_refuses_with_a_clear_message() {
    let env = Env::new(FakeConfig::default()).await;
    let first = daemon(&env, "run");
    until("the first daemon's first pass", || first_pass_done(&env)).await;
    let (status, stderr) = wait(daemon(&env, "once")).await;
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("another wemeet-scheduler is running on state file"),
        "{stderr}"
    );
    signal(&first, "-TERM");
    let (status, _) = wait(first).await;
    assert!(status.success());
}

/// With metrics on, the second daemon once failed on the port the first one serves, which
/// sent the operator to `metrics.listen` instead of to the other daemon.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_with_metrics_on_is_told_the_store_is_in_use_not_the_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::with_config(FakeConfig::default(), |text| {
        format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n")
    })
    .await;
    let first = daemon(&env, "run");
    until("the first daemon's first pass", || first_pass_done(&env)).await;
    let (status, stderr) = wait(daemon(&env, "once")).await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another wemeet-scheduler is running on state file"),
        "{stderr}"
    );
    assert!(!stderr.contains("metrics"), "{stderr}");
    signal(&first, "-TERM");
    let (status, _) = wait(first).await;
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_demo_books_the_examples_and_stops_on_ctrl_c() {
    let mut child = binary()
        .arg("demo")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut booked = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    // The two one-off examples are booked at once whatever the date.
    while !(booked.iter().any(|l: &String| l.contains("product-launch"))
        && booked.iter().any(|l| l.contains("incident-bridge")))
    {
        let line = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("the demo books the one-off examples in time")
            .expect("the demo is still running");
        if line.starts_with("booked") {
            booked.push(line);
        }
    }
    signal(&child, "-INT");
    let mut rest = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        rest.push(line);
    }
    let (status, stderr) = wait(child).await;
    assert!(status.success(), "{stderr}");
    let last = rest.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("stopped: ") && last.contains("0 failed"),
        "{rest:?}"
    );
    assert!(
        booked
            .iter()
            .all(|l| l.contains("code ") && l.contains("https://")),
        "{booked:?}"
    );
}

/// `run` on `env` as a process that tells systemd through a socket of the test's (with `envs`
/// set as well, stderr piped), and that socket, reading with `read_timeout`.
fn run_with_notify(
    env: &Env,
    envs: &[(&str, &str)],
    read_timeout: Duration,
) -> (std::os::unix::net::UnixDatagram, Child) {
    let sock_path = env.dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(read_timeout)).unwrap();
    let child = binary()
        .args(["run", "--config"])
        .arg(&env.config_path)
        .env("NOTIFY_SOCKET", &sock_path)
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (sock, child)
}

#[tokio::test(flavor = "multi_thread")]
async fn systemd_hears_ready_status_reloading_and_stopping() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    let (sock, child) = run_with_notify(&env, &[], PATIENCE);
    let mut heard = Vec::new();
    let next = |heard: &mut Vec<String>| {
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).expect("a notify message in time");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        heard.push(msg.clone());
        msg
    };
    while !next(&mut heard).contains("READY=1") {}
    while !heard
        .iter()
        .any(|m| m.contains("STATUS=booked 1, pending 0"))
    {
        next(&mut heard);
    }
    signal(&child, "-HUP");
    let reload = next(&mut heard);
    assert!(
        reload.contains("RELOADING=1") && reload.contains("MONOTONIC_USEC="),
        "{reload}"
    );
    while !next(&mut heard).contains("READY=1") {}
    signal(&child, "-TERM");
    while !next(&mut heard).contains("STOPPING=1") {}
    let (status, stderr) = wait(child).await;
    assert!(status.success(), "{stderr}");
}

/// A write that waits for the store (another connection holds SQLite's write lock for 2.5 s)
/// runs beside the loop: the systemd watchdog keeps its beat (a ping every 100 ms), and the
/// create whose intent that write holds is not sent until the write is done.
#[tokio::test(flavor = "multi_thread")]
async fn the_watchdog_keeps_its_beat_while_a_write_waits_for_the_store() {
    let env = Env::new(FakeConfig::default()).await;
    let (sock, child) = run_with_notify(
        &env,
        &[("WATCHDOG_USEC", "200000")],
        Duration::from_millis(50),
    );
    let mut buf = [0u8; 4096];
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < PATIENCE, "no READY=1");
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
        {
            break;
        }
    }
    // Another process takes the store's write lock, and a file is dropped.
    let other = rusqlite::Connection::open(&env.config.state.file).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    env.write("planning.toml", ONE_OFF);
    let stalled = std::time::Instant::now();
    let mut last_ping = std::time::Instant::now();
    let mut longest = Duration::ZERO;
    while stalled.elapsed() < Duration::from_millis(2500) {
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1")
        {
            longest = longest.max(last_ping.elapsed());
            last_ping = std::time::Instant::now();
        }
        assert_eq!(
            env.creates(),
            0,
            "a create went before its intent was written"
        );
    }
    longest = longest.max(last_ping.elapsed());
    assert!(
        longest < Duration::from_millis(1000),
        "the watchdog went {longest:?} without a ping while the store was locked"
    );
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    until("the create, once its intent is written", || {
        env.creates() == 1
    })
    .await;
    signal(&child, "-TERM");
    let (status, stderr) = wait(child).await;
    assert!(status.success(), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_lock_file_does_not_let_a_second_daemon_run() {
    let env = Env::new(FakeConfig::default()).await;
    let first = daemon(&env, "run");
    let mut lock = env.config.state.file.clone().into_os_string();
    lock.push(".lock");
    until("the first daemon's first pass", || first_pass_done(&env)).await;
    std::fs::remove_file(&lock).expect("the lock file is there to delete");
    env.write(
        "late.toml",
        "subject = \"Late\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n",
    );
    let (status, stderr) = wait(daemon(&env, "once")).await;
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another wemeet-scheduler is running on state file"),
        "{stderr}"
    );
    until("the first daemon books the new file", || env.creates() >= 1).await;
    signal(&first, "-TERM");
    let (status, _) = wait(first).await;
    assert!(status.success());
    assert_eq!(env.creates(), 1, "one daemon booked the file, once");
}

/// A production-like config and its state file, in a temp dir.
fn production(dir: &std::path::Path, base_url: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let state = dir.join("state.db");
    wemeet_scheduler::store::create_empty(&state).unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{base_url}\"\n[watch]\ndir = \"{}\"\n[state]\nfile = \"{}\"\n",
            dir.display(),
            state.display()
        ),
    )
    .unwrap();
    (config, state)
}

#[test]
fn the_demo_refuses_a_config_that_is_not_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let (config, state) = production(dir.path(), "https://api.meeting.qq.com");
    let out = binary()
        .args(["demo", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a demo config"), "{stderr}");
    assert!(state.exists(), "the production state is untouched");
}

#[test]
fn the_demo_ignores_the_config_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    // On loopback, so only the environment rule keeps the demo away from it.
    let (config, state) = production(dir.path(), "http://127.0.0.1:9");
    let out = binary()
        .arg("demo")
        .env("WEMEET_SCHEDULER_CONFIG", &config)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("config/demo.toml"),
        "it looked for its own config: {stderr}"
    );
    assert!(state.exists(), "the production state is untouched");
    assert!(!dir.path().join("target").exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_sigterm_during_the_drain_stops_at_once() {
    // A create the fake holds for 60 s, inside a 120 s timeout: the first SIGTERM waits for
    // it (up to the 30 s drain), the second stops now and leaves it pending.
    let env = Env::with_config(
        FakeConfig {
            faults: Faults {
                slow: FaultSpec::Count(1),
                latency: Duration::from_secs(60),
                ..Faults::default()
            },
            ..FakeConfig::default()
        },
        |text| text.replace("timeout = \"1s\"", "timeout = \"120s\""),
    )
    .await;
    env.write("planning.toml", ONE_OFF);
    let child = daemon(&env, "run");
    until("the intent in the state file", || {
        wemeet_scheduler::store::read(&env.config.state.file)
            .is_ok_and(|s| s.bookings.iter().any(|r| r.status == Status::Pending))
    })
    .await;
    signal(&child, "-TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    signal(&child, "-TERM");
    let (status, stderr) = wait(child).await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped {:?} after the second signal",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopping now"), "{stderr}");
    assert_eq!(
        env.state().bookings[0].status,
        Status::Pending,
        "looked up at the next start"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_does_not_wait_for_a_lookup_that_is_still_sleeping() {
    // An unclear create (a 500) is looked up after twice the 10 s timeout: SIGTERM in between
    // stops at once instead of draining for 20 s.
    let env = Env::with_config(
        FakeConfig {
            faults: Faults {
                internal_error: FaultSpec::Count(1),
                ..Faults::default()
            },
            ..FakeConfig::default()
        },
        |text| text.replace("timeout = \"1s\"", "timeout = \"10s\""),
    )
    .await;
    env.write("planning.toml", ONE_OFF);
    let child = daemon(&env, "run");
    until("the refused create", || {
        env.fake.stats().errors.contains_key(&5108)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    signal(&child, "-TERM");
    let (status, stderr) = wait(child).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped {:?} after the signal",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(env.state().bookings[0].status, Status::Pending);
    assert_eq!(env.creates(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn once_and_status_exit_1_while_a_person_is_needed() {
    // Every create refused for good: the booking fails at the first run.
    let env = Env::new(FakeConfig {
        secret_key: wemeet_fake_api::SecretKey::new("another-key"),
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let run = |cmd: &str| {
        let status = env.command(cmd).stderr(Stdio::null()).status().unwrap();
        status.code()
    };
    assert_eq!(run("once"), Some(1));
    // Nothing new failed this time, but the failure is still there: a timer stays red.
    assert_eq!(run("once"), Some(1));
    assert_eq!(run("status"), Some(1));
    // A booking pending for longer than retry.alert_after needs a person too.
    let mut state = env.state();
    state.bookings[0].status = Status::Pending;
    state.bookings[0].updated_at = chrono::Utc::now().timestamp() - 16 * 60;
    std::fs::write(
        &env.config.state.file,
        serde_json::to_string(&state).unwrap(),
    )
    .unwrap();
    assert_eq!(run("status"), Some(1));
    state.bookings[0].updated_at = chrono::Utc::now().timestamp();
    std::fs::write(
        &env.config.state.file,
        serde_json::to_string(&state).unwrap(),
    )
    .unwrap();
    assert_eq!(run("status"), Some(0), "pending for a moment is normal");
    // Missed (within the retention window) needs a person.
    state.bookings[0].status = Status::Missed;
    std::fs::write(
        &env.config.state.file,
        serde_json::to_string(&state).unwrap(),
    )
    .unwrap();
    assert_eq!(run("status"), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_state_says_why_it_waits_and_claims_no_earlier_create() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    // No store: the test env's empty one is removed.
    std::fs::remove_file(&env.config.state.file).expect("remove the store");
    let child = env
        .command("once")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let (status, err) = wait(child).await;
    assert!(status.success(), "{err}");
    assert_eq!(env.creates(), 1);
    // The store is gone (its lock file is still here): the booking is looked up first, and
    // the log says why it waits.
    assert!(
        err.contains("no state file (a lost state, or a store not written yet)")
            && err.contains("after waiting twice api.timeout"),
        "{err}"
    );
    // Nothing was ever sent: no "earlier create" to speak of.
    assert!(
        err.contains("not among its user's meetings: it will be created"),
        "{err}"
    );
    assert!(!err.contains("the earlier create did not happen"), "{err}");
}

/// `once` on `env` with its state directory gone (a first start), the log at info: its
/// stderr, once it has exited 0.
async fn first_start(env: &Env) -> String {
    let dir = env.config.state.file.parent().expect("a state directory");
    std::fs::remove_dir_all(dir).expect("remove the state");
    let child = env
        .command("once")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the daemon");
    let (status, err) = wait(child).await;
    assert!(status.success(), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_start_looks_and_does_not_wait_when_the_user_has_no_meetings() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    let err = first_start(&env).await;
    assert_eq!(env.creates(), 1);
    assert!(
        err.contains("a new state (no database and no lock file were here: a first start)"),
        "{err}"
    );
    assert!(
        err.contains("the user has no meetings in the window: nothing was booked before; no wait"),
        "{err}"
    );
    assert!(
        !err.contains("waiting for creates of an earlier daemon"),
        "{err}"
    );
    assert!(
        err.contains("not among its user's meetings: it will be created"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_start_waits_when_the_user_already_has_meetings() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    // Someone's meeting in the window: an earlier daemon may have been here.
    let start = 1_893_664_800; // 2030-01-03T10:00:00Z, the one-off's start.
    let util::fake::TestFake::Ours(fake) = &env.fake else {
        unreachable!("the env's fake is ours")
    };
    fake.preload(1, "ops-bot", (start, start + 3600), |_| {
        "Someone else's".into()
    })
    .expect("preload");
    let err = first_start(&env).await;
    assert!(
        err.contains("the user has meetings in the window: waiting for creates of an earlier daemon to land before looking again"),
        "{err}"
    );
    assert!(!err.contains("nothing was booked before; no wait"), "{err}");
    // The other meeting and ours.
    assert_eq!(env.creates(), 2);
}

/// The next notify message that `pick` accepts, read off `sock` (others are skipped).
async fn heard(
    sock: &std::os::unix::net::UnixDatagram,
    what: &str,
    pick: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} within {PATIENCE:?}"
        );
        // Short reads, so the runtime's other tasks (the fake, the receiver) go on.
        if let Ok(n) = tokio::task::block_in_place(|| sock.recv(&mut buf)) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if pick(&msg) {
                return msg;
            }
        }
    }
}

/// A SIGHUP with a broken config keeps the running one, and says so everywhere an operator
/// looks until a reload reads well: `/readyz` degraded with the reason at its place, the reload
/// metrics, `STATUS=`, a `reload_failed` notification. A reload that changes nothing logs no
/// change; the calendar is not served unless asked for.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_reload_is_visible_until_a_good_one() {
    let receiver = util::receiver::Receiver::start(util::receiver::Answer::Ok).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::with_config(FakeConfig::default(), |text| {
        format!(
            "{text}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n\n[[notify]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{}/ops\"\nevents = [\"reload_failed\"]\n",
            receiver.url
        )
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let good = std::fs::read_to_string(&env.config_path).unwrap();
    let (sock, child) = run_with_notify(&env, &[("RUST_LOG", "info")], Duration::from_millis(50));
    let http = wemeet_scheduler::api::client::http_builder(PATIENCE)
        .build()
        .unwrap();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("http://127.0.0.1:{port}{path}"));
        async move {
            let resp = http.get(url).send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let metric = |text: &str, name: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_string))
    };
    heard(&sock, "STATUS= with the booking", |m| {
        m.contains("STATUS=booked 1, pending 0")
    })
    .await;
    assert_eq!(get("/readyz").await, (200, "ready\n".to_string()));
    assert_eq!(get("/calendar.ics").await.0, 404, "off unless asked for");

    // A reload of what runs already.
    signal(&child, "-HUP");
    heard(&sock, "RELOADING=1", |m| m.contains("RELOADING=1")).await;
    heard(&sock, "READY=1", |m| m.contains("READY=1")).await;

    // A broken value: line and column of its place.
    let line = good
        .lines()
        .position(|l| l.starts_with("rescan_interval"))
        .unwrap()
        + 1;
    std::fs::write(
        &env.config_path,
        good.replace("rescan_interval = \"1h\"", "rescan_interval = \"soon\""),
    )
    .unwrap();
    let at = format!("{}:{line}:19: ", env.config_path.display());
    signal(&child, "-HUP");
    let status = heard(&sock, "STATUS= of the failed reload", |m| {
        m.contains("CONFIG RELOAD FAILED")
    })
    .await;
    assert!(
        status.starts_with("STATUS=booked 1, pending 0, failed 0, missed 0, invalid files 0, CONFIG RELOAD FAILED (the previous config runs): config ")
            && status.contains(&at),
        "{status}"
    );
    let (code, body) = get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.starts_with("degraded: the last config reload failed, the previous config runs: ")
            && body.contains(&at),
        "{body}"
    );
    let text = get("/metrics").await.1;
    assert_eq!(
        metric(&text, "wemeet_config_reload_failures_total").as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&text, "wemeet_config_last_reload_success").as_deref(),
        Some("0")
    );
    let told = receiver.wait_for(1).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].0, "/ops");
    assert_eq!(told[0].1["event"], "reload_failed");
    let detail = told[0].1["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&at), "{detail}");

    // Fixed: all clear.
    std::fs::write(&env.config_path, &good).unwrap();
    signal(&child, "-HUP");
    heard(&sock, "STATUS= without the failure", |m| {
        m.starts_with("STATUS=") && !m.contains("FAILED")
    })
    .await;
    assert_eq!(get("/readyz").await, (200, "ready\n".to_string()));
    let text = get("/metrics").await.1;
    assert_eq!(
        metric(&text, "wemeet_config_reload_failures_total").as_deref(),
        Some("1")
    );
    assert_eq!(
        metric(&text, "wemeet_config_last_reload_success").as_deref(),
        Some("1")
    );

    signal(&child, "-TERM");
    let (status, stderr) = wait(child).await;
    assert!(status.success(), "{stderr}");
    assert_eq!(stderr.matches("config reloaded").count(), 2, "{stderr}");
    assert!(!stderr.contains("definitions changed"), "{stderr}");
    assert_eq!(receiver.got().len(), 1, "one failure, one notification");
}
