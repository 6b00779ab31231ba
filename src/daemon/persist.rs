//! Writes to the store: the records the ledger marked as changed and, when they changed, the
//! daemon's values, in one transaction. The write runs off the loop ([`store::Writer`]): the
//! loop hands a batch over and goes on (its timers, its answers, the systemd watchdog), and
//! hears when the batch is durable. One write is in flight at a time; each has a number, and a
//! request whose intent is in batch `n` is sent only once batch `n` is written.
//!
//! Intents are written at once (before their requests are sent); results are coalesced, at most
//! one write a second ([`FLUSH_EVERY`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::booking::{BookingKey, Status};
use crate::lifecycle::Bookings;
use crate::metrics::Metrics;
use crate::state::StateError;
use crate::store::{self, InvalidChange, Writer};
use crate::watch::InvalidChanges;

/// The most rows serialized at once: a write of more (a backlog's intents, 100,000 invalid
/// files seen for the first time) goes to the store in parts of this many, one after the
/// other, so that 50,000 intents are never all in memory twice (as records and as JSON). The
/// write is done when its last part is.
const PART: usize = 1_000;

/// How often results are written at most; intents are written at once. A result lost to a
/// crash in between is found again by the lookup of its pending record.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(1);

type Writing = Pin<Box<dyn Future<Output = Result<(), StateError>> + Send>>;

/// What was last written, and the write in flight.
pub(super) struct Persist {
    writer: Writer,
    /// The daemon's values as last written: written again only when they change.
    /// See [`Persist::set_exact_month`].
    exact_month: bool,
    meta: store::Meta,
    /// The values changed since (not the records: the ledger knows those).
    dirty: bool,
    /// How many files were invalid at the last write (the gauge).
    invalid_files: usize,
    last_flush: Instant,
    /// Batches handed to the writer so far (the number of the last), and written.
    handed: u64,
    written: u64,
    /// The write in flight, and what it carries.
    writing: Option<(Writing, InFlight)>,
    /// Start the next write as soon as the one in flight is done: requests wait for it.
    asap: bool,
}

/// What a write in flight carries, for when it is done.
struct InFlight {
    /// The records of the part in flight (their request bodies may leave memory once
    /// written).
    keys: Vec<BookingKey>,
    /// The records of the parts still to go, serialized when their turn comes (as they stand
    /// then: a later change is newer, and the ledger marks it for a later write too).
    rest: std::collections::VecDeque<BookingKey>,
    /// The values it writes (with its last part), when it writes them.
    meta: Option<store::Meta>,
    /// The invalid files' rows still to go (after the records, in the same parts), and
    /// whether the first part deletes every row of theirs first.
    invalid: std::collections::VecDeque<InvalidChange>,
    invalid_reset: bool,
    /// How many files are invalid once it is written.
    invalid_files: usize,
    /// Whether its last part clears the look-up-first mark.
    looked_up: bool,
    /// Operator requests its last part removes.
    requests_done: Vec<i64>,
    started: Instant,
}

/// A write done.
pub(super) struct Written {
    /// Its number: requests whose intents it holds may go.
    pub(super) number: u64,
    /// Operator requests it removed.
    pub(super) requests_done: usize,
    /// Whether another write should start at once (requests wait for it).
    pub(super) again: bool,
}

impl Persist {
    /// `meta` as loaded with the records; `writer` writes this store.
    /// Whether each create's count for the month must be on record with it (a monthly budget
    /// is kept: `api.creates_per_month`).
    pub(super) fn set_exact_month(&mut self, exact: bool) {
        self.exact_month = exact;
    }

    pub(super) fn new(meta: store::Meta, writer: Writer) -> Persist {
        Persist {
            writer,
            exact_month: false,
            meta,
            dirty: true,
            invalid_files: 0,
            last_flush: Instant::now(),
            handed: 0,
            written: 0,
            writing: None,
            asap: false,
        }
    }

