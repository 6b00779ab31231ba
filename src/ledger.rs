//! The daemon's bookkeeping of bookings: every [`Record`] by key, and which of them changed
//! since the store last saved them. The store writes only those (one row each), not the whole
//! ledger, so the cost of recording a booking does not grow with the bookings on record.
//!
//! Every change goes through a method that marks the key, so a change can never be missed by
//! the next save. The transitions that are the same wherever they happen (retry) are here,
//! pure, with their tests.

use std::collections::{BTreeMap, BTreeSet};

use crate::booking::{BookingKey, Name, Status};
use crate::state::{Names, Record};

/// The records and what changed in them.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// Boxed: the tree's nodes then hold a pointer to a record, not the record (a tenth of the
    /// size), and building the tree from 100,000 loaded records copies no more than that.
    records: BTreeMap<BookingKey, Box<Record>>,
    /// Keys inserted, changed or removed since [`Ledger::take_changes`].
    changed: BTreeSet<BookingKey>,
    /// Definitions with a record inserted, changed or removed since
    /// [`Ledger::take_touched`]: the daemon's next pass looks at them.
    touched: BTreeSet<Name>,
    /// The names the records share, one allocation each.
    names: Names,
}

/// What a modification made of a booked meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct Modified {
    /// The new subject, when the modify changes it.
    pub subject: Option<String>,
    pub start: i64,
    pub end: i64,
    pub request: Option<crate::state::RecordedRequest>,
    pub definition_hash: Name,
}

/// One row to write: the record as it stands now, or its removal.
#[derive(Debug, PartialEq)]
pub enum Write<'a> {
    Put(&'a Record),
    Delete(BookingKey),
}

impl Ledger {
    /// A ledger of records as loaded: nothing in it is a change.
    pub fn new(records: impl IntoIterator<Item = Record>) -> Ledger {
        let mut names = Names::default();
        let records = records
            .into_iter()
            .map(|mut r| {
                names.share(&mut r);
                (r.key(), Box::new(r))
            })
            .collect();
        Ledger {
            records,
            changed: BTreeSet::new(),
            touched: BTreeSet::new(),
            names,
        }
    }

    pub fn get(&self, key: &BookingKey) -> Option<&Record> {
        self.records.get(key).map(|r| &**r)
    }

    /// The record to change; the key is marked changed whether or not it is.
    pub fn get_mut(&mut self, key: &BookingKey) -> Option<&mut Record> {
        if !self.records.contains_key(key) {
            return None;
        }
        self.mark(key);
        self.records.get_mut(key).map(|r| &mut **r)
    }

    pub fn contains(&self, key: &BookingKey) -> bool {
        self.records.contains_key(key)
    }

    /// Puts `record` under `key` (which may differ from the record's own key only in a
    /// caller's bug: the store keys rows by the record).
    pub fn insert(&mut self, key: BookingKey, mut record: Record) -> Option<Record> {
        debug_assert_eq!(key, record.key());
        self.names.share(&mut record);
        self.mark(&key);
        self.records
            .insert(record.key(), Box::new(record))
            .map(|r| *r)
    }

    pub fn remove(&mut self, key: &BookingKey) -> Option<Record> {
        let r = self.records.remove(key)?;
        self.mark(key);
        Some(*r)
    }

    /// Keeps the records `keep` says yes to; the others are removed (and marked).
    pub fn retain(&mut self, mut keep: impl FnMut(&BookingKey, &Record) -> bool) {
        let (changed, touched) = (&mut self.changed, &mut self.touched);
        self.records.retain(|k, r| {
            let kept = keep(k, r);
            if !kept {
                changed.insert(k.clone());
                if !touched.contains(&k.definition) {
                    touched.insert(k.definition.clone());
                }
            }
            kept
        });
    }

    fn mark(&mut self, key: &BookingKey) {
        self.changed.insert(key.clone());
        if !self.touched.contains(&key.definition) {
            self.touched.insert(key.definition.clone());
        }
    }

    /// The definitions with records changed since the last call.
    pub fn take_touched(&mut self) -> BTreeSet<Name> {
        std::mem::take(&mut self.touched)
    }

