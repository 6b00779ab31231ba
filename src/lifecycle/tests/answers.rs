//! The answers to creates, lookups and changes, from the phase that waits for each.

use super::*;

// ---- A create's answer ------------------------------------------------------------------

/// Every answer a create can get, from `Sending(Create)`: the phase after, the record's
/// status and calls, and the outputs.
#[test]
fn every_answer_to_a_create() {
    let timeout = || transport(TransportKind::Timeout);
    /// (what, the answer, the phase after, the status after, create calls counted, outputs)
    type Row<'a> = (
        &'a str,
        Result<MeetingInfo, ApiError>,
        Phase,
        Status,
        u32,
        Vec<&'a str>,
    );
    let rows: Vec<Row> = vec![
        (
            "created",
            Ok(meeting("d", "m1")),
            Phase::Idle,
            Status::Booked,
            1,
            vec!["booked d@1900086400 adopted=false"],
        ),
        (
            "timeout: unclear",
            Err(timeout()),
            Phase::Unsure { not_before: None },
            Status::Pending,
            1,
            vec!["pass"],
        ),
        (
            "reset: unclear",
            Err(transport(TransportKind::Reset)),
            Phase::Unsure { not_before: None },
            Status::Pending,
            1,
            vec!["pass"],
        ),
        (
            "internal error: unclear",
            Err(status(41)),
            Phase::Unsure { not_before: None },
            Status::Pending,
            1,
            vec!["pass"],
        ),
        (
            "no connection: not sent, tried again later",
            Err(transport(TransportKind::Connect)),
            Phase::Waiting {
                until: now() + TimeDelta::seconds(300),
            },
            Status::Pending,
            1,
            vec!["wake +300"],
        ),
        (
            "rate limited: tried again later",
            Err(status(190_310)),
            Phase::Waiting {
                until: now() + TimeDelta::seconds(300),
            },
            Status::Pending,
            1,
            vec!["wake +300"],
        ),
        (
            "stale signature: signed again later",
            Err(status(190_300)),
            Phase::Waiting {
                until: now() + TimeDelta::seconds(300),
            },
            Status::Pending,
            1,
            vec!["wake +300"],
        ),
        (
            "refused for good",
            Err(status(190_004)),
            Phase::Idle,
            Status::Failed,
            1,
            vec!["failed d@1900086400"],
        ),
        (
            "wrong credentials",
            Err(status(190_303)),
            Phase::Idle,
            Status::Failed,
            1,
            vec!["failed d@1900086400"],
        ),
        (
            "the user's hourly quota",
            Err(status(500_029)),
            Phase::Idle,
            Status::Pending,
            1,
            vec!["quota User(\"alice\")", "pass"],
        ),
        (
            "the app's quota",
            Err(status(190_311)),
            Phase::Idle,
            Status::Pending,
            1,
            vec!["quota App", "pass"],
        ),
        (
            "the account's monthly creates",
            Err(status(500_168)),
            Phase::Idle,
            Status::Pending,
            1,
            vec!["quota Month", "pass"],
        ),
        (
            "held back by a quota: the call does not count",
            Err(held_back()),
            Phase::Idle,
            Status::Pending,
            0,
            vec!["pass when quiet"],
        ),
        (
            "fenced: the call does not count",
            Err(fenced()),
            Phase::Idle,
            Status::Pending,
            0,
            vec!["pass when quiet"],
        ),
    ];
    for (name, answer, phase, status, attempts, outs) in rows {
        let mut b = fresh();
        creating(&mut b, "d");
        let failed = answer.as_ref().err().map(|e| (e.to_string(), e.code()));
        b.created(key("d"), answer, now());
        let r = record(&b, "d");
        assert_eq!(b.phase(&key("d")), phase, "{name}");
        assert_eq!(r.status, status, "{name}");
        assert_eq!(r.attempts, attempts, "{name}");
        match (&failed, r.status) {
            (Some(_), Status::Pending) if attempts == 0 => {}
            (Some((message, code)), _) => {
                assert_eq!(r.last_error.as_deref(), Some(message.as_str()), "{name}");
                assert_eq!(r.error_code, *code, "{name}");
            }
            (None, _) => {
                assert_eq!(r.meeting_id.as_deref(), Some("m1"));
                assert_eq!(r.join_url.as_deref(), Some("https://meeting.example/m1"));
                assert_eq!(r.last_error, None);
            }
        }
        assert_eq!(outputs(&mut b), outs, "{name}");
        assert_eq!(
            b.problems(),
            usize::from(status == Status::Failed),
            "{name}"
        );
    }
}

