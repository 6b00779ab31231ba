//! The fault matrix: a backlog booked through every fault the fake can inject at once, and
//! each booking checked against the fake's journal.

mod util;

use std::collections::HashMap;
use std::time::Duration;

use util::daemon::Env;
use util::fake::Kind;
use wemeet_fake_api::{FakeConfig, FaultSpec, Faults, Readings};
use wemeet_scheduler::daemon::Mode;
use wemeet_scheduler::state::Status;

/// Bookings in the matrix; `WEMEET_FAULT_BOOKINGS` makes it bigger for a long run by hand.
fn bookings() -> usize {
    std::env::var("WEMEET_FAULT_BOOKINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_still_books_each_meeting_exactly_once() {
    fault_matrix(Kind::Ours, bookings()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_once_against_the_second_fake() {
    // A third of the bookings: the second fake is a single Python process.
    if util::fake::docs_fake_here("the fault matrix") {
        fault_matrix(Kind::Docs, bookings() / 3).await;
    }
}

async fn fault_matrix(kind: Kind, n: usize) {
    let env = Env::against(
        kind,
        FakeConfig {
            faults: Faults {
                internal_error: FaultSpec::Rate(0.20),
                rate_limited: FaultSpec::Rate(0.05),
                slow: FaultSpec::Rate(0.05),
                // Past the client's 1 s timeout, inside the 2 s it waits before a lookup.
                latency: Duration::from_millis(1500),
                create_then_hang: FaultSpec::Rate(0.02),
                hang_for: Duration::from_secs(30),
                create_then_reset: FaultSpec::Rate(0.02),
                ..Faults::default()
            },
            seed: 7,
            ..FakeConfig::default()
        },
        |text| {
            // retry.max_attempts bounds the creates and lookups of one booking together; at
            // 29% unclear answers a booking needs a few rounds of both now and then (0.29^15
            // for 30 tries: never in practice; 0.29^6 for 12: about once in 1,600 bookings).
            text.replace("concurrency = 4", "concurrency = 32")
                .replace("max_attempts = 4", "max_attempts = 30")
        },
    )
    .await;
    for i in 0..n {
        // Spread over users so lookups page through realistic lists.
        env.write(
            &format!("team-{:02}/m{i:04}.toml", i % 20),
            &format!(
                "subject = \"Meeting {i}\"\nuserid = \"user{:02}\"\nstart_time = {}\nduration = \"30m\"\n",
                i % 20,
                1_893_664_800 + (i as i64) * 3600
            ),
        );
    }
    let t = std::time::Instant::now();
    let summary = env
        .start(Mode::Once)
        .finish_within(Duration::from_secs(300))
        .await;
    eprintln!("{n} bookings through the fault matrix in {:?}", t.elapsed());
    let journal = env.fake.journal();
    let mut per_subject: HashMap<&str, usize> = HashMap::new();
    for e in journal.iter().filter(|e| e.op == "create") {
        *per_subject.entry(e.subject.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_subject.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "booked more than once: {twice:?}");
    assert_eq!(per_subject.len(), n, "every booking reached the fake");
    assert_eq!((summary.booked, summary.pending, summary.failed), (n, 0, 0));
    let state = env.state();
    let ids: HashMap<&str, &str> = journal
        .iter()
        .map(|e| (e.subject.as_str(), e.meeting_id.as_str()))
        .collect();
    for r in &state.bookings {
        assert_eq!(r.status, Status::Booked);
        assert_eq!(
            r.meeting_id.as_deref(),
            ids.get(r.subject.as_str()).copied(),
            "{}",
            r.subject
        );
    }
    let stats = env.fake.stats();
    // The faults did happen (the second fake journals its hangs and resets, not its 500s).
    if kind == Kind::Ours {
        assert!(
            stats.errors.get(&5108).copied().unwrap_or(0) > n as u64 / 10,
            "{stats:?}"
        );
    }
    assert!(stats.hangs > 0 && stats.resets > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_subject_pairs_through_the_faults_never_share_a_meeting() {
    same_subject_pairs(Kind::Ours, Readings::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_subject_pairs_with_hosts_as_sent_and_no_participants_listed() {
    same_subject_pairs(Kind::Ours, Readings::covering()[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_subject_pairs_with_no_hosts_and_some_participants_listed() {
    same_subject_pairs(Kind::Ours, Readings::covering()[2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_subject_pairs_against_the_second_fake() {
    if util::fake::docs_fake_here("the same-subject pairs") {
        same_subject_pairs(Kind::Docs, Readings::default()).await;
    }
}

/// 50 pairs of definitions that book the same meeting (owner, subject, start and end), as
/// two teams' "Weekly sync" do; 10% 500s, 5% rate limits, 2% hangs and 2% resets. Every
/// meeting made is one booking's, or named in a failure for a person to sort out; no two
/// bookings share one.
async fn same_subject_pairs(kind: Kind, readings: Readings) {
    let pairs = 50;
    let env = Env::against(
        kind,
        FakeConfig {
            readings,
            faults: Faults {
                internal_error: FaultSpec::Rate(0.10),
                rate_limited: FaultSpec::Rate(0.05),
                create_then_hang: FaultSpec::Rate(0.02),
                hang_for: Duration::from_secs(3),
                create_then_reset: FaultSpec::Rate(0.02),
                ..Faults::default()
            },
            seed: 11,
            ..FakeConfig::default()
        },
        |text| {
            text.replace("concurrency = 4", "concurrency = 16")
                .replace("max_attempts = 4", "max_attempts = 12")
        },
    )
    .await;
    for i in 0..pairs {
        let text = format!(
            "subject = \"Weekly sync {i}\"\nstart_time = {}\nduration = \"30m\"\n",
            1_893_664_800 + i * 3600
        );
        env.write(&format!("team-a/sync{i:02}.toml"), &text);
        env.write(&format!("team-b/sync{i:02}.toml"), &text);
    }
    env.start(Mode::Once)
        .finish_within(Duration::from_secs(120))
        .await;
    let state = env.state();
    let mut owners: HashMap<&str, &str> = HashMap::new();
    for r in &state.bookings {
        if let Some(id) = r.meeting_id.as_deref()
            && let Some(other) = owners.insert(id, &r.definition)
        {
            panic!("{} and {} share meeting {id}", r.definition, other);
        }
    }
    // Every meeting the fake made is someone's, or named in a failure for a person to sort out.
    let failures: Vec<&str> = state
        .bookings
        .iter()
        .filter(|r| r.status == Status::Failed)
        .filter_map(|r| r.last_error.as_deref())
        .collect();
    for created in env.fake.journal().iter().filter(|e| e.op == "create") {
        assert!(
            owners.contains_key(created.meeting_id.as_str())
                || failures.iter().any(|f| f.contains(&created.meeting_id)),
            "meeting {} ({}) belongs to no booking",
            created.meeting_id,
            created.subject
        );
    }
    assert_eq!(state.bookings.len(), 2 * pairs as usize);
    assert!(
        state.bookings.iter().all(|r| r.status != Status::Pending),
        "every booking was settled"
    );
}
