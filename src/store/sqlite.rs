//! The SQLite side of the store: schema, load, batched writes, backup.
//!
//! rusqlite with SQLite bundled (built from source into the binary): the store behaves the
//! same on every machine whatever SQLite the system has, and the package needs no libsqlite3.
//! WAL mode with `synchronous = FULL`: a committed transaction is on disk when `COMMIT`
//! returns, readers never block the writer, and a crash loses nothing committed.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::writer::InvalidRow;
use super::{Batch, MAX_REQUESTS, Meta, Owned, Request, RequestKind, Row};
use crate::state::{self, Record, State, StateError};

/// The schema this build reads and writes (`PRAGMA user_version`).
pub const SCHEMA: i64 = 1;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS bookings (
    definition TEXT NOT NULL,
    start      INTEGER NOT NULL,
    end_at     INTEGER NOT NULL,
    status     TEXT NOT NULL,
    -- The record as the JSON state's `bookings` element (request body included).
    record     TEXT NOT NULL,
    PRIMARY KEY (definition, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
-- Operator requests (`retry`, `approve-removals`, `approve-changes`) for the daemon.
CREATE TABLE IF NOT EXISTS requests (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    -- A JSON list of strings: booking keys, or definition ids.
    items   TEXT NOT NULL,
    made_at INTEGER NOT NULL
);
-- Definition files that did not validate, one row each (until this table, a list in the
-- daemon's meta value: one edit rewrote all of them).
CREATE TABLE IF NOT EXISTS invalid_files (
    -- As `status` shows it (lossy UTF-8).
    path     TEXT PRIMARY KEY,
    -- A JSON list of the problems, each `path:line:col: message; hint: ...`.
    problems TEXT NOT NULL
) WITHOUT ROWID;
";

/// The meta row holding [`Meta`].
const DAEMON: &str = "daemon";
/// The meta row of a store that may not hold everything booked (new, or restored from a
/// backup): the daemon looks up whatever is due before creating it, until its first write.
const LOOK_UP_FIRST: &str = "look_up_first";

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens (creating the schema if needed) for reading and writing.
    pub fn open(path: &Path) -> Result<Db, StateError> {
        let db = Db {
            conn: Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| err(path, e))?,
            path: path.into(),
        };
        db.check_version()?;
        db.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
            )
            .map_err(|e| db.err(e))?;
        db.conn.execute_batch(CREATE).map_err(|e| db.err(e))?;
        db.conn
            .pragma_update(None, "user_version", SCHEMA)
            .map_err(|e| db.err(e))?;
        Ok(db)
    }

    /// A database in memory with the schema (for dry runs).
    pub fn open_in_memory() -> Result<Db, StateError> {
        let path = PathBuf::from(":memory:");
        let db = Db {
            conn: Connection::open_in_memory().map_err(|e| err(&path, e))?,
            path,
        };
        db.conn.execute_batch(CREATE).map_err(|e| db.err(e))?;
        Ok(db)
    }

    /// Opens for reading only (`status` and the other readers; `state backup`).
    pub fn open_read_only(path: &Path) -> Result<Db, StateError> {
        let db = Db {
            conn: Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| err(path, e))?,
            path: path.into(),
        };
        db.conn
            .execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(|e| db.err(e))?;
        db.check_version()?;
        Ok(db)
    }

    fn check_version(&self) -> Result<(), StateError> {
        let found: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| self.err(e))?;
        if found > SCHEMA {
            return Err(StateError::Newer {
                path: self.path.clone(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
        Ok(())
    }

    /// Everything on record, and whether it may not be everything booked (see
    /// [`Db::mark_look_up_first`]).
    pub fn load(&mut self) -> Result<(State, bool), StateError> {
        self.load_records(false)
    }

    /// [`Db::load`] without the request bodies, join URLs and meeting codes (the daemon reads a
    /// record back when it needs them, [`Db::record_of`]): they are most of a record's size,
    /// and the loop's decisions use none of them.
    pub fn load_lean(&mut self) -> Result<(State, bool), StateError> {
        self.load_records(true)
    }

    fn load_records(&mut self, lean: bool) -> Result<(State, bool), StateError> {
        // One read transaction: the records and the meta of one commit.
        let tx = self.conn.transaction().map_err(|e| err(&self.path, e))?;
        let corrupt = |reason: String| StateError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let has_tables: bool = tx
            .query_row(
                "SELECT count(*) = 2 FROM sqlite_master WHERE type = 'table' AND name IN ('bookings', 'meta')",
                [],
                |row| row.get(0),
            )
            .map_err(|e| err(&self.path, e))?;
        if !has_tables {
            // A database the daemon has not written its schema to yet: nothing on record.
            return Ok((
                State {
                    version: state::VERSION,
                    ..State::default()
                },
                false,
            ));
        }
        // Sized first: a vector grown by doubling to 100,000 records would hold twice their
        // size at its last step.
        let count: i64 = tx
            .query_row("SELECT count(*) FROM bookings", [], |row| row.get(0))
            .map_err(|e| err(&self.path, e))?;
        let mut bookings = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        // Each record's names are shared as it is read, so the copies it came with are freed
        // before the next is read (and their memory reused for it).
        let mut names = state::Names::default();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT definition, start, CASE WHEN ?1 THEN json_remove(record, '$.request', '$.join_url', '$.meeting_code') ELSE record END
                     FROM bookings ORDER BY definition, start",
                )
                .map_err(|e| err(&self.path, e))?;
            let mut rows = stmt.query([lean]).map_err(|e| err(&self.path, e))?;
            while let Some(row) = rows.next().map_err(|e| err(&self.path, e))? {
                let text: String = row.get(2).map_err(|e| err(&self.path, e))?;
                let mut record: Record = serde_json::from_str(&text).map_err(|e| {
                    let definition: String = row.get(0).unwrap_or_default();
                    let start: i64 = row.get(1).unwrap_or_default();
                    corrupt(format!("the record of {definition}@{start}: {e}"))
                })?;
                names.share(&mut record);
                bookings.push(record);
            }
        }
        let (meta, in_meta) = match tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [DAEMON], |row| {
                row.get::<_, String>(0)
            })
            .optional()
            .map_err(|e| err(&self.path, e))?
        {
            Some(text) => {
                Meta::parse(&text).map_err(|e| corrupt(format!("the daemon's values: {e}")))?
            }
            None => (Meta::default(), None),
        };
        // A store whose values still hold the invalid files: those are the ones on record
        // (rows there may be from a later build, before an earlier one wrote it again).
        let invalid = match in_meta {
            Some(invalid) => invalid,
            None => invalid_rows(&tx).map_err(|e| err(&self.path, e))?,
        };
        let restored = tx
            .query_row("SELECT 1 FROM meta WHERE key = ?1", [LOOK_UP_FIRST], |_| {
                Ok(())
            })
            .optional()
            .map_err(|e| err(&self.path, e))?
            .is_some();
        Ok((meta.with_bookings(bookings, invalid), restored))
    }

    /// Writes `batch` in one transaction, clearing the look-up-first mark when the batch
    /// says the lookups are on record.
    pub fn commit(&mut self, batch: &Batch<'_>) -> Result<(), StateError> {
        self.write(batch, false)
    }

    /// Replaces every row with `state`'s, in one transaction.
    pub fn replace(&mut self, state: &State, meta: &Meta) -> Result<(), StateError> {
        self.write_owned(&Owned::replacing(state, meta)?, true)
    }

    fn write(&mut self, batch: &Batch<'_>, delete_all: bool) -> Result<(), StateError> {
        let owned = batch.to_owned()?;
        self.write_owned(&owned, delete_all)
    }

    /// Writes a serialized batch in one transaction (see [`super::Writer`]).
    pub(super) fn write_owned(
        &mut self,
        batch: &Owned,
        delete_all: bool,
    ) -> Result<(), StateError> {
        let path = self.path.clone();
        let e = |e| err(&path, e);
        let tx = self.conn.transaction().map_err(e)?;
        if delete_all {
            tx.execute("DELETE FROM bookings", []).map_err(e)?;
        }
        {
            // The daemon holds records without what it rarely needs (see [`Db::load_lean`]):
            // a record put without its request keeps the stored one, and one put without its
            // join URL and code keeps the stored ones while its meeting is the same.
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO bookings (definition, start, end_at, status, record) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (definition, start) DO UPDATE SET end_at = excluded.end_at, status = excluded.status,
                     record = json_patch(json_patch(excluded.record,
                         CASE WHEN json_extract(excluded.record, '$.request') IS NULL
                                   AND json_extract(bookings.record, '$.request') IS NOT NULL
                              THEN json_object('request', json(json_extract(bookings.record, '$.request'))) ELSE '{}' END),
                         CASE WHEN json_extract(excluded.record, '$.join_url') IS NULL
                                   AND json_extract(excluded.record, '$.meeting_code') IS NULL
                                   AND json_extract(excluded.record, '$.meeting_id') = json_extract(bookings.record, '$.meeting_id')
                              THEN json_object('join_url', json_extract(bookings.record, '$.join_url'),
                                               'meeting_code', json_extract(bookings.record, '$.meeting_code')) ELSE '{}' END)",
                )
                .map_err(e)?;
            let mut delete = tx
                .prepare_cached("DELETE FROM bookings WHERE definition = ?1 AND start = ?2")
                .map_err(e)?;
            for row in &batch.rows {
                match row {
                    Row::Put {
                        definition,
                        start,
                        end,
                        status,
                        record,
                    } => {
                        put.execute(params![definition, start, end, status, record])
                            .map_err(e)?;
                    }
                    Row::Delete { definition, start } => {
                        delete.execute(params![definition, start]).map_err(e)?;
                    }
                }
            }
            if delete_all || batch.invalid_reset {
                tx.execute("DELETE FROM invalid_files", []).map_err(e)?;
            }
            if !batch.invalid.is_empty() {
                let mut put = tx
                    .prepare_cached(
                        "INSERT OR REPLACE INTO invalid_files (path, problems) VALUES (?1, ?2)",
                    )
                    .map_err(e)?;
                let mut delete = tx
                    .prepare_cached("DELETE FROM invalid_files WHERE path = ?1")
                    .map_err(e)?;
                for row in &batch.invalid {
                    match row {
                        InvalidRow::Put { path, problems } => put.execute(params![path, problems]),
                        InvalidRow::Delete { path } => delete.execute([path]),
                    }
                    .map_err(e)?;
                }
            }
            if let Some(meta) = &batch.meta {
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                    params![DAEMON, meta],
                )
                .map_err(e)?;
            }
            if batch.looked_up {
                tx.execute("DELETE FROM meta WHERE key = ?1", [LOOK_UP_FIRST])
                    .map_err(e)?;
            }
            if !batch.requests_done.is_empty() {
                let mut done = tx
                    .prepare_cached("DELETE FROM requests WHERE id = ?1")
                    .map_err(e)?;
                for id in &batch.requests_done {
                    done.execute([id]).map_err(e)?;
                }
            }
        }
        tx.commit().map_err(e)
    }

    /// Whether this database is in memory only.
    pub fn in_memory(&self) -> bool {
        self.path.as_os_str() == ":memory:"
    }

    /// The operator requests waiting, oldest first (none in a database made before there
    /// were any, opened read-only).
    pub fn requests(&self) -> Result<Vec<Request>, StateError> {
        let e = |e| err(&self.path, e);
        let table: Option<String> = self
            .conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'requests'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(e)?;
        if table.is_none() {
            return Ok(Vec::new());
        }
        let mut query = self
            .conn
            .prepare("SELECT id, kind, items FROM requests ORDER BY id LIMIT ?1")
            .map_err(e)?;
        let rows = query
            .query_map([MAX_REQUESTS as i64], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })
            .map_err(e)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, items) = row.map_err(e)?;
            out.extend(Request::of_row(id, &kind, &items));
        }
        Ok(out)
    }

    /// Leaves an operator request (`items`: a JSON list of strings).
    pub fn ask(&self, kind: RequestKind, items: &str) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO requests (kind, items, made_at) VALUES (?1, ?2, unixepoch())",
                params![kind.as_str(), items],
            )
            .map(|_| ())
            .map_err(|e| err(&self.path, e))
    }

    /// One booking's record as stored, whole.
    pub fn record_of(
        &self,
        key: &crate::booking::BookingKey,
    ) -> Result<Option<Record>, StateError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT record FROM bookings WHERE definition = ?1 AND start = ?2",
                params![key.definition, key.start],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(text.and_then(|t| serde_json::from_str::<Record>(&t).ok()))
    }

    /// Marks the store as maybe not holding everything booked: the next daemon to open it
    /// looks up what is due before creating it.
    pub fn mark_look_up_first(&mut self) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, 'true')",
                [LOOK_UP_FIRST],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Checkpoints the WAL into the database and closes it, so the file alone is the store.
    pub fn close(self) -> Result<(), StateError> {
        let path = self.path.clone();
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| err(&path, e))?;
        self.conn.close().map_err(|(_, e)| err(&path, e))
    }

    /// Copies the database to `to` with SQLite's online backup API, in one step: one read
    /// transaction, so the copy is one committed state. Returns the pages copied.
    pub fn backup_to(&self, to: &Path) -> Result<u64, StateError> {
        let mut dst = Connection::open(to).map_err(|e| err(to, e))?;
        {
            let backup =
                rusqlite::backup::Backup::new(&self.conn, &mut dst).map_err(|e| err(to, e))?;
            loop {
                match backup.step(-1).map_err(|e| err(to, e))? {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => {}
                    // Another connection holds a lock for a moment: go on.
                    _ => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
            let pages = backup.progress().pagecount;
            drop(backup);
            // The copy is a standalone file: not WAL (no -wal beside it to lose).
            dst.execute_batch("PRAGMA journal_mode = DELETE;")
                .map_err(|e| err(to, e))?;
            Ok(u64::try_from(pages).unwrap_or_default())
        }
    }

    fn err(&self, e: rusqlite::Error) -> StateError {
        err(&self.path, e)
    }
}

/// The invalid files on record, by path (none in a store made before they were rows, opened
/// read-only).
fn invalid_rows(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<Vec<state::InvalidFile>> {
    let table: Option<String> = tx
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'invalid_files'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if table.is_none() {
        return Ok(Vec::new());
    }
    let mut stmt = tx.prepare("SELECT path, problems FROM invalid_files ORDER BY path")?;
    let rows = stmt.query_map([], |row| {
        let (path, problems): (String, String) = (row.get(0)?, row.get(1)?);
        // A row this build cannot read still names its file: shown with the text as stored.
        let problems = serde_json::from_str(&problems).unwrap_or_else(|_| vec![problems]);
        Ok(state::InvalidFile {
            path: path.into(),
            problems,
        })
    })?;
    rows.collect()
}

fn err(path: &Path, source: rusqlite::Error) -> StateError {
    match source {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
            ) =>
        {
            StateError::Corrupt {
                path: path.into(),
                reason: source.to_string(),
            }
        }
        _ => StateError::Db {
            path: path.into(),
            source: Box::new(source),
        },
    }
}
