//! The pure heart of the scheduler: definitions + now -> the bookings that should exist.
//!
//! Each wanted booking is keyed by (definition id, occurrence start in unix seconds). The key
//! is stable across restarts and rescans, which is what lets the daemon book every occurrence
//! exactly once. Nothing here reads the clock, the disk or the network.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::api::model::CreateMeeting;
use crate::config::UserFormat;
use crate::definition::{Definition, When};

/// Identifies one occurrence of one definition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BookingKey {
    pub definition: String,
    /// Occurrence start, unix seconds.
    pub start: i64,
}

impl fmt::Display for BookingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.definition, self.start)
    }
}

/// One occurrence that should be booked.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted {
    pub key: BookingKey,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The meeting's time zone, for display.
    pub timezone: Tz,
    /// When the booking becomes due: `None` for one-off meetings (as soon as they are seen),
    /// `start - book_ahead` for occurrences of a series.
    pub book_at: Option<DateTime<Utc>>,
    /// The exact body of the create request.
    pub request: CreateMeeting,
}

impl Wanted {
    /// Whether the booking should be made at `now`.
    pub fn is_due(&self, now: DateTime<Utc>) -> bool {
        self.book_at.is_none_or(|t| t <= now)
    }
}

/// One occurrence of a definition, before it is turned into a request.
#[derive(Clone, Copy)]
struct Occurrence {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    book_at: Option<DateTime<Utc>>,
}

/// A definition's occurrences that start after `now`, in order, with their booking times.
fn occurrences(def: &Definition, now: DateTime<Utc>) -> Box<dyn Iterator<Item = Occurrence> + '_> {
    match &def.when {
        When::Once { start, end } if *start > now => Box::new(std::iter::once(Occurrence {
            start: *start,
            end: *end,
            book_at: None,
        })),
        When::Once { .. } => Box::new(std::iter::empty()),
        When::Recurring(s) => Box::new(s.starts_after(now).map(move |start| Occurrence {
            start,
            end: start + s.duration,
            book_at: Some(start - s.book_ahead),
        })),
    }
}

fn wanted_of(
    def: &Definition,
    format: UserFormat,
    Occurrence {
        start,
        end,
        book_at,
    }: Occurrence,
) -> Wanted {
    Wanted {
        key: BookingKey {
            definition: def.id.clone(),
            start: start.timestamp(),
        },
        start,
        end,
        timezone: def.timezone_of_occurrences(),
        book_at,
        request: CreateMeeting::for_occurrence(def, start, end, format),
    }
}

/// Every booking that is due by `horizon`: occurrences that start after `now` and whose
/// booking time is at or before `horizon`. With `horizon == now`, what to book right now.
/// Sorted by start, then definition.
pub fn wanted(
    defs: &[Definition],
    format: UserFormat,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = defs
        .iter()
        .flat_map(|def| {
            occurrences(def, now)
                .take_while(move |o| o.book_at.is_none_or(|t| t <= horizon))
                .map(move |occ| wanted_of(def, format, occ))
        })
        .collect();
    out.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
    out
}

/// The next `count` bookings over all definitions, in the order the daemon makes them (by
/// booking time, bookings due now first, then by start): what `plan` shows.
pub fn upcoming(
    defs: &[Definition],
    format: UserFormat,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = defs
        .iter()
        .flat_map(|def| {
            // A definition's booking times rise with its starts, so its first `count` are the
            // only ones that can make the cut.
            occurrences(def, now)
                .take(count)
                .map(move |occ| wanted_of(def, format, occ))
        })
        .collect();
    let action_time = |w: &Wanted| w.book_at.map_or(now, |t| t.max(now));
    out.sort_by(|a, b| (action_time(a), a.start, &a.key).cmp(&(action_time(b), b.start, &b.key)));
    out.truncate(count);
    out
}

/// The earliest time after `now` at which some booking becomes due: how long the daemon may
/// sleep when nothing else happens. `None` when no definition has anything left to book.
pub fn next_due(defs: &[Definition], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    defs.iter()
        .filter_map(|def| {
            occurrences(def, now)
                .filter_map(|o| o.book_at)
                .find(|t| *t > now)
        })
        .min()
}

impl Definition {
    /// The zone occurrences are shown in: the schedule's for a series, else the definition's.
    pub fn timezone_of_occurrences(&self) -> Tz {
        match &self.when {
            When::Recurring(s) => s.timezone,
            When::Once { .. } => self.timezone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Defaults;
    use chrono::TimeZone;
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
        crate::definition::parse(
            Path::new(id),
            id,
            text,
            &defaults(),
            now(),
            crate::definition::Past::Reject,
        )
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
        assert_eq!(body["settings"]["mute_enable_join"], false);
        assert_eq!(body["settings"]["live_url"], false);
        assert!(body.get("password").is_none());
    }
}
