//! Edited and removed definitions modify or cancel what was booked, against the fake API:
//! what the fake's journal shows afterwards.

mod util;

use std::time::Duration;

use chrono::TimeDelta;
use util::daemon::{Env, t0};
use wemeet_fake_api::{FakeConfig, FaultSpec, Faults};
use wemeet_scheduler::daemon::{Event, Mode};
use wemeet_scheduler::state::Status;

const ONE_OFF: &str =
    "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";
/// Daily at 09:00 UTC, booked two days ahead: at t0, 1 and 2 January.
const DAILY: &str = "subject = \"Daily\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nbook_ahead = \"2d\"\n";

fn ops(env: &Env) -> Vec<String> {
    env.fake
        .journal()
        .iter()
        .map(|e| format!("{} {} {}", e.op, e.subject, e.start_time))
        .collect()
}

async fn changed(d: &mut util::daemon::Running, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        out.push(
            d.wait_for("a change", |e| match e {
                Event::Changed { key, what } => Some(format!("{key} {what}")),
                _ => None,
            })
            .await,
        );
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_time_edit_is_one_put_with_the_new_times() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    let mut d = env.start(Mode::Run);
    d.booked(1).await;
    env.write("planning.toml", &ONE_OFF.replace("10:00:00", "14:30:00"));
    assert_eq!(
        changed(&mut d, 1).await,
        ["planning@1893681000 modified: end_time, start_time"]
    );
    d.stop().await;
    let journal = env.fake.journal();
    assert_eq!(journal.len(), 2, "{:?}", ops(&env));
    assert_eq!(journal[1].op, "modify");
    assert_eq!(
        (journal[1].start_time, journal[1].end_time),
        (1_893_681_000, 1_893_684_600)
    );
    let changes = journal[1].changes.as_ref().unwrap();
    let mut keys: Vec<&String> = changes.keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["end_time", "start_time"],
        "only the changed fields (and the caller)"
    );
    let state = env.state();
    assert_eq!(state.bookings.len(), 1);
    assert_eq!(state.bookings[0].occurrence_start, 1_893_681_000);
    assert_eq!(
        state.bookings[0].meeting_id.as_deref(),
        Some(journal[0].meeting_id.as_str())
    );
}

#[tokio::test]
async fn an_invitee_edit_is_one_put_of_the_invitees() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    let mut d = env.start(Mode::Run);
    d.booked(1).await;
    env.write(
        "planning.toml",
        &format!("{ONE_OFF}invitees = [\"alice\", \"bob\"]\n"),
    );
    assert_eq!(
        changed(&mut d, 1).await,
        ["planning@1893664800 modified: invitees"]
    );
    // A second save of the same content changes nothing.
    env.write(
        "planning.toml",
        &format!("{ONE_OFF}invitees = [\"alice\", \"bob\"]\n"),
    );
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other"));
    d.booked(1).await;
    d.stop().await;
    let kinds: Vec<&str> = env.fake.journal().iter().map(|e| e.op).collect();
    assert_eq!(kinds, ["create", "modify", "create"]);
    let live = env.fake.live_meetings();
    let planning = live.iter().find(|m| m.subject == "Planning").unwrap();
    assert_eq!(
        planning.invitees,
        [
            serde_json::json!({"userid": "alice"}),
            serde_json::json!({"userid": "bob"})
        ]
    );
}

#[tokio::test]
async fn a_cron_edit_cancels_dropped_occurrences_and_creates_new_ones_only() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("daily.toml", DAILY);
    let mut d = env.start(Mode::Run);
    d.booked(2).await;
    env.write("daily.toml", &DAILY.replace("0 9 * * *", "30 10 * * *"));
    assert_eq!(
        changed(&mut d, 2).await,
        [
            "daily@1893488400 cancelled: it is no longer an occurrence of its schedule",
            "daily@1893574800 cancelled: it is no longer an occurrence of its schedule"
        ]
    );
    assert_eq!(d.booked(2).await, ["daily@1893493800", "daily@1893580200"]);
    d.stop().await;
    let mut ops = ops(&env);
    ops.sort();
    assert_eq!(
        ops,
        [
            "cancel Daily 1893488400",
            "cancel Daily 1893574800",
            "create Daily 1893488400",
            "create Daily 1893493800",
            "create Daily 1893574800",
            "create Daily 1893580200"
        ]
    );
}

