//! The reconcile rules: what the daemon knows of each booking, the actions a pass decides,
//! and how it decides them for pending, booked, failed and cancelled bookings, renamed
//! files, removals and changes held for an operator.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::compare::follow;
use super::{BookingKey, Due, Status, Wanted, due_now, occurrence_at, started_since};
use crate::config::{LifecycleConfig, OnRemoved, UserFormat};
use crate::definition::{Definition, When};
use crate::meeting::Fields;
use crate::state::{Change, Record};

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
        fields: Fields,
    },
    /// Cancel the booked meeting (`POST .../cancel`).
    Cancel { key: BookingKey, reason: String },
    /// A modify or cancel recorded earlier and not known to be done: send it again (both are
    /// idempotent on the API).
    Resume(BookingKey),
    /// The definition file changed but not in anything the meeting carries: note its hash.
    Rehash(BookingKey),
    /// A recorded change that is no longer wanted (the meeting started first, or the removed
    /// file came back as it was): give it up. With no change recorded, a refused one that no
    /// longer applies (the file is back as it was when the meeting was booked).
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
                            // The file is as it was when this was booked: a refusal (of a
                            // cancel when it was removed, of a modify when it was edited)
                            // no longer applies.
                            if r.refused.is_some() {
                                out.actions.push(Action::DropChange {
                                    key: key.clone(),
                                    reason: "its definition is back as it was",
                                });
                            }
                            continue;
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