    /// The daemon's values changed: the next write takes them.
    pub(super) fn touch(&mut self) {
        self.dirty = true;
    }

    /// Whether anything is to be written.
    pub(super) fn needed(&self, bookings: &Bookings) -> bool {
        self.dirty || bookings.records().has_changes()
    }

    /// Whether a write is in flight.
    pub(super) fn writing(&self) -> bool {
        self.writing.is_some()
    }

    /// When results are written next.
    pub(super) fn due(&self) -> Instant {
        self.last_flush + FLUSH_EVERY
    }

    /// The number of the last write handed over: it holds everything recorded before it.
    pub(super) fn last_handed(&self) -> u64 {
        self.handed
    }

    /// With a write in flight: the number of the next, which starts as soon as this one is
    /// done and holds everything recorded until then.
    pub(super) fn after_current(&mut self) -> u64 {
        self.asap = true;
        self.handed + 1
    }

    /// Hands what changed to the writer; call with no write in flight. Returns the write's
    /// number: a request recorded before this call may be sent once it is done.
    /// `invalid`: the invalid files' rows that changed (the catalog's, taken for this write).
    /// `looked_up`: the store's records were looked up (not a recovery in progress).
    pub(super) fn flush(
        &mut self,
        bookings: &mut Bookings,
        meta: store::Meta,
        invalid: InvalidChanges,
        looked_up: bool,
        requests_done: &[i64],
    ) -> Result<u64, StateError> {
        debug_assert!(self.writing.is_none(), "one write at a time");
        // `last_pass` moves at every pass: alone, it is written at most once a minute (an
        // older one only widens the window in which unbooked starts count as missed, and each
        // start in it has a record already). So does the month's count of creates with no
        // budget to keep: it only tells (`plan`, metrics); with one, every create is on record.
        let month = match (&meta.month, &self.meta.month) {
            (Some(new), Some(old))
                if !self.exact_month
                    && new.month == old.month
                    && new.refused_until == old.refused_until =>
            {
                self.meta.month.clone()
            }
            _ => meta.month.clone(),
        };
        let only_last_pass = self.meta
            == store::Meta {
                last_pass: self.meta.last_pass,
                month,
                ..meta.clone()
            };
        let last_pass_fresh = matches!(
            (meta.last_pass, self.meta.last_pass),
            (Some(new), Some(old)) if new - old < 60
        );
        let write_meta = meta != self.meta && !(only_last_pass && last_pass_fresh);
        let keys = bookings.records_mut().take_changed_keys();
        self.handed += 1;
        self.dirty = false;
        self.asap = false;
        self.last_flush = Instant::now();
        let mut in_flight = InFlight {
            keys: Vec::new(),
            rest: keys.into_iter().collect(),
            meta: write_meta.then_some(meta),
            invalid: invalid.rows.into(),
            invalid_reset: invalid.reset,
            invalid_files: invalid.total,
            looked_up,
            requests_done: requests_done.to_vec(),
            started: Instant::now(),
        };
        match self.next_part(&mut in_flight, bookings) {
            Ok(writing) => {
                self.writing = Some((writing, in_flight));
                Ok(self.handed)
            }
            Err(e) => {
                bookings
                    .records_mut()
                    .restore_changes(in_flight.rest.into_iter().collect());
                Err(e)
            }
        }
    }

