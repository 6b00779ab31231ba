//! Recurring meetings in the fake's store: create, get, list, modify and cancel of a series
//! and of one occurrence, as docs 1095/42417, 42418, 42421, 42424 and 42422 describe them.

use rand::SeedableRng;
use serde_json::{Value, json};

use super::{Dst, Readings, Store};
use crate::vendor;

/// Monday 2027-01-04 09:00 in Shanghai.
const MONDAY: i64 = 1_799_024_400;
const DAY: i64 = 86_400;

fn series(rule: Value) -> Value {
    json!({
        "userid": "tester", "instanceid": 1, "subject": "standup", "type": 0,
        "start_time": MONDAY.to_string(), "end_time": (MONDAY + 900).to_string(),
        "meeting_type": 1, "recurring_rule": rule, "time_zone": "Asia/Shanghai",
    })
}

fn store() -> Store {
    Store::new(None, false, Readings::default(), Dst::Zone)
}

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(1)
}

/// A get answer at `now_s`.
fn shown(s: &mut Store, id: &str, now_s: i64) -> Value {
    let m = s.get(id, "tester").unwrap();
    s.info_at(&m, now_s)
}

fn caller() -> Value {
    json!({"userid": "tester", "instanceid": 1})
}

fn with(mut base: Value, more: Value) -> Value {
    if let (Value::Object(b), Value::Object(m)) = (&mut base, more) {
        b.extend(m);
    }
    base
}