#[tokio::test]
async fn a_deleted_file_cancels_its_future_meetings_only() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("daily.toml", DAILY);
    env.write("planning.toml", ONE_OFF);
    env.write("keep.toml", &ONE_OFF.replace("Planning", "Keep"));
    let mut d = env.start(Mode::Run);
    d.booked(4).await;
    // 1 Jan 09:05: the first daily meeting has started; 3 Jan entered its window.
    env.clock.set(t0() + TimeDelta::minutes(9 * 60 + 5));
    assert_eq!(d.booked(1).await, ["daily@1893661200"]);
    std::fs::remove_file(env.watch_dir().join("daily.toml")).unwrap();
    assert_eq!(
        changed(&mut d, 2).await,
        [
            "daily@1893574800 cancelled: its definition was removed",
            "daily@1893661200 cancelled: its definition was removed"
        ]
    );
    d.stop().await;
    let mut cancels: Vec<String> = ops(&env)
        .into_iter()
        .filter(|o| o.starts_with("cancel"))
        .collect();
    cancels.sort();
    assert_eq!(
        cancels,
        ["cancel Daily 1893574800", "cancel Daily 1893661200"],
        "the started one is untouched"
    );
    let state = env.state();
    let started = state
        .bookings
        .iter()
        .find(|r| r.occurrence_start == 1_893_488_400)
        .unwrap();
    assert_eq!(started.status, Status::Booked);
}

