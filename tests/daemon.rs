//! The daemon end to end, in-process, against the fake API: files dropped, time moved on,
//! faults injected; what the fake's journal and the state file say afterwards.

mod util;

use std::time::Duration;

use chrono::TimeDelta;
use util::daemon::{Env, t0};
use wemeet_fake_api::{FakeConfig, FaultSpec, Faults};
use wemeet_scheduler::daemon::{Event, Mode};
use wemeet_scheduler::state::Status;

const ONE_OFF: &str =
    "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";

#[tokio::test]
async fn a_dropped_file_is_booked_once_and_recorded() {
    let env = Env::new(FakeConfig::default()).await;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    env.write("planning.toml", ONE_OFF);
    assert_eq!(d.booked(1).await, ["planning@1893664800"]);
    let summary = d.stop().await;
    assert_eq!((summary.booked, summary.pending), (1, 0));
    let journal = env.fake.journal();
    assert_eq!(journal.len(), 1);
    let state = env.state();
    let r = &state.bookings[0];
    assert_eq!(r.status, Status::Booked);
    assert_eq!(
        r.meeting_id.as_deref(),
        Some(journal[0].meeting_id.as_str())
    );
    assert_eq!(r.attempts, 1);
    assert!(
        r.join_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    );
}

#[tokio::test]
async fn a_series_books_its_window_and_the_next_one_when_time_moves_on() {
    let env = Env::new(FakeConfig::default()).await;
    // Daily at 09:00 UTC, booked two days ahead: at t0 (1 Jan 00:00) that is 1 and 2 Jan.
    env.write(
        "daily.toml",
        "subject = \"Daily\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nbook_ahead = \"2d\"\n",
    );
    let mut d = env.start(Mode::Run);
    assert_eq!(d.booked(2).await, ["daily@1893488400", "daily@1893574800"]);
    assert_eq!(env.creates(), 2);
    // 3 Jan 09:00 enters its window at 1 Jan 09:00.
    env.clock.set(t0() + TimeDelta::hours(9));
    assert_eq!(d.booked(1).await, ["daily@1893661200"]);
    d.stop().await;
    assert_eq!(env.creates(), 3, "nothing booked twice");
}

#[tokio::test]
async fn an_editor_rename_save_books_once() {
    let env = Env::new(FakeConfig::default()).await;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    // Write a swap file, then rename it into place, as vim and many editors save.
    let tmp = env.write(".planning.toml.swp", ONE_OFF);
    std::fs::rename(&tmp, env.watch_dir().join("planning.toml")).unwrap();
    assert_eq!(d.booked(1).await, ["planning@1893664800"]);
    // Saving again with the same content changes nothing.
    let tmp = env.write(".planning.toml.swp", ONE_OFF);
    std::fs::rename(&tmp, env.watch_dir().join("planning.toml")).unwrap();
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other"));
    assert_eq!(d.booked(1).await, ["other@1893664800"]);
    d.stop().await;
    assert_eq!(env.creates(), 2);
}

#[tokio::test]
async fn a_half_written_file_leads_to_one_correct_booking() {
    let env = Env::new(FakeConfig::default()).await;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    let path = env.watch_dir().join("planning.toml");
    // The first half: not valid TOML yet (an unterminated string).
    std::fs::write(&path, "subject = \"Plann").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&path, ONE_OFF).unwrap();
    assert_eq!(d.booked(1).await, ["planning@1893664800"]);
    d.stop().await;
    let journal = env.fake.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].subject, "Planning");
}

#[tokio::test]
async fn an_invalid_file_shows_in_status_while_the_others_book() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("bad.toml", "subject = \"Bad\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\npassword = \"12\"\n");
    env.write("good.toml", ONE_OFF);
    let mut d = env.start(Mode::Run);
    assert_eq!(d.booked(1).await, ["good@1893664800"]);
    d.stop().await;
    let state = env.state();
    assert_eq!(state.invalid.len(), 1);
    assert!(state.invalid[0].problems[0].ends_with("bad.toml:4:12: `password` must be 4 to 6 digits; hint: for example password = \"482913\"; leave it out for no password"), "{:?}", state.invalid);
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
    assert!(shown.contains("good"), "{shown}");
    assert!(shown.contains("booked"), "{shown}");
    assert!(shown.contains("invalid definition files (1):"), "{shown}");
    assert!(shown.contains("bad.toml:4:12"), "{shown}");
    assert_eq!(outcome, wemeet_scheduler::commands::Outcome::Problems);
}

