//! The plan's steps, taken on the bookings: each [`Action`] of a pass becomes the lifecycle
//! event it stands for (a change recorded, a booking moved, missed, forgotten, ...), and what
//! is to be sent is sorted out for the planner.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::booking::{BookingKey, Status};
use crate::lifecycle::Bookings;
use crate::plan::{Action, Wanted};
use crate::state::{Change, RecordedRequest};
use crate::store::Reader;
use crate::watch::Catalog;

/// The plan's steps, taken on the bookings. Returns the changes to send, the creates wanted,
/// the lookups by user, and whether a booking moved (a pass follows at once).
#[allow(clippy::type_complexity)]
pub(super) async fn take(
    catalog: &Catalog,
    reader: &Reader,
    bookings: &mut Bookings,
    actions: Vec<Action>,
    now: DateTime<Utc>,
) -> (
    Vec<BookingKey>,
    Vec<Wanted>,
    BTreeMap<(String, u8), Vec<BookingKey>>,
    bool,
) {
    let mut creates = Vec::new();
    let mut changes = Vec::new();
    let mut resolves: BTreeMap<(String, u8), Vec<BookingKey>> = BTreeMap::new();
    let mut moved = false;
    for action in actions {
        match action {
            Action::Move { from, to } => {
                // The body that was sent is what the lookup compares: it moves along.
                let sent = match bookings
                    .records()
                    .get(&from)
                    .and_then(|r| r.request.clone())
                {
                    Some(q) => Some(q),
                    None => reader.request_of(&from).await.ok().flatten(),
                };
                moved |= bookings.moved(&from, &to.definition, sent).is_some();
            }
            Action::Modify {
                key,
                wanted,
                fields,
            } => {
                let request = match RecordedRequest::of(&wanted.request) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(booking = %key, "cannot build the request for the change: {e}; the meeting is left as it is");
                        continue;
                    }
                };
                let change = Change::Modify {
                    fields,
                    start: wanted.key.start,
                    end: wanted.end.timestamp(),
                    request,
                    definition_hash: hash_of(catalog, &key),
                };
                bookings.change(&key, change, now);
                changes.push(key);
            }
            Action::Cancel { key, reason } => {
                bookings.change(&key, Change::Cancel { reason }, now);
                changes.push(key);
            }
            Action::Resume(key) => changes.push(key),
            Action::DropChange { key, reason } => bookings.drop_change(&key, reason),
            Action::Rehash(key) => {
                if let Some(h) = catalog.hash_of(&key.definition) {
                    bookings.rehash(&key, h);
                }
            }
            Action::Create(c) => creates.push(c),
            Action::Resolve(key) => {
                if let Some(r) = bookings.records().get(&key) {
                    resolves
                        .entry((r.userid.to_string(), r.instanceid))
                        .or_default()
                        .push(key);
                }
            }
            Action::Missed { wanted, reason } => {
                let hash = hash_of(catalog, &wanted.key);
                bookings.missed(&wanted, &hash, reason, now);
            }
            Action::Forget(key) => bookings.forget(&key),
        }
    }
    (changes, creates, resolves, moved)
}

/// The hash of the definition a booking is made from.
pub(super) fn hash_of(catalog: &Catalog, key: &BookingKey) -> String {
    catalog
        .hash_of(&key.definition)
        .unwrap_or_default()
        .to_string()
}

/// A failed or missed booking whose definition is gone (no file, valid or not) needs no one
/// any more: it is acknowledged for the operator. A live meeting whose cancel was refused is
/// not: its definition is gone by nature, and the meeting still needs a person.
pub(super) fn acknowledge_gone(catalog: &Catalog, bookings: &mut Bookings, now: DateTime<Utc>) {
    let gone: Vec<BookingKey> = (bookings.records().values())
        .filter(|r| matches!(r.status, Status::Failed | Status::Missed))
        .filter(|r| r.needs_a_person(now.timestamp()) && catalog.hash_of(&r.definition).is_none())
        .map(|r| r.key())
        .collect();
    if !gone.is_empty() {
        bookings.acknowledge(&gone, "its definition is gone", now);
    }
}