#[tokio::test]
async fn on_removed_keep_cancels_nothing() {
    let env = Env::with_config(FakeConfig::default(), |text| {
        format!("{text}\n[lifecycle]\non_removed = \"keep\"\n")
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other"));
    env.write("third.toml", &ONE_OFF.replace("Planning", "Third"));
    let once = env.start(Mode::Once).finish().await;
    assert_eq!(once.booked, 3);
    std::fs::remove_file(env.watch_dir().join("planning.toml")).unwrap();
    env.start(Mode::Once).finish().await;
    assert!(
        ops(&env).iter().all(|o| o.starts_with("create")),
        "{:?}",
        ops(&env)
    );
}

#[tokio::test]
async fn a_mass_vanish_cancels_nothing_until_approved() {
    let env = Env::new(FakeConfig::default()).await;
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
    // The write that records it runs beside the loop: it lands within moments of the event.
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    while env.state().held_removals.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the held removals are not on record"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let mut out = Vec::new();
    let outcome = wemeet_scheduler::commands::status::run(
        Some(&env.config_path),
        false,
        false,
        &wemeet_scheduler::commands::status::Filter::default(),
        t0(),
        &mut out,
    )
    .unwrap();
    let shown = String::from_utf8(out).unwrap();
    assert!(shown.contains("REMOVALS HELD: 2 definition(s)"), "{shown}");
    assert_eq!(outcome, wemeet_scheduler::commands::Outcome::Problems);
    assert!(ops(&env).iter().all(|o| o.starts_with("create")));
    // The operator approves; a reload makes the daemon act at once.
    let mut out = Vec::new();
    wemeet_scheduler::commands::approve::run(Some(&env.config_path), &mut out).unwrap();
    d.reload.send(()).unwrap();
    assert_eq!(
        changed(&mut d, 2).await,
        [
            "a@1893664800 cancelled: its definition was removed",
            "b@1893664800 cancelled: its definition was removed"
        ]
    );
    d.stop().await;
    assert!(env.state().held_removals.is_empty());
    assert_eq!(
        wemeet_scheduler::store::requests_for(&env.config.state).unwrap(),
        [],
        "the approval is used up"
    );
}

/// An approval is for the removals held when it was given: once nothing is held any more
/// (the files came back), it is used up, and a later vanish is held again.
#[tokio::test]
async fn an_approval_is_used_up_when_the_files_come_back() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("a.toml", ONE_OFF);
    env.start(Mode::Once).finish().await;
    let unmount = || {
        std::fs::rename(env.watch_dir(), env.dir.path().join("unmounted")).unwrap();
        std::fs::create_dir(env.watch_dir()).unwrap();
    };
    unmount();
    env.start(Mode::Once).finish().await;
    assert_eq!(env.state().held_removals, ["a"]);
    let mut out = Vec::new();
    wemeet_scheduler::commands::approve::run(Some(&env.config_path), &mut out).unwrap();
    assert_eq!(
        wemeet_scheduler::store::requests_for(&env.config.state)
            .unwrap()
            .len(),
        1
    );
    // The files come back before the daemon acts: nothing is held, the approval goes.
    std::fs::remove_dir(env.watch_dir()).unwrap();
    std::fs::rename(env.dir.path().join("unmounted"), env.watch_dir()).unwrap();
    env.start(Mode::Once).finish().await;
    assert!(env.state().held_removals.is_empty());
    assert_eq!(
        wemeet_scheduler::store::requests_for(&env.config.state).unwrap(),
        [],
        "used up"
    );
    // They vanish again: held again, nothing cancelled.
    unmount();
    env.start(Mode::Once).finish().await;
    assert_eq!(env.state().held_removals, ["a"]);
    assert!(
        ops(&env).iter().all(|o| o.starts_with("create")),
        "{:?}",
        ops(&env)
    );
}

#[tokio::test]
async fn the_files_coming_back_releases_held_removals_without_cancelling() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("a.toml", ONE_OFF);
    env.start(Mode::Once).finish().await;
    std::fs::rename(env.watch_dir(), env.dir.path().join("unmounted")).unwrap();
    std::fs::create_dir(env.watch_dir()).unwrap();
    let s = env.start(Mode::Once).finish().await;
    assert_eq!(env.state().held_removals, ["a"]);
    assert_eq!(s.booked, 1);
    std::fs::remove_dir(env.watch_dir()).unwrap();
    std::fs::rename(env.dir.path().join("unmounted"), env.watch_dir()).unwrap();
    env.start(Mode::Once).finish().await;
    assert!(env.state().held_removals.is_empty());
    assert!(ops(&env).iter().all(|o| o.starts_with("create")));
}

#[tokio::test]
async fn a_crash_during_a_modify_or_cancel_ends_in_the_right_state() {
    // Every request is answered only after 30 s: the modify and the cancel are in flight when
    // the daemon dies.
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    env.write("gone.toml", &ONE_OFF.replace("Planning", "Gone"));
    env.write("third.toml", &ONE_OFF.replace("Planning", "Third"));
    env.start(Mode::Once).finish().await;
    env.fake.set_faults(Faults {
        slow: FaultSpec::Rate(1.0),
        latency: Duration::from_secs(30),
        ..Faults::default()
    });
    env.write("planning.toml", &ONE_OFF.replace("10:00:00", "15:00:00"));
    std::fs::remove_file(env.watch_dir().join("gone.toml")).unwrap();
    let d = env.start(Mode::Run);
    // Wait until both changes are recorded as intents, then crash.
    let deadline = tokio::time::Instant::now() + util::daemon::PATIENCE;
    while env
        .state()
        .bookings
        .iter()
        .filter(|r| r.change.is_some())
        .count()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no intents recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.kill().await;
    env.fake.set_faults(Faults::default());
    env.start(Mode::Once).finish().await;
    let state = env.state();
    assert!(state.bookings.iter().all(|r| r.change.is_none()));
    let planning = state
        .bookings
        .iter()
        .find(|r| &*r.definition == "planning")
        .unwrap();
    assert_eq!(
        (planning.status, planning.occurrence_start),
        (Status::Booked, 1_893_682_800)
    );
    let gone = state
        .bookings
        .iter()
        .find(|r| &*r.definition == "gone")
        .unwrap();
    assert_eq!(gone.status, Status::Cancelled);
    let live: Vec<String> = env
        .fake
        .live_meetings()
        .iter()
        .map(|m| format!("{} {}", m.subject, m.start_time))
        .collect();
    let mut live = live;
    live.sort();
    assert_eq!(live, ["Planning 1893682800", "Third 1893664800"]);
}

