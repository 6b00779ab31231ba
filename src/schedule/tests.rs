//! Cron rules: parsing and its errors, the day rule, daylight saving in several zones,
//! windows and skipped dates.

use super::*;
use chrono::TimeZone;
use chrono_tz::{America, Asia, Australia, Europe};

fn schedule(rule: &str, tz: Tz) -> Schedule {
    Schedule::new(
        parse_rule(rule).unwrap(),
        rule.into(),
        tz,
        TimeDelta::minutes(15),
        TimeDelta::days(7),
    )
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn local(s: &Schedule, t: DateTime<Utc>) -> String {
    t.with_timezone(&s.timezone).format("%F %R %Z").to_string()
}

/// Every occurrence between two instants, shown in the schedule's zone.
fn between(rule: &str, tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let s = schedule(rule, tz);
    s.starts_after(from)
        .take_while(|t| *t <= to)
        .map(|t| local(&s, t))
        .collect()
}

#[test]
fn weekday_rule_in_shanghai() {
    let s = schedule("30 9 * * MON-FRI", Asia::Shanghai);
    // 2026-11-27 is a Friday.
    let got: Vec<_> = s.starts_after(utc(2026, 11, 27, 0, 0)).take(3).collect();
    assert_eq!(
        got,
        vec![
            utc(2026, 11, 27, 1, 30),
            utc(2026, 11, 30, 1, 30),
            utc(2026, 12, 1, 1, 30)
        ]
    );
}

#[test]
fn six_fields_and_nicknames_are_accepted_seven_are_not() {
    assert!(parse_rule("0 30 9 * * MON-FRI").is_ok());
    assert!(parse_rule("@weekly").is_ok());
    assert!(parse_rule("@midnight").is_ok());
    let err = parse_rule("0 30 9 * * MON-FRI 2027").unwrap_err();
    assert!(err.to_string().contains("this one has 7"), "{err}");
    let err = parse_rule("30 9 * *").unwrap_err();
    assert!(err.to_string().contains("this one has 4"), "{err}");
    assert!(parse_rule("61 9 * * *").is_err());
    assert!(parse_rule("30 9 * * FUNDAY").is_err());
}

#[test]
fn field_count_message_is_the_same_for_every_count() {
    let four = parse_rule("30 9 * *").unwrap_err().message;
    let eight = parse_rule("0 30 9 * * MON 2027 x").unwrap_err().message;
    let expected = |n: usize| {
        format!(
            "a cron rule has 5 fields (minute hour day-of-month month day-of-week), 6 with leading seconds, or is a nickname such as @daily; this one has {n}"
        )
    };
    assert_eq!(four, expected(4));
    assert_eq!(eight, expected(8));
}

#[test]
fn midnight_is_daily_and_reboot_is_refused_with_a_hint() {
    let s = schedule("@midnight", Tz::UTC);
    let got: Vec<_> = s.starts_after(utc(2027, 1, 1, 12, 0)).take(2).collect();
    assert_eq!(got, vec![utc(2027, 1, 2, 0, 0), utc(2027, 1, 3, 0, 0)]);
    let err = parse_rule("@reboot").unwrap_err();
    assert!(err.message.contains("@reboot"), "{err:?}");
    assert!(err.hint.contains("start_time"), "{err:?}");
    let err = parse_rule("@fortnightly").unwrap_err();
    assert!(err.hint.contains("@midnight"), "{err:?}");
}

#[test]
fn reversed_ranges_are_refused() {
    let err = parse_rule("0 9 * * MON-SUN").unwrap_err();
    assert_eq!(
        err.message,
        "the range `MON-SUN` in the day-of-week field runs backwards (1 to 0)"
    );
    assert!(err.hint.contains("MON-SAT,SUN"), "{err:?}");
    let err = parse_rule("30-20 9 * * *").unwrap_err();
    assert_eq!(
        err.message,
        "the range `30-20` in the minute field runs backwards (30 to 20)"
    );
    let err = parse_rule("0 9 * NOV-FEB *").unwrap_err();
    assert!(err.message.contains("month field"), "{err:?}");
    assert!(parse_rule("0 9 * * 5-7").is_ok());
    assert!(parse_rule("0 9 * * MON-FRI").is_ok());
    assert!(parse_rule("0 9 * * FRI#1").is_ok());
}

#[test]
fn fixed_time_is_decided_by_the_minute_and_hour_fields() {
    for rule in [
        "30 9 * * *",
        "0,30 1 * * *",
        "30 2-3 * * *",
        "0 */1,5 * * *",
        "@daily",
    ] {
        let fixed = !rule.split(' ').take(2).any(|f| f.starts_with('*'));
        assert_eq!(parse_rule(rule).unwrap().is_fixed_time(), fixed, "{rule}");
    }
    assert!(!parse_rule("@hourly").unwrap().is_fixed_time());
    assert!(!parse_rule("*/15 9 * * *").unwrap().is_fixed_time());
    assert!(parse_rule("15 30 9 * * *").unwrap().is_fixed_time());
}

#[test]
fn spring_forward_gap_runs_once_at_the_first_valid_time_new_york() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 does not exist that day.
    let s = schedule("30 2 * * *", America::New_York);
    let got: Vec<_> = s.starts_after(utc(2026, 3, 7, 12, 0)).take(2).collect();
    assert_eq!(local(&s, got[0]), "2026-03-08 03:00 EDT");
    assert_eq!(local(&s, got[1]), "2026-03-09 02:30 EDT");
}