    /// Serializes the next part of `in_flight` (the last one with the values, the mark and the
    /// requests) and hands it to the writer.
    fn next_part(
        &self,
        in_flight: &mut InFlight,
        bookings: &Bookings,
    ) -> Result<Writing, StateError> {
        let n = in_flight.rest.len().min(PART);
        in_flight.keys = in_flight.rest.drain(..n).collect();
        let room = PART - n;
        let invalid: Vec<InvalidChange> = (in_flight.invalid)
            .drain(..room.min(in_flight.invalid.len()))
            .collect();
        let last = in_flight.rest.is_empty() && in_flight.invalid.is_empty();
        let records = bookings.records();
        let rows = in_flight
            .keys
            .iter()
            .map(|k| match records.get(k) {
                Some(r) => store::Write::Put(r),
                None => store::Write::Delete(k.clone()),
            })
            .collect();
        let no_requests: &[i64] = &[];
        let mut owned = store::Batch {
            rows,
            meta: in_flight.meta.as_ref().filter(|_| last),
            looked_up: in_flight.looked_up && last,
            requests_done: if last {
                &in_flight.requests_done
            } else {
                no_requests
            },
        }
        .to_owned()?;
        owned.add_invalid(std::mem::take(&mut in_flight.invalid_reset), &invalid)?;
        Ok(Box::pin(self.writer.write(owned)))
    }

    /// Completes when the write in flight is done; pending while none is.
    pub(super) async fn done(&mut self) -> Result<(), StateError> {
        match &mut self.writing {
            Some((writing, _)) => writing.await,
            None => std::future::pending().await,
        }
    }

    /// The write in flight is done (`result` from [`Persist::done`]): the records' request
    /// bodies live in the store from here on, and the gauges show what is on record.
    pub(super) fn written(
        &mut self,
        result: Result<(), StateError>,
        bookings: &mut Bookings,
        metrics: Option<&Metrics>,
    ) -> Result<Option<Written>, StateError> {
        let Some((_, mut in_flight)) = self.writing.take() else {
            return Ok(None);
        };
        if let Err(e) = result {
            // The daemon stops on a failed write; what it carried is still to be written (the
            // invalid files' rows: by the next start, which compares them with the files).
            let keys = in_flight.keys.into_iter().chain(in_flight.rest);
            bookings.records_mut().restore_changes(keys.collect());
            return Err(e);
        }
        bookings.records_mut().forget_requests(&in_flight.keys);
        if !in_flight.rest.is_empty() || !in_flight.invalid.is_empty() {
            // The next part; the write is done with its last.
            match self.next_part(&mut in_flight, bookings) {
                Ok(writing) => {
                    self.writing = Some((writing, in_flight));
                    return Ok(None);
                }
                Err(e) => {
                    let keys = in_flight.keys.into_iter().chain(in_flight.rest);
                    bookings.records_mut().restore_changes(keys.collect());
                    return Err(e);
                }
            }
        }
        self.written = self.handed;
        if let Some(meta) = in_flight.meta {
            self.meta = meta;
        }
        self.invalid_files = in_flight.invalid_files;
        if let Some(m) = metrics {
            m.store_write_seconds
                .observe(in_flight.started.elapsed().as_secs_f64());
            observe(m, bookings, &self.meta, self.invalid_files);
        }
        Ok(Some(Written {
            number: self.written,
            requests_done: in_flight.requests_done.len(),
            again: self.asap,
        }))
    }
}