    /// The records of one definition, in start order.
    pub fn of_definition<'a>(
        &'a self,
        definition: &str,
    ) -> impl Iterator<Item = (&'a BookingKey, &'a Record)> + 'a {
        let from = BookingKey {
            definition: definition.into(),
            start: i64::MIN,
        };
        let to = BookingKey {
            definition: definition.into(),
            start: i64::MAX,
        };
        self.records.range(from..=to).map(|(k, r)| (k, &**r))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&BookingKey, &Record)> {
        self.records.iter().map(|(k, r)| (k, &**r))
    }

    pub fn values(&self) -> impl Iterator<Item = &Record> {
        self.records.values().map(|r| &**r)
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether anything changed since the last [`Ledger::take_changes`].
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty()
    }

    /// What to write for the changes since the last call, and forgets them. Call again with
    /// [`Ledger::restore_changes`] if the write fails.
    pub fn take_changes(&mut self) -> (Vec<Write<'_>>, BTreeSet<BookingKey>) {
        let keys = std::mem::take(&mut self.changed);
        let writes = keys
            .iter()
            .map(|k| match self.records.get(k) {
                Some(r) => Write::Put(r),
                None => Write::Delete(k.clone()),
            })
            .collect();
        (writes, keys)
    }

    /// The keys changed since the last call (to write them a part at a time: see
    /// [`Ledger::take_changes`]), forgotten as changes.
    pub fn take_changed_keys(&mut self) -> BTreeSet<BookingKey> {
        std::mem::take(&mut self.changed)
    }

    /// Marks `keys` changed again: their write did not happen.
    pub fn restore_changes(&mut self, keys: BTreeSet<BookingKey>) {
        self.changed.extend(keys);
    }

    /// Sends failed bookings, and missed ones whose meeting has not started at `now`, back to
    /// `pending`, attempts reset, to be looked up (in case an earlier create did happen) and
    /// booked again. Returns the keys it changed; other keys are left alone.
    pub fn retry(&mut self, keys: &[BookingKey], now: i64) -> Vec<BookingKey> {
        let mut done = Vec::new();
        for key in keys {
            if self.get(key).is_some_and(|r| r.retryable(now))
                && let Some(r) = self.get_mut(key)
            {
                r.status = Status::Pending;
                r.attempts = 0;
                r.error_code = None;
                r.acknowledged = None;
                r.updated_at = now;
                done.push(key.clone());
            }
        }
        done
    }

    /// Marks the records of `keys` that need a person ([`Record::needs_a_person`]) as
    /// acknowledged at `now`: they stay on record as they are, and need no one any more.
    /// Returns the keys it changed; other keys are left alone.
    pub fn acknowledge(&mut self, keys: &[BookingKey], now: i64) -> Vec<BookingKey> {
        let mut done = Vec::new();
        for key in keys {
            if self.get(key).is_some_and(|r| r.needs_a_person(now))
                && let Some(r) = self.get_mut(key)
            {
                r.acknowledged = Some(now);
                done.push(key.clone());
            }
        }
        done
    }

    /// Drops the request bodies of `keys` from memory (not a change: the store keeps them,
    /// and a write of a record without its body keeps the stored one), but those of pending
    /// bookings: a create waiting for its turn is sent from its record
    /// ([`Ledger::take_request`]).
    pub fn forget_requests<'k>(&mut self, keys: impl IntoIterator<Item = &'k BookingKey>) {
        for k in keys {
            if let Some(r) = self.records.get_mut(k)
                && r.status != Status::Pending
            {
                r.request = None;
            }
        }
    }

    /// Takes a record's request body out of memory, to send it (not a change: the store keeps
    /// it).
    pub fn take_request(&mut self, key: &BookingKey) -> Option<crate::state::RecordedRequest> {
        self.records.get_mut(key).and_then(|r| r.request.take())
    }

    /// [`Ledger::forget_requests`] for every record (after loading).
    pub fn forget_all_requests(&mut self) {
        for r in self.records.values_mut() {
            r.request = None;
        }
    }

    /// Puts back a request body read from the store (not a change).
    pub fn restore_request(&mut self, key: &BookingKey, request: crate::state::RecordedRequest) {
        if let Some(r) = self.records.get_mut(key) {
            r.request = Some(request);
        }
    }

    /// Puts back a join URL and meeting code read from the store (not a change).
    pub fn restore_links(
        &mut self,
        key: &BookingKey,
        join_url: Option<Box<str>>,
        meeting_code: Option<Box<str>>,
    ) {
        if let Some(r) = self.records.get_mut(key) {
            r.join_url = join_url;
            r.meeting_code = meeting_code;
        }
    }

    /// The meeting exists: `booked` with its id, code and join URL; the last error goes.
    /// Returns the record, or `None` when there is none for `key`.
    pub fn booked(
        &mut self,
        key: &BookingKey,
        meeting_id: &str,
        meeting_code: &str,
        join_url: &str,
        now: i64,
    ) -> Option<&Record> {
        let r = self.get_mut(key)?;
        r.status = Status::Booked;
        r.meeting_id = Some(meeting_id.into());
        r.meeting_code = (!meeting_code.is_empty()).then(|| meeting_code.into());
        r.join_url = (!join_url.is_empty()).then(|| join_url.into());
        r.last_error = None;
        r.error_code = None;
        r.updated_at = now;
        Some(r)
    }

    /// The meeting a lookup adopted turned out to be another booking's (its create's answer
    /// came later and named it): back to `pending`, without a meeting, to be looked up again.
    pub fn unbooked(&mut self, key: &BookingKey, now: i64) {
        if let Some(r) = self.get_mut(key) {
            r.status = Status::Pending;
            r.meeting_id = None;
            r.meeting_code = None;
            r.join_url = None;
            r.updated_at = now;
        }
    }

    /// Refused for good: `failed`, with why; not tried again until the definition changes.
    pub fn failed(&mut self, key: &BookingKey, message: &str, code: Option<i64>, now: i64) {
        if let Some(r) = self.get_mut(key) {
            r.status = Status::Failed;
            r.acknowledged = None; // A new failure needs a person anew.
            r.last_error = Some(message.into());
            r.error_code = code;
            r.updated_at = now;
        }
    }

    /// The meeting was cancelled: `cancelled`, its change and any refusal done with.
    pub fn cancelled(&mut self, key: &BookingKey, reason: &str, now: i64) {
        if let Some(r) = self.get_mut(key) {
            r.status = Status::Cancelled;
            r.change = None;
            r.refused = None;
            r.last_error = Some(format!("cancelled: {reason}").into());
            r.updated_at = now;
        }
    }

    /// The meeting was modified as `m` says: the record moves to its new start (its key),
    /// takes the new subject, request and definition hash, and counts one more modification
    /// (the calendar's `SEQUENCE`). Returns the new key.
    pub fn modified(&mut self, key: &BookingKey, m: Modified, now: i64) -> Option<BookingKey> {
        let mut r = self.remove(key)?;
        if let Some(subject) = m.subject {
            r.subject = subject;
        }
        r.occurrence_start = m.start;
        r.occurrence_end = m.end;
        r.request = m.request;
        r.definition_hash = m.definition_hash;
        r.change = None;
        r.last_error = None;
        r.refused = None;
        r.sequence += 1;
        r.updated_at = now;
        let new_key = r.key();
        self.insert(new_key.clone(), r);
        Some(new_key)
    }

    /// A record moved to another definition id (its file was renamed), with the request
    /// body that was sent when memory no longer held it. Returns the new key, or `None` when
    /// there is no record for `from`.
    pub fn moved(
        &mut self,
        from: &BookingKey,
        to: &Name,
        sent: Option<crate::state::RecordedRequest>,
    ) -> Option<BookingKey> {
        let mut r = self.remove(from)?;
        r.definition = to.clone();
        if r.request.is_none() {
            r.request = sent;
        }
        let key = r.key();
        self.insert(key.clone(), r);
        Some(key)
    }

    /// How many records have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.records.values().filter(|r| r.status == status).count()
    }

    pub fn into_records(self) -> impl Iterator<Item = Record> {
        self.records.into_values().map(|r| *r)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(def: &str, start: i64, status: Status) -> Record {
        Record {
            definition: def.into(),
            occurrence_start: start,
            occurrence_end: start + 60,
            status,
            userid: "u".into(),
            instanceid: 1,
            subject: "s".into(),
            timezone: None,
            definition_hash: "h".into(),
            request: None,
            meeting_id: Some(format!("m-{def}-{start}").into()),
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
            acknowledged: None,
        }
    }

    fn key(def: &str, start: i64) -> BookingKey {
        BookingKey {
            definition: def.into(),
            start,
        }
    }

    #[test]
    fn loaded_records_are_not_changes_and_every_change_is_marked_once() {
        let mut l = Ledger::new([
            record("a", 1, Status::Booked),
            record("b", 2, Status::Booked),
            record("c", 3, Status::Failed),
        ]);
        assert!(!l.has_changes());
        l.get_mut(&key("a", 1)).unwrap().subject = "new".into();
        l.get_mut(&key("a", 1)).unwrap().attempts = 4;
        l.remove(&key("b", 2));
        l.insert(key("d", 4), record("d", 4, Status::Pending));
        // Removing what is not there changes nothing.
        assert!(l.remove(&key("zz", 9)).is_none());
        let (writes, _) = l.take_changes();
        let mut a = record("a", 1, Status::Booked);
        a.subject = "new".into();
        a.attempts = 4;
        let d = record("d", 4, Status::Pending);
        assert_eq!(
            writes,
            vec![Write::Put(&a), Write::Delete(key("b", 2)), Write::Put(&d),]
        );
        assert!(!l.has_changes(), "taken changes are forgotten");
        assert_eq!(
            l.take_touched(),
            BTreeSet::from(["a".into(), "b".into(), "d".into()])
        );
        assert!(l.take_touched().is_empty());
    }

    #[test]
    fn booked_failed_cancelled_and_modified_are_what_they_say() {
        let mut pending = record("a", 100, Status::Pending);
        pending.last_error = Some("timeout".into());
        pending.error_code = Some(500);
        let mut l = Ledger::new([pending]);
        let a = key("a", 100);
        let r = l.booked(&a, "m1", "", "https://j/1", 5).unwrap();
        assert_eq!(
            (r.status, r.meeting_id.as_deref(), r.meeting_code.as_deref()),
            (Status::Booked, Some("m1"), None),
            "an empty code is no code"
        );
        assert_eq!(
            (r.last_error.as_ref(), r.error_code, r.updated_at),
            (None, None, 5)
        );
        assert!(l.booked(&key("none", 1), "m", "c", "u", 5).is_none());

        let new = l
            .modified(
                &a,
                Modified {
                    subject: Some("New".into()),
                    start: 200,
                    end: 260,
                    request: None,
                    definition_hash: "h2".into(),
                },
                6,
            )
            .unwrap();
        assert_eq!(new, key("a", 200));
        assert!(l.get(&a).is_none(), "the record moved to its new start");
        let r = l.get(&new).unwrap();
        assert_eq!(
            (
                r.subject.as_str(),
                r.occurrence_end,
                r.sequence,
                &*r.definition_hash
            ),
            ("New", 260, 1, "h2")
        );
        assert_eq!(r.meeting_id.as_deref(), Some("m1"), "the same meeting");

        l.cancelled(&new, "its definition was removed", 7);
        let r = l.get(&new).unwrap();
        assert_eq!(r.status, Status::Cancelled);
        assert_eq!(
            r.last_error.as_deref(),
            Some("cancelled: its definition was removed")
        );

        l.failed(&new, "no permission", Some(9003), 8);
        let r = l.get(&new).unwrap();
        assert_eq!(
            (r.status, r.error_code, r.updated_at),
            (Status::Failed, Some(9003), 8)
        );
        let (writes, _) = l.take_changes();
        assert_eq!(writes.len(), 2, "the old key deleted, the new one written");
    }

    #[test]
    fn a_definitions_records_come_in_start_order_and_no_others() {
        let l = Ledger::new([
            record("a", 5, Status::Booked),
            record("ab", 1, Status::Booked),
            record("a", -3, Status::Booked),
            record("b", 0, Status::Booked),
        ]);
        let starts: Vec<i64> = l.of_definition("a").map(|(k, _)| k.start).collect();
        assert_eq!(starts, vec![-3, 5]);
        assert_eq!(l.of_definition("none").count(), 0);
    }

    #[test]
    fn retain_marks_what_it_drops_and_a_failed_write_can_be_restored() {
        let mut l = Ledger::new((0..5).map(|i| record("a", i, Status::Booked)));
        l.retain(|k, _| k.start % 2 == 0);
        assert_eq!(l.len(), 3);
        let (writes, keys) = l.take_changes();
        assert_eq!(
            writes,
            vec![Write::Delete(key("a", 1)), Write::Delete(key("a", 3))]
        );
        l.restore_changes(keys);
        assert!(l.has_changes());
        assert_eq!(l.take_changes().0.len(), 2);
    }

    #[test]
    fn retry_sends_only_failed_bookings_back_to_pending() {
        let mut failed = record("a", 1, Status::Failed);
        failed.attempts = 7;
        failed.error_code = Some(190303);
        failed.last_error = Some("bad credentials".into());
        let mut l = Ledger::new([failed, record("b", 2, Status::Booked)]);
        let done = l.retry(&[key("a", 1), key("b", 2), key("none", 3)], 99);
        assert_eq!(done, vec![key("a", 1)]);
        let r = l.get(&key("a", 1)).unwrap();
        assert_eq!(
            (r.status, r.attempts, r.error_code, r.updated_at),
            (Status::Pending, 0, None, 99)
        );
        // The last error stays for `status` until the lookup or create says otherwise.
        assert_eq!(r.last_error.as_deref(), Some("bad credentials"));
        assert_eq!(l.get(&key("b", 2)).unwrap().status, Status::Booked);
        let (writes, _) = l.take_changes();
        assert_eq!(writes.len(), 1, "only the retried booking is written");
    }
}
