//! The pure heart of the scheduler: definitions + now -> the bookings that should exist.
//!
//! Each wanted booking is keyed by (definition id, occurrence start in unix seconds). The key
//! is stable across restarts and rescans, which is what lets the daemon book every occurrence
//! exactly once. Nothing here reads the clock, the disk or the network.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::api::model::CreateMeeting;
pub use crate::booking::{BookingKey, Status};
use crate::config::UserFormat;
use crate::definition::{Definition, When};

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
pub fn upcoming<'d>(
    defs: impl IntoIterator<Item = &'d Definition>,
    format: UserFormat,
    now: DateTime<Utc>,
    count: usize,
) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = defs
        .into_iter()
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
pub fn next_due<'d>(
    defs: impl IntoIterator<Item = &'d Definition>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    defs.into_iter()
        .filter_map(|def| {
            occurrences(def, now)
                .filter_map(|o| o.book_at)
                .find(|t| *t > now)
        })
        .min()
}

/// What the daemon knows of one booking: its durable status plus what it is doing with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub status: Status,
    /// Hash of the definition file the booking was last decided from.
    pub definition_hash: String,
    /// Pending only: a create may have reached the server, so look before creating again.
    pub unsure: bool,
    /// A create or a lookup for it is in flight.
    pub busy: bool,
    /// Pending only: do not try again before this time.
    pub retry_at: Option<DateTime<Utc>>,
    /// The last error, for the reason of a miss.
    pub last_error: Option<String>,
}

/// One step the daemon should take.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Record the intent (pending) durably, then send the create.
    Create(Wanted),
    /// The outcome of an earlier create is unknown: look the meeting up before anything else.
    Resolve(BookingKey),
    /// The occurrence started before it could be booked: record it as missed.
    Missed { wanted: Wanted, reason: String },
    /// A pending booking that was certainly never created and is no longer wanted (its file
    /// was removed or no longer describes it): drop the record.
    Forget(BookingKey),
}

