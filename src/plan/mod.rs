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
use crate::config::{LifecycleConfig, OnRemoved, UserFormat};
use crate::definition::{Definition, When};
use crate::state::{Change, Record};

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

/// What the daemon knows of one booking: its durable record plus what it is doing with it.
#[derive(Debug, Clone, Copy)]
pub struct Tracked<'a> {
    pub record: &'a Record,
    /// Pending only: a create may have reached the server, so look before creating again.
    pub unsure: bool,
    /// A request for it is in flight.
    pub busy: bool,
    /// Do not try again before this time.
    pub retry_at: Option<DateTime<Utc>>,
}

/// One step the daemon should take.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Record the intent (pending) durably, then send the create.
    Create(Wanted),
    /// The outcome of an earlier create is unknown: look the meeting up before anything else.
    Resolve(BookingKey),
    /// A pending booking whose create may have happened belongs to a definition file that
    /// was renamed or moved (the same owner, subject, start and end are now wanted under
    /// another id): move its record to that id, so the lookup that follows finds the one
    /// meeting for it instead of a second create beside it.
    Move { from: BookingKey, to: BookingKey },
    /// The occurrence started before it could be booked: record it as missed.
    Missed { wanted: Wanted, reason: String },
    /// A pending booking that was certainly never created and is no longer wanted (its file
    /// was removed or no longer describes it): drop the record.
    Forget(BookingKey),
    /// The definition changed: send these fields (`PUT`); the occurrence becomes `wanted`
    /// (whose start may differ: a one-off moved to another time).
    Modify {
        key: BookingKey,
        wanted: Wanted,
        fields: serde_json::Map<String, serde_json::Value>,
    },
    /// Cancel the booked meeting (`POST .../cancel`).
    Cancel { key: BookingKey, reason: String },
    /// A modify or cancel recorded earlier and not known to be done: send it again (both are
    /// idempotent on the API).
    Resume(BookingKey),
    /// The definition file changed but not in anything the meeting carries: note its hash.
    Rehash(BookingKey),
    /// A recorded change that is no longer wanted (the meeting started first, or the removed
    /// file came back as it was): give it up.
    DropChange {
        key: BookingKey,
        reason: &'static str,
    },
}

/// What a reconcile pass decided.
#[derive(Debug, Default)]
pub struct Reconciled {
    pub actions: Vec<Action>,
    /// Definitions whose removal cancels are held back: too many vanished at once.
    pub held: Vec<String>,
    /// Definitions whose meetings' changes are held back: more than `guard.max_changes`
    /// booked meetings would change although no definition was seen to change.
    pub held_changes: Vec<String>,
    /// Those changes (modifies and cancels), for `plan` to show.
    pub held_actions: Vec<Action>,
}

/// What reconcile needs to know besides definitions and records.
pub struct Context<'c> {
    pub format: UserFormat,
    pub now: DateTime<Utc>,
    pub last_pass: Option<DateTime<Utc>>,
    pub lifecycle: &'c LifecycleConfig,
    /// Hash of a definition's file, when the file is present (valid or not).
    pub hash_of: &'c dyn Fn(&str) -> Option<&'c str>,
    /// Definitions whose removal an operator approved (`approve-removals`).
    pub removals_approved: &'c std::collections::BTreeSet<String>,
    /// Whether the daemon saw a definition's file change (its changes are the definition's
    /// own); `plan` sees none.
    pub edited: &'c dyn Fn(&str) -> bool,
    /// `guard.max_changes`.
    pub max_changes: usize,
    /// Definitions whose held changes an operator approved (`approve-changes`).
    pub changes_approved: &'c std::collections::BTreeSet<String>,
    /// Occurrences that ended before this are of no interest any more (`state.retention`):
    /// not recorded as missed, so a pruned record does not come back.
    pub forget_before: DateTime<Utc>,
    /// How many definitions have booked meetings still to come, when the caller passes only
    /// some definitions and their records (an incremental pass): the share of them that
    /// vanished at once is judged against all of them. `None`: count the records given.
    pub at_stake: Option<usize>,
}

