//! Every (phase, event) pair the lifecycle accepts, each phase reached through the events
//! that lead to it (so the paths are tested too): the helpers, and the steps the daemon and
//! the plan take. The answers to requests are in [`answers`].

use super::*;
use crate::api::error::{StatusError, TransportKind};
use crate::api::model::CreateMeeting;
use crate::meeting::MeetingType;

const T0: i64 = 1_900_000_000;
const START: i64 = T0 + 86_400;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(T0, 0).unwrap()
}

fn key(def: &str) -> BookingKey {
    BookingKey {
        definition: def.into(),
        start: START,
    }
}

fn rules() -> Rules {
    Rules {
        max_attempts: 4,
        max_delay: Duration::from_secs(300),
        recover: false,
        alert_after: Duration::from_secs(900),
    }
}

fn wanted(def: &str) -> Wanted {
    Wanted {
        key: key(def),
        start: DateTime::from_timestamp(START, 0).unwrap(),
        end: DateTime::from_timestamp(START + 3600, 0).unwrap(),
        timezone: chrono_tz::UTC,
        book_at: None,
        request: CreateMeeting {
            userid: "alice".into(),
            instanceid: 1,
            subject: format!("subject {def}"),
            meeting_type: MeetingType::Scheduled,
            hosts: Vec::new(),
            invitees: Vec::new(),
            start_time: START.to_string(),
            end_time: (START + 3600).to_string(),
            password: None,
            settings: Default::default(),
            extra: Default::default(),
            series: None,
        },
    }
}

fn meeting(def: &str, id: &str) -> MeetingInfo {
    MeetingInfo {
        meeting_id: id.into(),
        meeting_code: format!("code-{id}"),
        subject: format!("subject {def}"),
        start_time: START,
        end_time: START + 3600,
        join_url: format!("https://meeting.example/{id}"),
        ..MeetingInfo::default()
    }
}

fn status(code: i64) -> ApiError {
    ApiError::Status(Box::new(StatusError {
        method: "POST".into(),
        path: "/v1/meetings".into(),
        status: 200,
        error_code: Some(code),
        new_error_code: None,
        message: "m".into(),
        trace: None,
        retry_after: None,
    }))
}

fn transport(kind: TransportKind) -> ApiError {
    ApiError::Transport {
        method: "POST".into(),
        path: "/v1/meetings".into(),
        kind,
        message: "m".into(),
    }
}

fn held_back() -> ApiError {
    ApiError::HeldBack {
        method: "POST".into(),
        path: "/v1/meetings".into(),
        reason: "quota".into(),
    }
}

fn fenced() -> ApiError {
    ApiError::Fenced {
        method: "POST".into(),
        path: "/v1/meetings".into(),
    }
}

fn fresh() -> Bookings {
    Bookings::new(Ledger::default(), rules())
}

/// `d`'s booking queued to be sent.
fn queued(b: &mut Bookings, def: &str) {
    assert!(b.intent(&wanted(def), "h1", First::Send, now()));
    assert_eq!(b.phase(&key(def)), Phase::Queued);
}

/// `d`'s booking with its create in flight.
fn creating(b: &mut Bookings, def: &str) {
    queued(b, def);
    b.dispatch_create(&key(def));
    assert_eq!(b.phase(&key(def)), Phase::Sending(Request::Create));
}

/// `d`'s booking with its create unclear.
fn unsure(b: &mut Bookings, def: &str) {
    creating(b, def);
    b.created(key(def), Err(transport(TransportKind::Timeout)), now());
    assert_eq!(b.phase(&key(def)), Phase::Unsure { not_before: None });
    b.drain();
}

/// `d`'s booking being looked up.
fn looking_up(b: &mut Bookings, def: &str) {
    unsure(b, def);
    assert!(b.dispatch_lookup(&[key(def)]), "its create was sent");
    assert_eq!(b.phase(&key(def)), Phase::Sending(Request::LookUp));
}

/// `d`'s booking booked as `m-d`.
fn booked(b: &mut Bookings, def: &str) {
    creating(b, def);
    b.created(key(def), Ok(meeting(def, &format!("m-{def}"))), now());
    b.drain();
    assert_eq!(b.records().get(&key(def)).unwrap().status, Status::Booked);
}

/// `d`'s booked meeting with a cancel in flight.
fn cancelling(b: &mut Bookings, def: &str) {
    booked(b, def);
    b.change(
        &key(def),
        Change::Cancel {
            reason: "gone".into(),
        },
        now(),
    );
    let sent = b.dispatch_change(&key(def)).unwrap();
    assert_eq!(&*sent.meeting_id, &format!("m-{def}"));
    assert_eq!(b.phase(&key(def)), Phase::Sending(Request::Change));
}

