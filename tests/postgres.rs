//! The PostgreSQL store: the same records as SQLite, one leader among daemons sharing a
//! database, and a standby that takes over from a killed leader without booking anything
//! twice. Each test starts its own throwaway server (`util::postgres`).

mod util;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use util::daemon::Env;
use util::fake::Kind;
use util::postgres::Postgres;
use wemeet_scheduler::booking::{BookingKey, Status};
use wemeet_scheduler::ledger::Ledger;
use wemeet_scheduler::state::{self, Record, State};
use wemeet_scheduler::store::postgres::Pg;
use wemeet_scheduler::store::{Batch, InvalidChange, Meta, Store};

fn record(def: &str, start: i64, status: Status) -> Record {
    Record {
        definition: def.into(),
        occurrence_start: start,
        occurrence_end: start + 60,
        status,
        userid: "u".into(),
        instanceid: 1,
        subject: "s".into(),
        timezone: None,
        definition_hash: "h".into(),
        request: None,
        meeting_id: Some(format!("m-{def}").into()),
        meeting_code: None,
        join_url: None,
        attempts: 1,
        last_error: None,
        error_code: None,
        updated_at: 0,
        change: None,
        refused: None,
        sequence: 0,
        notified: Vec::new(),
        acknowledged: None,
    }
}

