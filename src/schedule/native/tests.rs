use chrono::{NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;

use super::{Native, NotNative, Repeat, native};
use crate::schedule::parse_rule;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 7).unwrap()
}

fn map(rule: &str, tz: Tz) -> Result<Native, NotNative> {
    native(&parse_rule(rule).unwrap(), tz, today())
}

fn at(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

/// Every form the service knows, and every reason a rule is booked one at a time.
#[test]
fn rules_map_onto_the_service_repeats_or_say_why_not() {
    use Repeat::*;
    let sh = chrono_tz::Asia::Shanghai;
    let ny = chrono_tz::America::New_York;
    let ok = |repeat, times: Vec<NaiveTime>| Ok(Native { repeat, times });
    let table: Vec<(&str, Tz, Result<Native, NotNative>)> = vec![
        ("30 9 * * *", sh, ok(Daily, vec![at(9, 30)])),
        ("@daily", sh, ok(Daily, vec![at(0, 0)])),
        ("0 9 * * 0-6", sh, ok(Daily, vec![at(9, 0)])),
        ("0 9 1-31 * *", sh, ok(Daily, vec![at(9, 0)])),
        ("30 9 * * MON-FRI", sh, ok(Workdays, vec![at(9, 30)])),
        ("30 9 * * 1,2,3,4,5", ny, ok(Workdays, vec![at(9, 30)])),
        ("0 10 * * WED", sh, ok(Weekly, vec![at(10, 0)])),
        ("@weekly", sh, ok(Weekly, vec![at(0, 0)])),
        ("0 10 * * 7", sh, ok(Weekly, vec![at(10, 0)])),
        (
            "0 10 * * MON,WED",
            sh,
            ok(Weekdays(0b000_1010), vec![at(10, 0)]),
        ),
        (
            "0 10 * * SAT,SUN",
            sh,
            ok(Weekdays(0b100_0001), vec![at(10, 0)]),
        ),
        (
            "0 10 * * TUE-SAT",
            sh,
            ok(Weekdays(0b111_1100), vec![at(10, 0)]),
        ),
        ("0 14 15 * *", sh, ok(Monthly, vec![at(14, 0)])),
        ("@monthly", sh, ok(Monthly, vec![at(0, 0)])),
        ("0 14 28 * *", sh, ok(Monthly, vec![at(14, 0)])),
        (
            "0 14 1,15 * *",
            sh,
            ok(MonthDays(1 | 1 << 14), vec![at(14, 0)]),
        ),
        ("0 14 1-3 * *", sh, ok(MonthDays(0b111), vec![at(14, 0)])),
        (
            "0 9 * * FRI#1",
            sh,
            ok(
                NthWeekday {
                    weekday: Weekday::Fri,
                    nth: 1,
                },
                vec![at(9, 0)],
            ),
        ),
        (
            "0 9 * * 1#5",
            sh,
            ok(
                NthWeekday {
                    weekday: Weekday::Mon,
                    nth: 5,
                },
                vec![at(9, 0)],
            ),
        ),
        (
            "0 9 * * SUN#3",
            ny,
            ok(
                NthWeekday {
                    weekday: Weekday::Sun,
                    nth: 3,
                },
                vec![at(9, 0)],
            ),
        ),
        // One series per time.
        (
            "30 9,15 * * MON-FRI",
            sh,
            ok(Workdays, vec![at(9, 30), at(15, 30)]),
        ),
        ("0,30 9 * * *", sh, ok(Daily, vec![at(9, 0), at(9, 30)])),
        (
            "15 10 20 9 * *",
            sh,
            ok(Monthly, vec![NaiveTime::from_hms_opt(20, 10, 15).unwrap()]),
        ),
        (
            "15 10 9 * * *",
            sh,
            ok(Daily, vec![NaiveTime::from_hms_opt(9, 10, 15).unwrap()]),
        ),
        (
            "0 9,10,11,12 * * *",
            sh,
            ok(Daily, vec![at(9, 0), at(10, 0), at(11, 0), at(12, 0)]),
        ),
        // A DST zone is fine away from its changes' hours...
        ("0 9 * * *", ny, ok(Daily, vec![at(9, 0)])),
        (
            "0 9 * * *",
            chrono_tz::Australia::Lord_Howe,
            ok(Daily, vec![at(9, 0)]),
        ),
        // ... and not in them.
        (
            "30 2 * * *",
            ny,
            Err(NotNative::DaylightSaving {
                time: at(2, 30),
                date: NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
            }),
        ),
        (
            "30 1 * * *",
            ny,
            Err(NotNative::DaylightSaving {
                time: at(1, 30),
                date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            }),
        ),
        (
            "0 0 * * *",
            chrono_tz::America::Santiago,
            Err(NotNative::DaylightSaving {
                time: at(0, 0),
                date: NaiveDate::from_ymd_opt(2026, 9, 6).unwrap(),
            }),
        ),
        // Santiago falls back at midnight: 23:00 to 24:00 happens twice.
        (
            "30 23 * * *",
            chrono_tz::America::Santiago,
            Err(NotNative::DaylightSaving {
                time: at(23, 30),
                date: NaiveDate::from_ymd_opt(2026, 4, 4).unwrap(),
            }),
        ),
        // Lord Howe moves by 30 minutes: 01:30 to 02:00 happens twice in April, 02:00 to
        // 02:30 is skipped in October.
        (
            "45 1 * * *",
            chrono_tz::Australia::Lord_Howe,
            Err(NotNative::DaylightSaving {
                time: at(1, 45),
                date: NaiveDate::from_ymd_opt(2026, 4, 5).unwrap(),
            }),
        ),
        (
            "15 2 * * *",
            chrono_tz::Australia::Lord_Howe,
            Err(NotNative::DaylightSaving {
                time: at(2, 15),
                date: NaiveDate::from_ymd_opt(2026, 10, 4).unwrap(),
            }),
        ),
        (
            "30 2 * * *",
            chrono_tz::Australia::Lord_Howe,
            ok(Daily, vec![at(2, 30)]),
        ),
        ("30 2 * * *", sh, ok(Daily, vec![at(2, 30)])),
        // Refused forms.
        ("*/30 9 * * *", sh, Err(NotNative::Interval)),
        ("0 * * * *", sh, Err(NotNative::Interval)),
        ("@hourly", sh, Err(NotNative::Interval)),
        (
            "0 9-13 * * *",
            sh,
            Err(NotNative::TooManyTimes { times: 5 }),
        ),
        ("0 9 * 1-6 *", sh, Err(NotNative::Months)),
        ("@yearly", sh, Err(NotNative::Months)),
        ("0 9 29 * *", sh, Err(NotNative::LateMonthDays)),
        ("0 9 1,31 * *", sh, Err(NotNative::LateMonthDays)),
        ("0 9 L * *", sh, Err(NotNative::Days)),
        ("0 9 LW * *", sh, Err(NotNative::Days)),
        ("0 9 15W * *", sh, Err(NotNative::Days)),
        ("0 9 * * 5L", sh, Err(NotNative::Days)),
        ("0 9 */2 * *", sh, Err(NotNative::LateMonthDays)),
        (
            "0 9 1-27/2 * *",
            sh,
            ok(MonthDays(0x0555_5555), vec![at(9, 0)]),
        ),
        ("0 9 */10 * MON", sh, Err(NotNative::Days)),
        ("0 9 * * MON#1,MON#3", sh, Err(NotNative::Days)),
        ("0 9 * * MON#1,TUE#1", sh, Err(NotNative::Days)),
        // Both day fields restricted: days 1-7 *or* Fridays.
        ("0 9 1-7 * FRI", sh, Err(NotNative::Days)),
        // Both restricted and "*"-started: odd days that are Mondays.
        ("0 9 */2 * MON", sh, Err(NotNative::Days)),
    ];
    let mut wrong = Vec::new();
    for (rule, tz, want) in table {
        let got = map(rule, tz);
        if got != want {
            wrong.push(format!("{rule:?} in {tz}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn repeats_describe_themselves() {
    let cases = [
        (Repeat::Daily, "daily"),
        (Repeat::Workdays, "Monday to Friday"),
        (Repeat::Weekly, "weekly"),
        (Repeat::Weekdays(0b100_0001), "weekly on Sun,Sat"),
        (Repeat::Monthly, "monthly"),
        (Repeat::MonthDays(1 | 1 << 27), "monthly on days 1,28"),
        (
            Repeat::NthWeekday {
                weekday: Weekday::Thu,
                nth: 2,
            },
            "monthly on Thu#2",
        ),
    ];
    for (repeat, text) in cases {
        assert_eq!(repeat.describe(), text);
    }
}

/// Every reason reads as a sentence an operator can act on.
#[test]
fn reasons_say_why() {
    assert_eq!(
        map("0 9-13 * * *", chrono_tz::Asia::Shanghai)
            .unwrap_err()
            .to_string(),
        "5 times a day would be 5 series (at most 4; an account holds at most 50)"
    );
    assert_eq!(
        map("30 2 * * *", chrono_tz::America::New_York)
            .unwrap_err()
            .to_string(),
        "02:30:00 is skipped or repeated on 2026-03-08 by a daylight-saving change, and the service's docs do not say how it expands such a time"
    );
}