fn modify() -> Change {
    let request = serde_json::json!({ "subject": "new subject" });
    let fields = [crate::meeting::Field::Subject("new subject".into())];
    Change::Modify {
        fields: fields.into_iter().collect(),
        start: START + 600,
        end: START + 4200,
        request: crate::state::RecordedRequest::of(&request).unwrap(),
        definition_hash: "h2".into(),
    }
}

/// `d`'s booked meeting with a modify in flight.
fn modifying(b: &mut Bookings, def: &str) {
    booked(b, def);
    b.change(&key(def), modify(), now());
    b.dispatch_change(&key(def)).unwrap();
}

fn record<'b>(b: &'b Bookings, def: &str) -> &'b Record {
    b.records().get(&key(def)).unwrap()
}

/// The outputs, with told events reduced to their kind and key.
fn outputs(b: &mut Bookings) -> Vec<String> {
    b.drain()
        .into_iter()
        .map(|o| match o {
            Output::Told(Told::Booked { key, adopted, .. }) => {
                format!("booked {key} adopted={adopted}")
            }
            Output::Told(Told::Failed { key, .. }) => format!("failed {key}"),
            Output::Told(Told::Missed { key, .. }) => format!("missed {key}"),
            Output::Told(Told::Changed { key, what }) => format!("{what} {key}"),
            Output::Told(Told::NotFound { key, .. }) => format!("not found {key}"),
            Output::Pass => "pass".into(),
            Output::PassWhenQuiet => "pass when quiet".into(),
            Output::WakeAt(t) => format!("wake +{}", t.timestamp() - T0),
            Output::QuotaRefused { refused, .. } => format!("quota {refused:?}"),
        })
        .collect()
}

// ---- Loading, queueing, sending ---------------------------------------------------------

#[test]
fn a_pending_record_loaded_is_unsure_and_others_are_idle() {
    let mut pending = crate::ledger::tests::record("p", START, Status::Pending);
    pending.meeting_id = None;
    let booked = crate::ledger::tests::record("b", START, Status::Booked);
    let b = Bookings::new(Ledger::new([pending, booked]), rules());
    assert_eq!(b.phase(&key("p")), Phase::Unsure { not_before: None });
    assert_eq!(b.phase(&key("b")), Phase::Idle);
    let t = b.tracked(&key("p"), record(&b, "p"));
    assert!(t.unsure && !t.busy && t.retry_at.is_none());
}

#[test]
fn an_intent_is_recorded_pending_with_its_request_and_queued() {
    let mut b = fresh();
    queued(&mut b, "d");
    let r = record(&b, "d");
    assert_eq!(r.status, Status::Pending);
    assert_eq!(r.attempts, 0);
    assert_eq!(&*r.definition_hash, "h1");
    assert!(r.request.as_ref().unwrap().0.get().contains("subject d"));
    assert!(
        b.records().has_changes(),
        "the ledger marks it for the write"
    );
    assert!(b.tracked(&key("d"), r).busy, "the plan leaves it alone");
    assert_eq!(outputs(&mut b), Vec::<String>::new());
}

#[test]
fn an_intent_looked_up_first_is_unsure_and_says_whether_it_was_ever_sent() {
    let mut b = fresh();
    let first = First::LookUp { never_sent: true };
    assert!(
        !b.intent(&wanted("d"), "h1", first, now()),
        "not to be sent"
    );
    assert_eq!(b.phase(&key("d")), Phase::Unsure { not_before: None });
    assert!(
        !b.dispatch_lookup(&[key("d")]),
        "no create can be on its way"
    );

    let mut b = fresh();
    let first = First::LookUp { never_sent: false };
    b.intent(&wanted("d"), "h1", first, now());
    assert!(b.dispatch_lookup(&[key("d")]), "a create may be on its way");
}

#[test]
fn an_intent_keeps_the_attempts_error_and_notifications_of_the_record_it_replaces() {
    let mut b = fresh();
    creating(&mut b, "d");
    b.created(key("d"), Err(status(41)), now()); // Internal error: unclear.
    b.records_mut().get_mut(&key("d")).unwrap().notified = vec!["t/x".into()];
    b.intent(&wanted("d"), "h1", First::Send, now());
    let r = record(&b, "d");
    assert_eq!((r.attempts, r.notified.len()), (1, 1));
    assert!(r.last_error.is_some());
}

#[test]
fn dispatching_a_create_counts_a_call_and_marks_it_sent() {
    let mut b = fresh();
    // Looked up first (never sent), not found, then queued to be created.
    b.intent(
        &wanted("d"),
        "h1",
        First::LookUp { never_sent: true },
        now(),
    );
    b.dispatch_lookup(&[key("d")]);
    b.looked_up(vec![key("d")], Ok(Vec::new()), &HashMap::new(), now());
    b.intent(&wanted("d"), "h1", First::Send, now());
    assert!(b.live(&key("d")).unwrap().never_sent);
    assert!(b.dispatch_create(&key("d")));
    assert_eq!(record(&b, "d").attempts, 1);
    assert!(!b.live(&key("d")).unwrap().never_sent);
}