/// Writes one batch as the daemon does (through the store's writer), which must succeed.
async fn commit(
    store: &Store,
    rows: Vec<wemeet_scheduler::ledger::Write<'_>>,
    meta: Option<&Meta>,
) {
    let batch = Batch {
        rows,
        meta,
        looked_up: true,
        requests_done: &[],
    }
    .to_owned()
    .unwrap();
    store.writer().unwrap().write(batch).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_round_trip_and_one_session_leads_at_a_time() {
    if !util::postgres::here("the PostgreSQL round trip") {
        return;
    }
    let pg = Postgres::start();
    let url = pg.database("roundtrip");
    let takeover = Duration::from_secs(3);
    let first = Pg::connect(&url, takeover).await.unwrap();
    assert!(first.try_lead(takeover).await.unwrap());
    assert!(first.still_leading().await.unwrap());
    let second = Pg::connect(&url, takeover).await.unwrap();
    assert!(
        !second.try_lead(takeover).await.unwrap(),
        "one leader at a time"
    );
    assert!(!second.still_leading().await.unwrap());
    let leader = second
        .leader()
        .await
        .unwrap()
        .expect("the leader is recorded");
    assert_eq!(leader.pid, std::process::id());

    let (store, state) = Store::leading(first, &url, takeover).await.unwrap();
    assert!(store.fresh(), "a new database looks up first");
    assert!(state.bookings.is_empty());
    let mut ledger = Ledger::new([]);
    for i in 0..3 {
        ledger.insert(
            BookingKey {
                definition: "a".into(),
                start: i,
            },
            Record {
                join_url: Some(format!("https://meeting.example/j/{i}").into()),
                meeting_code: Some(format!("12345678{i}").into()),
                ..record("a", i, Status::Booked)
            },
        );
    }
    let meta = Meta {
        last_pass: Some(7),
        held_removals: vec!["gone".into()],
        ..Meta::default()
    };
    let (rows, _) = ledger.take_changes();
    commit(&store, rows, Some(&meta)).await;
    ledger.remove(&BookingKey {
        definition: "a".into(),
        start: 1,
    });
    ledger
        .get_mut(&BookingKey {
            definition: "a".into(),
            start: 2,
        })
        .unwrap()
        .status = Status::Cancelled;
    let (rows, _) = ledger.take_changes();
    commit(&store, rows, None).await;
    let back = wemeet_scheduler::store::read_for(&wemeet_scheduler::config::StateConfig {
        file: "unused".into(),
        import: None,
        url: Some(wemeet_scheduler::config::SecretKey::new(url.clone())),
        takeover,
        retention: Duration::from_secs(86400),
    })
    .unwrap();
    assert_eq!(
        back,
        State {
            version: state::VERSION,
            last_pass: Some(7),
            bookings: ledger.values().cloned().collect(),
            held_removals: vec!["gone".into()],
            ..State::default()
        }
    );
    // The leader goes: its session ends and the lock with it.
    drop(store);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !second.try_lead(takeover).await.unwrap() {
        assert!(Instant::now() < deadline, "the lock was not let go");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (store, state) = Store::leading(second, &url, takeover).await.unwrap();
    assert!(!store.fresh(), "written to: trusted");
    assert_eq!(state.bookings.len(), 2);
    // Loaded without join URLs and codes (the daemon reads them back when it needs them),
    // and a change to a record keeps the stored ones.
    assert!(
        state
            .bookings
            .iter()
            .all(|r| r.join_url.is_none() && r.meeting_code.is_none())
    );
    let mut lean = Ledger::new(state.bookings);
    let first_key = BookingKey {
        definition: "a".into(),
        start: 0,
    };
    lean.get_mut(&first_key).unwrap().attempts = 5;
    let (rows, _) = lean.take_changes();
    commit(&store, rows, None).await;
    let stored = store.reader().record_of(&first_key).await.unwrap().unwrap();
    assert_eq!(stored.attempts, 5);
    assert_eq!(
        (stored.join_url.as_deref(), stored.meeting_code.as_deref()),
        (Some("https://meeting.example/j/0"), Some("123456780"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_files_are_rows_and_an_older_builds_list_among_the_values_still_loads() {
    if !util::postgres::here("the PostgreSQL invalid files") {
        return;
    }
    let pg = Postgres::start();
    let url = pg.database("invalid");
    let takeover = Duration::from_secs(3);
    let leader = Pg::connect(&url, takeover).await.unwrap();
    assert!(leader.try_lead(takeover).await.unwrap());
    let file = |name: &str, problem: &str| state::InvalidFile {
        path: format!("/srv/meetings.d/{name}").into(),
        problems: vec![format!("/srv/meetings.d/{name}:{problem}")],
    };
    let first = State {
        version: state::VERSION,
        invalid: vec![
            file("a.toml", "1:1: invalid TOML"),
            file("b.toml", "4:12: bad"),
        ],
        ..State::default()
    };
    let (_, meta) = Meta::split(first.clone());
    leader.replace(&first, &meta).await.unwrap();
    let (store, _) = Store::leading(leader, &url, takeover).await.unwrap();
    // One edited and one fixed, through the daemon's writer: two rows.
    let mut owned = Batch::default().to_owned().unwrap();
    owned
        .add_invalid(
            false,
            &[
                InvalidChange::Put(file("a.toml", "2:1: invalid TOML")),
                InvalidChange::Delete("/srv/meetings.d/b.toml".into()),
            ],
        )
        .unwrap();
    store.writer().unwrap().write(owned).await.unwrap();
    let read = async || {
        let pg = Pg::connect(&url, takeover).await.unwrap();
        pg.load().await.unwrap().0
    };
    let back = read().await;
    assert_eq!(back.invalid, [file("a.toml", "2:1: invalid TOML")]);
    assert!(!back.invalid_in_meta);
    assert_eq!(pg.sql("invalid", "SELECT count(*) FROM invalid_files"), "1");
    // A store an older build wrote: the list among the values is what is on record.
    pg.sql(
        "invalid",
        r#"UPDATE meta SET value = '{"invalid": [{"path": "/srv/old.toml", "problems": ["/srv/old.toml:1:1: x"]}]}' WHERE key = 'daemon'"#,
    );
    let back = read().await;
    assert_eq!(back.invalid.len(), 1);
    assert_eq!(back.invalid[0].path, std::path::Path::new("/srv/old.toml"));
    assert!(back.invalid_in_meta);
}

/// Each live meeting's subject, counted.
fn live_by_subject(env: &Env) -> HashMap<String, usize> {
    let mut by = HashMap::new();
    for m in env.fake.live_meetings() {
        *by.entry(m.subject.clone()).or_insert(0) += 1;
    }
    by
}

/// A fake with unclear-create faults, `defs` one-offs next year, and a config on the
/// database `url` with a 3 s takeover, paced so that a backlog takes a few seconds.
async fn failover_env(kind: Kind, url: &str, defs: usize) -> Env {
    let env = Env::against(kind, util::daemon::unclear_creates(11), |text| {
        text.replace(
            "[state]\n",
            &format!("[state]\nurl = \"{url}\"\ntakeover = \"3s\"\n"),
        )
        .replace("requests_per_minute = 0", "requests_per_minute = 3000")
        .replace("max_attempts = 4", "max_attempts = 30")
    })
    .await;
    let base = Utc::now().timestamp() / 3600 * 3600 + 365 * 86400;
    for i in 0..defs {
        env.write(
            &format!("m{i:04}.toml"),
            &format!(
                "subject = \"Meeting {i}\"\nuserid = \"user{:02}\"\nstart_time = {}\nduration = \"30m\"\n",
                i % 10,
                base + (i as i64) * 3600
            ),
        );
    }
    env
}

fn spawn(env: &Env) -> std::process::Child {
    env.command("run")
        .stderr(Stdio::null())
        .spawn()
        .expect("start a daemon")
}

async fn wait_for_creates(env: &Env, n: usize) {
    let started = Instant::now();
    while env.creates() < n {
        assert!(started.elapsed() < Duration::from_secs(30), "no booking");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `pid` leads; returns how long that took.
async fn wait_for_leader(url: &str, pid: u32, since: Instant) -> Duration {
    let watcher = Pg::connect(url, Duration::from_secs(3)).await.unwrap();
    loop {
        if watcher
            .leader()
            .await
            .unwrap()
            .is_some_and(|l| l.pid == pid)
        {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the standby did not take over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for every booking, stops `daemon`, and checks the fake: each definition has exactly
/// one live meeting, and the records name exactly those.
async fn check_exactly_once(env: &Env, defs: usize, mut daemon: std::process::Child) {
    // Paced at most at 50 a second, and 10 in the paused-leader test: room for both.
    let deadline =
        Instant::now() + Duration::from_secs(120) + Duration::from_millis(100) * defs as u32;
    loop {
        let st = wemeet_scheduler::store::read_for(&env.config.state).unwrap();
        let booked = st
            .bookings
            .iter()
            .filter(|r| r.status == Status::Booked)
            .count();
        if booked == defs {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {booked} of {defs} booked: {:?}",
            st.bookings
                .iter()
                .filter(|r| r.status != Status::Booked)
                .map(|r| (&r.definition, r.status, &r.last_error))
                .take(5)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    let live = live_by_subject(env);
    let twice: Vec<_> = live.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "booked twice: {twice:?}");
    assert_eq!(live.len(), defs, "every definition booked");
    let st = wemeet_scheduler::store::read_for(&env.config.state).unwrap();
    let mut ids: Vec<String> = st
        .bookings
        .iter()
        .filter_map(|r| r.meeting_id.as_deref().map(str::to_string))
        .collect();
    ids.sort();
    let mut live_ids: Vec<String> = env
        .fake
        .live_meetings()
        .into_iter()
        .map(|m| m.meeting_id)
        .collect();
    live_ids.sort();
    assert_eq!(ids, live_ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_replaced_by_the_standby_and_nothing_is_booked_twice() {
    killed_leader(Kind::Ours).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_books_nothing_twice_on_the_second_fake() {
    if util::fake::docs_fake_here("the PostgreSQL failover") {
        killed_leader(Kind::Docs).await;
    }
}

/// The leader SIGKILLed mid-backlog under unclear creates: the standby takes over, and every
/// booking is on the fake exactly once.
async fn killed_leader(kind: Kind) {
    if !util::postgres::here("the PostgreSQL failover") {
        return;
    }
    let defs: usize = std::env::var("WEMEET_PG_DEFS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let pg = Postgres::start();
    let url = pg.database("failover");
    let env = failover_env(kind, &url, defs).await;
    // The first one leads (it is alone) and starts booking.
    let mut leader = spawn(&env);
    wait_for_creates(&env, 20).await;
    let standby = spawn(&env);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_kill = env.creates();
    assert!(
        before_kill < defs,
        "the kill lands mid-backlog ({before_kill} of {defs} created)"
    );
    let _ = leader.kill(); // SIGKILL
    let _ = leader.wait();
    let took_over = wait_for_leader(&url, standby.id(), Instant::now()).await;
    assert!(
        took_over < Duration::from_secs(3),
        "took over in {took_over:?}"
    );
    // `status` says who leads.
    let out = env
        .command("status")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("(pid {}) since", standby.id())),
        "{text}"
    );
    check_exactly_once(&env, defs, standby).await;
    eprintln!(
        "{defs} bookings; leader killed after {before_kill} creates; standby led {took_over:?} after the kill"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_session_ends_stops_sending_and_the_standby_takes_over() {
    if !util::postgres::here("the ended-session failover") {
        return;
    }
    let defs = 200;
    let pg = Postgres::start();
    let url = pg.database("fencing");
    let env = failover_env(Kind::Ours, &url, defs).await;
    let mut leader = spawn(&env);
    wait_for_creates(&env, 20).await;
    let standby = spawn(&env);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The server ends the leader's session (as after a network cut): the lock goes with it.
    let ended = Instant::now();
    assert_eq!(
        pg.sql(
            "fencing",
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        ),
        "t"
    );
    // The old leader notices before its next send and exits for a restart (code 3).
    let status = loop {
        if let Some(status) = leader.try_wait().unwrap() {
            break status;
        }
        assert!(
            ended.elapsed() < Duration::from_secs(5),
            "the old leader kept running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(3), "a restartable exit");
    wait_for_leader(&url, standby.id(), ended).await;
    check_exactly_once(&env, defs, standby).await;
}

#[test]
fn two_daemons_creating_the_schema_of_a_new_database_at_once_both_start() {
    if !util::postgres::here("the schema race") {
        return;
    }
    // `CREATE TABLE IF NOT EXISTS` from two sessions at once can fail on the catalog's unique
    // index (pg_type_typname_nsp_index): one daemon exited 3 on every fresh install.
    let pg = Postgres::start();
    for round in 0..5 {
        let url = pg.database(&format!("fresh{round}"));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let both: Vec<_> = (0..2)
            .map(|_| {
                let (url, barrier) = (url.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    wemeet_scheduler::store::postgres::blocking(
                        &url,
                        Duration::from_secs(3),
                        async |pg| {
                            drop(pg);
                            Ok(())
                        },
                    )
                })
            })
            .collect();
        for t in both {
            let joined = t.join().expect("no panic");
            assert!(joined.is_ok(), "round {round}: {:?}", joined.err());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_frozen_inside_a_transaction_loses_the_lead_within_the_takeover() {
    if !util::postgres::here("the frozen-leader takeover") {
        return;
    }
    // A paused leader whose session is idle in a transaction: idle_session_timeout does not
    // apply there, and the kernel answers keepalives for a stopped process. The server must
    // still end the session, so that the standby leads.
    let pg = Postgres::start();
    let url = pg.database("frozen");
    let takeover = Duration::from_secs(2);
    let leader = Pg::connect(&url, takeover).await.unwrap();
    assert!(leader.try_lead(takeover).await.unwrap());
    leader.stall_in_transaction().await.unwrap();
    let standby = Pg::connect(&url, takeover).await.unwrap();
    let since = Instant::now();
    while !standby.try_lead(takeover).await.unwrap() {
        assert!(
            since.elapsed() < takeover * 3,
            "the standby still waits after {:?}",
            since.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        since.elapsed() <= takeover + Duration::from_secs(1),
        "{:?}",
        since.elapsed()
    );
    drop(leader);
}

/// Daemon processes that are SIGKILLed (and so never left stopped) when the test ends,
/// however it ends.
struct Daemons(Vec<std::process::Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {}", child.id());
}

/// Pauses (`WEMEET_PG_PAUSES`, 10 in CI) and the seed of their moments.
fn pauses() -> (usize, u64) {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        var("WEMEET_PG_PAUSES", 10) as usize,
        var("WEMEET_PG_PAUSE_SEED", 20261207),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_sends_nothing_when_it_resumes() {
    paused_leaders(Kind::Ours).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_leader_sends_nothing_on_the_second_fake() {
    if util::fake::docs_fake_here("the paused-leader scenario") {
        paused_leaders(Kind::Docs).await;
    }
}

/// Two daemons on one database, a backlog under unclear creates (5% hangs, 5% resets after
/// the create). Again and again, at a seeded random moment: the leader is stopped (SIGSTOP;
/// every third time just after a SIGTERM, so that it stalls in its shutdown drain),
/// the standby takes the lead, then, at another random moment (before or after the new
/// leader starts sending), the old one is resumed (SIGCONT). It must send nothing more and
/// exit 3 (its session is gone); it is restarted as the next standby, as systemd would.
/// Afterwards every booking is on the fake exactly once.
async fn paused_leaders(kind: Kind) {
    if !util::postgres::here("the paused-leader scenario") {
        return;
    }
    use rand::{RngExt, SeedableRng};
    let (pauses, seed) = pauses();
    // More than the leaders book between the pauses, so that each pause lands mid-backlog.
    let defs = 50 * pauses.max(10);
    let pg = Postgres::start();
    let url = pg.database("paused");
    let env = failover_env(kind, &url, defs).await;
    // Slower than the failover test's pacing, so the backlog lasts through the pauses.
    let config = std::fs::read_to_string(&env.config_path)
        .unwrap()
        .replace("requests_per_minute = 3000", "requests_per_minute = 600");
    std::fs::write(&env.config_path, config).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut daemons = Daemons(vec![spawn(&env)]);
    wait_for_creates(&env, 10).await;
    daemons.0.push(spawn(&env));
    for round in 0..pauses {
        // The leader is booking: a create of its own has reached the fake (a new leader
        // first waits out its takeover wait and looks up what the last one left).
        let before = env.creates();
        let since = Instant::now();
        while env.creates() == before && since.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..1500))).await;
        let (old, new) = (&daemons.0[0], &daemons.0[1]);
        // Every third time the leader was told to stop first, and stalls in its drain.
        let draining = round % 3 == 2;
        if draining {
            signal(old, "-TERM");
        }
        signal(old, "-STOP");
        let stopped = Instant::now();
        wait_for_leader(&url, new.id(), stopped).await;
        // Resumed before the new leader may send (it waits takeover + 2 x api.timeout = 5 s),
        // or after it has begun.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..7000))).await;
        signal(old, "-CONT");
        let mut old = daemons.0.remove(0);
        let resumed = Instant::now();
        // A drain may wait for what was in flight up to its 30 s bound.
        let bound = Duration::from_secs(if draining { 40 } else { 10 });
        let status = loop {
            if let Some(status) = old.try_wait().unwrap() {
                break status;
            }
            assert!(
                resumed.elapsed() < bound,
                "round {round}: the resumed leader kept running"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // A drain ends with exit 0 once what was in flight is done; a lead found lost, 3.
        let codes: &[i32] = if draining { &[0, 3] } else { &[3] };
        assert!(
            status.code().is_some_and(|c| codes.contains(&c)),
            "round {round}: exit {status}"
        );
        daemons.0.push(spawn(&env));
    }
    let leader = daemons.0.remove(0);
    eprintln!(
        "{pauses} pauses; {} creates on the fake when the last one resumed, of {defs}",
        env.creates()
    );
    check_exactly_once(&env, defs, leader).await;
}

const ONE_OFF: &str =
    "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";

/// A config on the database `url` (3 s takeover) against our fake with `fake`'s faults.
async fn store_env(url: &str, fake: wemeet_fake_api::FakeConfig) -> Env {
    Env::with_config(fake, |text| {
        text.replace(
            "[state]\n",
            &format!("[state]\nurl = \"{url}\"\ntakeover = \"3s\"\n"),
        )
    })
    .await
}

/// Runs the binary's `command` (with `args`) on `env`'s config; its stdout, which must be a
/// success.
fn run_command(env: &Env, command: &str, args: &[&str]) -> String {
    let out = env
        .command(command)
        .args(args)
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The operators' requests waiting in `env`'s store, as `kind items` lines.
fn waiting_requests(env: &Env) -> Vec<String> {
    wemeet_scheduler::store::requests_for(&env.config.state)
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.kind.as_str(), r.items.join(",")))
        .collect()
}

/// `retry` on PostgreSQL reaches the daemon through the store: a running leader acts at its
/// next pass, and with none running the next to start does. (It used to open an SQLite file
/// beside the config, say "0 booking(s) back to pending", and leave the record failed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_reaches_the_daemon_through_the_store_running_or_stopped() {
    use wemeet_fake_api::{ErrorFault, FakeConfig, FaultSpec, Faults};
    use wemeet_scheduler::daemon::{Event, Mode};
    if !util::postgres::here("retry on PostgreSQL") {
        return;
    }
    let pg = Postgres::start();
    let url = pg.database("retry");
    // Refused for good once (no permission), then accepted.
    let refused_once = || Faults {
        create_error: Some(ErrorFault {
            code: 9100,
            status: 500,
            spec: FaultSpec::Count(1),
        }),
        ..Faults::default()
    };
    let env = store_env(
        &url,
        FakeConfig {
            faults: refused_once(),
            ..FakeConfig::default()
        },
    )
    .await;
    env.write("planning.toml", ONE_OFF);
    let failed = |env: &Env| {
        wemeet_scheduler::store::read_for(&env.config.state)
            .unwrap()
            .bookings
            .iter()
            .filter(|r| r.status == Status::Failed)
            .count()
    };
    // The daemon runs: the request waits for its next pass (a reload here).
    let mut d = env.start(Mode::Run);
    d.wait_for("the failure", |e| {
        matches!(e, Event::Failed { .. }).then_some(())
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while failed(&env) == 0 {
        assert!(Instant::now() < deadline, "the failure is not on record");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        run_command(&env, "retry", &["planning"]),
        "asked the daemon that leads (or the next to start) to retry 1 booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):\n  planning@1893664800\n"
    );
    assert_eq!(waiting_requests(&env), ["retry planning@1893664800"]);
    d.reload.send(()).unwrap();
    d.booked(1).await;
    d.stop().await;
    assert_eq!(env.creates(), 1);
    assert_eq!(waiting_requests(&env), Vec::<String>::new(), "done with");
    // No daemon runs: the next to start acts on it.
    env.write(
        "review.toml",
        &ONE_OFF
            .replace("Planning", "Review")
            .replace("10:00", "15:00"),
    );
    env.fake.set_faults(refused_once());
    assert_eq!(env.start(Mode::Once).finish().await.failed, 1);
    assert_eq!(
        run_command(&env, "retry", &["--all-failed"]),
        "asked the daemon that leads (or the next to start) to retry 1 booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):\n  review@1893682800\n"
    );
    assert_eq!(failed(&env), 1, "nothing changed until a daemon acts");
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!((summary.booked, summary.failed), (2, 0));
    assert_eq!(env.creates(), 2);
    assert_eq!(waiting_requests(&env), Vec::<String>::new());
}

/// `approve-removals` on PostgreSQL: the running leader cancels the held removals at its next
/// pass, and the approval is used up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_removals_reaches_the_running_daemon_through_the_store() {
    use wemeet_scheduler::daemon::{Event, Mode};
    if !util::postgres::here("approve-removals on PostgreSQL") {
        return;
    }
    let pg = Postgres::start();
    let url = pg.database("approve");
    let env = store_env(&url, Default::default()).await;
    for name in ["a", "b", "c"] {
        env.write(&format!("{name}.toml"), &ONE_OFF.replace("Planning", name));
    }
    env.start(Mode::Once).finish().await;
    // Two of three vanish (67% > 50%): held.
    std::fs::remove_file(env.watch_dir().join("a.toml")).unwrap();
    std::fs::remove_file(env.watch_dir().join("b.toml")).unwrap();
    let mut d = env.start(Mode::Run);
    let held = d
        .wait_for("held removals", |e| match e {
            Event::RemovalsHeld { definitions } => Some(definitions.clone()),
            _ => None,
        })
        .await;
    assert_eq!(held, ["a", "b"]);
    // The held list reaches the store within a second (the approval reads it there).
    let deadline = Instant::now() + Duration::from_secs(20);
    while wemeet_scheduler::store::read_for(&env.config.state)
        .unwrap()
        .held_removals
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the held removals are not on record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let approved = run_command(&env, "approve-removals", &[]);
    assert!(
        approved.starts_with("approved: the daemon cancels"),
        "{approved}"
    );
    assert_eq!(waiting_requests(&env), ["approve-removals a,b"]);
    d.reload.send(()).unwrap();
    assert_eq!(
        cancels(&mut d, 2).await,
        [
            "a@1893664800 cancelled: its definition was removed",
            "b@1893664800 cancelled: its definition was removed"
        ]
    );
    d.stop().await;
    let st = wemeet_scheduler::store::read_for(&env.config.state).unwrap();
    assert!(st.held_removals.is_empty());
    assert_eq!(waiting_requests(&env), Vec::<String>::new(), "used up");
}

/// The next `n` changes the daemon tells of, sorted.
async fn cancels(d: &mut util::daemon::Running, n: usize) -> Vec<String> {
    use wemeet_scheduler::daemon::Event;
    let mut cancelled = Vec::new();
    while cancelled.len() < n {
        cancelled.push(
            d.wait_for("a cancel", |e| match e {
                Event::Changed { key, what } => Some(format!("{key} {what}")),
                _ => None,
            })
            .await,
        );
    }
    cancelled.sort();
    cancelled
}

/// `approve-removals` while no daemon runs: the request waits in the database, and the next
/// daemon to lead acts on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_removals_with_the_daemon_stopped_is_acted_on_by_the_next_leader() {
    use wemeet_scheduler::daemon::Mode;
    if !util::postgres::here("approve-removals on PostgreSQL, daemon stopped") {
        return;
    }
    let pg = Postgres::start();
    let url = pg.database("approve_stopped");
    let env = store_env(&url, Default::default()).await;
    for name in ["a", "b", "c"] {
        env.write(&format!("{name}.toml"), &ONE_OFF.replace("Planning", name));
    }
    env.start(Mode::Once).finish().await;
    std::fs::remove_file(env.watch_dir().join("a.toml")).unwrap();
    std::fs::remove_file(env.watch_dir().join("b.toml")).unwrap();
    // A run that holds the removals, then stops.
    env.start(Mode::Once).finish().await;
    let st = wemeet_scheduler::store::read_for(&env.config.state).unwrap();
    assert_eq!(st.held_removals, ["a", "b"]);
    let approved = run_command(&env, "approve-removals", &[]);
    assert!(
        approved.starts_with("approved: the daemon cancels"),
        "{approved}"
    );
    assert_eq!(waiting_requests(&env), ["approve-removals a,b"]);
    let mut d = env.start(Mode::Run);
    assert_eq!(
        cancels(&mut d, 2).await,
        [
            "a@1893664800 cancelled: its definition was removed",
            "b@1893664800 cancelled: its definition was removed"
        ]
    );
    d.stop().await;
    assert_eq!(waiting_requests(&env), Vec::<String>::new(), "used up");
    assert_eq!(env.fake.live_meetings().len(), 1, "c is left");
}

/// The PostgreSQL twin of the process suite's watchdog test: another session locks the
/// bookings table for 2.5 s, so the daemon's write of an intent waits on the server. The
/// loop goes on beside it: the systemd watchdog keeps its beat (a ping every 100 ms), and the
/// create is sent only once its intent is written and the lead confirmed after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watchdog_keeps_its_beat_while_a_write_waits_for_the_database() {
    use std::os::unix::net::UnixDatagram;
    if !util::postgres::here("the watchdog while PostgreSQL stalls") {
        return;
    }
    let pg = Postgres::start();
    let url = pg.database("stall");
    // Each call on the leader's session is bounded by a third of the takeover: 4 s here,
    // longer than the stall.
    let env = Env::with_config(wemeet_fake_api::FakeConfig::default(), |text| {
        text.replace(
            "[state]\n",
            &format!("[state]\nurl = \"{url}\"\ntakeover = \"12s\"\n"),
        )
    })
    .await;
    let sock_path = env.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let child = env
        .command("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "no READY=1");
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
        {
            break;
        }
    }
    // Another session takes a lock that lets readers in and keeps writers out.
    let other = Pg::connect(&url, Duration::from_secs(30)).await.unwrap();
    other
        .execute_batch("BEGIN; LOCK TABLE bookings IN EXCLUSIVE MODE;")
        .await
        .unwrap();
    env.write("planning.toml", ONE_OFF);
    let stalled = Instant::now();
    let mut last_ping = Instant::now();
    let mut longest = Duration::ZERO;
    while stalled.elapsed() < Duration::from_millis(2500) {
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("WATCHDOG=1")
        {
            longest = longest.max(last_ping.elapsed());
            last_ping = Instant::now();
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
        "the watchdog went {longest:?} without a ping while the database was locked"
    );
    other.execute_batch("COMMIT;").await.unwrap();
    wait_for_creates(&env, 1).await;
    signal(&child, "-TERM");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.creates(), 1);
}