#[test]
fn a_waiting_create_is_not_tried_before_its_time() {
    let mut b = fresh();
    creating(&mut b, "d");
    b.created(key("d"), Err(status(190_310)), now());
    let t = b.tracked(&key("d"), record(&b, "d"));
    assert!(!t.busy && !t.unsure);
    assert_eq!(t.retry_at, Some(now() + TimeDelta::seconds(300)));
    assert_eq!(b.next_due(now()), Some(now() + TimeDelta::seconds(300)));
}

#[test]
fn a_create_answer_naming_a_meeting_adopted_for_a_twin_takes_it_back() {
    let mut b = fresh();
    // `a` is unclear and looked up, `b` (same owner, subject, times) still in flight.
    looking_up(&mut b, "a");
    creating(&mut b, "b");
    let m = meeting("a", "m-made-by-b");
    b.looked_up(vec![key("a")], Ok(vec![m.clone()]), &HashMap::new(), now());
    assert_eq!(record(&b, "a").status, Status::Booked);
    b.drain();
    b.created(key("b"), Ok(m), now());
    assert_eq!(record(&b, "a").status, Status::Pending, "the twin lost it");
    assert_eq!(record(&b, "a").meeting_id, None);
    assert_eq!(b.phase(&key("a")), Phase::Unsure { not_before: None });
    assert_eq!(record(&b, "b").meeting_id.as_deref(), Some("m-made-by-b"));
    assert_eq!(
        outputs(&mut b),
        ["pass", "booked b@1900086400 adopted=false"]
    );
}

#[test]
fn a_create_answer_for_its_own_adopted_meeting_changes_nothing() {
    let mut b = fresh();
    looking_up(&mut b, "a");
    let m = meeting("a", "m1");
    b.looked_up(vec![key("a")], Ok(vec![m.clone()]), &HashMap::new(), now());
    b.drain();
    // A second create of `a` (say, sent before the lookup) answers with the same meeting.
    b.set_phase(&key("a"), Phase::Sending(Request::Create));
    b.created(key("a"), Ok(m), now());
    assert_eq!(record(&b, "a").meeting_id.as_deref(), Some("m1"));
    assert_eq!(outputs(&mut b), ["booked a@1900086400 adopted=false"]);
}

// ---- A lookup's answer ------------------------------------------------------------------

#[test]
fn a_lookup_that_finds_the_meeting_adopts_it() {
    let mut b = fresh();
    looking_up(&mut b, "d");
    let other = MeetingInfo {
        subject: "another".into(),
        ..meeting("d", "m-other")
    };
    b.looked_up(
        vec![key("d")],
        Ok(vec![other, meeting("d", "m1")]),
        &HashMap::new(),
        now(),
    );
    assert_eq!(record(&b, "d").status, Status::Booked);
    assert_eq!(record(&b, "d").meeting_id.as_deref(), Some("m1"));
    assert_eq!(b.phase(&key("d")), Phase::Idle);
    assert_eq!(
        outputs(&mut b),
        ["pass", "booked d@1900086400 adopted=true"]
    );
}

