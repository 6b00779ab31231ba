//! Recurrence: a cron rule in a time zone, within an optional window, turned into the start
//! times of occurrences.
//!
//! Rules are parsed by `croner`, which follows Vixie cron across daylight-saving changes: a
//! fixed time that falls in the spring-forward gap runs at the first valid time after it, and a
//! fixed time in the repeated fall-back hour runs once. Occurrences are absolute instants
//! (UTC), so two occurrences of one rule never share a start.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// A parsed recurrence rule with everything needed to list its occurrences.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    /// The rule as written, for display.
    pub rule: String,
    pub timezone: Tz,
    /// How long each occurrence lasts.
    pub duration: TimeDelta,
    /// How long before its start each occurrence is booked.
    pub book_ahead: TimeDelta,
    /// No occurrence starts before this instant.
    pub from: Option<DateTime<Utc>>,
    /// No occurrence starts after this instant.
    pub until: Option<DateTime<Utc>>,
}

/// Why a cron rule was refused; the message is shown after the file position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(String);

/// Parses a 5-field crontab rule (`30 9 * * MON-FRI`), a 6-field one with leading seconds, or a
/// nickname (`@daily`, `@weekly`, ...).
pub fn parse_rule(rule: &str) -> Result<Cron, RuleError> {
    let fields = rule.split_whitespace().count();
    if !rule.trim_start().starts_with('@') && !(5..=6).contains(&fields) {
        return Err(RuleError(format!(
            "a cron rule has 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds; this one has {fields}"
        )));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(rule)
        .map_err(|e| RuleError(format!("invalid cron rule: {e}")))
}

impl Schedule {
    pub fn new(
        cron: Cron,
        rule: String,
        timezone: Tz,
        duration: TimeDelta,
        book_ahead: TimeDelta,
    ) -> Self {
        Schedule {
            cron,
            rule,
            timezone,
            duration,
            book_ahead,
            from: None,
            until: None,
        }
    }

    /// Occurrence starts strictly after `after`, in order, inside the `from..=until` window.
    pub fn starts_after(&self, after: DateTime<Utc>) -> Occurrences<'_> {
        // Start the search just before `from` so an occurrence exactly at `from` is included.
        let cursor = match self.from {
            Some(from) if from > after => from - TimeDelta::seconds(1),
            _ => after,
        };
        Occurrences {
            schedule: self,
            cursor: Some(cursor.with_timezone(&self.timezone)),
        }
    }
}

/// Iterator over a schedule's occurrence starts; ends at `until` or when the rule has no more
/// matches (croner gives up past the year 5000).
pub struct Occurrences<'a> {
    schedule: &'a Schedule,
    cursor: Option<DateTime<Tz>>,
}

impl Iterator for Occurrences<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let cursor = self.cursor.take()?;
        let next = self
            .schedule
            .cron
            .find_next_occurrence(&cursor, false)
            .ok()?;
        let utc = next.with_timezone(&Utc);
        if self.schedule.until.is_some_and(|until| utc > until) {
            return None;
        }
        self.cursor = Some(next);
        Some(utc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::{America, Asia, Europe};

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
        let err = parse_rule("0 30 9 * * MON-FRI 2027").unwrap_err();
        assert!(err.to_string().contains("this one has 7"), "{err}");
        let err = parse_rule("30 9 * *").unwrap_err();
        assert!(err.to_string().contains("this one has 4"), "{err}");
        assert!(parse_rule("61 9 * * *").is_err());
        assert!(parse_rule("30 9 * * FUNDAY").is_err());
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
}