#[tokio::test]
async fn status_hides_ended_meetings_unless_all_and_retention_prunes_them() {
    let env = Env::with_config(FakeConfig::default(), |text| {
        text.replace("file = ", "retention = \"7d\"\nfile = ")
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    env.start(Mode::Once).finish().await;
    let after = t0() + TimeDelta::days(3);
    let show = |all: bool| {
        let mut out = Vec::new();
        wemeet_scheduler::commands::status::run(
            Some(&env.config_path),
            false,
            all,
            &wemeet_scheduler::commands::status::Filter::default(),
            after,
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(
        show(false).contains("1 booking(s) of meetings that have ended not shown"),
        "{}",
        show(false)
    );
    assert!(show(true).contains("planning"), "{}", show(true));
    // Ten days after it ended, a pass forgets it.
    env.clock.set(t0() + TimeDelta::days(12));
    env.start(Mode::Once).finish().await;
    assert!(env.state().bookings.is_empty());
}

#[tokio::test]
async fn plan_shows_the_changes_of_the_next_run() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    env.write("daily.toml", DAILY);
    env.write("gone.toml", &ONE_OFF.replace("Planning", "Gone"));
    env.write("stays.toml", &ONE_OFF.replace("Planning", "Stays"));
    env.start(Mode::Once).finish().await;
    env.write("planning.toml", &ONE_OFF.replace("10:00:00", "14:30:00"));
    env.write("daily.toml", &DAILY.replace("0 9 * * *", "30 10 * * *"));
    std::fs::remove_file(env.watch_dir().join("gone.toml")).unwrap();
    let mut out = Vec::new();
    let mut err = Vec::new();
    wemeet_scheduler::commands::plan::run(
        wemeet_scheduler::commands::plan::Options {
            config: Some(&env.config_path),
            paths: &[],
            count: 5,
            json: false,
            now: t0(),
            detailed_exitcode: false,
        },
        &mut out,
        &mut err,
    )
    .unwrap();
    let shown = String::from_utf8(out).unwrap();
    let changes: Vec<&str> = shown
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        changes,
        [
            "  - cancel  daily  Tue 2030-01-01 09:00 UTC  (it is no longer an occurrence of its schedule)",
            "  - cancel  daily  Wed 2030-01-02 09:00 UTC  (it is no longer an occurrence of its schedule)",
            "  ~ modify  planning  Thu 2030-01-03 10:00 UTC -> Thu 2030-01-03 14:30 UTC  (end_time: 2030-01-03 11:00 UTC -> 2030-01-03 15:30 UTC, start_time: 2030-01-03 10:00 UTC -> 2030-01-03 14:30 UTC)",
            "  - cancel  gone  Thu 2030-01-03 10:00 UTC  (its definition was removed)",
            "  + create  daily  Tue 2030-01-01 10:30 UTC  Daily",
            "  + create  daily  Wed 2030-01-02 10:30 UTC  Daily",
        ],
        "{shown}"
    );
    // The same changes as JSON, for CI, with old and new values.
    let mut out = Vec::new();
    wemeet_scheduler::commands::plan::run(
        wemeet_scheduler::commands::plan::Options {
            config: Some(&env.config_path),
            paths: &[],
            count: 5,
            json: true,
            now: t0(),
            detailed_exitcode: false,
        },
        &mut out,
        &mut Vec::new(),
    )
    .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let changes = plan["changes"].as_array().unwrap();
    let actions: Vec<&str> = changes
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["cancel", "cancel", "modify", "cancel", "create", "create"]
    );
    let modify = &changes[2];
    assert_eq!(modify["definition"], "planning");
    assert_eq!(modify["moved_to"], "2030-01-03T14:30:00Z");
    assert_eq!(
        modify["fields"]["start_time"],
        serde_json::json!({"old": "1893664800", "new": "1893681000"})
    );
    assert_eq!(changes[3]["reason"], "its definition was removed");
    // Nothing was sent: plan only reads.
    assert!(env.fake.journal().iter().all(|e| e.op == "create"));
}

#[tokio::test]
async fn a_refused_cancel_or_modify_is_recorded_and_not_sent_again_until_the_file_changes() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other"));
    env.write("third.toml", &ONE_OFF.replace("Planning", "Third"));
    assert_eq!(env.start(Mode::Once).finish().await.booked, 3);
    let refused = |code: i64| wemeet_fake_api::ErrorFault {
        code,
        status: 500,
        spec: FaultSpec::Rate(1.0),
    };
    env.fake.set_faults(Faults {
        cancel_error: Some(refused(13602)),
        modify_error: Some(refused(9100)),
        ..Faults::default()
    });
    std::fs::remove_file(env.watch_dir().join("planning.toml")).unwrap();
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other, renamed"));
    for _ in 0..3 {
        env.start(Mode::Once).finish().await;
    }
    let errors = env.fake.stats().errors;
    assert_eq!(
        errors.get(&13602),
        Some(&1),
        "one cancel, refused once: {errors:?}"
    );
    assert_eq!(
        errors.get(&9100),
        Some(&1),
        "one modify, refused once: {errors:?}"
    );
    let state = env.state();
    let refusal = |def: &str| {
        let r = state
            .bookings
            .iter()
            .find(|r| &*r.definition == def)
            .unwrap();
        assert_eq!(r.status, Status::Booked, "the meeting is still booked");
        let x = r.refused.as_ref().expect("the refusal is recorded");
        (
            x.kind.as_str().to_string(),
            x.error_code,
            x.definition_hash.is_some(),
        )
    };
    assert_eq!(
        refusal("planning"),
        ("cancel".to_string(), Some(13602), false)
    );
    assert_eq!(refusal("other"), ("modify".to_string(), Some(9100), true));
    // The removed definition's meeting stays live: `once` and `status` say so and exit 1
    // (the refused modify leaves the meeting as it was booked: not a leftover).
    let once = env
        .command("once")
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&once.stderr);
    let live: Vec<&str> = log.lines().filter(|l| l.contains("stays live")).collect();
    assert_eq!(once.status.code(), Some(1), "{log}");
    assert_eq!(live.len(), 1, "{log}");
    assert!(
        live[0].contains("booking=planning@1893664800")
            && live[0].contains("error 13602")
            && live[0].contains(wemeet_scheduler::state::REFUSED_CANCEL_TODO),
        "{log}"
    );
    let status = env.command("status").output().unwrap();
    assert_eq!(status.status.code(), Some(1));
    // A new edit is a new change: sent (and refused) once more.
    env.write(
        "other.toml",
        &ONE_OFF.replace("Planning", "Other, renamed again"),
    );
    env.start(Mode::Once).finish().await;
    env.start(Mode::Once).finish().await;
    assert_eq!(env.fake.stats().errors.get(&9100), Some(&2));
    assert_eq!(env.fake.stats().errors.get(&13602), Some(&1));
    // Both files back as they were when booked: the meetings are as the files want them, the
    // refusals no longer apply, nothing is sent, and nobody is needed any more.
    let sent = env.fake.journal().len();
    env.write("planning.toml", ONE_OFF);
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other"));
    env.start(Mode::Once).finish().await;
    let state = env.state();
    assert!(
        state.bookings.iter().all(|r| r.refused.is_none()),
        "{:?}",
        state.bookings
    );
    assert_eq!(env.fake.journal().len(), sent);
    let status = env.command("status").output().unwrap();
    assert_eq!(status.status.code(), Some(0));
}