/// The files a meetings repository keeps after their meetings: an incident bridge that ended
/// three months ago (longer than `state.retention` keeps its record) and a series that has
/// ended. The daemon once listed the bridge as an invalid file (status exit 1,
/// `wemeet_invalid_definitions` 1) while `validate` said "in the past"; now all three agree:
/// valid, nothing to book (see `validate_notes_meetings_that_have_passed_and_exits_0`).
#[tokio::test]
async fn meetings_that_have_ended_are_not_invalid_files() {
    let env = Env::new(FakeConfig::default()).await;
    env.write(
        "bridge.toml",
        "subject = \"Incident bridge\"\nstart_time = 2029-10-01T08:00:00Z\nduration = \"2h\"\n",
    );
    env.write(
        "sprint.toml",
        "subject = \"Sprint\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * MON\"\nuntil = 2029-11-01\n",
    );
    env.write("good.toml", ONE_OFF);
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!((summary.booked, env.creates()), (1, 1));
    let state = env.state();
    assert!(state.invalid.is_empty(), "{:?}", state.invalid);
    let ids: Vec<&str> = state.bookings.iter().map(|r| &*r.definition).collect();
    assert_eq!(
        ids,
        ["good"],
        "nothing recorded for the ended ones, not even missed"
    );
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
    assert!(!shown.contains("invalid"), "{shown}");
    assert_eq!(
        outcome,
        wemeet_scheduler::commands::Outcome::Clean,
        "{shown}"
    );
}

const BAD: &str =
    "subject = \"Bad\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\npassword = \"12\"\n";

/// Waits until the store's state passes `check`.
async fn until_on_record(
    env: &Env,
    what: &str,
    check: impl Fn(&wemeet_scheduler::state::State) -> bool,
) {
    let deadline = tokio::time::Instant::now() + util::daemon::PATIENCE;
    while !check(&env.state()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not on record"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records each row the daemon's writes put in `invalid_files` and `meta` (SQLite triggers).
fn audit(env: &Env) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&env.config.state.file).unwrap();
    conn.execute_batch(
        "CREATE TABLE audit (what TEXT NOT NULL);
         CREATE TRIGGER a1 AFTER INSERT ON invalid_files BEGIN INSERT INTO audit VALUES ('put ' || NEW.path); END;
         CREATE TRIGGER a2 AFTER DELETE ON invalid_files BEGIN INSERT INTO audit VALUES ('delete ' || OLD.path); END;
         CREATE TRIGGER a3 AFTER INSERT ON meta BEGIN INSERT INTO audit VALUES ('meta ' || NEW.key); END;",
    )
    .unwrap();
    conn
}

#[tokio::test]
async fn an_edit_of_one_invalid_file_among_many_writes_its_row_alone() {
    let env = Env::new(FakeConfig::default()).await;
    if env.postgres.is_some() {
        return; // The rows are counted by SQLite triggers.
    }
    for i in 0..20 {
        env.write(&format!("bad{i:02}.toml"), BAD);
    }
    env.write("good.toml", ONE_OFF);
    let mut d = env.start(Mode::Run);
    assert_eq!(d.booked(1).await, ["good@1893664800"]);
    until_on_record(&env, "20 invalid files", |s| s.invalid.len() == 20).await;
    let conn = audit(&env);
    let edited = env.write("bad07.toml", &format!("# edited\n{BAD}"));
    until_on_record(&env, "the edit", |s| {
        s.invalid
            .iter()
            .any(|f| f.problems[0].contains("bad07.toml:5:12"))
    })
    .await;
    // Any other write the edit caused would land within the next flush.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut stmt = conn.prepare("SELECT what FROM audit").unwrap();
    let written: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(written, [format!("put {}", edited.display())]);
    d.stop().await;
    assert_eq!(env.state().invalid.len(), 20);
}

#[tokio::test]
async fn invalid_files_an_older_build_kept_among_the_stores_values_become_rows() {
    let env = Env::new(FakeConfig::default()).await;
    if env.postgres.is_some() {
        return; // The older build's store is made with SQL of SQLite's.
    }
    let bad = env.write("bad.toml", BAD);
    env.write("good.toml", ONE_OFF);
    // The store as such a build left it: the list among the values, with a file gone since
    // and an older problem of one still there.
    let stale = serde_json::json!([
        {"path": env.watch_dir().join("gone.toml"), "problems": ["gone.toml:1:1: invalid TOML"]},
        {"path": bad, "problems": ["bad.toml:1:1: an older problem"]},
    ]);
    rusqlite::Connection::open(&env.config.state.file)
        .unwrap()
        .execute(
            "UPDATE meta SET value = json_set(value, '$.invalid', json(?1)) WHERE key = 'daemon'",
            [stale.to_string()],
        )
        .unwrap();
    let before = env.state();
    assert_eq!(before.invalid.len(), 2, "status shows them as they are");
    let mut d = env.start(Mode::Run);
    assert_eq!(d.booked(1).await, ["good@1893664800"]);
    until_on_record(&env, "the invalid file as a row", |s| {
        s.invalid.len() == 1 && s.invalid[0].problems[0].ends_with("bad.toml:4:12: `password` must be 4 to 6 digits; hint: for example password = \"482913\"; leave it out for no password")
    })
    .await;
    d.stop().await;
    let values: String = rusqlite::Connection::open(&env.config.state.file)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'daemon'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(!values.contains("invalid"), "{values}");
}

