//! Points in time as a definition writes them: `start_time`, `end_time` (offset or local
//! datetimes, unix seconds, RFC 3339 text) and a schedule's `from`/`until` bounds (a date
//! is the whole local day).

use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use toml::Spanned;
use toml::de::DeValue;

use crate::diagnostic::Collector;
use crate::schedule;
use crate::toml_reader::{Span, describe, integer_of};

/// Reads a point in time: a TOML offset datetime, a local datetime (in `tz`), unix seconds as
/// an integer, or a string of unix seconds or RFC 3339 text.
pub(super) fn read_instant(
    value: &Spanned<DeValue<'_>>,
    key: &str,
    tz: Tz,
    c: &mut Collector<'_>,
) -> Option<DateTime<Utc>> {
    const HINT: &str = "write 2026-12-01T10:00:00+08:00, a local 2026-12-01T10:00:00 (in `timezone`), or unix seconds";
    let span = value.span();
    match value.get_ref() {
        DeValue::Datetime(dt) => {
            let (Some(date), Some(time)) = (dt.date, dt.time) else {
                c.error_hint(
                    span,
                    format!("`{key}` needs both a date and a time of day"),
                    HINT,
                );
                return None;
            };
            let naive =
                NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())
                    .and_then(|d| {
                        d.and_hms_nano_opt(
                            time.hour.into(),
                            time.minute.into(),
                            time.second.unwrap_or(0).into(),
                            time.nanosecond.unwrap_or(0),
                        )
                    });
            let Some(naive) = naive else {
                c.error_hint(span, format!("`{key}` is not a valid date and time"), HINT);
                return None;
            };
            match dt.offset {
                Some(toml::value::Offset::Z) => Some(naive.and_utc()),
                Some(toml::value::Offset::Custom { minutes }) => {
                    Some(naive.and_utc() - TimeDelta::minutes(minutes.into()))
                }
                None => local_to_utc(naive, tz, key, span, c),
            }
        }
        DeValue::Integer(_) => match integer_of(value.get_ref()) {
            Some(Ok(secs)) => unix(secs, key, span, c),
            _ => {
                c.error_hint(span, format!("`{key}` is out of range"), HINT);
                None
            }
        },
        DeValue::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                match s.parse::<i64>() {
                    Ok(secs) => unix(secs, key, span, c),
                    Err(_) => {
                        c.error_hint(span, format!("`{key}` is out of range"), HINT);
                        None
                    }
                }
            } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                Some(t.with_timezone(&Utc))
            } else {
                c.error_hint(span, format!("`{key}` is not a time"), HINT);
                None
            }
        }
        other => {
            c.error_hint(
                span,
                format!(
                    "`{key}` must be a datetime or unix seconds, found {}",
                    describe(other)
                ),
                HINT,
            );
            None
        }
    }
}

fn unix(secs: i64, key: &str, span: Span, c: &mut Collector<'_>) -> Option<DateTime<Utc>> {
    // 1 January 2000 to 31 December 9999: anything else is a typo (or milliseconds).
    if !(946_684_800..=253_402_300_799).contains(&secs) {
        c.error_hint(
            span,
            format!("`{key}` = {secs} is not a plausible unix time in seconds"),
            "unix seconds have 10 digits today; milliseconds (13 digits) are not accepted",
        );
        return None;
    }
    DateTime::from_timestamp(secs, 0)
}

fn local_to_utc(
    naive: NaiveDateTime,
    tz: Tz,
    key: &str,
    span: Span,
    c: &mut Collector<'_>,
) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => {
            c.error_hint(
                span,
                format!("`{key}` {naive} happens twice in {tz} (clocks go back)"),
                format!(
                    "add the offset you mean: {} or {}",
                    a.format("%FT%T%:z"),
                    b.format("%FT%T%:z")
                ),
            );
            None
        }
        LocalResult::None => {
            c.error_hint(
                span,
                format!("`{key}` {naive} does not exist in {tz} (clocks go forward)"),
                "pick a time outside the daylight-saving gap",
            );
            None
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Bound {
    Start,
    End,
}

/// `schedule.from`/`until`: a date (the whole day, in the schedule's zone) or a datetime.
pub(super) fn read_bound(
    value: &Spanned<DeValue<'_>>,
    key: &str,
    tz: Tz,
    bound: Bound,
    c: &mut Collector<'_>,
) -> Option<DateTime<Utc>> {
    if let DeValue::Datetime(dt) = value.get_ref()
        && let (Some(date), None) = (dt.date, dt.time)
    {
        let Some(day) =
            NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())
        else {
            c.error(value.span(), format!("`{key}` is not a valid date"));
            return None;
        };
        // A date is the whole local day, a repeated hour at its end included, and starts at
        // the first valid time when midnight falls in a gap (e.g. America/Santiago).
        let instant = match bound {
            Bound::Start => schedule::start_of_day(tz, day),
            Bound::End => schedule::end_of_day(tz, day),
        };
        if instant.is_none() {
            c.error(value.span(), format!("`{key}` is out of range"));
        }
        return instant;
    }
    read_instant(value, key, tz, c)
}