#[test]
fn a_lookup_never_adopts_a_meeting_recorded_for_another_booking() {
    let mut b = fresh();
    booked(&mut b, "x"); // `m-x` is x's.
    looking_up(&mut b, "d");
    let taken = MeetingInfo {
        subject: "subject d".into(),
        ..meeting("d", "m-x")
    };
    b.looked_up(vec![key("d")], Ok(vec![taken]), &HashMap::new(), now());
    assert_eq!(
        b.phase(&key("d")),
        Phase::LookedUp,
        "not found: created again"
    );
}

#[test]
fn one_lookup_adopts_each_meeting_for_one_booking_only() {
    // Two twins looked up together, one meeting: the first takes it, the second is
    // created again.
    let mut b = fresh();
    looking_up(&mut b, "a");
    unsure(&mut b, "b");
    b.dispatch_lookup(&[key("b")]);
    let m = meeting("a", "m1");
    let twin = MeetingInfo {
        subject: "subject b".into(),
        ..m.clone()
    };
    b.looked_up(
        vec![key("a"), key("b")],
        Ok(vec![m, twin]),
        &HashMap::new(),
        now(),
    );
    assert_eq!(record(&b, "a").meeting_id.as_deref(), Some("m1"));
    assert_eq!(b.phase(&key("b")), Phase::LookedUp);
}

#[test]
fn a_lookup_that_finds_nothing_lets_the_plan_create_it_again() {
    let mut b = fresh();
    looking_up(&mut b, "d");
    b.looked_up(vec![key("d")], Ok(Vec::new()), &HashMap::new(), now());
    assert_eq!(b.phase(&key("d")), Phase::LookedUp);
    let live = b.live(&key("d")).unwrap();
    assert_eq!((live.lookups, live.lookups_failed), (1, 0));
    let t = b.tracked(&key("d"), record(&b, "d"));
    assert!(!t.busy && !t.unsure && t.retry_at.is_none());
    assert_eq!(outputs(&mut b), ["pass"]);
}

#[test]
fn creates_and_lookups_together_are_capped_by_max_attempts() {
    // 4 attempts: create, lookup, create, lookup -> failed, with the last error.
    let mut b = fresh();
    looking_up(&mut b, "d");
    b.looked_up(vec![key("d")], Ok(Vec::new()), &HashMap::new(), now());
    b.intent(&wanted("d"), "h1", First::Send, now());
    b.dispatch_create(&key("d"));
    b.created(key("d"), Err(status(41)), now());
    b.dispatch_lookup(&[key("d")]);
    b.drain();
    b.looked_up(vec![key("d")], Ok(Vec::new()), &HashMap::new(), now());
    let r = record(&b, "d");
    assert_eq!(r.status, Status::Failed);
    assert!(
        r.last_error
            .as_deref()
            .unwrap()
            .starts_with("no meeting was made after 2 create(s) and 2 lookup(s); last error: POST /v1/meetings: HTTP 200, error 41"),
        "{:?}",
        r.last_error
    );
    assert_eq!(b.phase(&key("d")), Phase::Idle);
    assert_eq!(outputs(&mut b), ["pass", "failed d@1900086400"]);
}

#[test]
fn two_meetings_that_could_each_be_it_fail_the_booking_and_adopt_neither() {
    let mut b = fresh();
    looking_up(&mut b, "d");
    b.looked_up(
        vec![key("d")],
        Ok(vec![meeting("d", "m1"), meeting("d", "m2")]),
        &HashMap::new(),
        now(),
    );
    let r = record(&b, "d");
    assert_eq!((r.status, r.meeting_id.as_deref()), (Status::Failed, None));
    assert!(r.last_error.as_deref().unwrap().contains("m1, m2"));
    assert_eq!(outputs(&mut b), ["pass", "failed d@1900086400"]);
}