#[tokio::test]
async fn create_then_hang_ends_with_exactly_one_meeting() {
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
    let mut d = env.start(Mode::Run);
    let adopted = d
        .wait_for("a booking", |e| match e {
            Event::Booked { adopted, .. } => Some(*adopted),
            _ => None,
        })
        .await;
    assert!(adopted, "the hung create was found, not sent again");
    d.stop().await;
    assert_eq!(env.creates(), 1);
    assert_eq!(env.fake.stats().hangs, 1);
    let state = env.state();
    assert_eq!(
        state.bookings[0].meeting_id.as_deref(),
        Some(env.fake.journal()[0].meeting_id.as_str())
    );
}

#[tokio::test]
async fn create_then_reset_ends_with_exactly_one_meeting() {
    let env = Env::new(FakeConfig {
        faults: Faults {
            create_then_reset: FaultSpec::Count(2),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("a.toml", ONE_OFF);
    env.write("b.toml", &ONE_OFF.replace("Planning", "Other"));
    let mut d = env.start(Mode::Run);
    d.booked(2).await;
    d.stop().await;
    assert_eq!(env.creates(), 2);
    assert_eq!(env.fake.stats().resets, 2);
    assert!(
        env.state()
            .bookings
            .iter()
            .all(|r| r.status == Status::Booked)
    );
}

#[tokio::test]
async fn internal_errors_on_create_are_looked_up_and_then_created() {
    let env = Env::new(FakeConfig {
        faults: Faults {
            internal_error: FaultSpec::Count(1),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let mut d = env.start(Mode::Run);
    let adopted = d
        .wait_for("a booking", |e| match e {
            Event::Booked { adopted, .. } => Some(*adopted),
            _ => None,
        })
        .await;
    assert!(
        !adopted,
        "the fake refused before creating, so the lookup found nothing"
    );
    d.stop().await;
    assert_eq!(env.creates(), 1);
    assert_eq!(env.state().bookings[0].attempts, 2);
}

#[tokio::test]
async fn once_books_what_is_due_and_exits() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    env.write(
        "daily.toml",
        "subject = \"Daily\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nbook_ahead = \"1d\"\n",
    );
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(
        (summary.booked, summary.pending, summary.new_problems),
        (2, 0, 0)
    );
    assert_eq!(env.creates(), 2);
    // A second pass has nothing to do.
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(summary.booked, 2);
    assert_eq!(env.creates(), 2);
}

#[tokio::test]
async fn a_wrong_secret_fails_each_booking_once_and_the_daemon_stays_up() {
    let env = Env::new(FakeConfig {
        secret_key: wemeet_fake_api::SecretKey::new("the-real-key"),
        ..FakeConfig::default()
    })
    .await;
    env.write("a.toml", ONE_OFF);
    env.write("b.toml", &ONE_OFF.replace("Planning", "Other"));
    let mut d = env.start(Mode::Run);
    for _ in 0..2 {
        d.wait_for("a failure", |e| {
            matches!(e, Event::Failed { .. }).then_some(())
        })
        .await;
    }
    // Still running: a new file is still handled (and fails the same way, once).
    env.write("c.toml", &ONE_OFF.replace("Planning", "Third"));
    let err = d
        .wait_for("a failure", |e| match e {
            Event::Failed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .await;
    assert!(err.contains("200003"), "{err}");
    let summary = d.stop().await;
    assert_eq!(summary.failed, 3);
    assert_eq!(env.fake.stats().requests, 3, "no retry loop on a wrong key");
    let state = env.state();
    assert!(
        state
            .bookings
            .iter()
            .all(|r| r.status == Status::Failed && r.error_code == Some(200_003))
    );
    assert!(!env.state_holds(b"the-real-key"));
}

#[tokio::test]
async fn a_failed_booking_is_tried_again_after_the_file_is_fixed() {
    let env = Env::new(FakeConfig {
        secret_key: wemeet_fake_api::SecretKey::new("the-real-key"),
        ..FakeConfig::default()
    })
    .await;
    env.write("a.toml", ONE_OFF);
    let once = env.start(Mode::Once).finish().await;
    assert_eq!(once.failed, 1);
    // Unchanged file: not retried.
    env.start(Mode::Once).finish().await;
    assert_eq!(env.fake.stats().requests, 1);
    // Changed file: tried again (and fails again here: the key is still wrong).
    env.write("a.toml", &format!("{ONE_OFF}# edited\n"));
    env.start(Mode::Once).finish().await;
    assert_eq!(env.fake.stats().requests, 2);
}

#[tokio::test]
async fn an_occurrence_that_started_while_down_is_recorded_as_missed() {
    let env = Env::new(FakeConfig::default()).await;
    env.write(
        "daily.toml",
        "subject = \"Daily\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nbook_ahead = \"1h\"\n",
    );
    // First run at t0: nothing due yet (1 Jan 09:00 is booked from 08:00).
    let s = env.start(Mode::Once).finish().await;
    assert_eq!(s.booked, 0);
    // Down until 2 Jan 08:30: 1 Jan 09:00 was missed; 2 Jan 09:00 is due.
    env.clock
        .set(t0() + TimeDelta::hours(32) + TimeDelta::minutes(30));
    let s = env.start(Mode::Once).finish().await;
    assert_eq!((s.booked, s.missed), (1, 1));
    let state = env.state();
    let missed = state
        .bookings
        .iter()
        .find(|r| r.status == Status::Missed)
        .unwrap();
    assert_eq!(missed.occurrence_start, 1_893_488_400);
    assert!(
        missed
            .last_error
            .as_deref()
            .unwrap()
            .contains("not running")
    );
}

#[tokio::test]
async fn a_second_daemon_on_the_same_state_refuses_to_start() {
    let env = Env::new(FakeConfig::default()).await;
    let mut first = env.start(Mode::Run);
    first.ready().await;
    let second = env.start(Mode::Run);
    let err = tokio::time::timeout(util::daemon::PATIENCE, second_result(second))
        .await
        .unwrap();
    assert!(err.contains("another wemeet-scheduler is running"), "{err}");
    first.stop().await;
}

async fn second_result(r: util::daemon::Running) -> String {
    // `finish` expects success; look at the error instead.
    match r.try_finish().await {
        Ok(_) => panic!("the second daemon started"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn state_writes_are_coalesced_for_a_backlog() {
    let env = Env::new(FakeConfig::default()).await;
    for i in 0..200 {
        env.write(
            &format!("m{i:03}.toml"),
            &format!("subject = \"M{i}\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n"),
        );
    }
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(summary.booked, 200);
    assert_eq!(env.creates(), 200);
    assert_eq!(env.state().bookings.len(), 200);
    // One write for the 200 intents, then results coalesced: far fewer than one per booking.
    assert!(summary.state_writes < 20, "{} writes", summary.state_writes);
}

#[tokio::test]
async fn a_reload_applies_new_defaults_to_new_and_booked_meetings() {
    let env = Env::new(FakeConfig::default()).await;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    env.write("first.toml", ONE_OFF);
    d.booked(1).await;
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        text.replace("userid = \"ops-bot\"", "userid = \"night-shift\""),
    )
    .unwrap();
    d.reload.send(()).unwrap();
    env.write("second.toml", &ONE_OFF.replace("Planning", "Second"));
    // The booked meeting follows its (inherited) owner: cancelled, then booked anew.
    d.booked(2).await;
    d.stop().await;
    let mut ops: Vec<String> = env
        .fake
        .journal()
        .iter()
        .map(|e| format!("{} {} {}", e.op, e.subject, e.userid))
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            "cancel Planning ops-bot",
            "create Planning night-shift",
            "create Planning ops-bot",
            "create Second night-shift"
        ]
    );
}

#[tokio::test]
async fn a_broken_config_on_reload_keeps_the_running_one() {
    let env = Env::new(FakeConfig::default()).await;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    std::fs::write(&env.config_path, "[api\n").unwrap();
    d.reload.send(()).unwrap();
    let failed = reloaded(&mut d).await;
    // Why, on one line, at its place.
    let at = format!("{}:1:5: ", env.config_path.display());
    assert!(
        failed
            .as_deref()
            .is_some_and(|f| f.contains(&at) && !f.contains('\n')),
        "{failed:?}"
    );
    env.write("planning.toml", ONE_OFF);
    d.booked(1).await;
    d.stop().await;
    assert_eq!(env.fake.journal()[0].userid, "ops-bot");
}

/// Waits for the end of a reload; the definitions changes reported on the way must be none.
/// Returns why the config was not taken, if it was not.
async fn reloaded(d: &mut util::daemon::Running) -> Option<String> {
    d.wait_for("the reload", |e| match e {
        Event::Reloaded { failed } => Some(failed.clone()),
        Event::Scanned { changed, removed } => {
            panic!("a reload of unchanged files reported {changed} changed, {removed} removed")
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_reload_reports_only_the_definitions_it_changed() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", ONE_OFF);
    env.write("other.toml", &ONE_OFF.replace("Planning", "Other"));
    let mut d = env.start(Mode::Run);
    d.booked(2).await;
    // Nothing changed: nothing reported (it logged "definitions changed changed=2").
    d.reload.send(()).unwrap();
    assert_eq!(reloaded(&mut d).await, None);
    // New defaults change what every file means.
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(&env.config_path, text.replace("ops-bot", "night-shift")).unwrap();
    d.reload.send(()).unwrap();
    let scanned = d
        .wait_for("the definitions read again", |e| match e {
            Event::Scanned { changed, removed } => Some((*changed, *removed)),
            _ => None,
        })
        .await;
    assert_eq!(scanned, (2, 0));
    d.stop().await;
}

#[tokio::test]
async fn an_unreachable_api_after_a_miss_does_not_spin_the_loop() {
    // Every request fails with an internal error: the create is unclear, its lookups fail.
    let env = Env::new(FakeConfig {
        faults: Faults {
            internal_error: FaultSpec::Rate(1.0),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let d = env.start(Mode::Run);
    // The create (4 attempts) and, two timeouts later, the lookup (4 attempts).
    let deadline = tokio::time::Instant::now() + util::daemon::PATIENCE;
    while env.fake.stats().requests < 2 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The meeting's start passes while lookups keep failing.
    env.clock.set(t0() + TimeDelta::days(3));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = d.stop().await;
    assert!(
        summary.passes < 50,
        "{} passes: the loop spun",
        summary.passes
    );
    assert_eq!(summary.booked, 0);
}

/// Two teams' "Weekly sync": the same owner, subject, start and end.
const SYNC: &str =
    "subject = \"Weekly sync\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";

#[tokio::test]
async fn an_unclear_create_never_adopts_another_bookings_meeting() {
    // One create is refused with a 500 before the fake acts on it: unclear to the client,
    // which looks it up and finds the other team's meeting, already recorded.
    let env = Env::new(FakeConfig {
        faults: Faults {
            internal_error: FaultSpec::Count(1),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("team-a/sync.toml", SYNC);
    env.write("team-b/sync.toml", SYNC);
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(summary.booked, 2);
    assert_eq!(env.creates(), 2, "two meetings on the fake");
    let state = env.state();
    let ids: std::collections::BTreeSet<_> = state
        .bookings
        .iter()
        .map(|r| r.meeting_id.clone().expect("booked"))
        .collect();
    assert_eq!(ids.len(), 2, "two distinct meetings: {:?}", state.bookings);
}

#[tokio::test]
async fn two_unclear_creates_that_both_happened_adopt_neither() {
    // Both creates land and both answers are lost: two identical meetings, and nothing tells
    // which is whose.
    let env = Env::new(FakeConfig {
        faults: Faults {
            create_then_reset: FaultSpec::Count(2),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("team-a/sync.toml", SYNC);
    env.write("team-b/sync.toml", SYNC);
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!((summary.booked, summary.failed), (0, 2));
    assert_eq!(env.creates(), 2, "nothing created a third time");
    let journal = env.fake.journal();
    for r in env.state().bookings {
        assert_eq!(r.status, Status::Failed);
        let error = r.last_error.unwrap();
        for created in &journal {
            assert!(error.contains(&created.meeting_id), "{error}");
        }
        assert_eq!(r.meeting_id, None);
    }
}

#[tokio::test]
async fn invitees_tell_two_same_time_meetings_apart() {
    let env = Env::new(FakeConfig {
        faults: Faults {
            create_then_reset: FaultSpec::Count(2),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write(
        "team-a/sync.toml",
        &format!("{SYNC}invitees = [\"alice\"]\n"),
    );
    env.write("team-b/sync.toml", &format!("{SYNC}invitees = [\"bob\"]\n"));
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(summary.booked, 2);
    assert_eq!(env.creates(), 2);
    let meetings = env.fake.live_meetings();
    for r in env.state().bookings {
        let id = r.meeting_id.unwrap();
        let created = meetings.iter().find(|m| *m.meeting_id == *id).unwrap();
        let team = if &*r.definition == "team-a/sync" {
            "alice"
        } else {
            "bob"
        };
        assert!(
            created
                .invitees
                .iter()
                .any(|u| u.to_string().contains(team)),
            "{} adopted {created:?}",
            r.definition
        );
    }
}

#[tokio::test]
async fn an_unknown_error_code_on_create_is_bounded_and_fails_with_its_trace() {
    // HTTP 500 with a code nobody documents: unclear (it may have happened), so each create is
    // looked up before the next, but creates and lookups together stop at retry.max_attempts
    // (4 here) instead of looping.
    let env = Env::new(FakeConfig {
        faults: Faults {
            create_error: Some(wemeet_fake_api::ErrorFault {
                code: 123_456,
                status: 500,
                spec: FaultSpec::Rate(1.0),
            }),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!((summary.booked, summary.failed), (0, 1));
    let creates = env.fake.stats().errors.get(&123_456).copied().unwrap_or(0);
    assert!((1..=4).contains(&creates), "{creates} creates");
    let r = &env.state().bookings[0];
    assert_eq!(r.status, Status::Failed);
    let error = r.last_error.as_deref().unwrap();
    assert!(error.contains("error 123456"), "{error}");
    assert!(
        error.contains("(trace "),
        "the X-TC-Trace id is kept: {error}"
    );
    // Failed stays failed: another run sends nothing.
    let requests = env.fake.stats().requests;
    env.start(Mode::Once).finish().await;
    assert_eq!(env.fake.stats().requests, requests);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_sends_a_failed_booking_again_to_a_running_or_stopped_daemon() {
    // Refused for good once (no permission), then accepted.
    let refused_once = || Faults {
        create_error: Some(wemeet_fake_api::ErrorFault {
            code: 9100,
            status: 500,
            spec: FaultSpec::Count(1),
        }),
        ..Faults::default()
    };
    let env = Env::new(FakeConfig {
        faults: refused_once(),
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    let retry = |args: &[&str]| {
        let out = env
            .command("retry")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The daemon runs: the request waits for its next pass (a reload here).
    let mut d = env.start(Mode::Run);
    d.wait_for("the failure", |e| {
        matches!(e, Event::Failed { .. }).then_some(())
    })
    .await;
    // Results reach the state file within a second.
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    while env.state().bookings.first().map(|r| r.status) != Some(Status::Failed) {
        assert!(
            std::time::Instant::now() < deadline,
            "the failure is not on record"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let said = retry(&["planning"]);
    assert!(
        said.starts_with("asked the running daemon to retry 1 booking(s)"),
        "{said}"
    );
    d.reload.send(()).unwrap();
    d.booked(1).await;
    d.stop().await;
    assert_eq!(env.creates(), 1);
    // The daemon is stopped: the state changes at once, and `once` books it.
    env.write(
        "review.toml",
        &ONE_OFF
            .replace("Planning", "Review")
            .replace("10:00", "15:00"),
    );
    env.fake.set_faults(refused_once());
    assert_eq!(env.start(Mode::Once).finish().await.failed, 1);
    let said = retry(&["--all-failed"]);
    assert_eq!(
        said,
        "1 booking(s) back to pending; the next `run` or `once` looks each up and books it:\n  review@1893682800\n"
    );
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!((summary.booked, summary.failed), (2, 0));
    assert_eq!(env.creates(), 2);
}

#[tokio::test]
async fn fixed_credentials_retry_what_they_failed_after_a_reload() {
    let env = Env::with_config(FakeConfig::default(), |text| {
        text.replace(
            "secret_key = \"demo-secret-key\"",
            "secret_key = \"a-wrong-key\"",
        )
    })
    .await;
    let mut env = env;
    env.config.api.secret_key = wemeet_scheduler::config::SecretSource::Inline(
        wemeet_scheduler::config::SecretKey::new("a-wrong-key"),
    );
    env.write("planning.toml", ONE_OFF);
    let mut d = env.start(Mode::Run);
    let error = d
        .wait_for("the failure", |e| match e {
            Event::Failed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .await;
    assert!(error.contains("200003"), "{error}");
    // The operator fixes the key in the config and reloads.
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    std::fs::write(
        &env.config_path,
        text.replace(
            "secret_key = \"a-wrong-key\"",
            "secret_key = \"demo-secret-key\"",
        ),
    )
    .unwrap();
    d.reload.send(()).unwrap();
    d.booked(1).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_readiness_are_served_when_configured() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::with_config(FakeConfig::default(), |text| {
        format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\ncalendar = true\n")
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    env.write("bad.toml", "subject = 1\n");
    let mut d = env.start(Mode::Run);
    d.booked(1).await;
    let get = |path: &str| {
        let url = format!("http://127.0.0.1:{port}{path}");
        async move {
            let resp = reqwest::get(url).await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(get("/readyz").await.0, 200);
    // Results are written (and the gauges set) within a second.
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    let text = loop {
        let (status, text) = get("/metrics").await;
        assert_eq!(status, 200);
        if text.contains("wemeet_bookings{status=\"booked\"} 1") {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in [
        "wemeet_api_requests_total{endpoint=\"create\",code=\"ok\"} 1",
        "wemeet_invalid_definitions 1",
        "wemeet_held_removals 0",
        "wemeet_creates_this_month 1",
        "wemeet_month_quota_refused 0",
        "# TYPE wemeet_api_request_seconds histogram",
        "wemeet_api_request_seconds_count{endpoint=\"create\"} 1",
        "wemeet_api_pacing_wait_seconds_count{endpoint=\"create\"} 1",
        "# TYPE wemeet_state_write_seconds histogram",
        "wemeet_config_last_reload_success 1",
        "wemeet_config_reload_failures_total 0",
        &format!(
            "wemeet_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        ),
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    #[cfg(target_os = "linux")]
    for line in [
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_cpu_seconds counter",
        "# TYPE process_open_fds gauge",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert!(
        text.contains("wemeet_last_pass_timestamp_seconds "),
        "{text}"
    );
    // The same bookings as a calendar to subscribe to.
    let (status, ics) = get("/calendar.ics").await;
    assert_eq!(status, 200);
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    assert!(ics.contains("SUMMARY:Planning"), "{ics}");
    assert_eq!(get("/nothing").await.0, 404);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twin_adopted_while_its_create_was_on_its_way_gives_the_meeting_back() {
    // Two definitions book the same meeting (owner, subject, times). A's create fails before
    // anything is made (an internal error: unclear, so A is looked up after 2 x api.timeout).
    // B is dropped in 1.5 s later; its create makes its meeting at once but the answer takes
    // 0.95 s, so A's lookup (at 2 s) sees B's meeting, not yet on record, and adopts it. B's
    // answer then names it: A must give it back and get its own; no meeting is shared.
    let env = Env::new(FakeConfig {
        faults: Faults {
            internal_error: FaultSpec::Count(1),
            create_then_hang: FaultSpec::Count(1),
            hang_for: Duration::from_millis(950),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    env.write("a.toml", ONE_OFF);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    env.write("b.toml", ONE_OFF);
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    loop {
        let st = env.state();
        let ids: Vec<Option<&str>> = st
            .bookings
            .iter()
            .filter(|r| r.status == Status::Booked)
            .map(|r| r.meeting_id.as_deref())
            .collect();
        if ids.len() == 2 && st.bookings.len() == 2 {
            assert_ne!(ids[0], ids[1], "a and b share a meeting");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", st.bookings);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.stop().await;
    assert_eq!(env.creates(), 2, "one meeting each");
}

/// A one-off that started before the tests' "now" (`t0`): the daemon records it as missed.
const STARTED: &str =
    "subject = \"Standup\"\nstart_time = 2029-12-31T22:00:00Z\nduration = \"1h\"\n";
/// Its booking key (2029-12-31T22:00:00Z).
const STARTED_AT: i64 = 1_893_448_800;

/// Runs the binary's `subcommand` on `env`'s config: its exit code and its stdout.
fn run_cli(env: &Env, subcommand: &str, args: &[&str]) -> (i32, String) {
    let out = env
        .command(subcommand)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missed_booking_needs_a_person_until_it_is_acknowledged() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = Env::with_config(FakeConfig::default(), |text| {
        format!("{text}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n")
    })
    .await;
    env.write("standup.toml", STARTED);
    assert_eq!(env.start(Mode::Once).finish().await.missed, 1);
    // The daemon is stopped: `status` and `once` stay red until the miss is acknowledged.
    assert_eq!(run_cli(&env, "status", &[]).0, 1);
    assert_eq!(run_cli(&env, "once", &[]).0, 1);
    assert_eq!(
        run_cli(&env, "ack", &["standup"]),
        (
            0,
            format!(
                "1 booking(s) acknowledged; they stay on record and need no one any more:\n  standup@{STARTED_AT}\n"
            )
        )
    );
    assert_eq!(run_cli(&env, "status", &[]).0, 0);
    assert_eq!(run_cli(&env, "once", &[]).0, 0);
    let r = &env.state().bookings[0];
    assert_eq!(r.status, Status::Missed, "it stays on record as it was");
    assert!(r.acknowledged.is_some());

    // The daemon runs: the ack waits for its next pass (a reload here), and the gauge follows.
    env.write(
        "review.toml",
        &STARTED
            .replace("Standup", "Review")
            .replace("22:00", "23:00"),
    );
    let mut d = env.start(Mode::Run);
    d.ready().await;
    until_on_record(&env, "the miss", |s| s.bookings.len() == 2).await;
    let attention = || async {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("wemeet_attention "))
            .map(str::to_string)
    };
    assert_eq!(attention().await.as_deref(), Some("1"));
    assert_eq!(run_cli(&env, "status", &[]).0, 1);
    assert_eq!(
        run_cli(&env, "ack", &["--all"]),
        (
            0,
            format!(
                "asked the running daemon to acknowledge 1 booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):\n  review@{}\n",
                STARTED_AT + 3600
            )
        )
    );
    d.reload.send(()).unwrap();
    // The gauge is set once the ack is written.
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    while attention().await.as_deref() != Some("0") {
        assert!(std::time::Instant::now() < deadline, "wemeet_attention 0");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.stop().await;
    assert_eq!(run_cli(&env, "status", &[]).0, 0);
    assert!(
        env.state()
            .bookings
            .iter()
            .all(|r| r.acknowledged.is_some())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missed_booking_whose_definition_is_gone_needs_no_one() {
    let env = Env::new(FakeConfig::default()).await;
    let file = env.write("standup.toml", STARTED);
    assert_eq!(env.start(Mode::Once).finish().await.missed, 1);
    assert_eq!(run_cli(&env, "status", &[]).0, 1);
    std::fs::remove_file(file).unwrap();
    env.start(Mode::Once).finish().await;
    assert_eq!(run_cli(&env, "status", &[]).0, 0);
    let r = &env.state().bookings[0];
    assert_eq!((r.status, r.acknowledged.is_some()), (Status::Missed, true));
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_books_a_missed_booking_whose_meeting_is_still_ahead() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("standup.toml", STARTED);
    assert_eq!(env.start(Mode::Once).finish().await.missed, 1);
    // The clock was ahead (or the meeting moved back): the meeting is still to come.
    env.clock.set(t0() - TimeDelta::days(1));
    assert_eq!(
        run_cli(&env, "retry", &["standup"]),
        (
            0,
            format!(
                "1 booking(s) back to pending; the next `run` or `once` looks each up and books it:\n  standup@{STARTED_AT}\n"
            )
        )
    );
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!((summary.booked, summary.missed), (1, 0));
    assert_eq!(env.creates(), 1);
    assert_eq!(env.state().bookings[0].status, Status::Booked);
}

#[tokio::test(flavor = "multi_thread")]
async fn ack_takes_keys_and_globs_and_says_what_it_did() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("team/standup.toml", STARTED);
    env.write(
        "team/review.toml",
        &STARTED
            .replace("Standup", "Review")
            .replace("22:00", "23:00"),
    );
    env.write(
        "ops.toml",
        &STARTED.replace("Standup", "Ops").replace("22:00", "21:00"),
    );
    assert_eq!(env.start(Mode::Once).finish().await.missed, 3);
    // Naming nothing is refused, with what to name.
    let none = env
        .command("ack")
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&none.stderr),
        "error: name the bookings to acknowledge (a definition id or glob, or DEFINITION@START as `status` shows it), or give --all\n"
    );
    let done = |keys: &[String]| {
        let mut out = format!(
            "{} booking(s) acknowledged; they stay on record and need no one any more:\n",
            keys.len()
        );
        for k in keys {
            out.push_str(&format!("  {k}\n"));
        }
        (0, out)
    };
    // A booking's key.
    let ops = format!("ops@{}", STARTED_AT - 3600);
    assert_eq!(
        run_cli(&env, "ack", &[&ops]),
        done(std::slice::from_ref(&ops))
    );
    assert_eq!(
        run_cli(&env, "status", &[]).0,
        1,
        "the team's still need someone"
    );
    // A glob.
    assert_eq!(
        run_cli(&env, "ack", &["team/*"]),
        done(&[
            format!("team/review@{}", STARTED_AT + 3600),
            format!("team/standup@{STARTED_AT}"),
        ])
    );
    // Nothing is left to acknowledge.
    assert_eq!(
        run_cli(&env, "ack", &["--all"]),
        (
            0,
            "no failed or missed booking, or live meeting whose cancel was refused, that needs a person matches; nothing to acknowledge\n".to_string()
        )
    );
    assert_eq!(run_cli(&env, "status", &[]).0, 0);
}
