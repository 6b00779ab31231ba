//! The pure heart of the scheduler: definitions + now -> the bookings that should exist.
//!
//! Each wanted booking is keyed by (definition id, occurrence start in unix seconds). The key
//! is stable across restarts and rescans, which is what lets the daemon book every occurrence
//! exactly once. Nothing here reads the clock, the disk or the network.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::api::model::CreateMeeting;
pub use crate::booking::{BookingKey, Status};
use crate::config::UserFormat;
use crate::definition::{Definition, When};

mod compare;
mod reconcile;
pub mod series;

pub use compare::changed_fields;
pub use reconcile::{Action, Context, Reconciled, Tracked, reconcile};

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
pub fn wanted<'d>(
    defs: impl IntoIterator<Item = &'d Definition>,
    format: UserFormat,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = defs
        .into_iter()
        // A paused definition books nothing new.
        .filter(|def| !def.paused)
        .flat_map(|def| {
            occurrences(def, now)
                .take_while(move |o| o.book_at.is_none_or(|t| t <= horizon))
                .map(move |occ| wanted_of(def, format, occ))
        })
        .collect();
    out.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
    out
}

/// A booking due now, before its request is built: a pass looks at every one of them, and
/// builds the request only for those it sends (building 100,000 request bodies per pass was
/// most of its cost).
struct Due<'d> {
    key: BookingKey,
    def: &'d Definition,
    occurrence: Occurrence,
}

impl Due<'_> {
    fn wanted(&self, format: UserFormat) -> Wanted {
        wanted_of(self.def, format, self.occurrence)
    }
}

/// [`wanted`] with `horizon == now`, requests not built yet.
fn due_now<'d>(defs: impl IntoIterator<Item = &'d Definition>, now: DateTime<Utc>) -> Vec<Due<'d>> {
    let mut out: Vec<Due<'d>> = defs
        .into_iter()
        .filter(|def| !def.paused)
        .flat_map(|def| {
            occurrences(def, now)
                .take_while(move |o| o.book_at.is_none_or(|t| t <= now))
                .map(move |occurrence| Due {
                    key: BookingKey {
                        definition: def.id.clone(),
                        start: occurrence.start.timestamp(),
                    },
                    def,
                    occurrence,
                })
        })
        .collect();
    out.sort_by(|a, b| (a.occurrence.start, &a.key).cmp(&(b.occurrence.start, &b.key)));
    out
}

/// The next `count` bookings over all definitions, in the order the daemon makes them (by
/// booking time, bookings due now first, then by start): what `plan` shows.
pub fn upcoming<'d>(
    defs: impl IntoIterator<Item = &'d Definition>,
    format: UserFormat,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = defs
        .into_iter()
        .filter(|def| !def.paused)
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

/// The bookings whose time to be made comes before `until` (one-offs at once, a series'
/// occurrences at their `book_ahead`), at most `max`: what a month's create budget must cover.
pub fn due_before<'d>(
    defs: impl IntoIterator<Item = &'d Definition>,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    max: usize,
) -> Vec<BookingKey> {
    defs.into_iter()
        .filter(|def| !def.paused)
        .flat_map(|def| {
            occurrences(def, now)
                .take_while(move |occ| occ.book_at.map_or(now, |t| t.max(now)) < until)
                .map(move |occ| BookingKey {
                    definition: def.id.clone(),
                    start: occ.start.timestamp(),
                })
        })
        .take(max)
        .collect()
}

/// The earliest time after `now` at which some booking becomes due: how long the daemon may
/// sleep when nothing else happens. `None` when no definition has anything left to book.
pub fn next_due<'d>(
    defs: impl IntoIterator<Item = &'d Definition>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    defs.into_iter()
        .filter(|def| !def.paused)
        .filter_map(|def| {
            occurrences(def, now)
                .filter_map(|o| o.book_at)
                .find(|t| *t > now)
        })
        .min()
}

/// When `def` next needs a look after `now`: its next booking time, or its next start (when a
/// booking not made becomes a miss), whichever comes first. `None` for a paused definition
/// or one with nothing ahead. An incremental pass looks at a definition whose time has come.
pub fn next_event(def: &Definition, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if def.paused {
        return None;
    }
    let mut ahead = occurrences(def, now);
    let first = ahead.next()?;
    let due = std::iter::once(first)
        .chain(ahead)
        .filter_map(|o| o.book_at)
        .find(|t| *t > now);
    Some(due.map_or(first.start, |d| d.min(first.start)))
}

/// The occurrence of `def` that starts at `start` (unix seconds), if it has one.
fn occurrence_at(def: &Definition, start: i64, format: UserFormat) -> Option<Wanted> {
    let at = DateTime::from_timestamp(start, 0)?;
    let just_before = at - chrono::TimeDelta::seconds(1);
    occurrences(def, just_before)
        .next()
        .filter(|o| o.start == at)
        .map(|o| wanted_of(def, format, o))
}

/// Occurrences that started in `(since, now]`; for a one-off, its start if it is `<= now`
/// whatever `since` is. Without `since` (a fresh state), no series occurrence is listed.
fn started_since(
    def: &Definition,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    format: UserFormat,
) -> Vec<Wanted> {
    match &def.when {
        When::Once { start, end } if *start <= now => vec![wanted_of(
            def,
            format,
            Occurrence {
                start: *start,
                end: *end,
                book_at: None,
            },
        )],
        When::Once { .. } => Vec::new(),
        When::Recurring(s) => match since {
            Some(since) if since < now => s
                .starts_after(since)
                .take_while(|t| *t <= now)
                .map(|start| {
                    wanted_of(
                        def,
                        format,
                        Occurrence {
                            start,
                            end: start + s.duration,
                            book_at: Some(start - s.book_ahead),
                        },
                    )
                })
                .collect(),
            _ => Vec::new(),
        },
    }
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
mod tests;