#[test]
fn the_request_on_record_breaks_a_tie_by_its_users() {
    // Memory holds no request; the store's says alice invited bob: the meeting without
    // bob is not ours.
    let mut b = fresh();
    looking_up(&mut b, "d");
    b.records_mut().take_request(&key("d"));
    assert!(b.needs_request(&key("d")));
    let mut request = wanted("d").request;
    request.invitees = vec![crate::api::model::WireUser::Id("bob".into())];
    let body = serde_json::value::to_raw_value(&request).unwrap();
    let recorded = HashMap::from([(key("d"), RecordedRequest(body))]);
    let ours = MeetingInfo {
        participants: vec!["bob".into()],
        ..meeting("d", "m-ours")
    };
    let theirs = MeetingInfo {
        participants: vec!["carol".into()],
        ..meeting("d", "m-theirs")
    };
    b.looked_up(vec![key("d")], Ok(vec![theirs, ours]), &recorded, now());
    assert_eq!(record(&b, "d").meeting_id.as_deref(), Some("m-ours"));
}

#[test]
fn recover_drops_what_it_does_not_find_and_says_so() {
    let mut b = Bookings::new(
        Ledger::default(),
        Rules {
            recover: true,
            ..rules()
        },
    );
    b.intent(
        &wanted("d"),
        "h1",
        First::LookUp { never_sent: false },
        now(),
    );
    b.dispatch_lookup(&[key("d")]);
    b.looked_up(vec![key("d")], Ok(Vec::new()), &HashMap::new(), now());
    assert!(b.records().get(&key("d")).is_none());
    assert!(b.not_found(&key("d")));
    assert_eq!(b.phase(&key("d")), Phase::Idle);
    assert_eq!(outputs(&mut b), ["pass", "not found d@1900086400"]);
}

/// Every way a lookup can fail, from `Sending(LookUp)`.
#[test]
fn every_failed_lookup() {
    let rows: Vec<(&str, ApiError, Phase, Status)> = vec![
        (
            "refused for good: creating could book twice",
            status(190_303),
            Phase::Idle,
            Status::Failed,
        ),
        (
            "fenced: looked up again once the lead is confirmed",
            fenced(),
            Phase::Unsure { not_before: None },
            Status::Pending,
        ),
        (
            "failed for now: backs off 10 s",
            transport(TransportKind::Timeout),
            Phase::Unsure {
                not_before: Some(now() + TimeDelta::seconds(10)),
            },
            Status::Pending,
        ),
    ];
    for (name, e, phase, status) in rows {
        let mut b = fresh();
        looking_up(&mut b, "d");
        b.looked_up(vec![key("d")], Err(e), &HashMap::new(), now());
        assert_eq!(b.phase(&key("d")), phase, "{name}");
        assert_eq!(record(&b, "d").status, status, "{name}");
        assert_eq!(outputs(&mut b)[0], "pass", "{name}");
    }
}

#[test]
fn failed_lookups_back_off_then_fail_at_the_cap() {
    let mut b = fresh();
    looking_up(&mut b, "d");
    let e = || transport(TransportKind::Reset);
    b.looked_up(vec![key("d")], Err(e()), &HashMap::new(), now());
    b.dispatch_lookup(&[key("d")]);
    b.looked_up(vec![key("d")], Err(e()), &HashMap::new(), now());
    assert_eq!(
        b.phase(&key("d")),
        Phase::Unsure {
            not_before: Some(now() + TimeDelta::seconds(20))
        }
    );
    b.dispatch_lookup(&[key("d")]);
    b.looked_up(vec![key("d")], Err(e()), &HashMap::new(), now());
    // One create and three lookups: the cap of four.
    let r = record(&b, "d");
    assert_eq!(r.status, Status::Failed);
    assert!(
        r.last_error.as_deref().unwrap().starts_with(
            "cannot tell whether the create happened after 1 create(s) and 3 lookup(s)"
        )
    );
}

#[test]
fn lookup_backoff_doubles_up_to_the_cap() {
    let max = Duration::from_secs(60);
    let waits: Vec<i64> = (1..=5)
        .map(|n| lookup_backoff(n, max).num_seconds())
        .collect();
    assert_eq!(waits, [10, 20, 40, 60, 60]);
    assert_eq!(lookup_backoff(u32::MAX, max).num_seconds(), 60);
}