#[test]
fn fall_back_overlap_runs_a_fixed_time_once_new_york() {
    // 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice on the clock.
    let s = schedule("30 1 * * *", America::New_York);
    let got: Vec<_> = s.starts_after(utc(2026, 10, 31, 12, 0)).take(2).collect();
    assert_eq!(local(&s, got[0]), "2026-11-01 01:30 EDT");
    assert_eq!(local(&s, got[1]), "2026-11-02 01:30 EST");
}

#[test]
fn a_list_of_hours_is_still_a_fixed_time_on_fall_back_day() {
    // Issue 14, case 1: two meetings an hour apart on every fall-back day before.
    assert_eq!(
        between(
            "30 1,13 * * *",
            America::New_York,
            utc(2027, 11, 6, 18, 0),
            utc(2027, 11, 8, 12, 0)
        ),
        [
            "2027-11-07 01:30 EDT",
            "2027-11-07 13:30 EST",
            "2027-11-08 01:30 EST"
        ]
    );
    // UK falls back 02:00 BST -> 01:00 GMT on 2027-10-31.
    assert_eq!(
        between(
            "0,30 1 * * *",
            Europe::London,
            utc(2027, 10, 30, 12, 0),
            utc(2027, 10, 31, 12, 0)
        ),
        ["2027-10-31 01:00 BST", "2027-10-31 01:30 BST"]
    );
}

#[test]
fn times_in_the_gap_run_once_at_its_end() {
    // Issue 14, case 1: nothing at all before; validate said the rule never fires.
    assert_eq!(
        between(
            "0,30 2 14 3 *",
            America::New_York,
            utc(2027, 3, 13, 0, 0),
            utc(2027, 3, 15, 0, 0)
        ),
        ["2027-03-14 03:00 EDT"]
    );
    // 02:30 runs at 03:00, and 03:30 as written.
    assert_eq!(
        between(
            "30 2-3 * * *",
            America::New_York,
            utc(2027, 3, 14, 0, 0),
            utc(2027, 3, 14, 12, 0)
        ),
        ["2027-03-14 03:00 EDT", "2027-03-14 03:30 EDT"]
    );
    // Lord Howe moves its clocks by 30 minutes: 02:00 -> 02:30 on 2027-10-03.
    assert_eq!(
        between(
            "15 2 * * *",
            Australia::Lord_Howe,
            utc(2027, 10, 2, 0, 0),
            utc(2027, 10, 3, 12, 0)
        ),
        ["2027-10-03 02:30 +11"]
    );
}