/// Definitions + what is recorded + now -> what to do. Pure: the daemon carries the actions
/// out and calls again when something changed or time moved on.
///
/// - a pending booking whose outcome is unknown is resolved first, never created again blind;
/// - a pending booking known not to exist is created when its retry time comes, forgotten
///   when no longer wanted, and missed when its start passes;
/// - a due occurrence with no record is created; a failed one only after its file changed; a
///   cancelled one when it is wanted again;
/// - a booked meeting that has not started follows its definition: changed fields are
///   modified, a one-off moved in time is modified to the new times, an occurrence no longer
///   in its series is cancelled, a new owner (userid) or any change to a quick meeting is a
///   cancel (and a create once the cancel is done); a removed definition's meetings are
///   cancelled (per `lifecycle.on_removed`) unless too many definitions vanished at once;
///   an invalid definition is not a removed one; started meetings are never touched;
/// - an occurrence that started since `last_pass` (or a one-off in the past) with no record
///   is recorded as missed.
pub fn reconcile(
    defs: &[&Definition],
    tracked: &BTreeMap<BookingKey, Tracked<'_>>,
    cx: &Context<'_>,
) -> Reconciled {
    let (format, now) = (cx.format, cx.now);
    let mut out = Reconciled::default();
    // In start order, so bookings are made in the order the meetings happen.
    let due_list = due_now(defs.iter().copied(), now);
    let due: BTreeMap<&BookingKey, &Due<'_>> = due_list.iter().map(|d| (&d.key, d)).collect();
    let by_id: BTreeMap<&str, &Definition> = defs.iter().map(|d| (&*d.id, *d)).collect();
    // Keys a recorded modify is moving a meeting to: not to be created beside it.
    let mut claimed: std::collections::BTreeSet<BookingKey> = tracked
        .values()
        .filter_map(|t| match t.record.change.as_deref() {
            Some(Change::Modify { start, .. }) => Some(BookingKey {
                definition: t.record.definition.clone(),
                start: *start,
            }),
            _ => None,
        })
        .collect();
    let mut removals: Vec<(BookingKey, String)> = Vec::new();
    let mut at_stake: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
    let moves = renamed(tracked, &by_id, cx, &due_list);
    for (from, to) in &moves {
        claimed.insert((*to).clone());
        out.actions.push(Action::Move {
            from: (*from).clone(),
            to: (*to).clone(),
        });
    }

    for (key, t) in tracked {
        let r = t.record;
        if t.busy || moves.contains_key(key) {
            continue;
        }
        match r.status {
            Status::Pending => pending(key, t, &by_id, &due, format, now, &mut out.actions),
            Status::Booked if key.start > now.timestamp() => {
                at_stake.insert(&*key.definition);
                if r.change.is_some() {
                    // A removal's cancel still waiting, and the file is back as it was.
                    let back = matches!(r.change.as_deref(), Some(Change::Cancel { .. }))
                        && by_id.contains_key(&*key.definition)
                        && (cx.hash_of)(&key.definition) == Some(&*r.definition_hash);
                    if back {
                        out.actions.push(Action::DropChange {
                            key: key.clone(),
                            reason: "its definition is back as it was",
                        });
                    } else if t.retry_at.is_none_or(|at| at <= now) {
                        out.actions.push(Action::Resume(key.clone()));
                    }
                    continue;
                }
                // A change the API refused for good waits for the definition to change.
                if r.refused
                    .as_ref()
                    .is_some_and(|x| x.definition_hash.as_deref() == (cx.hash_of)(&key.definition))
                {
                    continue;
                }
                match by_id.get(&*key.definition) {
                    None if (cx.hash_of)(&key.definition).is_some() => {} // Invalid, not removed.
                    None => {
                        if cx.lifecycle.on_removed == OnRemoved::Cancel {
                            removals.push((key.clone(), "its definition was removed".into()));
                        }
                    }
                    Some(def) => {
                        if (cx.hash_of)(&key.definition) == Some(&*r.definition_hash) {
                            continue; // The file is as it was when this was booked.
                        }
                        follow(
                            key,
                            r,
                            def,
                            tracked,
                            &mut claimed,
                            format,
                            now,
                            &mut out.actions,
                        );
                    }
                }
            }
            Status::Booked if r.change.is_some() => out.actions.push(Action::DropChange {
                key: key.clone(),
                reason: "the meeting started before its change could be made",
            }),
            Status::Booked | Status::Missed => {}
            Status::Cancelled | Status::Failed => {
                if r.change.is_some() {
                    continue;
                }
                let retry = match r.status {
                    Status::Failed => {
                        (cx.hash_of)(&key.definition).is_some_and(|h| *h != *r.definition_hash)
                    }
                    _ => true,
                };
                if retry && let Some(d) = due.get(key) {
                    out.actions.push(Action::Create(d.wanted(format)));
                }
            }
        }
    }

    // Changes no definition made (a new build's default, a fix in how a field is sent):
    // past `guard.max_changes` booked meetings, none is sent until an operator approves.
    out.held_actions = hold_unprompted(&mut out.actions, cx);
    out.held_changes = out
        .held_actions
        .iter()
        .filter_map(|a| match a {
            Action::Modify { key, .. } | Action::Cancel { key, .. } => {
                Some(key.definition.to_string())
            }
            _ => None,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();

    // Removals: unless too many definitions vanished at once (an unmounted directory, a bad
    // deploy), in which case nothing is cancelled until an operator approves.
    let vanished: std::collections::BTreeSet<&str> =
        removals.iter().map(|(k, _)| &*k.definition).collect();
    let fraction = vanished.len() as f64 / cx.at_stake.unwrap_or(at_stake.len()).max(1) as f64;
    let approved = vanished.iter().all(|d| cx.removals_approved.contains(*d));
    if !vanished.is_empty() && fraction > cx.lifecycle.max_cancel_fraction && !approved {
        out.held = vanished.into_iter().map(str::to_string).collect();
    } else {
        out.actions.extend(
            removals
                .into_iter()
                .map(|(key, reason)| Action::Cancel { key, reason }),
        );
    }

    // A one-off whose booked meeting is being changed gets no second meeting meanwhile.
    let changing: std::collections::BTreeSet<&str> = tracked
        .values()
        .filter(|t| t.busy || t.record.change.is_some())
        .map(|t| &*t.record.definition)
        .collect();
    for d in &due_list {
        let once = matches!(d.def.when, When::Once { .. });
        if once && changing.contains(&*d.key.definition) {
            continue;
        }
        if !tracked.contains_key(&d.key) && !claimed.contains(&d.key) {
            out.actions.push(Action::Create(d.wanted(format)));
        }
    }

    // A paused definition's occurrences are not missed: nobody wanted them booked.
    for def in defs.iter().filter(|d| !d.paused) {
        for w in started_since(def, cx.last_pass, now, format) {
            if w.end >= cx.forget_before
                && !tracked.contains_key(&w.key)
                && !claimed.contains(&w.key)
            {
                let reason = match &def.when {
                    When::Once { .. } => "its start had passed when the definition was first seen",
                    When::Recurring(_) => "its start passed while the daemon was not running",
                };
                out.actions.push(Action::Missed {
                    wanted: w,
                    reason: reason.to_string(),
                });
            }
        }
    }
    out
}

/// Takes out of `actions` the modifies and cancels of booked meetings (all of them made by
/// [`follow`] at this point) whose definitions were not seen to change, when there are more
/// than `guard.max_changes` and they are not all approved; returns them.
fn hold_unprompted(actions: &mut Vec<Action>, cx: &Context<'_>) -> Vec<Action> {
    fn unprompted<'a>(a: &'a Action, cx: &Context<'_>) -> Option<&'a str> {
        match a {
            Action::Modify { key, .. } | Action::Cancel { key, .. }
                if !(cx.edited)(&key.definition) =>
            {
                Some(&key.definition)
            }
            _ => None,
        }
    }
    let count = actions
        .iter()
        .filter(|a| unprompted(a, cx).is_some())
        .count();
    let defs: std::collections::BTreeSet<String> = actions
        .iter()
        .filter_map(|a| unprompted(a, cx))
        .map(str::to_string)
        .collect();
    if count <= cx.max_changes || defs.iter().all(|d| cx.changes_approved.contains(d)) {
        return Vec::new();
    }
    let (held, kept): (Vec<Action>, Vec<Action>) = std::mem::take(actions)
        .into_iter()
        .partition(|a| unprompted(a, cx).is_some());
    *actions = kept;
    held
}

/// Pending bookings whose create may have happened (unsure, not started) and whose
/// definition file is gone (not merely invalid), each with the one due booking, without a
/// record, that has the same owner, subject, start and end: the file was renamed or moved.
/// Where two could match either way, nothing is moved (the lookup then decides as usual).
fn renamed<'k>(
    tracked: &'k BTreeMap<BookingKey, Tracked<'_>>,
    by_id: &BTreeMap<&str, &Definition>,
    cx: &Context<'_>,
    due_list: &'k [Due<'_>],
) -> BTreeMap<&'k BookingKey, &'k BookingKey> {
    let now = cx.now.timestamp();
    let gone = tracked.iter().filter(|(key, t)| {
        t.record.status == Status::Pending
            && t.unsure
            && !t.busy
            && key.start > now
            && !by_id.contains_key(&*key.definition)
            && (cx.hash_of)(&key.definition).is_none()
    });
    let mut targets: BTreeMap<&BookingKey, Vec<&BookingKey>> = BTreeMap::new();
    let mut moves = BTreeMap::new();
    for (key, t) in gone {
        let r = t.record;
        let mut same = due_list.iter().filter(|d| {
            !tracked.contains_key(&d.key)
                && d.key.start == key.start
                && d.occurrence.end.timestamp() == r.occurrence_end
                && d.def.subject == r.subject
                && *d.def.userid == *r.userid
        });
        if let (Some(d), None) = (same.next(), same.next()) {
            targets.entry(&d.key).or_default().push(key);
            moves.insert(key, &d.key);
        }
    }
    // One new id, two old records that could both be it: move neither.
    for (_, from) in targets.into_iter().filter(|(_, f)| f.len() > 1) {
        for k in from {
            moves.remove(k);
        }
    }
    moves
}