fn starts(info: &Value) -> Vec<(i64, i64)> {
    info["sub_meetings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start_time"].as_str().unwrap().parse().unwrap(),
                s["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_series_is_one_meeting_with_its_occurrences() {
    let mut s = store();
    let body = series(json!({"recurring_type": 1, "until_type": 1, "until_count": 7}));
    let m = s.create(&body, 0, &mut rng()).unwrap();
    // The create answer says it is a series, and nothing of its occurrences.
    let created = s.info(&m);
    assert_eq!(created["meeting_type"], 1);
    assert!(created.get("sub_meetings").is_none());
    // Get shows the rule as sent and the seven working days from Monday.
    let got = shown(&mut s, &m.meeting_id, MONDAY - 60);
    assert_eq!(got["recurring_rule"], body["recurring_rule"]);
    assert_eq!(got["time_zone"], "Asia/Shanghai");
    let want: Vec<(i64, i64)> = [0, 1, 2, 3, 4, 7, 8]
        .iter()
        .map(|d| (MONDAY + d * DAY, 0))
        .collect();
    assert_eq!(starts(&got), want);
    assert_eq!(got["current_sub_meeting_id"], MONDAY.to_string());
    assert_eq!(got["remain_sub_meetings"], 7);
    assert_eq!(got["has_more_sub_meeting"], 0);
    // The list shows it once, at its current occurrence: Tuesday's, once Monday's has ended.
    let page = s.list("tester", 0, 0, MONDAY + 1000);
    assert_eq!(page["meeting_number"], 1);
    assert_eq!(
        page["meeting_info_list"][0]["start_time"],
        (MONDAY + DAY).to_string()
    );
    // Journalled once, with its occurrences.
    assert_eq!(s.journal.len(), 1);
    assert_eq!(s.journal[0].occurrences.as_ref().unwrap().len(), 7);
}

#[test]
fn creates_refuse_what_the_docs_refuse() {
    let mut s = store();
    let refused = |s: &mut Store, body: Value| s.create(&body, 0, &mut rng()).unwrap_err();
    let mut quick = series(json!({"recurring_type": 0}));
    quick["type"] = json!(1);
    assert_eq!(refused(&mut s, quick).code, vendor::INVALID_PARAMS);
    let mut no_rule = series(json!({}));
    no_rule.as_object_mut().unwrap().remove("recurring_rule");
    assert_eq!(refused(&mut s, no_rule).code, vendor::INVALID_PARAMS);
    // Tuesday's bit only, from a Monday.
    let r = refused(
        &mut s,
        series(
            json!({"recurring_type": 5, "customized_recurring_type": 1, "customized_recurring_days": 4}),
        ),
    );
    assert_eq!(r.message, "recurring_days no include firstStartTime");
    let r = refused(
        &mut s,
        series(json!({"recurring_type": 0, "until_type": 1, "until_count": 51})),
    );
    assert_eq!(r.code, vendor::INVALID_PARAMS);
    let mut zone = series(json!({"recurring_type": 0}));
    zone["time_zone"] = json!("Mars/Olympus");
    assert_eq!(refused(&mut s, zone).code, vendor::INVALID_PARAMS);
}

#[test]
fn one_occurrence_is_moved_or_cancelled_and_the_rest_stay() {
    let mut s = store();
    let body = series(json!({"recurring_type": 0, "until_type": 1, "until_count": 3}));
    let id = s.create(&body, 0, &mut rng()).unwrap().meeting_id;
    let second = (MONDAY + DAY).to_string();
    // Move Tuesday's an hour later; the subject sent beside it is ignored.
    let moved = with(
        caller(),
        json!({"recurring_rule": {"sub_meeting_id": second}, "subject": "ignored",
               "start_time": (MONDAY + DAY + 3600).to_string(), "end_time": (MONDAY + DAY + 4500).to_string()}),
    );
    s.modify(&id, &moved, 0).unwrap();
    // A rule field beside the occurrence is refused.
    let both = with(
        caller(),
        json!({"recurring_rule": {"sub_meeting_id": second, "until_count": 5},
               "start_time": MONDAY.to_string(), "end_time": (MONDAY + 900).to_string()}),
    );
    assert_eq!(
        s.modify(&id, &both, 0).unwrap_err().code,
        vendor::INVALID_PARAMS
    );
    // Cancel Wednesday's, twice.
    let third = (MONDAY + 2 * DAY).to_string();
    let cancel = with(caller(), json!({"reason_code": 1, "sub_meeting_id": third}));
    s.cancel(&id, &cancel, 0).unwrap();
    assert_eq!(
        s.cancel(&id, &cancel, 0).unwrap_err().code,
        vendor::ALREADY_CANCELLED
    );
    let got = shown(&mut s, &id, 0);
    assert_eq!(got["subject"], "standup");
    assert_eq!(
        starts(&got),
        [(MONDAY, 0), (MONDAY + DAY + 3600, 0), (MONDAY + 2 * DAY, 1)]
    );
    assert_eq!(got["remain_sub_meetings"], 2);
    // Without an occurrence, the whole series goes.
    s.cancel(
        &id,
        &with(caller(), json!({"reason_code": 1, "meeting_type": 1})),
        0,
    )
    .unwrap();
    assert!(s.get(&id, "tester").unwrap().cancelled);
    let ops: Vec<(&str, Option<&str>)> = s
        .journal
        .iter()
        .map(|e| (e.op, e.sub_meeting_id.as_deref()))
        .collect();
    assert_eq!(
        ops,
        [
            ("create", None),
            ("modify", Some(second.as_str())),
            ("cancel", Some(third.as_str())),
            ("cancel", None)
        ]
    );
}

#[test]
fn cancelling_every_occurrence_ends_the_series() {
    let mut s = store();
    let body = series(json!({"recurring_type": 0, "until_type": 1, "until_count": 2}));
    let id = s.create(&body, 0, &mut rng()).unwrap().meeting_id;
    for d in 0..2 {
        let cancel = with(
            caller(),
            json!({"reason_code": 1, "sub_meeting_id": (MONDAY + d * DAY).to_string()}),
        );
        s.cancel(&id, &cancel, 0).unwrap();
    }
    assert!(s.get(&id, "tester").unwrap().cancelled);
    assert_eq!(s.list("tester", 0, 0, 0)["meeting_number"], 0);
}

#[test]
fn a_whole_series_edit_keeps_its_occurrences_and_a_rule_edit_expands_anew() {
    let mut s = store();
    let body = series(json!({"recurring_type": 2, "until_type": 1, "until_count": 4}));
    let id = s.create(&body, 0, &mut rng()).unwrap().meeting_id;
    s.modify(&id, &with(caller(), json!({"subject": "sync"})), 0)
        .unwrap();
    let got = shown(&mut s, &id, 0);
    assert_eq!(got["subject"], "sync");
    assert_eq!(starts(&got).len(), 4);
    let longer = with(
        caller(),
        json!({"meeting_type": 1, "recurring_rule": {"recurring_type": 2, "until_type": 1, "until_count": 6}}),
    );
    s.modify(&id, &longer, 0).unwrap();
    let got = shown(&mut s, &id, 0);
    let want: Vec<(i64, i64)> = (0..6).map(|w| (MONDAY + 7 * w * DAY, 0)).collect();
    assert_eq!(starts(&got), want);
    assert_eq!(
        s.modify(&id, &with(caller(), json!({"meeting_type": 0})), 0)
            .unwrap_err()
            .code,
        vendor::INVALID_PARAMS
    );
}