#[test]
fn spring_forward_and_fall_back_berlin() {
    // 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
    let s = schedule("30 2 * * *", Europe::Berlin);
    let spring: Vec<_> = s.starts_after(utc(2026, 3, 28, 12, 0)).take(2).collect();
    assert_eq!(local(&s, spring[0]), "2026-03-29 03:00 CEST");
    assert_eq!(local(&s, spring[1]), "2026-03-30 02:30 CEST");
    let autumn: Vec<_> = s.starts_after(utc(2026, 10, 24, 12, 0)).take(2).collect();
    assert_eq!(local(&s, autumn[0]), "2026-10-25 02:30 CEST");
    assert_eq!(local(&s, autumn[1]), "2026-10-26 02:30 CET");
}

#[test]
fn interval_rule_in_the_repeated_hour_gives_distinct_instants() {
    let s = schedule("*/30 * * * *", America::New_York);
    let got: Vec<_> = s.starts_after(utc(2026, 11, 1, 4, 40)).take(4).collect();
    assert_eq!(
        got,
        vec![
            utc(2026, 11, 1, 5, 0),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 1, 6, 0),
            utc(2026, 11, 1, 6, 30)
        ]
    );
}

#[test]
fn interval_rule_skips_the_gap() {
    assert_eq!(
        between(
            "*/30 * * * *",
            America::New_York,
            utc(2027, 3, 14, 6, 10),
            utc(2027, 3, 14, 7, 40)
        ),
        [
            "2027-03-14 01:30 EST",
            "2027-03-14 03:00 EDT",
            "2027-03-14 03:30 EDT"
        ]
    );
}

#[test]
fn a_starred_day_field_ands_the_day_fields() {
    // Issue 14, case 2: odd days AND Mondays, not odd days OR Mondays.
    let days: Vec<u32> = schedule("0 9 */2 * MON", Tz::UTC)
        .starts_after(utc(2027, 1, 1, 0, 0))
        .take_while(|t| *t < utc(2027, 2, 1, 0, 0))
        .map(|t| t.day())
        .collect();
    assert_eq!(days, [11, 25]);
    // Both restricted: either matches (days 1-7 or Fridays).
    let days: Vec<u32> = schedule("0 9 1-7 * FRI", Tz::UTC)
        .starts_after(utc(2027, 1, 1, 0, 0))
        .take_while(|t| *t < utc(2027, 2, 1, 0, 0))
        .map(|t| t.day())
        .collect();
    assert_eq!(days, [1, 2, 3, 4, 5, 6, 7, 8, 15, 22, 29]);
}

#[test]
fn until_a_date_includes_a_repeated_hour_at_its_end() {
    // Issue 14, case 4: America/Santiago falls back at midnight, 2027-04-04 00:00 -03 ->
    // 2027-04-03 23:00 -04, so 23:00-23:59 of 2027-04-03 happens twice.
    let date = NaiveDate::from_ymd_opt(2027, 4, 3).unwrap();
    let mut s = schedule("*/30 23 * * *", America::Santiago);
    s.until = end_of_day(America::Santiago, date);
    let got: Vec<_> = s
        .starts_after(utc(2027, 4, 3, 12, 0))
        .map(|t| local(&s, t))
        .collect();
    assert_eq!(
        got,
        [
            "2027-04-03 23:00 -03",
            "2027-04-03 23:30 -03",
            "2027-04-03 23:00 -04",
            "2027-04-03 23:30 -04"
        ]
    );
}

#[test]
fn days_start_after_a_midnight_gap() {
    // America/Santiago springs forward at midnight: 2027-09-05 starts at 01:00 -03.
    let date = NaiveDate::from_ymd_opt(2027, 9, 5).unwrap();
    let start = start_of_day(America::Santiago, date).unwrap();
    assert_eq!(
        start
            .with_timezone(&America::Santiago)
            .format("%F %R %Z")
            .to_string(),
        "2027-09-05 01:00 -03"
    );
}

#[test]
fn skipped_dates_have_no_occurrence() {
    let mut s = schedule("0 10 * * *", Asia::Shanghai);
    s.skip
        .insert(NaiveDate::from_ymd_opt(2026, 12, 25).unwrap());
    let got: Vec<String> = s
        .starts_after(utc(2026, 12, 23, 12, 0))
        .take(3)
        .map(|t| local(&s, t))
        .collect();
    assert_eq!(
        got,
        [
            "2026-12-24 10:00 CST",
            "2026-12-26 10:00 CST",
            "2026-12-27 10:00 CST"
        ]
    );
}