/// The rules for a pending booking.
fn pending(
    key: &BookingKey,
    t: &Tracked<'_>,
    by_id: &BTreeMap<&str, &Definition>,
    due: &BTreeMap<&BookingKey, &Due<'_>>,
    format: UserFormat,
    now: DateTime<Utc>,
    actions: &mut Vec<Action>,
) {
    // Looked up until the meeting ends: a create that was unclear shortly before its start
    // (within the request timeout) may have made a meeting that is on now.
    if t.unsure && t.record.occurrence_end.max(key.start) > now.timestamp() {
        if t.retry_at.is_none_or(|r| r <= now) {
            actions.push(Action::Resolve(key.clone()));
        }
        return;
    }
    // From here on an unsure booking has ended: whether or not its create happened, it is
    // too late to book it, so it is missed (with the lookups' last error).
    let occurrence = || {
        by_id
            .get(&*key.definition)
            .and_then(|d| occurrence_at(d, key.start, format))
    };
    if key.start <= now.timestamp() {
        match occurrence() {
            Some(w) => {
                let reason = match &t.record.last_error {
                    Some(e) => {
                        format!("its start passed before it could be booked; last error: {e}")
                    }
                    None => "its start passed before it could be booked".to_string(),
                };
                actions.push(Action::Missed { wanted: w, reason });
            }
            None => actions.push(Action::Forget(key.clone())),
        }
        return;
    }
    match due.get(key) {
        Some(d) if t.retry_at.is_none_or(|r| r <= now) => {
            actions.push(Action::Create(d.wanted(format)))
        }
        Some(_) => {}
        // Still a future occurrence of the definition, just not due (book_ahead shrank)?
        None if occurrence().is_some() => {}
        None => actions.push(Action::Forget(key.clone())),
    }
}

