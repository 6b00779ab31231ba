use chrono::{NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::{BeyondRepair, Checked, Repair, Window, check, next_window};
use crate::api::model::{SubMeeting, SubMeetings};
use crate::schedule::{Schedule, parse_rule};

const SH: Tz = chrono_tz::Asia::Shanghai;
const NY: Tz = chrono_tz::America::New_York;

fn schedule(rule: &str, tz: Tz) -> Schedule {
    Schedule::new(
        parse_rule(rule).unwrap(),
        rule.into(),
        tz,
        TimeDelta::minutes(30),
        TimeDelta::days(7),
    )
}

fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    tz.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().timestamp()
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

const DAY: i64 = 86_400;

#[test]
fn a_window_is_fifty_occurrences_of_one_time_after_what_is_booked() {
    let s = schedule("30 9,15 * * MON-FRI", SH);
    // After Monday 4 January 2027 09:30 was booked (one at a time, by an older build).
    let after = Utc.timestamp_opt(at(SH, 2027, 1, 4, 9, 30), 0).unwrap();
    let w = next_window(&s, time(9, 30), after).unwrap();
    assert_eq!(w.service.len(), 50);
    assert_eq!(w.wanted, w.service);
    assert_eq!(w.first(), Some(at(SH, 2027, 1, 5, 9, 30)));
    // Ten weeks of working days, Tuesday to Monday.
    assert_eq!(w.service[49], at(SH, 2027, 3, 15, 9, 30));
    // The 15:30 series starts on Monday: it was not booked.
    let w = next_window(&s, time(15, 30), after).unwrap();
    assert_eq!(w.first(), Some(at(SH, 2027, 1, 4, 15, 30)));
}

#[test]
fn a_window_ends_at_until_and_counts_skip_dates_for_the_service_only() {
    let mut s = schedule("0 10 * * *", SH);
    s.until = Some(Utc.timestamp_opt(at(SH, 2027, 1, 10, 23, 59), 0).unwrap());
    s.skip = [NaiveDate::from_ymd_opt(2027, 1, 7).unwrap()].into();
    let after = Utc.timestamp_opt(at(SH, 2027, 1, 4, 0, 0), 0).unwrap();
    let w = next_window(&s, time(10, 0), after).unwrap();
    let days = |v: &[i64]| -> Vec<i64> {
        v.iter()
            .map(|t| (t - at(SH, 2027, 1, 4, 10, 0)) / DAY)
            .collect()
    };
    assert_eq!(days(&w.service), [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(days(&w.wanted), [0, 1, 2, 4, 5, 6]);
    // Nothing after until.
    let later = Utc.timestamp_opt(at(SH, 2027, 1, 10, 10, 0), 0).unwrap();
    assert_eq!(next_window(&s, time(10, 0), later), None);
}

fn subs(list: &[(&str, i64, bool)], duration: i64) -> SubMeetings {
    SubMeetings {
        items: list
            .iter()
            .map(|&(id, start, cancelled)| SubMeeting {
                sub_meeting_id: id.into(),
                cancelled,
                start_time: start,
                end_time: start + duration,
            })
            .collect(),
        unreadable: 0,
    }
}

fn window(service: &[i64], wanted: &[i64]) -> Window {
    Window {
        service: service.to_vec(),
        wanted: wanted.to_vec(),
    }
}

#[test]
fn a_series_as_planned_needs_nothing() {
    let w = window(&[0, DAY, 2 * DAY], &[0, DAY, 2 * DAY]);
    let got = check(
        &w,
        1800,
        &subs(
            &[("a", 0, false), ("b", DAY, false), ("c", 2 * DAY, false)],
            1800,
        ),
        false,
    );
    assert_eq!(
        got,
        Ok(Checked {
            matched: vec![(0, "a".into()), (DAY, "b".into()), (2 * DAY, "c".into())],
            repairs: vec![]
        })
    );
}

/// New York falls back on 7 November 2027: a service that expands at the first start's
/// offset books the 09:00 weekly an hour early from then on. Each is moved, whatever their
/// number: moves keep the link.
#[test]
fn a_fixed_offset_expansion_is_moved_back_to_the_zone_time() {
    let wanted: Vec<i64> = [(10, 25), (11, 1), (11, 8), (11, 15)]
        .iter()
        .map(|&(m, d)| at(NY, 2027, m, d, 9, 0))
        .collect();
    // Whole days of 86,400 s from the first start.
    let fixed: Vec<(String, i64, bool)> = (0..4)
        .map(|w| (format!("s{w}"), wanted[0] + w * 7 * DAY, false))
        .collect();
    assert_eq!(fixed[2].1, wanted[2] - 3600);
    let fixed: Vec<(&str, i64, bool)> = fixed
        .iter()
        .map(|(id, t, c)| (id.as_str(), *t, *c))
        .collect();
    let got = check(&window(&wanted, &wanted), 1800, &subs(&fixed, 1800), false).unwrap();
    assert_eq!(
        got.repairs,
        [
            Repair::Move {
                sub_meeting_id: "s2".into(),
                start: wanted[2],
                end: wanted[2] + 1800
            },
            Repair::Move {
                sub_meeting_id: "s3".into(),
                start: wanted[3],
                end: wanted[3] + 1800
            },
        ]
    );
    assert_eq!(got.matched.len(), 4);
}

#[test]
fn skip_dates_are_cancelled_and_what_is_missing_or_unasked_for_is_repaired() {
    // The service made days 0-4; day 2 is a skip date; day 3's is missing; an unasked-for
    // sub-meeting on day 9; day 1's was cancelled (by a person): booked again on its own.
    let service = [0, DAY, 2 * DAY, 3 * DAY, 4 * DAY];
    let wanted = [0, DAY, 3 * DAY, 4 * DAY];
    let got = check(
        &window(&service, &wanted),
        1800,
        &subs(
            &[
                ("a", 0, false),
                ("b", DAY, true),
                ("c", 2 * DAY, false),
                ("e", 4 * DAY, false),
                ("z", 9 * DAY, false),
            ],
            1800,
        ),
        false,
    );
    // Two of four missing and one unasked for: more than half.
    assert_eq!(
        got,
        Err(BeyondRepair::TooMany {
            wrong: 3,
            wanted: 4
        })
    );
    let got = check(
        &window(&service, &wanted),
        1800,
        &subs(
            &[
                ("a", 0, false),
                ("b", DAY, false),
                ("c", 2 * DAY, false),
                ("e", 4 * DAY, false),
                ("z", 9 * DAY, false),
            ],
            1800,
        ),
        false,
    )
    .unwrap();
    assert_eq!(
        got.repairs,
        [
            Repair::Missing {
                start: 3 * DAY,
                end: 3 * DAY + 1800
            },
            Repair::Cancel {
                sub_meeting_id: "c".into()
            },
            Repair::Cancel {
                sub_meeting_id: "z".into()
            },
        ]
    );
    assert_eq!(
        got.matched,
        [(0, "a".into()), (DAY, "b".into()), (4 * DAY, "e".into())]
    );
}

#[test]
fn an_answer_that_may_not_list_everything_is_not_trusted() {
    let w = window(&[0], &[0]);
    let one = subs(&[("a", 0, false)], 1800);
    assert_eq!(check(&w, 1800, &one, true), Err(BeyondRepair::Partial));
    let unreadable = SubMeetings {
        unreadable: 1,
        ..one
    };
    assert_eq!(
        check(&w, 1800, &unreadable, false),
        Err(BeyondRepair::Unreadable(1))
    );
    assert_eq!(
        BeyondRepair::TooMany {
            wrong: 3,
            wanted: 4
        }
        .to_string(),
        "3 of the series' 4 occurrences are missing or unasked for on the service (it read the rule otherwise)"
    );
}