#[test]
fn window_bounds_are_inclusive() {
    let mut s = schedule("0 10 * * *", Tz::UTC);
    s.from = Some(utc(2026, 12, 1, 10, 0));
    s.until = Some(utc(2026, 12, 3, 10, 0));
    let got: Vec<_> = s.starts_after(utc(2026, 11, 1, 0, 0)).collect();
    assert_eq!(
        got,
        vec![
            utc(2026, 12, 1, 10, 0),
            utc(2026, 12, 2, 10, 0),
            utc(2026, 12, 3, 10, 0)
        ]
    );
}

#[test]
fn a_rule_that_never_matches_ends_the_iterator() {
    let s = schedule("0 0 31 2 *", Tz::UTC);
    assert_eq!(s.starts_after(utc(2026, 1, 1, 0, 0)).next(), None);
}

#[test]
fn the_29th_of_february_is_found_across_2100() {
    let s = schedule("0 12 29 2 *", Tz::UTC);
    let got: Vec<_> = s.starts_after(utc(2097, 1, 1, 0, 0)).take(1).collect();
    assert_eq!(got, vec![utc(2104, 2, 29, 12, 0)]);
}

#[test]
fn the_compact_rule_matches_the_days_and_times_croners_parsed_rule_does() {
    // The day rule is tabulated by month length and weekday when the rule is parsed: over 28
    // years (every weekday on every date of every kind of month, leap years included) and
    // past croner's last year, each day must match exactly when croner's rule matches it.
    for rule in [
        "30 9 * * MON-FRI",
        "0 0 L * *",
        "0 0 LW * *",
        "0 0 15W * *",
        "0 0 1W,31W * *",
        "0 0 28W,29W,30W * *",
        "0 0 20-31 * 1L,2#4",
        "0 0 L * FRI",
        "0 0 LW * SAT#5",
        "0 9 * * FRI#1",
        "0 9 * * 5L",
        "0 9 1-7 * MON",
        "0 9 13 * FRI",
        "0 9 */10 9 FRI#1",
        "0 9 29 2 *",
        "0 9 ? JAN,JUL SUN#5",
        "*/15 8-17 * * *",
        "5 30 9 * * *",
        "@monthly",
    ] {
        let compact = parse_rule(rule).unwrap();
        let trimmed = rule.replace("@monthly", "0 0 1 * *");
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let [minute, hour, dom, _, dow] = fields[fields.len() - 5..] else {
            unreachable!()
        };
        let starred = |f: &str| f.starts_with('*') || f.starts_with('?');
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .dom_and_dow(starred(dom) || starred(dow))
            .build()
            .parse(&trimmed)
            .unwrap();
        let p = &cron.pattern;
        let mut day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let mut matched = 0;
        for _ in 0..28 * 366 {
            let weekday = Weekday::from_days_from_sunday(day.weekday().num_days_from_sunday());
            let (y, m, d) = (day.year(), day.month(), day.day());
            let want = p.month_match(m).unwrap() && p.day_match(y, m, d, weekday).unwrap();
            assert_eq!(compact.day_matches(day), want, "{rule} on {day}");
            matched += usize::from(want);
            day = day.succ_opt().unwrap();
        }
        assert!(matched > 0, "{rule} matched no day");
        let last = NaiveDate::from_ymd_opt(croner::YEAR_UPPER_LIMIT, 12, 31).unwrap();
        assert!(!compact.day_matches(last.succ_opt().unwrap()), "{rule}");
        let times: Vec<(u32, u32, u32)> = (0..24)
            .flat_map(|h| (0..60).flat_map(move |m| (0..60).map(move |s| (h, m, s))))
            .filter(|&(h, m, s)| {
                p.hour_match(h).unwrap() && p.minute_match(m).unwrap() && p.second_match(s).unwrap()
            })
            .collect();
        assert_eq!(compact.times().collect::<Vec<_>>(), times, "{rule}");
        assert_eq!(compact.times_per_day(), times.len(), "{rule}");
        assert_eq!(compact.is_fixed_time(), !starred(minute) && !starred(hour));
    }
    // What a rule costs to keep: no more than its own fields.
    assert!(std::mem::size_of::<Rule>() <= 160);
}