#[tokio::test]
async fn a_paused_series_books_nothing_new_and_keeps_what_is_booked() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("daily.toml", DAILY);
    let mut d = env.start(Mode::Run);
    // At t0, 1 and 2 January are due.
    d.booked(2).await;
    env.write("daily.toml", &format!("paused = true\n{DAILY}"));
    // Wait for the edit to be read: the state then lists the definition as paused.
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    while !env.state().paused.contains(&"daily".to_string()) {
        assert!(std::time::Instant::now() < deadline, "not paused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A day on, 3 January enters the window: not booked while paused.
    env.clock.advance(TimeDelta::days(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ops(&env).len(), 2, "{:?}", ops(&env));
    // Unpaused: booked at once.
    env.write("daily.toml", DAILY);
    assert_eq!(d.booked(1).await, ["daily@1893661200"]);
    d.stop().await;
    assert!(
        ops(&env).iter().all(|o| o.starts_with("create")),
        "{:?}",
        ops(&env)
    );
    let status = env
        .command("status")
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&status.stdout).contains("paused"));
}

#[tokio::test]
async fn skipped_dates_cancel_what_was_booked_on_them() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("daily.toml", DAILY);
    let mut d = env.start(Mode::Run);
    d.booked(2).await;
    env.write("daily.toml", &format!("skip = [2030-01-02]\n{DAILY}"));
    assert_eq!(
        changed(&mut d, 1).await,
        ["daily@1893574800 cancelled: it is no longer an occurrence of its schedule"]
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_ics_is_a_calendar_of_what_is_booked_with_changes_and_cancellations() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other"));
    env.write("third.toml", &ONE_OFF.replace("Planning", "Third"));
    assert_eq!(env.start(Mode::Once).finish().await.booked, 3);
    env.write("planning.toml", &ONE_OFF.replace("10:00:00", "14:30:00"));
    std::fs::remove_file(env.watch_dir().join("other.toml")).unwrap();
    env.start(Mode::Once).finish().await;
    let out = env
        .command("export")
        .arg("ics")
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    // Parsed back by an RFC 5545 parser.
    let calendar: icalendar::Calendar = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
    use icalendar::Component as _;
    let events: Vec<&icalendar::Event> = calendar
        .components
        .iter()
        .filter_map(|c| c.as_event())
        .collect();
    assert_eq!(events.len(), 3, "{text}");
    let state = env.state();
    let by_subject = |subject: &str| {
        let e = events
            .iter()
            .find(|e| e.property_value("SUMMARY") == Some(subject))
            .unwrap_or_else(|| panic!("no {subject} in {text}"));
        let r = state
            .bookings
            .iter()
            .find(|r| r.subject == subject)
            .unwrap();
        (e, r)
    };
    let (planning, record) = by_subject("Planning");
    assert_eq!(
        planning.property_value("UID"),
        Some(format!("{}@wemeet-scheduler", record.meeting_id.as_deref().unwrap()).as_str())
    );
    assert_eq!(planning.property_value("URL"), record.join_url.as_deref());
    assert!(
        planning
            .property_value("DESCRIPTION")
            .is_some_and(|d| d.contains(record.join_url.as_deref().unwrap())),
        "{text}"
    );
    assert_eq!(
        planning.property_value("SEQUENCE"),
        Some("1"),
        "modified once"
    );
    assert_eq!(planning.property_value("DTSTART"), Some("20300103T143000Z"));
    assert_eq!(planning.property_value("STATUS"), Some("CONFIRMED"));
    let (other, _) = by_subject("Other");
    assert_eq!(other.property_value("STATUS"), Some("CANCELLED"));
    // Published at 0 while booked: the cancellation must come above it (RFC 5545 3.8.7.4).
    assert_eq!(other.property_value("SEQUENCE"), Some("1"), "cancelled");
    let (third, _) = by_subject("Third");
    assert_eq!(third.property_value("SEQUENCE"), Some("0"));
}