/// Definitions + what is recorded + now -> what to do. Pure: the daemon carries the actions
/// out and calls again when something changed or time moved on.
///
/// - a pending booking whose outcome is unknown is resolved first, never created again blind;
/// - a pending booking known not to exist is created when its retry time comes, forgotten
///   when no longer wanted, and missed when its start passes;
/// - a due occurrence with no record is created; a failed one only after its file changed;
/// - an occurrence that started since `last_pass` (or a one-off in the past) with no record
///   is recorded as missed.
pub fn reconcile<'d, H>(
    defs: &[&'d Definition],
    hash_of: H,
    tracked: &BTreeMap<BookingKey, Tracked>,
    format: UserFormat,
    now: DateTime<Utc>,
    last_pass: Option<DateTime<Utc>>,
) -> Vec<Action>
where
    H: Fn(&str) -> Option<&'d str>,
{
    let mut actions = Vec::new();
    // In start order, so bookings are made in the order the meetings happen.
    let due_list = wanted(defs.iter().copied(), format, now, now);
    let due: BTreeMap<&BookingKey, &Wanted> = due_list.iter().map(|w| (&w.key, w)).collect();
    let by_id: BTreeMap<&str, &Definition> = defs.iter().map(|d| (d.id.as_str(), *d)).collect();

    for (key, t) in tracked {
        if t.status != Status::Pending || t.busy {
            continue;
        }
        if t.unsure {
            if t.retry_at.is_none_or(|r| r <= now) {
                actions.push(Action::Resolve(key.clone()));
            }
            continue;
        }
        if key.start <= now.timestamp() {
            if let Some(w) = by_id
                .get(key.definition.as_str())
                .and_then(|d| occurrence_at(d, key.start, format))
            {
                let reason = match &t.last_error {
                    Some(e) => {
                        format!("its start passed before it could be booked; last error: {e}")
                    }
                    None => "its start passed before it could be booked".to_string(),
                };
                actions.push(Action::Missed { wanted: w, reason });
            } else {
                actions.push(Action::Forget(key.clone()));
            }
            continue;
        }
        match due.get(key) {
            Some(w) if t.retry_at.is_none_or(|r| r <= now) => {
                actions.push(Action::Create((*w).clone()))
            }
            Some(_) => {}
            None => {
                // Still a future occurrence of the definition, just not due (book_ahead grew)?
                let still = by_id
                    .get(key.definition.as_str())
                    .and_then(|d| occurrence_at(d, key.start, format));
                if still.is_none() {
                    actions.push(Action::Forget(key.clone()));
                }
            }
        }
    }

    for w in &due_list {
        let key = &w.key;
        match tracked.get(key) {
            None => actions.push(Action::Create(w.clone())),
            Some(t) if t.status == Status::Failed && !t.busy => {
                if hash_of(&key.definition).is_some_and(|h| h != t.definition_hash) {
                    actions.push(Action::Create(w.clone()));
                }
            }
            Some(_) => {}
        }
    }

    for def in defs {
        for w in started_since(def, last_pass, now, format) {
            if !tracked.contains_key(&w.key) {
                let reason = match &def.when {
                    When::Once { .. } => "its start had passed when the definition was first seen",
                    When::Recurring(_) => "its start passed while the daemon was not running",
                };
                actions.push(Action::Missed {
                    wanted: w,
                    reason: reason.to_string(),
                });
            }
        }
    }
    actions
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

    fn tracked(status: Status, unsure: bool) -> Tracked {
        Tracked {
            status,
            definition_hash: "h1".into(),
            unsure,
            busy: false,
            retry_at: None,
            last_error: None,
        }
    }

    fn run(
        defs: &[&Definition],
        t: &BTreeMap<BookingKey, Tracked>,
        at: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
    ) -> Vec<Action> {
        reconcile(defs, |_| Some("h1"), t, UserFormat::String, at, last)
    }

    fn kinds(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Create(w) => format!("create {}", w.key),
                Action::Resolve(k) => format!("resolve {k}"),
                Action::Missed { wanted, .. } => format!("missed {}", wanted.key),
                Action::Forget(k) => format!("forget {k}"),
            })
            .collect()
    }

    #[test]
    fn due_bookings_without_records_are_created() {
        let (s, r) = (standup(), review());
        let actions = run(&[&s, &r], &BTreeMap::new(), now(), None);
        assert_eq!(
            kinds(&actions),
            [
                "create team/standup@1795656600",
                "create team/standup@1795743000",
                "create review@1796090400"
            ]
        );
    }

    #[test]
    fn unsure_pending_is_resolved_never_created_blind() {
        let r = review();
        let key = BookingKey {
            definition: "review".into(),
            start: 1796090400,
        };
        let t = BTreeMap::from([(key.clone(), tracked(Status::Pending, true))]);
        assert_eq!(
            kinds(&run(&[&r], &t, now(), None)),
            ["resolve review@1796090400"]
        );
        // Once known not to exist, it is created; while busy, nothing happens.
        let mut sure = tracked(Status::Pending, false);
        let t = BTreeMap::from([(key.clone(), sure.clone())]);
        assert_eq!(
            kinds(&run(&[&r], &t, now(), None)),
            ["create review@1796090400"]
        );
        sure.busy = true;
        let t = BTreeMap::from([(key.clone(), sure.clone())]);
        assert!(run(&[&r], &t, now(), None).is_empty());
        // A retry time in the future holds it back.
        sure.busy = false;
        sure.retry_at = Some(now() + chrono::TimeDelta::minutes(5));
        let t = BTreeMap::from([(key, sure)]);
        assert!(run(&[&r], &t, now(), None).is_empty());
    }

    #[test]
    fn booked_is_left_alone_and_failed_is_retried_only_after_an_edit() {
        let r = review();
        let key = BookingKey {
            definition: "review".into(),
            start: 1796090400,
        };
        let t = BTreeMap::from([(key.clone(), tracked(Status::Booked, false))]);
        assert!(run(&[&r], &t, now(), None).is_empty());
        let t = BTreeMap::from([(key.clone(), tracked(Status::Failed, false))]);
        assert!(run(&[&r], &t, now(), None).is_empty());
        let edited = reconcile(&[&r], |_| Some("h2"), &t, UserFormat::String, now(), None);
        assert_eq!(kinds(&edited), ["create review@1796090400"]);
    }

    #[test]
    fn pending_past_its_start_is_missed_and_removed_definitions_are_forgotten() {
        let r = review();
        let key = BookingKey {
            definition: "review".into(),
            start: 1796090400,
        };
        let t = BTreeMap::from([(key.clone(), tracked(Status::Pending, false))]);
        let after = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
        assert_eq!(
            kinds(&run(&[&r], &t, after, Some(now()))),
            ["missed review@1796090400"]
        );
        assert_eq!(
            kinds(&run(&[], &t, now(), None)),
            ["forget review@1796090400"]
        );
    }

    #[test]
    fn occurrences_that_started_while_down_are_missed() {
        let s = standup();
        let two_days_later = now() + chrono::TimeDelta::days(2);
        let actions = run(&[&s], &BTreeMap::new(), two_days_later, Some(now()));
        let missed: Vec<String> = kinds(&actions)
            .into_iter()
            .filter(|k| k.starts_with("missed"))
            .collect();
        // Thu 26th and Fri 27th 09:30 passed between the last pass and now.
        assert_eq!(
            missed,
            [
                "missed team/standup@1795656600",
                "missed team/standup@1795743000"
            ]
        );
        // With no last pass (a fresh state) history is not listed.
        let fresh = run(&[&s], &BTreeMap::new(), two_days_later, None);
        assert!(kinds(&fresh).iter().all(|k| k.starts_with("create")));
    }
}