/// The gauges a write changes: bookings by status (one walk over the records for all five),
/// those that need a person, held removals, invalid files, creates waiting for a quota.
fn observe(m: &Metrics, bookings: &Bookings, meta: &store::Meta, invalid_files: usize) {
    let mut counts: BTreeMap<&'static str, i64> = [
        Status::Pending,
        Status::Booked,
        Status::Failed,
        Status::Missed,
        Status::Cancelled,
    ]
    .iter()
    .map(|s| (s.as_str(), 0))
    .collect();
    for r in bookings.records().values() {
        *counts.entry(r.status.as_str()).or_default() += 1;
    }
    for (status, n) in counts {
        m.bookings
            .get_or_create(&crate::metrics::StatusLabel {
                status: status.to_string(),
            })
            .set(n);
    }
    // As of the last pass: the clock the daemon runs on.
    let now = chrono::DateTime::from_timestamp(meta.last_pass.unwrap_or(0), 0).unwrap_or_default();
    let attention = crate::state::Attention::of_bookings(
        bookings.records().values(),
        now,
        bookings.rules().alert_after,
    );
    m.attention.set(attention.bookings() as i64);
    m.held_removals.set(meta.held_removals.len() as i64);
    m.invalid_definitions.set(invalid_files as i64);
    m.waiting_for_quota
        .set(meta.waiting.iter().map(|w| w.bookings as i64).sum());
    if let Some(month) = &meta.month {
        m.creates_this_month.set(i64::from(month.creates));
        // Held while the refusal's hold outlasts the last pass.
        let refused = (month.refused_until)
            .zip(meta.last_pass)
            .is_some_and(|(until, at)| until > at);
        m.month_quota_refused.set(i64::from(refused));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Ledger, tests::record};
    use crate::lifecycle::Rules;
    use crate::store::Store;

    /// A write of more rows than a part goes in parts, and is done only with its last: a
    /// request whose intent is in it waits for every part.
    #[tokio::test]
    async fn a_write_of_more_than_a_part_is_done_with_its_last_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let (store, _) = Store::open(&path, None).unwrap();
        let rules = Rules {
            max_attempts: 4,
            max_delay: Duration::from_secs(60),
            recover: false,
            alert_after: Duration::from_secs(900),
        };
        let mut bookings = Bookings::new(Ledger::default(), rules);
        let rows = 2 * PART + 1;
        for i in 0..rows {
            let r = record("d", i as i64, Status::Booked);
            bookings.records_mut().insert(r.key(), r);
        }
        let mut persist = Persist::new(store::Meta::default(), store.writer().unwrap());
        let meta = store::Meta {
            held_removals: vec!["x".into()],
            ..store::Meta::default()
        };
        let invalid = InvalidChanges::default();
        assert_eq!(
            persist
                .flush(&mut bookings, meta, invalid, true, &[])
                .unwrap(),
            1
        );
        let mut parts = 0;
        let written = loop {
            let result = persist.done().await;
            parts += 1;
            let on_record = crate::store::read(&path).unwrap();
            match persist.written(result, &mut bookings, None).unwrap() {
                Some(written) => break written,
                None => {
                    assert_eq!(on_record.bookings.len(), parts * PART, "part {parts}");
                    assert!(on_record.held_removals.is_empty(), "the values go last");
                }
            }
        };
        assert_eq!((parts, written.number), (3, 1));
        let on_record = crate::store::read(&path).unwrap();
        assert_eq!(on_record.bookings.len(), rows);
        assert_eq!(on_record.held_removals, ["x"]);
        assert!(!persist.writing());
        assert!(!persist.needed(&bookings));
    }

    /// The month's count of creates grows with every create: with no budget to keep it is
    /// written with the other values only (or once a minute), not with every write.
    #[tokio::test]
    async fn the_months_count_alone_is_written_with_every_write_only_under_a_budget() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("state.db"), None).unwrap();
        let month = |creates| {
            Some(crate::state::MonthCount {
                month: "2030-01".into(),
                creates,
                refused_until: None,
            })
        };
        let values = |last_pass, creates| store::Meta {
            last_pass: Some(last_pass),
            month: month(creates),
            ..store::Meta::default()
        };
        for (exact, written) in [(false, false), (true, true)] {
            let rules = Rules {
                max_attempts: 4,
                max_delay: Duration::from_secs(60),
                recover: false,
                alert_after: Duration::from_secs(900),
            };
            let mut bookings = Bookings::new(Ledger::default(), rules);
            let mut persist = Persist::new(values(100, 1), store.writer().unwrap());
            persist.set_exact_month(exact);
            let invalid = InvalidChanges::default();
            (persist.flush(&mut bookings, values(110, 2), invalid, true, &[])).unwrap();
            let in_flight = persist.writing.as_ref().map(|(_, f)| f.meta.is_some());
            assert_eq!(in_flight, Some(written), "exact: {exact}");
            let _ = persist.done().await;
        }
    }
}
