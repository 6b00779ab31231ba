//! The wanted bookings of one-offs and series, and every reconcile rule.

use super::*;
use crate::config::{Defaults, LifecycleConfig, OnRemoved};
use crate::state::Record;
use chrono::TimeZone;
use std::collections::BTreeMap;
use std::path::Path;

fn now() -> DateTime<Utc> {
    // Wednesday 2026-11-25 12:00 UTC = 20:00 in Shanghai.
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn defaults() -> Defaults {
    let mut d = crate::config::Config::default().defaults;
    d.userid = Some("ops-bot".into());
    d.timezone = chrono_tz::Asia::Shanghai;
    d
}

fn def(id: &str, text: &str) -> Definition {
    crate::definition::parse(Path::new(id), id, text, &defaults(), now())
        .unwrap_or_else(|e| panic!("{e:?}"))
}

fn standup() -> Definition {
    def(
        "team/standup",
        "subject = \"Standup\"\nduration = \"15m\"\n[schedule]\ncron = \"30 9 * * MON-FRI\"\nbook_ahead = \"2d\"\n",
    )
}

fn review() -> Definition {
    def(
        "review",
        "subject = \"Review\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    )
}

#[test]
fn next_event_is_the_next_booking_time_or_start_whichever_is_first() {
    // Standup: Thu 26th 09:30 Shanghai (01:30 UTC) starts before Mon 30th's booking time
    // (Sat 28th 01:30 UTC); Thu's and Fri's booking times have passed.
    assert_eq!(
        next_event(&standup(), now()),
        Some(Utc.with_ymd_and_hms(2026, 11, 26, 1, 30, 0).unwrap())
    );
    // After Fri's start, the next is Mon 30th's booking time, before Mon's start.
    let friday_noon = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
    assert_eq!(
        next_event(&standup(), friday_noon),
        Some(Utc.with_ymd_and_hms(2026, 11, 28, 1, 30, 0).unwrap())
    );
    // A one-off: its start (it is booked as soon as it is seen).
    assert_eq!(
        next_event(&review(), now()),
        Some(Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap())
    );
    // Started: nothing ahead. Paused: nothing to look at.
    let later = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
    assert_eq!(next_event(&review(), later), None);
    let mut paused = standup();
    paused.paused = true;
    assert_eq!(next_event(&paused, now()), None);
}

#[test]
fn one_off_is_due_at_once_and_series_within_book_ahead() {
    let defs = [standup(), review()];
    let due = wanted(&defs, UserFormat::String, now(), now());
    let keys: Vec<String> = due.iter().map(|w| w.key.to_string()).collect();
    // Thu 26th and Fri 27th 09:30 Shanghai are within two days; Mon 30th is not.
    assert_eq!(
        keys,
        vec![
            "team/standup@1795656600",
            "team/standup@1795743000",
            "review@1796090400"
        ]
    );
    assert!(due.iter().all(|w| w.is_due(now())));
}

#[test]
fn keys_are_stable_across_calls_and_times() {
    let defs = [standup()];
    let a = wanted(&defs, UserFormat::String, now(), now());
    let later = now() + chrono::TimeDelta::hours(1);
    let b = wanted(&defs, UserFormat::String, later, later);
    assert_eq!(a[0].key, b[0].key);
}

#[test]
fn next_due_is_the_next_occurrence_entering_its_window() {
    let defs = [standup(), review()];
    // Mon 30th 09:30 Shanghai (01:30 UTC) minus two days: Sat 28th 01:30 UTC.
    assert_eq!(
        next_due(&defs, now()),
        Some(Utc.with_ymd_and_hms(2026, 11, 28, 1, 30, 0).unwrap())
    );
    assert_eq!(next_due(&[review()], now()), None);
}

#[test]
fn moving_time_on_books_the_next_occurrence() {
    let defs = [standup()];
    let t = next_due(&defs, now()).unwrap();
    let before = wanted(&defs, UserFormat::String, now(), now());
    let after = wanted(&defs, UserFormat::String, t, t);
    let new: Vec<_> = after.iter().filter(|w| !before.contains(w)).collect();
    assert_eq!(new.len(), 1);
    assert_eq!(
        new[0].start,
        Utc.with_ymd_and_hms(2026, 11, 30, 1, 30, 0).unwrap()
    );
}

#[test]
fn upcoming_lists_bookings_in_the_order_they_are_made() {
    let defs = [standup(), review()];
    let next = upcoming(&defs, UserFormat::String, now(), 5);
    let keys: Vec<String> = next.iter().map(|w| w.key.to_string()).collect();
    // Due now: the two standups in the window and the one-off (by start); then the
    // standups of Mon 30th and Tue 1st, each two days before.
    assert_eq!(
        keys,
        vec![
            "team/standup@1795656600",
            "team/standup@1795743000",
            "review@1796090400",
            "team/standup@1796002200",
            "team/standup@1796088600",
        ]
    );
}

#[test]
fn started_meetings_are_not_wanted() {
    let defs = [review()];
    let after_start = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
    assert!(wanted(&defs, UserFormat::String, after_start, after_start).is_empty());
}

#[test]
fn request_body_has_the_spec_shape() {
    let w = &upcoming(&[review()], UserFormat::String, now(), 1)[0];
    let body = serde_json::to_value(&w.request).unwrap();
    assert_eq!(body["userid"], "ops-bot");
    assert_eq!(body["instanceid"], 1);
    assert_eq!(body["type"], 0);
    assert_eq!(body["start_time"], "1796090400");
    assert_eq!(body["end_time"], "1796094000");
    // Set nowhere: the service's own defaults (issue 10: `false` here kept participants
    // from unmuting themselves).
    assert_eq!(body["settings"]["mute_enable_join"], true);
    assert_eq!(body["settings"]["allow_unmute_self"], true);
    assert_eq!(body["settings"]["live_url"], false);
    assert_eq!(body["settings"]["enable_record"], false);
    assert!(body.get("password").is_none());
}

/// A booking as the tests describe it: an owned record plus the daemon's flags.
#[derive(Clone)]
struct T {
    record: Record,
    unsure: bool,
    busy: bool,
    retry_at: Option<DateTime<Utc>>,
}

fn record(status: Status) -> Record {
    Record {
        definition: "".into(),
        occurrence_start: 0,
        occurrence_end: 0,
        status,
        userid: "ops-bot".into(),
        instanceid: 1,
        subject: String::new(),
        timezone: None,
        definition_hash: "h1".into(),
        request: None,
        meeting_id: Some("m".into()),
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

fn tracked(status: Status, unsure: bool) -> T {
    T {
        record: record(status),
        unsure,
        busy: false,
        retry_at: None,
    }
}

/// What reconcile needs besides definitions and records, as the tests vary it.
struct Knobs<'k> {
    at: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
    hash_of: &'k dyn Fn(&str) -> Option<&'k str>,
    lifecycle: &'k LifecycleConfig,
    approved: &'k std::collections::BTreeSet<String>,
}

fn run_knobs(defs: &[&Definition], t: &BTreeMap<BookingKey, T>, k: &Knobs<'_>) -> Reconciled {
    let tracked: BTreeMap<BookingKey, Tracked<'_>> = t
        .iter()
        .map(|(key, v)| {
            (
                key.clone(),
                Tracked {
                    record: &v.record,
                    unsure: v.unsure,
                    busy: v.busy,
                    retry_at: v.retry_at,
                },
            )
        })
        .collect();
    reconcile(
        defs,
        &tracked,
        &Context {
            at_stake: None,
            format: UserFormat::String,
            now: k.at,
            last_pass: k.last,
            lifecycle: k.lifecycle,
            hash_of: k.hash_of,
            removals_approved: k.approved,
            edited: &|_| true,
            max_changes: usize::MAX,
            changes_approved: k.approved,
            forget_before: DateTime::<Utc>::MIN_UTC,
        },
    )
}

/// Reconcile with every given definition's file hashed as `hash`.
fn run_with(
    defs: &[&Definition],
    t: &BTreeMap<BookingKey, T>,
    at: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
    hash: &'static str,
    lifecycle: &LifecycleConfig,
) -> Reconciled {
    let present: Vec<&str> = defs.iter().map(|d| &*d.id).collect();
    let hash_of = move |id: &str| present.contains(&id).then_some(hash);
    let none = std::collections::BTreeSet::new();
    run_knobs(
        defs,
        t,
        &Knobs {
            at,
            last,
            hash_of: &hash_of,
            lifecycle,
            approved: &none,
        },
    )
}

fn run(
    defs: &[&Definition],
    t: &BTreeMap<BookingKey, T>,
    at: DateTime<Utc>,
    last: Option<DateTime<Utc>>,
) -> Vec<Action> {
    run_with(
        defs,
        t,
        at,
        last,
        "h1",
        &crate::config::Config::default().lifecycle,
    )
    .actions
}

fn kinds(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Create(w) => format!("create {}", w.key),
            Action::Resolve(k) => format!("resolve {k}"),
            Action::Missed { wanted, .. } => format!("missed {}", wanted.key),
            Action::Forget(k) => format!("forget {k}"),
            Action::Modify {
                key,
                wanted,
                fields,
            } => format!(
                "modify {key} -> {} ({})",
                wanted.key.start,
                fields.names().collect::<Vec<_>>().join(",")
            ),
            Action::Cancel { key, .. } => format!("cancel {key}"),
            Action::Resume(k) => format!("resume {k}"),
            Action::DropChange { key, .. } => format!("drop change {key}"),
            Action::Rehash(k) => format!("rehash {k}"),
            Action::Move { from, to } => format!("move {from} -> {to}"),
        })
        .collect()
}

#[test]
fn due_bookings_without_records_are_created() {
    let (s, r) = (standup(), review());
    let actions = run(&[&s, &r], &BTreeMap::new(), now(), None);
    assert_eq!(
        kinds(&actions),
        [
            "create team/standup@1795656600",
            "create team/standup@1795743000",
            "create review@1796090400"
        ]
    );
}

#[test]
fn unsure_pending_is_resolved_never_created_blind() {
    let r = review();
    let key = BookingKey {
        definition: "review".into(),
        start: 1796090400,
    };
    let t = BTreeMap::from([(key.clone(), tracked(Status::Pending, true))]);
    assert_eq!(
        kinds(&run(&[&r], &t, now(), None)),
        ["resolve review@1796090400"]
    );
    // Once known not to exist, it is created; while busy, nothing happens.
    let mut sure = tracked(Status::Pending, false);
    let t = BTreeMap::from([(key.clone(), sure.clone())]);
    assert_eq!(
        kinds(&run(&[&r], &t, now(), None)),
        ["create review@1796090400"]
    );
    sure.busy = true;
    let t = BTreeMap::from([(key.clone(), sure.clone())]);
    assert!(run(&[&r], &t, now(), None).is_empty());
    // A retry time in the future holds it back.
    sure.busy = false;
    sure.retry_at = Some(now() + chrono::TimeDelta::minutes(5));
    let t = BTreeMap::from([(key, sure)]);
    assert!(run(&[&r], &t, now(), None).is_empty());
}

#[test]
fn booked_is_left_alone_and_failed_is_retried_only_after_an_edit() {
    let r = review();
    let key = BookingKey {
        definition: "review".into(),
        start: 1796090400,
    };
    let t = BTreeMap::from([(key.clone(), tracked(Status::Booked, false))]);
    assert!(run(&[&r], &t, now(), None).is_empty());
    let t = BTreeMap::from([(key.clone(), tracked(Status::Failed, false))]);
    assert!(run(&[&r], &t, now(), None).is_empty());
    let lifecycle = crate::config::Config::default().lifecycle;
    let edited = run_with(&[&r], &t, now(), None, "h2", &lifecycle).actions;
    assert_eq!(kinds(&edited), ["create review@1796090400"]);
}

#[test]
fn pending_past_its_start_is_missed_and_removed_definitions_are_forgotten() {
    let r = review();
    let key = BookingKey {
        definition: "review".into(),
        start: 1796090400,
    };
    let t = BTreeMap::from([(key.clone(), tracked(Status::Pending, false))]);
    let after = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
    assert_eq!(
        kinds(&run(&[&r], &t, after, Some(now()))),
        ["missed review@1796090400"]
    );
    assert_eq!(
        kinds(&run(&[], &t, now(), None)),
        ["forget review@1796090400"]
    );
}

#[test]
fn an_unsure_booking_is_looked_up_until_its_start_then_missed() {
    let r = review();
    let key = BookingKey {
        definition: "review".into(),
        start: 1796090400,
    };
    let t = BTreeMap::from([(key.clone(), tracked(Status::Pending, true))]);
    // Before its start: look up whether the earlier create happened.
    assert_eq!(
        kinds(&run(&[&r], &t, now(), Some(now()))),
        ["resolve review@1796090400"]
    );
    // Its lookups kept failing past its start: missed, not looked up for ever.
    let after = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
    assert_eq!(
        kinds(&run(&[&r], &t, after, Some(now()))),
        ["missed review@1796090400"]
    );
}

/// The review's pending record, its create unclear (`unsure`), under definition `id`.
fn unsure_review(id: &str) -> (BookingKey, T) {
    let key = BookingKey {
        definition: id.into(),
        start: 1796090400,
    };
    let mut t = tracked(Status::Pending, true);
    t.record.definition = id.into();
    t.record.occurrence_start = 1796090400;
    t.record.occurrence_end = 1796090400 + 3600;
    t.record.subject = "Review".into();
    (key, t)
}

#[test]
fn an_unclear_create_whose_file_was_renamed_moves_to_the_new_id() {
    // `mv review.toml team/review.toml` while the create's answer was unclear.
    let renamed = def(
        "team/review",
        "subject = \"Review\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    let (key, t) = unsure_review("review");
    let t = BTreeMap::from([(key, t)]);
    assert_eq!(
        kinds(&run(&[&renamed], &t, now(), None)),
        ["move review@1796090400 -> team/review@1796090400"]
    );
    // Another subject, owner or time: not the same meeting; looked up where it was.
    let other = def(
        "team/review",
        "subject = \"Review 2\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    assert_eq!(
        kinds(&run(&[&other], &t, now(), None)),
        ["resolve review@1796090400", "create team/review@1796090400"]
    );
    // Known not to exist: nothing to carry; forgotten, and booked under the new id.
    let mut sure = t.clone();
    for v in sure.values_mut() {
        v.unsure = false;
    }
    assert_eq!(
        kinds(&run(&[&renamed], &sure, now(), None)),
        ["forget review@1796090400", "create team/review@1796090400"]
    );
    // The old file still there but invalid: not a rename.
    let hash_of = |id: &str| (id == "review" || id == "team/review").then_some("h1");
    let none = std::collections::BTreeSet::new();
    let lifecycle = crate::config::Config::default().lifecycle;
    let invalid = run_knobs(
        &[&renamed],
        &t,
        &Knobs {
            at: now(),
            last: None,
            hash_of: &hash_of,
            lifecycle: &lifecycle,
            approved: &none,
        },
    );
    assert_eq!(
        kinds(&invalid.actions),
        ["resolve review@1796090400", "create team/review@1796090400"]
    );
    // Two old records that could each be the renamed one: neither moves.
    let (a, ta) = unsure_review("a");
    let (b, tb) = unsure_review("b");
    let two = BTreeMap::from([(a, ta), (b, tb)]);
    assert_eq!(
        kinds(&run(&[&renamed], &two, now(), None)),
        [
            "resolve a@1796090400",
            "resolve b@1796090400",
            "create team/review@1796090400"
        ]
    );
}

#[test]
fn an_unclear_create_is_looked_up_while_its_meeting_is_on() {
    // The create was unclear shortly before the start (within the request timeout): the
    // meeting may be on now. Looked up until it ends, then missed.
    let r = review();
    let (key, t) = unsure_review("review");
    let t = BTreeMap::from([(key, t)]);
    let during = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
    assert_eq!(
        kinds(&run(&[&r], &t, during, Some(now()))),
        ["resolve review@1796090400"]
    );
    let after = Utc.with_ymd_and_hms(2026, 12, 1, 3, 30, 0).unwrap();
    assert_eq!(
        kinds(&run(&[&r], &t, after, Some(now()))),
        ["missed review@1796090400"]
    );
}

#[test]
fn occurrences_that_started_while_down_are_missed() {
    let s = standup();
    let two_days_later = now() + chrono::TimeDelta::days(2);
    let actions = run(&[&s], &BTreeMap::new(), two_days_later, Some(now()));
    let missed: Vec<String> = kinds(&actions)
        .into_iter()
        .filter(|k| k.starts_with("missed"))
        .collect();
    // Thu 26th and Fri 27th 09:30 passed between the last pass and now.
    assert_eq!(
        missed,
        [
            "missed team/standup@1795656600",
            "missed team/standup@1795743000"
        ]
    );
    // With no last pass (a fresh state) history is not listed.
    let fresh = run(&[&s], &BTreeMap::new(), two_days_later, None);
    assert!(kinds(&fresh).iter().all(|k| k.starts_with("create")));
}

/// A booked record of `w`, as the daemon would have written it, for file hash "h1".
fn booked(w: &Wanted) -> (BookingKey, T) {
    let mut r = record(Status::Booked);
    r.definition = w.key.definition.clone();
    r.occurrence_start = w.key.start;
    r.occurrence_end = w.end.timestamp();
    r.userid = w.request.userid.as_str().into();
    r.subject = w.request.subject.clone();
    r.request = serde_json::value::to_raw_value(&w.request)
        .ok()
        .map(crate::state::RecordedRequest);
    (
        w.key.clone(),
        T {
            record: r,
            unsure: false,
            busy: false,
            retry_at: None,
        },
    )
}

fn booked_all(defs: &[&Definition]) -> BTreeMap<BookingKey, T> {
    wanted(defs.iter().copied(), UserFormat::String, now(), now())
        .iter()
        .map(booked)
        .collect()
}

fn edited(defs: &[&Definition], t: &BTreeMap<BookingKey, T>) -> Vec<String> {
    let lifecycle = crate::config::Config::default().lifecycle;
    kinds(&run_with(defs, t, now(), Some(now()), "h2", &lifecycle).actions)
}

#[test]
fn a_one_off_moved_in_time_is_one_modify_with_the_new_times() {
    let before = review();
    let t = booked_all(&[&before]);
    let after = def(
        "review",
        "subject = \"Review\"\nstart_time = 2026-12-02T10:00:00\nduration = \"1h\"\n",
    );
    assert_eq!(
        edited(&[&after], &t),
        ["modify review@1796090400 -> 1796176800 (end_time,start_time)"]
    );
}

#[test]
fn an_invitee_edit_is_one_modify_of_the_invitees() {
    let t = booked_all(&[&review()]);
    let after = def(
        "review",
        "subject = \"Review\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\ninvitees = [\"alice\"]\n",
    );
    assert_eq!(
        edited(&[&after], &t),
        ["modify review@1796090400 -> 1796090400 (invitees)"]
    );
    // A comment changes the file, not the meeting.
    let comment = def(
        "review",
        "# moved\nsubject = \"Review\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    assert_eq!(edited(&[&comment], &t), ["rehash review@1796090400"]);
}

#[test]
fn a_cron_edit_cancels_dropped_occurrences_and_creates_new_ones() {
    let t = booked_all(&[&standup()]);
    // From 09:30 to 10:00 on the same weekdays.
    let after = def(
        "team/standup",
        "subject = \"Standup\"\nduration = \"15m\"\n[schedule]\ncron = \"0 10 * * MON-FRI\"\nbook_ahead = \"2d\"\n",
    );
    let mut got = edited(&[&after], &t);
    got.sort();
    assert_eq!(
        got,
        [
            "cancel team/standup@1795656600",
            "cancel team/standup@1795743000",
            "create team/standup@1795658400",
            "create team/standup@1795744800"
        ]
    );
}

#[test]
fn a_new_owner_is_a_cancel_and_a_quick_meeting_is_never_modified() {
    let t = booked_all(&[&review()]);
    let other = def(
        "review",
        "subject = \"Review\"\nuserid = \"someone\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    assert_eq!(edited(&[&other], &t), ["cancel review@1796090400"]);
    let quick = def(
        "review",
        "subject = \"Review\"\ntype = 1\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    assert_eq!(edited(&[&quick], &t), ["cancel review@1796090400"]);
}

#[test]
fn removals_cancel_unless_kept_or_too_many_vanish_at_once() {
    let (s, r) = (standup(), review());
    let t = booked_all(&[&s, &r]);
    let mut lifecycle = crate::config::Config::default().lifecycle;
    // One of two definitions removed: 50%, not more than the default 0.5.
    let one = run_with(&[&s], &t, now(), Some(now()), "h1", &lifecycle);
    assert_eq!(kinds(&one.actions), ["cancel review@1796090400"]);
    assert!(one.held.is_empty());
    // Both removed: held, nothing cancelled.
    let all = run_with(&[], &t, now(), Some(now()), "h1", &lifecycle);
    assert!(all.actions.is_empty(), "{:?}", kinds(&all.actions));
    assert_eq!(all.held, ["review", "team/standup"]);
    lifecycle.on_removed = OnRemoved::Keep;
    assert!(
        run_with(&[&s], &t, now(), Some(now()), "h1", &lifecycle)
            .actions
            .is_empty()
    );
}

#[test]
fn an_invalid_definition_is_not_a_removed_one_and_started_meetings_are_untouched() {
    let r = review();
    let t = booked_all(&[&r]);
    let lifecycle = crate::config::Config::default().lifecycle;
    // Present (it has a hash) but not valid: not among the definitions.
    let hash_of = |_: &str| Some("h2");
    let none = std::collections::BTreeSet::new();
    let got = run_knobs(
        &[],
        &t,
        &Knobs {
            at: now(),
            last: Some(now()),
            hash_of: &hash_of,
            lifecycle: &lifecycle,
            approved: &none,
        },
    );
    assert!(got.actions.is_empty() && got.held.is_empty());
    // After its start, a removed definition's meeting is left alone.
    let during = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
    assert!(
        run_with(&[], &t, during, Some(during), "h1", &lifecycle)
            .actions
            .is_empty()
    );
}

#[test]
fn an_approval_covers_only_the_definitions_it_names() {
    let (s1, r) = (standup(), review());
    let t = booked_all(&[&s1, &r]);
    let lifecycle = crate::config::Config::default().lifecycle;
    let partial = std::collections::BTreeSet::from(["review".to_string()]);
    let all = std::collections::BTreeSet::from(["review".to_string(), "team/standup".to_string()]);
    for (approved, cancels) in [(&partial, 0), (&all, 3)] {
        let hash_of = |_: &str| None;
        let got = run_knobs(
            &[],
            &t,
            &Knobs {
                at: now(),
                last: Some(now()),
                hash_of: &hash_of,
                lifecycle: &lifecycle,
                approved,
            },
        );
        // Partial: team/standup was not approved, so nothing goes. All: every future
        // meeting of both is cancelled.
        assert_eq!(got.actions.len(), cancels, "{:?}", kinds(&got.actions));
    }
}

#[test]
fn no_second_meeting_for_a_one_off_while_its_change_is_under_way() {
    let before = review();
    let mut t = booked_all(&[&before]);
    // A move to 2 December is recorded but not done; the file now says 3 December.
    for v in t.values_mut() {
        v.record.change = Some(Box::new(crate::state::Change::Modify {
            fields: crate::meeting::Fields::default(),
            start: 1796176800,
            end: 1796180400,
            request: crate::state::RecordedRequest::of(&()).unwrap(),
            definition_hash: "h2".into(),
        }));
        v.busy = true;
    }
    let after = def(
        "review",
        "subject = \"Review\"\nstart_time = 2026-12-03T10:00:00\nduration = \"1h\"\n",
    );
    assert!(edited(&[&after], &t).is_empty());
}

#[test]
fn a_waiting_removal_cancel_is_dropped_when_the_file_comes_back_unchanged() {
    let r = review();
    let mut t = booked_all(&[&r]);
    for v in t.values_mut() {
        v.record.change = Some(Box::new(crate::state::Change::Cancel {
            reason: "its definition was removed".into(),
        }));
    }
    let lifecycle = crate::config::Config::default().lifecycle;
    // Back as it was (hash h1): drop the cancel. Still gone: send it again.
    let back = run_with(&[&r], &t, now(), Some(now()), "h1", &lifecycle).actions;
    assert_eq!(kinds(&back), ["drop change review@1796090400"]);
    let gone = run_with(&[], &t, now(), Some(now()), "h1", &lifecycle).actions;
    assert_eq!(kinds(&gone), ["resume review@1796090400"]);
}