#[test]
fn a_create_that_cannot_be_sent_is_looked_up_without_counting_a_call() {
    let mut b = fresh();
    queued(&mut b, "d");
    b.unsendable(&key("d"), "no request body on record".into(), now());
    assert_eq!(b.phase(&key("d")), Phase::Unsure { not_before: None });
    assert_eq!(record(&b, "d").attempts, 0);
    assert_eq!(outputs(&mut b), ["pass"]);
}

// ---- Lost requests, operator and plan steps ---------------------------------------------

#[test]
fn a_request_lost_in_flight_is_looked_up() {
    let starts: [fn(&mut Bookings, &str); 3] = [creating, looking_up, cancelling];
    for start in starts {
        let mut b = fresh();
        start(&mut b, "d");
        b.lost(&[key("d")]);
        assert_eq!(b.phase(&key("d")), Phase::Unsure { not_before: None });
        assert_eq!(outputs(&mut b), ["pass"]);
    }
}

#[test]
fn retry_sends_a_failed_booking_back_to_be_looked_up_first() {
    let mut b = fresh();
    creating(&mut b, "d");
    b.created(key("d"), Err(status(190_004)), now());
    booked(&mut b, "x");
    assert_eq!(b.retry(&[key("d"), key("x")], "asked", now()), 1);
    let r = record(&b, "d");
    assert_eq!((r.status, r.attempts), (Status::Pending, 0));
    assert_eq!(b.phase(&key("d")), Phase::Unsure { not_before: None });
    assert_eq!(
        record(&b, "x").status,
        Status::Booked,
        "not failed: left alone"
    );
}

#[test]
fn missed_and_forgotten_bookings_are_done() {
    let mut b = fresh();
    unsure(&mut b, "d");
    b.missed(&wanted("d"), "h1", "its start passed".into(), now());
    assert_eq!(record(&b, "d").status, Status::Missed);
    assert_eq!(b.phase(&key("d")), Phase::Idle);
    assert_eq!(b.problems(), 1);
    assert_eq!(outputs(&mut b), ["missed d@1900086400"]);

    unsure(&mut b, "e");
    b.forget(&key("e"));
    assert!(b.records().get(&key("e")).is_none());
    assert_eq!(b.phase(&key("e")), Phase::Idle);
}

#[test]
fn an_unsure_booking_follows_its_renamed_file() {
    let mut b = fresh();
    unsure(&mut b, "old");
    let sent = b.records_mut().take_request(&key("old"));
    let to: Name = "new".into();
    assert_eq!(b.moved(&key("old"), &to, sent), Some(key("new")));
    assert_eq!(b.phase(&key("new")), Phase::Unsure { not_before: None });
    assert!(record(&b, "new").request.is_some(), "the body moves along");
    assert_eq!(b.phase(&key("old")), Phase::Idle);
    assert_eq!(outputs(&mut b), ["pass"]);
}

#[test]
fn rehash_notes_the_new_definition_hash() {
    let mut b = fresh();
    booked(&mut b, "d");
    b.rehash(&key("d"), "h2");
    assert_eq!(&*record(&b, "d").definition_hash, "h2");
}

#[test]
fn prune_keeps_what_is_in_progress() {
    let mut b = fresh();
    creating(&mut b, "a");
    b.created(key("a"), Ok(meeting("a", "m1")), now());
    booked(&mut b, "b");
    b.change(&key("b"), Change::Cancel { reason: "r".into() }, now());
    booked(&mut b, "c");
    // Everything ended before the cutoff: only `b` (its change) stays.
    assert_eq!(b.prune(START + 7200), 2);
    assert!(b.records().get(&key("b")).is_some());
    let mut b = fresh();
    creating(&mut b, "a");
    b.records_mut().get_mut(&key("a")).unwrap().status = Status::Booked;
    assert_eq!(b.prune(START + 7200), 0, "its create is in flight");
}

// ---- Answers that cannot come, handled safely -------------------------------------------

#[test]
fn a_lookup_answer_for_a_booking_that_moved_on_is_dropped() {
    let mut b = fresh();
    looking_up(&mut b, "d");
    b.set_phase(&key("d"), Phase::Idle);
    b.looked_up(vec![key("d")], Ok(Vec::new()), &HashMap::new(), now());
    assert_eq!(b.phase(&key("d")), Phase::Idle, "not taken as not found");
}

#[test]
fn an_answer_for_a_booking_no_longer_on_record_is_dropped() {
    let mut b = fresh();
    creating(&mut b, "d");
    b.records_mut().remove(&key("d"));
    b.created(key("d"), Ok(meeting("d", "m1")), now());
    assert!(b.records().get(&key("d")).is_none());
    assert!(b.live(&key("d")).is_none());
    assert_eq!(outputs(&mut b), Vec::<String>::new());
}

mod answers;
mod matrix;
