//! A lost or new state file books nothing twice: the daemon looks up what is due before its
//! first creates, and `recover` records what it finds without creating anything.

mod util;

use std::collections::BTreeMap;

use util::daemon::Env;
use util::fake::Kind;
use wemeet_fake_api::FakeConfig;
use wemeet_scheduler::daemon::Mode;
use wemeet_scheduler::state::Status;

const PLANNING: &str =
    "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";
const REVIEW: &str = "subject = \"Review\"\nstart_time = 2030-01-04T10:00:00Z\nduration = \"1h\"\ninvitees = [\"alice\"]\n";
/// Hosts named (the caller among them, as the docs ask).
const HOSTED: &str = "subject = \"Incident review\"\nstart_time = 2030-01-05T10:00:00Z\nduration = \"1h\"\nhosts = [\"ops-bot\", \"alice\"]\ninvitees = [\"bob\", \"carol\"]\n";
/// Daily at 09:00 UTC, booked two days ahead: at t0, the 1 and 2 January meetings are due.
const DAILY: &str = "subject = \"Daily\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nbook_ahead = \"2d\"\n";

/// Each booking's meeting id, by `definition@start`.
fn meetings(env: &Env) -> BTreeMap<String, String> {
    env.state()
        .bookings
        .into_iter()
        .filter(|r| r.status == Status::Booked)
        .map(|r| {
            (
                format!("{}@{}", r.definition, r.occurrence_start),
                r.meeting_id.unwrap_or_default().into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_daemon_started_without_its_state_books_nothing_twice() {
    without_its_state(Kind::Ours).await;
}

#[tokio::test]
async fn a_daemon_started_without_its_state_books_nothing_twice_on_the_second_fake() {
    if util::fake::docs_fake_here("the lost-state scenario") {
        without_its_state(Kind::Docs).await;
    }
}

async fn without_its_state(kind: Kind) {
    let env = Env::against(kind, FakeConfig::default(), |t| t).await;
    env.write("planning.toml", PLANNING);
    env.write("review.toml", REVIEW);
    env.write("daily.toml", DAILY);
    env.write("hosted.toml", HOSTED);
    assert_eq!(env.start(Mode::Once).finish().await.booked, 5);
    let before = meetings(&env);
    assert_eq!(before.len(), 5);
    std::fs::remove_file(&env.config.state.file).unwrap();
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(
        env.creates(),
        5,
        "no second create: {:?}",
        env.fake.journal()
    );
    assert_eq!(summary.booked, 5);
    assert_eq!(
        meetings(&env),
        before,
        "each booking has its own meeting back"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_finds_meetings_made_with_and_without_hosts() {
    recover_after_a_lost_state(Kind::Ours).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_finds_meetings_made_with_and_without_hosts_on_the_second_fake() {
    if util::fake::docs_fake_here("lost state and recover") {
        recover_after_a_lost_state(Kind::Docs).await;
    }
}

/// The state moved aside, then `recover`: every meeting is found (with hosts named or left
/// to the service), nothing is created, and afterwards every live meeting on the fake is one
/// that the state knows.
async fn recover_after_a_lost_state(kind: Kind) {
    let env = Env::against(kind, FakeConfig::default(), |t| t).await;
    env.write("planning.toml", PLANNING);
    env.write("review.toml", REVIEW);
    env.write("hosted.toml", HOSTED);
    assert_eq!(env.start(Mode::Once).finish().await.booked, 3);
    let before = meetings(&env);
    std::fs::rename(
        &env.config.state.file,
        env.dir.path().join("state-aside.db"),
    )
    .unwrap();
    let out = env.command("recover").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(meetings(&env), before, "all three found");
    env.start(Mode::Once).finish().await;
    assert_eq!(env.creates(), 3, "nothing created twice");
    let mut known: Vec<String> = before.into_values().collect();
    known.sort();
    let mut live: Vec<String> = env
        .fake
        .live_meetings()
        .into_iter()
        .map(|m| m.meeting_id)
        .collect();
    live.sort();
    assert_eq!(
        live, known,
        "nothing on the fake that the state does not know"
    );
}

#[tokio::test]
async fn after_recovery_what_was_never_booked_is_booked() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", PLANNING);
    env.start(Mode::Once).finish().await;
    std::fs::remove_file(&env.config.state.file).unwrap();
    env.write("review.toml", REVIEW);
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(summary.booked, 2);
    assert_eq!(
        env.creates(),
        2,
        "the planning meeting found, the review created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn recover_records_what_it_finds_and_creates_nothing() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", PLANNING);
    env.write("review.toml", REVIEW);
    assert_eq!(env.start(Mode::Once).finish().await.booked, 2);
    let before = meetings(&env);
    std::fs::remove_file(&env.config.state.file).unwrap();
    // A third definition, never booked: recover leaves it to the daemon.
    env.write("retro.toml", &PLANNING.replace("Planning", "Retro"));
    let journal = env.fake.journal();
    let id_of = |subject: &str| {
        journal
            .iter()
            .find(|e| e.subject == subject)
            .map(|e| e.meeting_id.clone())
            .unwrap()
    };
    let code_of = |id: &str| {
        env.fake
            .live_meetings()
            .into_iter()
            .find(|m| m.meeting_id == id)
            .map(|m| m.meeting_code)
            .unwrap()
    };
    let (planning, review) = (id_of("Planning"), id_of("Review"));
    let expected = |verb: &str, tail: &str| {
        format!(
            "found      planning               Thu 2030-01-03 10:00 UTC  Planning  meeting {planning} (code {})\n\
             not found  retro                  Thu 2030-01-03 10:00 UTC  Retro  (the daemon will book it)\n\
             found      review                 Fri 2030-01-04 10:00 UTC  Review  meeting {review} (code {})\n\
             2 found and {verb}, 1 not booked yet, 0 failed{tail}\n",
            code_of(&planning),
            code_of(&review)
        )
    };
    let run = |args: &[&str]| {
        let out = env
            .command("recover")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["--dry-run"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        expected(
            "would be recorded",
            &format!(
                " (dry run: {} was not written)",
                env.config.state.file.display()
            )
        )
    );
    assert!(!env.config.state.file.exists(), "the dry run wrote nothing");
    let (code, stdout, stderr) = run(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, expected("recorded", ""));
    assert_eq!(meetings(&env), before);
    assert_eq!(env.creates(), 2, "recover creates nothing");
    // The daemon then books only what was never booked.
    env.start(Mode::Once).finish().await;
    assert_eq!(env.creates(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restored_after_later_bookings_books_nothing_twice() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", PLANNING);
    assert_eq!(env.start(Mode::Once).finish().await.booked, 1);
    // The backup is taken while a daemon runs on the store.
    let mut daemon = env.start(Mode::Run);
    daemon.ready().await;
    let copy = env.dir.path().join("backup.db");
    let out = env
        .command("state")
        .args(["backup", copy.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "backed up {} to {} (1 booking(s) on record)\n",
            env.config.state.file.display(),
            copy.display()
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success());
    // Booked after the backup: not in it.
    env.write("review.toml", REVIEW);
    daemon
        .wait_for("the review booked", |e| match e {
            wemeet_scheduler::daemon::Event::Booked { subject, .. } if subject == "Review" => {
                Some(())
            }
            _ => None,
        })
        .await;
    // Restoring while the daemon holds the store is refused.
    let out = env
        .command("state")
        .args(["restore", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another wemeet-scheduler is running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    daemon.stop().await;
    let before = meetings(&env);
    assert_eq!(before.len(), 2);
    let out = env
        .command("state")
        .args(["restore", copy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.state().bookings.len(), 1, "the backup's one booking");
    env.start(Mode::Once).finish().await;
    assert_eq!(env.creates(), 2, "the review is found, not booked again");
    assert_eq!(meetings(&env), before);
}

#[tokio::test]
async fn a_json_state_of_an_earlier_version_is_imported_and_trusted() {
    let env = Env::new(FakeConfig::default()).await;
    env.write("planning.toml", PLANNING);
    env.write("daily.toml", DAILY);
    assert_eq!(env.start(Mode::Once).finish().await.booked, 3);
    let before = meetings(&env);
    // What an earlier version left: the same records as a JSON state file at `state.file`.
    let json = serde_json::to_string(&env.state()).unwrap();
    let path = &env.config.state.file;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::write(path, &json).unwrap();
    let requests = env.fake.stats().requests;
    env.start(Mode::Once).finish().await;
    assert_eq!(
        env.fake.stats().requests,
        requests,
        "nothing created and nothing looked up: the imported records are the state"
    );
    assert_eq!(meetings(&env), before);
    let kept = std::fs::read_to_string(format!("{}.imported", path.display())).unwrap();
    assert_eq!(kept, json, "the JSON is kept as it was");
}

/// Books `files`, loses the state, applies `meanwhile` (the files as they are while the state
/// is lost), books again, then applies `later` and books once more (after `wait`): each time,
/// nothing may be created that the lost state had booked.
async fn lost_state_then(
    files: &[(&str, &str)],
    meanwhile: &[(&str, &str)],
    later: &[(&str, &str)],
    wait: chrono::TimeDelta,
) -> Env {
    let env = Env::new(FakeConfig::default()).await;
    for (name, text) in files {
        env.write(name, text);
    }
    env.start(Mode::Once).finish().await;
    let made = env.creates();
    std::fs::remove_file(&env.config.state.file).unwrap();
    for (name, text) in meanwhile {
        env.write(name, text);
    }
    env.start(Mode::Once).finish().await;
    assert_eq!(
        env.creates(),
        made,
        "nothing created while the state was lost"
    );
    for (name, text) in later {
        env.write(name, text);
    }
    env.clock.advance(wait);
    env.start(Mode::Once).finish().await;
    env
}

/// Each (subject, start) on the fake once.
fn created_once(env: &Env) {
    let mut seen = std::collections::BTreeSet::new();
    for e in env.fake.journal().iter().filter(|e| e.op == "create") {
        assert!(
            seen.insert((e.subject.clone(), e.start_time)),
            "created twice: {} at {}",
            e.subject,
            e.start_time
        );
    }
}

#[tokio::test]
async fn a_file_fixed_after_a_lost_state_is_looked_up_before_it_is_booked() {
    let env = lost_state_then(
        &[("planning.toml", PLANNING), ("review.toml", REVIEW)],
        &[("review.toml", "subject = \"Review\"\nstart_time = \n")],
        &[("review.toml", REVIEW)],
        chrono::TimeDelta::zero(),
    )
    .await;
    created_once(&env);
    assert_eq!(env.creates(), 2);
    assert_eq!(meetings(&env).len(), 2, "both booked, with their meetings");
}

#[tokio::test]
async fn a_series_resumed_after_a_lost_state_is_looked_up_before_it_is_booked() {
    let paused = DAILY.replace("[schedule]", "paused = true\n[schedule]");
    let env = lost_state_then(
        &[("daily.toml", DAILY)],
        &[("daily.toml", &paused)],
        &[("daily.toml", DAILY)],
        chrono::TimeDelta::zero(),
    )
    .await;
    created_once(&env);
    assert_eq!(env.creates(), 2);
}

#[tokio::test]
async fn a_shorter_book_ahead_after_a_lost_state_books_nothing_twice() {
    // Booked 2 days ahead (1 and 2 January), then 12 hours: the 2 January occurrence comes
    // due a day later, and the lost state had booked it.
    let short = DAILY.replace("book_ahead = \"2d\"", "book_ahead = \"12h\"");
    let env = lost_state_then(
        &[("daily.toml", DAILY)],
        &[("daily.toml", &short)],
        &[],
        chrono::TimeDelta::days(1),
    )
    .await;
    created_once(&env);
    assert_eq!(env.creates(), 2);
}

#[tokio::test]
async fn an_upgrade_from_the_build_before_the_store_changes_no_meeting() {
    // tests/fixtures/upgrade-ebf4741: six one-offs booked by commit ebf4741 (users as
    // strings, its settings), the same definitions and config.
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade-ebf4741");
    let env = Env::with_config(FakeConfig::default(), |text| {
        text + "\n[defaults.settings]\nmute_enable_join = true\nallow_unmute_self = true\n"
    })
    .await;
    for entry in std::fs::read_dir(fixture.join("meetings")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), env.watch_dir().join(entry.file_name())).unwrap();
    }
    let path = &env.config.state.file;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    std::fs::copy(fixture.join("state.json"), path).unwrap();
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(summary.booked, 6);
    assert_eq!(
        env.fake.stats().requests,
        0,
        "nothing modified, created or looked up: {:?}",
        env.fake.journal()
    );
    let ids: Vec<String> = meetings(&env).into_values().collect();
    assert_eq!(ids.len(), 6);
    assert!(
        ids.iter().all(|id| id.starts_with("700000000000000000")),
        "{ids:?}"
    );
}