// ---- A change's answer ------------------------------------------------------------------

#[test]
fn a_cancel_done_cancels_the_booking() {
    let mut b = fresh();
    cancelling(&mut b, "d");
    b.changed(key("d"), Ok(()), Some("h1"), now());
    let r = record(&b, "d");
    assert_eq!((r.status, r.change.is_none()), (Status::Cancelled, true));
    assert_eq!(b.phase(&key("d")), Phase::Idle);
    assert_eq!(outputs(&mut b), ["cancelled: gone d@1900086400", "pass"]);
}

#[test]
fn a_modify_done_moves_the_booking_to_its_new_start() {
    let mut b = fresh();
    modifying(&mut b, "d");
    // Memory lost the links; the daemon reads them from the store.
    b.records_mut().restore_links(&key("d"), None, None);
    assert!(b.needs_links(&key("d")));
    b.keep_links(&key("d"), Some("https://j".into()), Some("c".into()));
    b.changed(key("d"), Ok(()), Some("h2"), now());
    let moved = BookingKey {
        start: START + 600,
        ..key("d")
    };
    assert!(b.records().get(&key("d")).is_none());
    let r = b.records().get(&moved).unwrap();
    assert_eq!(
        (
            r.subject.as_str(),
            r.sequence,
            &*r.definition_hash,
            r.join_url.as_deref()
        ),
        ("new subject", 1, "h2", Some("https://j"))
    );
    assert_eq!(outputs(&mut b), ["modified: subject d@1900087000", "pass"]);
}

/// A change refused for good is recorded so, kept booked, and not sent again while its
/// definition stays as it was.
#[test]
fn every_failed_change() {
    /// (what, how the change started, the refusal, the definition hash it is refused for)
    type Row<'a> = (&'a str, fn(&mut Bookings, &str), ApiError, Option<&'a str>);
    let rows: Vec<Row> = vec![
        ("modify refused", modifying, status(9100), Some("h2")),
        ("cancel refused", cancelling, status(13_602), Some("h9")),
    ];
    for (name, start, e, hash) in rows {
        let mut b = fresh();
        start(&mut b, "d");
        let kind = record(&b, "d").change.as_ref().unwrap().kind();
        b.changed(key("d"), Err(e), Some("h9"), now());
        let r = record(&b, "d");
        assert_eq!(r.status, Status::Booked, "{name}");
        assert!(r.change.is_none(), "{name}");
        let refused = r.refused.as_deref().unwrap();
        assert_eq!(refused.kind, kind, "{name}");
        assert_eq!(refused.definition_hash.as_deref(), hash, "{name}");
        assert_eq!(b.phase(&key("d")), Phase::Idle, "{name}");
        assert_eq!(outputs(&mut b), Vec::<String>::new(), "{name}");
    }
    // Failed for now: the change stays on record and waits.
    let mut b = fresh();
    cancelling(&mut b, "d");
    b.changed(key("d"), Err(status(41)), Some("h1"), now());
    assert!(record(&b, "d").change.is_some());
    let until = now() + TimeDelta::seconds(300);
    assert_eq!(b.phase(&key("d")), Phase::Waiting { until });
    assert_eq!(outputs(&mut b), ["wake +300"]);
    // ... and goes again from Waiting.
    assert!(b.dispatch_change(&key("d")).is_some());
    assert_eq!(b.phase(&key("d")), Phase::Sending(Request::Change));
}

#[test]
fn a_change_without_a_meeting_or_intent_is_not_sent() {
    let mut b = fresh();
    booked(&mut b, "d");
    assert_eq!(b.dispatch_change(&key("d")), None, "no change on record");
    b.change(&key("d"), Change::Cancel { reason: "r".into() }, now());
    b.drop_change(&key("d"), "its definition is back as it was");
    assert_eq!(b.dispatch_change(&key("d")), None, "dropped");
    assert_eq!(b.phase(&key("d")), Phase::Idle);
}
