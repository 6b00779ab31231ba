//! Writes to the store: the records the ledger marked as changed and, when they changed, the
//! daemon's values, in one transaction. Intents are written at once (before their requests
//! are sent); results are coalesced, at most one write a second ([`FLUSH_EVERY`]).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::error::DaemonError;
use crate::booking::Status;
use crate::lifecycle::Bookings;
use crate::metrics::Metrics;
use crate::store::{self, Store};

/// How often results are written at most; intents are written at once. A result lost to a
/// crash in between is found again by the lookup of its pending record.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// What was last written, and when.
pub(super) struct Persist {
    /// The daemon's values as last written: written again only when they change.
    meta: store::Meta,
    /// The values changed since (not the records: the ledger knows those).
    dirty: bool,
    last_flush: Instant,
}

impl Persist {
    /// `meta` as loaded with the records.
    pub(super) fn new(meta: store::Meta) -> Persist {
        Persist {
            meta,
            dirty: true,
            last_flush: Instant::now(),
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

    /// When results are written next.
    pub(super) fn due(&self) -> Instant {
        self.last_flush + FLUSH_EVERY
    }

    /// Writes the changed records and, when they differ from what was written, the values in
    /// `meta`, removing the operator requests done. `looked_up`: the store's records were
    /// looked up (not a recovery in progress).
    /// Returns whether it wrote.
    pub(super) fn flush(
        &mut self,
        store: &mut Store,
        bookings: &mut Bookings,
        meta: store::Meta,
        looked_up: bool,
        requests_done: &[i64],
        metrics: Option<&Metrics>,
    ) -> Result<bool, DaemonError> {
        if !self.needed(bookings) {
            return Ok(false);
        }
        let started = Instant::now();
        // `last_pass` moves at every pass: alone, it is written at most once a minute (an
        // older one only widens the window in which unbooked starts count as missed, and each
        // start in it has a record already).
        let only_last_pass = meta
            == store::Meta {
                last_pass: meta.last_pass,
                ..self.meta.clone()
            };
        let last_pass_fresh = matches!(
            (meta.last_pass, self.meta.last_pass),
            (Some(new), Some(old)) if new - old < 60
        );
        let write_meta = meta != self.meta && !(only_last_pass && last_pass_fresh);
        let (rows, keys) = bookings.records_mut().take_changes();
        let batch = store::Batch {
            rows,
            meta: write_meta.then_some(&meta),
            looked_up,
            requests_done,
        };
        let result = store.commit(&batch);
        drop(batch);
        if let Err(e) = result {
            bookings.records_mut().restore_changes(keys);
            return Err(e.into());
        }
        // Written: the bodies live in the store from here on.
        bookings.records_mut().forget_requests(&keys);
        if let Some(m) = metrics {
            m.store_write_seconds
                .observe(started.elapsed().as_secs_f64());
            observe(m, bookings, &meta);
        }
        if write_meta {
            self.meta = meta;
        }
        self.dirty = false;
        self.last_flush = Instant::now();
        Ok(true)
    }
}

/// The gauges a write changes: bookings by status (one walk over the records for all five),
/// held removals, invalid files, creates waiting for a quota.
fn observe(m: &Metrics, bookings: &Bookings, meta: &store::Meta) {
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
    m.held_removals.set(meta.held_removals.len() as i64);
    m.invalid_definitions.set(meta.invalid.len() as i64);
    m.waiting_for_quota
        .set(meta.waiting.iter().map(|w| w.bookings as i64).sum());
}