/// A daemon killed while the create of `planning.toml` hangs on the fake (created there, the
/// answer never came): the booking is pending, its outcome unknown. Two other definitions are
/// booked beside it.
async fn killed_with_an_unclear_create() -> Env {
    let env = Env::new(FakeConfig {
        faults: Faults {
            create_then_hang: FaultSpec::Count(1),
            hang_for: Duration::from_secs(30),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let d = env.start(Mode::Run);
    let since = std::time::Instant::now();
    while env.creates() < 1 {
        assert!(since.elapsed() < util::daemon::PATIENCE, "no create");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    d.kill().await;
    let st = env.state();
    assert_eq!(st.bookings.len(), 1);
    assert_eq!(st.bookings[0].status, Status::Pending);
    env.write("retro.toml", &ONE_OFF.replace("Planning", "Retro"));
    env.write("review.toml", &ONE_OFF.replace("Planning", "Review"));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_renamed_while_its_create_was_unclear_keeps_its_one_meeting() {
    let env = killed_with_an_unclear_create().await;
    let made = env.fake.journal()[0].meeting_id.clone();
    std::fs::rename(
        env.watch_dir().join("planning.toml"),
        env.watch_dir().join("team-planning.toml"),
    )
    .unwrap();
    env.start(Mode::Once).finish().await;
    // Retro's and Review's creates are in flight together: the fake may take either first.
    let mut sent = ops(&env);
    sent.sort();
    assert_eq!(
        sent,
        [
            "create Planning 1893664800",
            "create Retro 1893664800",
            "create Review 1893664800"
        ],
        "no second Planning meeting, none cancelled"
    );
    let st = env.state();
    let planning: Vec<_> = st
        .bookings
        .iter()
        .filter(|r| r.subject == "Planning")
        .map(|r| (r.definition.to_string(), r.status, r.meeting_id.clone()))
        .collect();
    assert_eq!(
        planning,
        [(
            "team-planning".to_string(),
            Status::Booked,
            Some(made.into())
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_removed_while_its_create_was_unclear_has_its_meeting_found_and_cancelled() {
    let env = killed_with_an_unclear_create().await;
    std::fs::remove_file(env.watch_dir().join("planning.toml")).unwrap();
    env.start(Mode::Once).finish().await;
    let live: Vec<String> = env
        .fake
        .live_meetings()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert!(!live.contains(&"Planning".to_string()), "{live:?}");
    assert_eq!(env.creates(), 3);
}

/// Four one-offs booked; then the config's `[defaults.settings]` turns `mute_all` on, as a
/// new build's default would, with `guard.max_changes = 3`: returns the env with the new
/// config in force (on disk and in memory).
async fn four_booked_then_a_new_default() -> Env {
    let mut env = Env::new(FakeConfig::default()).await;
    for i in 0..4 {
        env.write(
            &format!("m{i}.toml"),
            &ONE_OFF.replace("Planning", &format!("Planning {i}")),
        );
    }
    assert_eq!(env.start(Mode::Once).finish().await.booked, 4);
    let text = std::fs::read_to_string(&env.config_path).unwrap()
        + "\n[defaults.settings]\nmute_all = true\n\n[guard]\nmax_changes = 3\n";
    std::fs::write(&env.config_path, text).unwrap();
    let mut config = wemeet_scheduler::config::Config::load(&env.config_path).unwrap();
    config.api.secret_key = env.config.api.secret_key.clone();
    env.config = config;
    env
}

fn run_binary(env: &Env, command: &str) -> String {
    let out = env
        .command(command)
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_changes_no_definition_made_wait_for_an_operator() {
    let env = four_booked_then_a_new_default().await;
    env.start(Mode::Once).finish().await;
    assert_eq!(
        ops(&env).iter().filter(|o| o.starts_with("modify")).count(),
        0,
        "held: {:?}",
        ops(&env)
    );
    let ids = "m0, m1, m2, m3";
    assert_eq!(env.state().held_changes, ["m0", "m1", "m2", "m3"]);
    let plan = run_binary(&env, "plan");
    let held = plan
        .lines()
        .skip_while(|l| !l.starts_with("  ! held"))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        held,
        "  ! held    4 change(s) that no definition made (more than guard.max_changes = 3): nothing changed until `approve-changes`:\n      ~ modify  m0  Thu 2030-01-03 10:00 UTC  (settings)\n      ~ modify  m1  Thu 2030-01-03 10:00 UTC  (settings)\n      ~ modify  m2  Thu 2030-01-03 10:00 UTC  (settings)\n      ~ modify  m3  Thu 2030-01-03 10:00 UTC  (settings)",
        "{plan}"
    );
    let approved = run_binary(&env, "approve-changes");
    assert!(approved.starts_with("approved:"), "{approved} ({ids})");
    env.start(Mode::Once).finish().await;
    assert_eq!(
        ops(&env).iter().filter(|o| o.starts_with("modify")).count(),
        4
    );
    assert!(env.state().held_changes.is_empty());
    assert_eq!(
        wemeet_scheduler::store::requests_for(&env.config.state).unwrap(),
        [],
        "the approval is used up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_under_the_guard_or_made_by_an_edit_go_out() {
    // Three changes with guard.max_changes = 3: made at once.
    let mut env = four_booked_then_a_new_default().await;
    std::fs::remove_file(env.watch_dir().join("m3.toml")).unwrap();
    // (m3's meeting is cancelled as a removal: one definition of four, under the 50% guard.)
    env.start(Mode::Once).finish().await;
    assert_eq!(
        ops(&env).iter().filter(|o| o.starts_with("modify")).count(),
        3
    );
    // Edits the running daemon sees are the definitions' own: they go out even when the
    // guard holds every other change.
    env.config.guard.max_changes = 0;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    for i in 0..3 {
        env.write(
            &format!("m{i}.toml"),
            &ONE_OFF.replace("Planning", &format!("Planning {i} (moved room)")),
        );
    }
    changed(&mut d, 3).await;
    d.stop().await;
    assert!(env.state().held_changes.is_empty());
}

/// A pass that comes while a change's intent is still being written (the store is busy) does
/// not plan the change again: it is sent once. (It went twice: the booking was not busy
/// until its change was sent, so the second pass resumed it and queued it a second time.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_while_a_changes_intent_is_written_sends_it_once() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    let mut d = env.start(Mode::Run);
    d.booked(1).await;
    // Results are written within a second: then the store is idle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Answers take 600 ms from now on: the first send of the change is still in flight when
    // a second one would go.
    env.fake.set_faults(Faults {
        slow: FaultSpec::Rate(1.0),
        latency: Duration::from_millis(600),
        ..Faults::default()
    });
    // Another connection holds the write lock: the change's intent waits to be written.
    let other = rusqlite::Connection::open(&env.config.state.file).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    env.write("planning.toml", &ONE_OFF.replace("Planning", "Planning v2"));
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Another file: another pass, while the intent is still being written.
    env.write(
        "other.toml",
        "subject = \"Other\"\nstart_time = 2030-01-03T12:00:00Z\nduration = \"1h\"\n",
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    // The change and the other file's booking, in whichever order they come.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.push(
            d.wait_for("the change and the other booking", |e| match e {
                Event::Changed { key, what } => Some(format!("{key} {what}")),
                Event::Booked { key, .. } => Some(format!("{key} booked")),
                _ => None,
            })
            .await,
        );
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "other@1893672000 booked",
            "planning@1893664800 modified: subject"
        ]
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    d.stop().await;
    let modifies = env
        .fake
        .journal()
        .iter()
        .filter(|e| e.op == "modify")
        .count();
    assert_eq!(modifies, 1, "{:?}", ops(&env));
}