/// A booked meeting whose definition file changed: modify, cancel, or just note the hash.
#[allow(clippy::too_many_arguments)]
fn follow(
    key: &BookingKey,
    r: &Record,
    def: &Definition,
    tracked: &BTreeMap<BookingKey, Tracked<'_>>,
    claimed: &mut std::collections::BTreeSet<BookingKey>,
    format: UserFormat,
    now: DateTime<Utc>,
    actions: &mut Vec<Action>,
) {
    let cancel = |reason: &str| Action::Cancel {
        key: key.clone(),
        reason: reason.to_string(),
    };
    let target = match &def.when {
        When::Once { start, end } => {
            if *start <= now {
                actions.push(cancel("the definition moved it into the past"));
                return;
            }
            let w = wanted_of(
                def,
                format,
                Occurrence {
                    start: *start,
                    end: *end,
                    book_at: None,
                },
            );
            if w.key != *key && (tracked.contains_key(&w.key) || claimed.contains(&w.key)) {
                actions.push(cancel("the definition moved it onto another booking"));
                return;
            }
            w
        }
        When::Recurring(_) => match occurrence_at(def, key.start, format) {
            Some(w) => w,
            None => {
                actions.push(cancel("it is no longer an occurrence of its schedule"));
                return;
            }
        },
    };
    let old: serde_json::Value = r
        .request
        .as_ref()
        .and_then(|q| serde_json::from_str(q.0.get()).ok())
        .unwrap_or_default();
    let new = serde_json::to_value(&target.request).unwrap_or_default();
    if old.get("userid") != new.get("userid") {
        // A new owner: the meeting is someone else's now. Cancel; the create follows once the
        // cancel is done.
        claimed.insert(target.key.clone());
        actions.push(cancel("its owner (userid) changed"));
        return;
    }
    let fields = changed_fields(&old, &new);
    if fields.is_empty() {
        actions.push(Action::Rehash(key.clone()));
        return;
    }
    if new.get("type").and_then(serde_json::Value::as_u64) == Some(1)
        || old.get("type").and_then(serde_json::Value::as_u64) == Some(1)
    {
        // Quick meetings cannot be modified.
        actions.push(cancel(
            "a quick meeting changed (quick meetings cannot be modified)",
        ));
        return;
    }
    claimed.insert(target.key.clone());
    actions.push(Action::Modify {
        key: key.clone(),
        wanted: target,
        fields,
    });
}

/// A request field in the one form in which two encodings of the same meaning are equal:
/// users as `{"userid": ...}` objects (a bare id is an object with no other field), in id
/// order; settings with the service's default filled in for each required key the request
/// left out (`meeting::service_default`); times as strings of seconds. So a build that
/// encodes a request differently, but means the same, changes no meeting.
fn canonical(field: &str, value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (field, value) {
        ("hosts" | "invitees", Value::Array(users)) => {
            let mut users: Vec<Value> = users
                .iter()
                .map(|u| match u {
                    Value::String(id) => serde_json::json!({ "userid": id }),
                    other => other.clone(),
                })
                .collect();
            users.sort_by_key(|u| u.to_string());
            Value::Array(users)
        }
        ("settings", Value::Object(given)) => {
            let mut all = given.clone();
            for key in crate::meeting::REQUIRED_SETTINGS {
                all.entry(key.to_string())
                    .or_insert(Value::Bool(crate::meeting::service_default(key)));
            }
            Value::Object(all)
        }
        ("start_time" | "end_time", Value::Number(n)) => Value::String(n.to_string()),
        _ => value.clone(),
    }
}

