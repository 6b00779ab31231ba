//! Writes away from the caller: a [`Batch`] serialized into an [`Owned`] one, and the
//! [`Writer`] that commits it off the daemon's loop.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Batch, InvalidChange, Write, postgres};
use crate::state::StateError;

/// A [`Batch`] made ready to write away from the loop: every record already serialized, so the
/// writer needs nothing of the caller's ([`Writer`]).
#[derive(Debug, Default)]
pub struct Owned {
    pub(crate) rows: Vec<Row>,
    /// The daemon's values as JSON, when they are written.
    pub(crate) meta: Option<String>,
    pub(crate) looked_up: bool,
    pub(crate) requests_done: Vec<i64>,
    /// Every invalid file's row is deleted first (those that stand are in `invalid`).
    pub(crate) invalid_reset: bool,
    pub(crate) invalid: Vec<InvalidRow>,
}

/// One invalid file's row of an [`Owned`] batch.
#[derive(Debug)]
pub(crate) enum InvalidRow {
    Put {
        path: String,
        /// Its problems as a JSON list of strings.
        problems: String,
    },
    Delete {
        path: String,
    },
}

/// One row of an [`Owned`] batch.
#[derive(Debug)]
pub(crate) enum Row {
    Put {
        definition: String,
        start: i64,
        end: i64,
        status: &'static str,
        /// The record as JSON.
        record: String,
    },
    Delete {
        definition: String,
        start: i64,
    },
}

impl Batch<'_> {
    /// The batch serialized, to write now or hand to a [`Writer`].
    pub fn to_owned(&self) -> Result<Owned, StateError> {
        let json = |e: serde_json::Error| StateError::Db {
            path: PathBuf::from("(serializing a record)"),
            source: Box::new(e),
        };
        let mut rows = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
            rows.push(match row {
                Write::Put(r) => Row::Put {
                    definition: r.definition.to_string(),
                    start: r.occurrence_start,
                    end: r.occurrence_end,
                    status: r.status.as_str(),
                    record: serde_json::to_string(r).map_err(json)?,
                },
                Write::Delete(k) => Row::Delete {
                    definition: k.definition.to_string(),
                    start: k.start,
                },
            });
        }
        Ok(Owned {
            rows,
            meta: self
                .meta
                .map(serde_json::to_string)
                .transpose()
                .map_err(json)?,
            looked_up: self.looked_up,
            requests_done: self.requests_done.to_vec(),
            invalid_reset: false,
            invalid: Vec::new(),
        })
    }
}

impl Owned {
    /// Every row of `state` with `meta` and its invalid files, to write in place of all that
    /// is stored (the writer deletes the rest).
    pub(crate) fn replacing(
        state: &crate::state::State,
        meta: &super::Meta,
    ) -> Result<Owned, StateError> {
        let mut owned = Batch {
            rows: state.bookings.iter().map(Write::Put).collect(),
            meta: Some(meta),
            looked_up: true,
            requests_done: &[],
        }
        .to_owned()?;
        let invalid: Vec<_> = (state.invalid.iter().cloned())
            .map(super::InvalidChange::Put)
            .collect();
        owned.add_invalid(true, &invalid)?;
        Ok(owned)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
            && self.meta.is_none()
            && self.requests_done.is_empty()
            && !self.invalid_reset
            && self.invalid.is_empty()
    }

    /// Adds changes to the invalid files on record; `reset`: every row of theirs is deleted
    /// first.
    pub fn add_invalid<'a>(
        &mut self,
        reset: bool,
        changes: impl IntoIterator<Item = &'a InvalidChange>,
    ) -> Result<(), StateError> {
        self.invalid_reset |= reset;
        for change in changes {
            self.invalid.push(match change {
                InvalidChange::Put(file) => InvalidRow::Put {
                    path: super::invalid_key(&file.path),
                    problems: serde_json::to_string(&file.problems).map_err(|e| {
                        StateError::Db {
                            path: PathBuf::from("(serializing an invalid file)"),
                            source: Box::new(e),
                        }
                    })?,
                },
                InvalidChange::Delete(path) => InvalidRow::Delete { path: path.clone() },
            });
        }
        Ok(())
    }

    /// How many rows it writes.
    pub(crate) fn len(&self) -> usize {
        self.rows.len() + self.invalid.len()
    }
}

/// Writes batches off the caller's thread: the daemon's loop hands each write to it and goes
/// on (a store that stalls for seconds must not stall the loop, its timers or the systemd
/// watchdog), and learns when the write is durable. Cheap to clone; one write at a time is
/// the caller's rule.
#[derive(Clone)]
pub struct Writer {
    pub(super) kind: WriterKind,
    /// Batches written, shared with the [`Store`] (`Summary::state_writes`).
    pub(super) writes: Arc<AtomicU64>,
}

#[derive(Clone)]
pub(super) enum WriterKind {
    /// A thread of its own with its own connection to the database (SQLite takes a second
    /// connection; readers are never blocked by it in WAL mode).
    Sqlite(std::sync::mpsc::Sender<(Owned, tokio::sync::oneshot::Sender<Result<(), StateError>>)>),
    /// The leader's session, on the daemon's runtime.
    Postgres(postgres::Pg),
    /// A store in memory (`recover --dry-run`): it writes nothing.
    Discard,
}

impl Writer {
    /// Writes `batch` in one transaction; the future completes once it is durable. It holds
    /// nothing of the writer's: the caller may keep it beside its other work.
    pub fn write(
        &self,
        batch: Owned,
    ) -> impl std::future::Future<Output = Result<(), StateError>> + Send + 'static {
        let kind = self.kind.clone();
        let writes = self.writes.clone();
        async move {
            if batch.is_empty() {
                return Ok(());
            }
            match kind {
                WriterKind::Sqlite(jobs) => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let gone = || StateError::Db {
                        path: PathBuf::from("(the SQLite writer)"),
                        source: "the writer's thread has ended".into(),
                    };
                    jobs.send((batch, tx)).map_err(|_| gone())?;
                    rx.await.map_err(|_| gone())??;
                }
                WriterKind::Postgres(pg) => pg.write(batch).await?,
                WriterKind::Discard => {}
            }
            writes.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    }
}
