//! The schedule module against an independent cron reference (`tests/cron_reference/`, written
//! without croner): seeded random rules (lists, ranges, steps, names, `L`/`W`/`#`, 6 fields,
//! nicknames) in zones with daylight saving, in windows that straddle their changes. Every
//! rule's first 50 occurrences must agree.
//!
//! `WEMEET_CRON_RULES` (default 1200) and `WEMEET_CRON_SEED` (default 14) change the run.

mod cron_reference;

use chrono::{DateTime, LocalResult, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use wemeet_scheduler::schedule::{self, Schedule, parse_rule};

/// Zones with daylight saving, each with the years whose changes the windows straddle.
const ZONES: &[(Tz, i32, i32)] = &[
    (chrono_tz::America::New_York, 2026, 2030),
    (chrono_tz::Europe::London, 2026, 2030),
    (chrono_tz::Europe::Berlin, 2026, 2030),
    (chrono_tz::Australia::Sydney, 2026, 2030),
    (chrono_tz::Pacific::Chatham, 2026, 2030),
    (chrono_tz::America::St_Johns, 2026, 2030),
    (chrono_tz::America::Santiago, 2026, 2030),
    // Brazil dropped daylight saving in 2019; its last changes were at midnight.
    (chrono_tz::America::Sao_Paulo, 2016, 2019),
    // A 30-minute shift.
    (chrono_tz::Australia::Lord_Howe, 2026, 2030),
];

const OCCURRENCES: usize = 50;
/// Both sides look this far ahead for their 50 occurrences (a yearly rule needs 50 years).
const HORIZON_DAYS: u32 = 60 * 366;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
}

/// The first instant of a local day, found by stepping from midnight a minute at a time: the
/// test's own reading of "the whole day", independent of `schedule::start_of_day`.
fn day_start(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let mut t = date.and_hms_opt(0, 0, 0).unwrap();
    loop {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return x.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => return a.min(b).with_timezone(&Utc),
            LocalResult::None => t += TimeDelta::minutes(1),
        }
    }
}

#[test]
fn schedule_agrees_with_the_reference_across_dst_changes() {
    let rules = env_or("WEMEET_CRON_RULES", 1200);
    let seed = env_or("WEMEET_CRON_SEED", 14);
    let mut rng = cron_reference::RuleGen::new(seed);
    let transitions: Vec<Vec<DateTime<Utc>>> = ZONES
        .iter()
        .map(|&(tz, from, to)| {
            let t = cron_reference::transitions(tz, utc(from, 1, 1), utc(to + 1, 1, 1));
            assert!(t.len() >= 2 * (to - from) as usize, "{tz}: {t:?}");
            t
        })
        .collect();
    let mut disagreements = Vec::new();
    let mut windowed = 0;
    for i in 0..rules {
        let rule = rng.rule();
        let zone = (i as usize) % ZONES.len();
        let tz = ZONES[zone].0;
        let changes = &transitions[zone];
        let change = changes[rng.below(changes.len() as u64) as usize];
        // Start up to three days before the change, at any second.
        let after = change - TimeDelta::seconds(rng.below(3 * 86400) as i64);
        let reference = cron_reference::parse(&rule)
            .unwrap_or_else(|e| panic!("the reference refuses its own rule {rule:?}: {e}"));
        let ours = parse_rule(&rule).unwrap_or_else(|e| panic!("{rule:?} refused: {e}"));
        let mut s = Schedule::new(
            ours,
            rule.clone(),
            tz,
            TimeDelta::minutes(15),
            TimeDelta::days(7),
        );
        // A third of the rules get a window of whole local days around the change.
        let (mut from, mut until) = (None, None);
        if rng.below(3) == 0 {
            windowed += 1;
            let day = change.with_timezone(&tz).date_naive();
            let first = day - TimeDelta::days(rng.below(2) as i64);
            let last = day + TimeDelta::days(rng.below(3) as i64);
            from = Some(day_start(tz, first));
            until = Some(day_start(tz, last.succ_opt().unwrap()) - TimeDelta::seconds(1));
            assert_eq!(schedule::start_of_day(tz, first), from, "{tz} {first}");
            assert_eq!(schedule::end_of_day(tz, last), until, "{tz} {last}");
            s.from = from;
            s.until = until;
        }
        let expected = reference.starts_after(tz, after, from, until, OCCURRENCES, HORIZON_DAYS);
        // Only what both had the time to look at: the reference stops at its horizon.
        let horizon = after + TimeDelta::days(i64::from(HORIZON_DAYS) - 2);
        let expected: Vec<_> = expected.into_iter().filter(|t| *t < horizon).collect();
        let got: Vec<_> = s
            .starts_after(after)
            .take(OCCURRENCES)
            .take_while(|t| *t < horizon)
            .collect();
        if got != expected {
            let show = |v: &[DateTime<Utc>]| -> Vec<String> {
                v.iter()
                    .take(6)
                    .map(|t| t.with_timezone(&tz).format("%F %T %Z").to_string())
                    .collect()
            };
            let first_diff = got.iter().zip(&expected).position(|(a, b)| a != b);
            disagreements.push(format!(
                "{rule:?} in {tz} after {after} (window {from:?}..{until:?}): first difference at {first_diff:?}; ours {:?} ({} in all), reference {:?} ({} in all)",
                show(&got),
                got.len(),
                show(&expected),
                expected.len()
            ));
        }
    }
    assert!(windowed > rules / 5, "{windowed} windowed rules");
    assert!(
        disagreements.is_empty(),
        "{} of {rules} rules disagree (seed {seed}):\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