/// The request fields that differ in meaning ([`canonical`]), with their new values as the
/// new request has them; a field that is gone is sent empty (`""` or `[]`) so the server
/// drops it. `userid` and `instanceid` are not changes.
pub fn changed_fields(
    old: &serde_json::Value,
    new: &serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let empty = serde_json::Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut out = serde_json::Map::new();
    for (k, v) in n {
        if matches!(k.as_str(), "userid" | "instanceid") {
            continue;
        }
        // No settings sent at all: the service's defaults.
        let was = match o.get(k) {
            Some(was) => Some(canonical(k, was)),
            None if k == "settings" => Some(canonical(k, &Value::Object(empty.clone()))),
            None => None,
        };
        if was != Some(canonical(k, v)) {
            out.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in o {
        if !n.contains_key(k) {
            if k == "settings" && canonical(k, v) == canonical(k, &Value::Object(empty.clone())) {
                continue; // Only the service's defaults: as good as none.
            }
            match v {
                Value::String(_) => {
                    out.insert(k.clone(), Value::String(String::new()));
                }
                Value::Array(_) => {
                    out.insert(k.clone(), Value::Array(Vec::new()));
                }
                _ => {} // A newer field that cannot be unset; left as it is.
            }
        }
    }
    out
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
    fn next_event_is_the_next_booking_time_or_start_whichever_is_first() {
        // Standup: Thu 26th 09:30 Shanghai (01:30 UTC) starts before Mon 30th's booking time
        // (Sat 28th 01:30 UTC); Thu's and Fri's booking times have passed.
        assert_eq!(
            next_event(&standup(), now()),
            Some(Utc.with_ymd_and_hms(2026, 11, 26, 1, 30, 0).unwrap())
        );
        // After Fri's start, the next is Mon 30th's booking time, before Mon's start.
        let friday_noon = Utc.with_ymd_and_hms(2026, 11, 27, 4, 0, 0).unwrap();
        assert_eq!(
            next_event(&standup(), friday_noon),
            Some(Utc.with_ymd_and_hms(2026, 11, 28, 1, 30, 0).unwrap())
        );
        // A one-off: its start (it is booked as soon as it is seen).
        assert_eq!(
            next_event(&review(), now()),
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap())
        );
        // Started: nothing ahead. Paused: nothing to look at.
        let later = Utc.with_ymd_and_hms(2026, 12, 2, 0, 0, 0).unwrap();
        assert_eq!(next_event(&review(), later), None);
        let mut paused = standup();
        paused.paused = true;
        assert_eq!(next_event(&paused, now()), None);
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
        // Set nowhere: the service's own defaults (issue 10: `false` here kept participants
        // from unmuting themselves).
        assert_eq!(body["settings"]["mute_enable_join"], true);
        assert_eq!(body["settings"]["allow_unmute_self"], true);
        assert_eq!(body["settings"]["live_url"], false);
        assert_eq!(body["settings"]["enable_record"], false);
        assert!(body.get("password").is_none());
    }

    /// A booking as the tests describe it: an owned record plus the daemon's flags.
    #[derive(Clone)]
    struct T {
        record: Record,
        unsure: bool,
        busy: bool,
        retry_at: Option<DateTime<Utc>>,
    }

    fn record(status: Status) -> Record {
        Record {
            definition: "".into(),
            occurrence_start: 0,
            occurrence_end: 0,
            status,
            userid: "ops-bot".into(),
            instanceid: 1,
            subject: String::new(),
            timezone: None,
            definition_hash: "h1".into(),
            request: None,
            meeting_id: Some("m".into()),
            meeting_code: None,
            join_url: None,
            attempts: 1,
            last_error: None,
            error_code: None,
            updated_at: 0,
            change: None,
            refused: None,
            sequence: 0,
            notified: Vec::new(),
        }
    }

    fn tracked(status: Status, unsure: bool) -> T {
        T {
            record: record(status),
            unsure,
            busy: false,
            retry_at: None,
        }
    }

    /// What reconcile needs besides definitions and records, as the tests vary it.
    struct Knobs<'k> {
        at: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
        hash_of: &'k dyn Fn(&str) -> Option<&'k str>,
        lifecycle: &'k LifecycleConfig,
        approved: &'k std::collections::BTreeSet<String>,
    }

    fn run_knobs(defs: &[&Definition], t: &BTreeMap<BookingKey, T>, k: &Knobs<'_>) -> Reconciled {
        let tracked: BTreeMap<BookingKey, Tracked<'_>> = t
            .iter()
            .map(|(key, v)| {
                (
                    key.clone(),
                    Tracked {
                        record: &v.record,
                        unsure: v.unsure,
                        busy: v.busy,
                        retry_at: v.retry_at,
                    },
                )
            })
            .collect();
        reconcile(
            defs,
            &tracked,
            &Context {
                at_stake: None,
                format: UserFormat::String,
                now: k.at,
                last_pass: k.last,
                lifecycle: k.lifecycle,
                hash_of: k.hash_of,
                removals_approved: k.approved,
                edited: &|_| true,
                max_changes: usize::MAX,
                changes_approved: k.approved,
                forget_before: DateTime::<Utc>::MIN_UTC,
            },
        )
    }

    /// Reconcile with every given definition's file hashed as `hash`.
    fn run_with(
        defs: &[&Definition],
        t: &BTreeMap<BookingKey, T>,
        at: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
        hash: &'static str,
        lifecycle: &LifecycleConfig,
    ) -> Reconciled {
        let present: Vec<&str> = defs.iter().map(|d| &*d.id).collect();
        let hash_of = move |id: &str| present.contains(&id).then_some(hash);
        let none = std::collections::BTreeSet::new();
        run_knobs(
            defs,
            t,
            &Knobs {
                at,
                last,
                hash_of: &hash_of,
                lifecycle,
                approved: &none,
            },
        )
    }

    fn run(
        defs: &[&Definition],
        t: &BTreeMap<BookingKey, T>,
        at: DateTime<Utc>,
        last: Option<DateTime<Utc>>,
    ) -> Vec<Action> {
        run_with(
            defs,
            t,
            at,
            last,
            "h1",
            &crate::config::Config::default().lifecycle,
        )
        .actions
    }

    fn kinds(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Create(w) => format!("create {}", w.key),
                Action::Resolve(k) => format!("resolve {k}"),
                Action::Missed { wanted, .. } => format!("missed {}", wanted.key),
                Action::Forget(k) => format!("forget {k}"),
                Action::Modify {
                    key,
                    wanted,
                    fields,
                } => format!(
                    "modify {key} -> {} ({})",
                    wanted.key.start,
                    fields.keys().cloned().collect::<Vec<_>>().join(",")
                ),
                Action::Cancel { key, .. } => format!("cancel {key}"),
                Action::Resume(k) => format!("resume {k}"),
                Action::DropChange { key, .. } => format!("drop change {key}"),
                Action::Rehash(k) => format!("rehash {k}"),
                Action::Move { from, to } => format!("move {from} -> {to}"),
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
        let lifecycle = crate::config::Config::default().lifecycle;
        let edited = run_with(&[&r], &t, now(), None, "h2", &lifecycle).actions;
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
    fn an_unsure_booking_is_looked_up_until_its_start_then_missed() {
        let r = review();
        let key = BookingKey {
            definition: "review".into(),
            start: 1796090400,
        };
        let t = BTreeMap::from([(key.clone(), tracked(Status::Pending, true))]);
        // Before its start: look up whether the earlier create happened.
        assert_eq!(
            kinds(&run(&[&r], &t, now(), Some(now()))),
            ["resolve review@1796090400"]
        );
        // Its lookups kept failing past its start: missed, not looked up for ever.
        let after = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
        assert_eq!(
            kinds(&run(&[&r], &t, after, Some(now()))),
            ["missed review@1796090400"]
        );
    }

    /// The review's pending record, its create unclear (`unsure`), under definition `id`.
    fn unsure_review(id: &str) -> (BookingKey, T) {
        let key = BookingKey {
            definition: id.into(),
            start: 1796090400,
        };
        let mut t = tracked(Status::Pending, true);
        t.record.definition = id.into();
        t.record.occurrence_start = 1796090400;
        t.record.occurrence_end = 1796090400 + 3600;
        t.record.subject = "Review".into();
        (key, t)
    }

    #[test]
    fn an_unclear_create_whose_file_was_renamed_moves_to_the_new_id() {
        // `mv review.toml team/review.toml` while the create's answer was unclear.
        let renamed = def(
            "team/review",
            "subject = \"Review\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
        );
        let (key, t) = unsure_review("review");
        let t = BTreeMap::from([(key, t)]);
        assert_eq!(
            kinds(&run(&[&renamed], &t, now(), None)),
            ["move review@1796090400 -> team/review@1796090400"]
        );
        // Another subject, owner or time: not the same meeting; looked up where it was.
        let other = def(
            "team/review",
            "subject = \"Review 2\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
        );
        assert_eq!(
            kinds(&run(&[&other], &t, now(), None)),
            ["resolve review@1796090400", "create team/review@1796090400"]
        );
        // Known not to exist: nothing to carry; forgotten, and booked under the new id.
        let mut sure = t.clone();
        for v in sure.values_mut() {
            v.unsure = false;
        }
        assert_eq!(
            kinds(&run(&[&renamed], &sure, now(), None)),
            ["forget review@1796090400", "create team/review@1796090400"]
        );
        // The old file still there but invalid: not a rename.
        let hash_of = |id: &str| (id == "review" || id == "team/review").then_some("h1");
        let none = std::collections::BTreeSet::new();
        let lifecycle = crate::config::Config::default().lifecycle;
        let invalid = run_knobs(
            &[&renamed],
            &t,
            &Knobs {
                at: now(),
                last: None,
                hash_of: &hash_of,
                lifecycle: &lifecycle,
                approved: &none,
            },
        );
        assert_eq!(
            kinds(&invalid.actions),
            ["resolve review@1796090400", "create team/review@1796090400"]
        );
        // Two old records that could each be the renamed one: neither moves.
        let (a, ta) = unsure_review("a");
        let (b, tb) = unsure_review("b");
        let two = BTreeMap::from([(a, ta), (b, tb)]);
        assert_eq!(
            kinds(&run(&[&renamed], &two, now(), None)),
            [
                "resolve a@1796090400",
                "resolve b@1796090400",
                "create team/review@1796090400"
            ]
        );
    }

    #[test]
    fn an_unclear_create_is_looked_up_while_its_meeting_is_on() {
        // The create was unclear shortly before the start (within the request timeout): the
        // meeting may be on now. Looked up until it ends, then missed.
        let r = review();
        let (key, t) = unsure_review("review");
        let t = BTreeMap::from([(key, t)]);
        let during = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
        assert_eq!(
            kinds(&run(&[&r], &t, during, Some(now()))),
            ["resolve review@1796090400"]
        );
        let after = Utc.with_ymd_and_hms(2026, 12, 1, 3, 30, 0).unwrap();
        assert_eq!(
            kinds(&run(&[&r], &t, after, Some(now()))),
            ["missed review@1796090400"]
        );
    }

    #[test]
    fn requests_that_mean_the_same_have_no_changed_fields() {
        use serde_json::json;
        // What an earlier build recorded: users as strings, no settings left to defaults,
        // times as numbers.
        let old = json!({
            "userid": "ops", "instanceid": 1, "subject": "Sync", "type": 0,
            "start_time": 1800000000, "end_time": "1800003600",
            "hosts": ["dave", "alice"], "invitees": ["bob"],
            "settings": {"participant_video": false, "enable_record": false,
                         "play_ivr_on_leave": false, "live_url": false},
        });
        let same = json!({
            "userid": "ops", "instanceid": 1, "subject": "Sync", "type": 0,
            "start_time": "1800000000", "end_time": "1800003600",
            "hosts": [{"userid": "alice"}, {"userid": "dave"}], "invitees": [{"userid": "bob"}],
            "settings": {"mute_enable_join": true, "allow_unmute_self": true,
                         "participant_video": false, "enable_record": false,
                         "play_ivr_on_leave": false, "live_url": false},
        });
        assert!(
            changed_fields(&old, &same).is_empty(),
            "{:?}",
            changed_fields(&old, &same)
        );
        // Real changes still are: another invitee, a setting off that the service has on, a
        // user object with a field of its own.
        let mut other = same.clone();
        other["invitees"] = json!([{"userid": "bob"}, {"userid": "carol"}]);
        other["settings"]["mute_enable_join"] = json!(false);
        other["hosts"] = json!([{"userid": "alice", "nick_name": "A"}, {"userid": "dave"}]);
        let changed: Vec<String> = changed_fields(&old, &other).keys().cloned().collect();
        assert_eq!(changed, ["hosts", "invitees", "settings"]);
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

    /// A booked record of `w`, as the daemon would have written it, for file hash "h1".
    fn booked(w: &Wanted) -> (BookingKey, T) {
        let mut r = record(Status::Booked);
        r.definition = w.key.definition.clone();
        r.occurrence_start = w.key.start;
        r.occurrence_end = w.end.timestamp();
        r.userid = w.request.userid.as_str().into();
        r.subject = w.request.subject.clone();
        r.request = serde_json::value::to_raw_value(&w.request)
            .ok()
            .map(crate::state::RecordedRequest);
        (
            w.key.clone(),
            T {
                record: r,
                unsure: false,
                busy: false,
                retry_at: None,
            },
        )
    }

    fn booked_all(defs: &[&Definition]) -> BTreeMap<BookingKey, T> {
        wanted(defs.iter().copied(), UserFormat::String, now(), now())
            .iter()
            .map(booked)
            .collect()
    }

    fn edited(defs: &[&Definition], t: &BTreeMap<BookingKey, T>) -> Vec<String> {
        let lifecycle = crate::config::Config::default().lifecycle;
        kinds(&run_with(defs, t, now(), Some(now()), "h2", &lifecycle).actions)
    }

    #[test]
    fn a_one_off_moved_in_time_is_one_modify_with_the_new_times() {
        let before = review();
        let t = booked_all(&[&before]);
        let after = def(
            "review",
            "subject = \"Review\"\nstart_time = 2026-12-02T10:00:00\nduration = \"1h\"\n",
        );
        assert_eq!(
            edited(&[&after], &t),
            ["modify review@1796090400 -> 1796176800 (end_time,start_time)"]
        );
    }

    #[test]
    fn an_invitee_edit_is_one_modify_of_the_invitees() {
        let t = booked_all(&[&review()]);
        let after = def(
            "review",
            "subject = \"Review\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\ninvitees = [\"alice\"]\n",
        );
        assert_eq!(
            edited(&[&after], &t),
            ["modify review@1796090400 -> 1796090400 (invitees)"]
        );
        // A comment changes the file, not the meeting.
        let comment = def(
            "review",
            "# moved\nsubject = \"Review\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
        );
        assert_eq!(edited(&[&comment], &t), ["rehash review@1796090400"]);
    }

    #[test]
    fn a_cron_edit_cancels_dropped_occurrences_and_creates_new_ones() {
        let t = booked_all(&[&standup()]);
        // From 09:30 to 10:00 on the same weekdays.
        let after = def(
            "team/standup",
            "subject = \"Standup\"\nduration = \"15m\"\n[schedule]\ncron = \"0 10 * * MON-FRI\"\nbook_ahead = \"2d\"\n",
        );
        let mut got = edited(&[&after], &t);
        got.sort();
        assert_eq!(
            got,
            [
                "cancel team/standup@1795656600",
                "cancel team/standup@1795743000",
                "create team/standup@1795658400",
                "create team/standup@1795744800"
            ]
        );
    }

    #[test]
    fn a_new_owner_is_a_cancel_and_a_quick_meeting_is_never_modified() {
        let t = booked_all(&[&review()]);
        let other = def(
            "review",
            "subject = \"Review\"\nuserid = \"someone\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
        );
        assert_eq!(edited(&[&other], &t), ["cancel review@1796090400"]);
        let quick = def(
            "review",
            "subject = \"Review\"\ntype = 1\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
        );
        assert_eq!(edited(&[&quick], &t), ["cancel review@1796090400"]);
    }

    #[test]
    fn removals_cancel_unless_kept_or_too_many_vanish_at_once() {
        let (s, r) = (standup(), review());
        let t = booked_all(&[&s, &r]);
        let mut lifecycle = crate::config::Config::default().lifecycle;
        // One of two definitions removed: 50%, not more than the default 0.5.
        let one = run_with(&[&s], &t, now(), Some(now()), "h1", &lifecycle);
        assert_eq!(kinds(&one.actions), ["cancel review@1796090400"]);
        assert!(one.held.is_empty());
        // Both removed: held, nothing cancelled.
        let all = run_with(&[], &t, now(), Some(now()), "h1", &lifecycle);
        assert!(all.actions.is_empty(), "{:?}", kinds(&all.actions));
        assert_eq!(all.held, ["review", "team/standup"]);
        lifecycle.on_removed = OnRemoved::Keep;
        assert!(
            run_with(&[&s], &t, now(), Some(now()), "h1", &lifecycle)
                .actions
                .is_empty()
        );
    }

    #[test]
    fn an_invalid_definition_is_not_a_removed_one_and_started_meetings_are_untouched() {
        let r = review();
        let t = booked_all(&[&r]);
        let lifecycle = crate::config::Config::default().lifecycle;
        // Present (it has a hash) but not valid: not among the definitions.
        let hash_of = |_: &str| Some("h2");
        let none = std::collections::BTreeSet::new();
        let got = run_knobs(
            &[],
            &t,
            &Knobs {
                at: now(),
                last: Some(now()),
                hash_of: &hash_of,
                lifecycle: &lifecycle,
                approved: &none,
            },
        );
        assert!(got.actions.is_empty() && got.held.is_empty());
        // After its start, a removed definition's meeting is left alone.
        let during = Utc.with_ymd_and_hms(2026, 12, 1, 2, 30, 0).unwrap();
        assert!(
            run_with(&[], &t, during, Some(during), "h1", &lifecycle)
                .actions
                .is_empty()
        );
    }

    #[test]
    fn an_approval_covers_only_the_definitions_it_names() {
        let (s1, r) = (standup(), review());
        let t = booked_all(&[&s1, &r]);
        let lifecycle = crate::config::Config::default().lifecycle;
        let partial = std::collections::BTreeSet::from(["review".to_string()]);
        let all =
            std::collections::BTreeSet::from(["review".to_string(), "team/standup".to_string()]);
        for (approved, cancels) in [(&partial, 0), (&all, 3)] {
            let hash_of = |_: &str| None;
            let got = run_knobs(
                &[],
                &t,
                &Knobs {
                    at: now(),
                    last: Some(now()),
                    hash_of: &hash_of,
                    lifecycle: &lifecycle,
                    approved,
                },
            );
            // Partial: team/standup was not approved, so nothing goes. All: every future
            // meeting of both is cancelled.
            assert_eq!(got.actions.len(), cancels, "{:?}", kinds(&got.actions));
        }
    }

    #[test]
    fn no_second_meeting_for_a_one_off_while_its_change_is_under_way() {
        let before = review();
        let mut t = booked_all(&[&before]);
        // A move to 2 December is recorded but not done; the file now says 3 December.
        for v in t.values_mut() {
            v.record.change = Some(Box::new(crate::state::Change::Modify {
                fields: serde_json::Map::new(),
                start: 1796176800,
                end: 1796180400,
                request: serde_json::Value::Null,
                definition_hash: "h2".into(),
            }));
            v.busy = true;
        }
        let after = def(
            "review",
            "subject = \"Review\"\nstart_time = 2026-12-03T10:00:00\nduration = \"1h\"\n",
        );
        assert!(edited(&[&after], &t).is_empty());
    }

    #[test]
    fn a_waiting_removal_cancel_is_dropped_when_the_file_comes_back_unchanged() {
        let r = review();
        let mut t = booked_all(&[&r]);
        for v in t.values_mut() {
            v.record.change = Some(Box::new(crate::state::Change::Cancel {
                reason: "its definition was removed".into(),
            }));
        }
        let lifecycle = crate::config::Config::default().lifecycle;
        // Back as it was (hash h1): drop the cancel. Still gone: send it again.
        let back = run_with(&[&r], &t, now(), Some(now()), "h1", &lifecycle).actions;
        assert_eq!(kinds(&back), ["drop change review@1796090400"]);
        let gone = run_with(&[], &t, now(), Some(now()), "h1", &lifecycle).actions;
        assert_eq!(kinds(&gone), ["resume review@1796090400"]);
    }
}
