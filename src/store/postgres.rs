//! The PostgreSQL side of the store (`state.url = "postgres://..."`): the same two tables as
//! SQLite, and leader election for running the daemon on more than one machine.
//!
//! **Leading.** A daemon leads while its database session holds a session-level advisory lock
//! (`pg_try_advisory_lock`). Only the leader loads the records and books; the others wait as
//! standbys, trying for the lock every `state.takeover / 10`. The lock goes with the session:
//! when the leader dies its connection closes and the server lets go at once; when it is cut
//! off, the server ends its session after `idle_session_timeout` (set to `state.takeover` on
//! the leader's session, which sends a heartbeat three times as often) and TCP keepalives.
//! A leader paused *inside* a transaction (a VM migration, SIGSTOP mid-write) is ended by
//! `idle_in_transaction_session_timeout`, also `state.takeover` (`idle_session_timeout` does
//! not apply in a transaction, and the kernel answers keepalives for a stopped process);
//! `tcp_user_timeout` bounds unacknowledged sends to a peer that went away.
//!
//! **Fencing.** Before each batch of requests the leader checks, on the server, that its
//! session still holds the lock ([`Pg::still_leading`]); a leader that cannot say so stops
//! sending and exits, so a standby that took over is the only one booking.
//!
//! tokio-postgres is async; the store's interface is not (SQLite's writes block briefly, and
//! the daemon's intent-before-send rule wants the write done before the send). So the client
//! lives on its own thread with its own small runtime, and each call is a message to it and a
//! blocking wait for the answer: the same from the daemon's runtime, a test's, or a command
//! that has none.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

use super::writer::InvalidRow;
use super::{Batch, MAX_REQUESTS, Meta, Owned, Request, RequestKind, Row, Write};
use crate::state::{self, Record, State, StateError};

/// The advisory lock key all daemons on one database contend for ("wemeet" in ASCII).
const LEADER_LOCK: i64 = 0x7765_6d65_6574;
/// The transaction lock under which the schema is created ("wmschm" in ASCII).
const SCHEMA_LOCK: i64 = 0x776d_7363_686d;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS bookings (
    definition TEXT NOT NULL,
    start      BIGINT NOT NULL,
    end_at     BIGINT NOT NULL,
    status     TEXT NOT NULL,
    record     TEXT NOT NULL,
    PRIMARY KEY (definition, start)
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    items   TEXT NOT NULL,
    made_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS invalid_files (
    path     TEXT PRIMARY KEY,
    problems TEXT NOT NULL
);
";

const DAEMON: &str = "daemon";
const LOOK_UP_FIRST: &str = "look_up_first";
const LEADER: &str = "leader";
/// The schema this build reads and writes (the `schema` meta row).
const SCHEMA: i64 = 1;

type Job = Box<dyn FnOnce(&mut tokio_postgres::Client) -> BoxFuture<'_> + Send>;
type BoxFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;
/// What a call runs on the connection's thread.
type Query<'c, T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<T, tokio_postgres::Error>> + Send + 'c>,
>;

/// A connection to the database, on its own thread.
pub struct Pg {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    /// The server closed the session, or the connection broke: nothing more can be trusted.
    lost: Arc<AtomicBool>,
    /// What the config said, with any password replaced, for messages.
    shown: PathBuf,
    /// Each query's bound: a cut-off server must not hang the daemon.
    timeout: Duration,
}

/// Who leads, as the leader records it (for `status`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Leader {
    pub host: String,
    pub pid: u32,
    /// Unix seconds when it took the lead.
    pub since: i64,
    /// The kernel's boot id of its machine (`/proc/sys/kernel/random/boot_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
}

impl Leader {
    /// Whether this leader certainly sends nothing any more: it ran on this machine, in this
    /// boot, and its process is gone. (A process of another machine, or one that is still
    /// there, stopped or not, may resume.)
    pub fn certainly_gone(&self) -> bool {
        self.host == hostname() && self.boot.is_some() && self.boot == boot_id() && {
            let pid = libc::pid_t::try_from(self.pid).unwrap_or(0);
            // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
            pid > 0
                && unsafe { libc::kill(pid, 0) } != 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        }
    }
}

/// This boot of this machine, as the kernel names it.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|b| b.trim().to_string())
}

impl Pg {
    /// Connects to `url`; `takeover` bounds each query and sets how soon the server ends a
    /// leader's session that went silent.
    pub fn connect(url: &str, takeover: Duration) -> Result<Pg, StateError> {
        let shown = PathBuf::from(redact(url));
        let config: tokio_postgres::Config = url.parse().map_err(|e| StateError::Db {
            path: shown.clone(),
            source: Box::new(e),
        })?;
        let (jobs, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let lost = Arc::new(AtomicBool::new(false));
        let lost_in = lost.clone();
        let timeout = (takeover / 3).max(Duration::from_secs(1));
        let connect_timeout = timeout;
        std::thread::Builder::new()
            .name("postgres".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Box::new(e) as DynError));
                        return;
                    }
                };
                rt.block_on(async move {
                    let connected =
                        tokio::time::timeout(connect_timeout, config.connect(NoTls)).await;
                    let (mut client, connection) = match connected {
                        Ok(Ok(pair)) => pair,
                        Ok(Err(e)) => {
                            let _ = ready_tx.send(Err(Box::new(e) as DynError));
                            return;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(Box::new(e) as DynError));
                            return;
                        }
                    };
                    let lost_conn = lost_in.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::error!("the PostgreSQL connection broke: {e}");
                        }
                        lost_conn.store(true, Ordering::SeqCst);
                    });
                    let _ = ready_tx.send(Ok(()));
                    while let Some(job) = rx.recv().await {
                        job(&mut client).await;
                    }
                });
            })
            .map_err(|e| StateError::Db {
                path: shown.clone(),
                source: Box::new(e),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(source)) => {
                return Err(StateError::Db {
                    path: shown,
                    source,
                });
            }
            Err(e) => {
                return Err(StateError::Db {
                    path: shown,
                    source: Box::new(e),
                });
            }
        }
        let pg = Pg {
            jobs,
            lost,
            shown,
            timeout,
        };
        // Daemons started together on a new database would race in the catalog
        // (`CREATE TABLE IF NOT EXISTS` is not safe against a concurrent create): the first
        // takes a transaction lock, creates, commits; the others then find it done.
        pg.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {CREATE} COMMIT;"
        ))?;
        let found: Option<String> = pg.call(|c| {
            Box::pin(async move {
                c.query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
                    .await
                    .map(|row| row.map(|r| r.get(0)))
            })
        })?;
        match found.and_then(|v| v.parse::<i64>().ok()) {
            Some(found) if found > SCHEMA => {
                return Err(StateError::Newer {
                    path: pg.shown.clone(),
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                });
            }
            Some(_) => {}
            None => {
                // A new database: mark it, and mark it as one to look up first.
                pg.batch(&format!(
                    "INSERT INTO meta (key, value) VALUES ('schema', '{SCHEMA}') ON CONFLICT DO NOTHING;
                     INSERT INTO meta (key, value) VALUES ('{LOOK_UP_FIRST}', 'true') ON CONFLICT DO NOTHING;"
                ))?;
            }
        }
        Ok(pg)
    }

    /// The database as messages name it (password removed).
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Runs `f` with the client on the connection's thread and waits for its answer, at most
    /// `timeout`.
    fn call<T: Send + 'static>(
        &self,
        f: impl for<'c> FnOnce(&'c mut tokio_postgres::Client) -> Query<'c, T> + Send + 'static,
    ) -> Result<T, StateError> {
        self.call_within(self.timeout, f)
    }

    /// [`Pg::call`] with its own bound (a big batch takes longer than a query).
    fn call_within<T: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl for<'c> FnOnce(&'c mut tokio_postgres::Client) -> Query<'c, T> + Send + 'static,
    ) -> Result<T, StateError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(self.err_text("the connection to the server is lost"));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |client| {
            Box::pin(async move {
                let answer = tokio::time::timeout(timeout, f(client)).await;
                let _ = tx.send(answer);
            })
        });
        if self.jobs.send(job).is_err() {
            return Err(self.err_text("the connection's thread has ended"));
        }
        answer(&self.lost, &self.shown, timeout, rx.recv().ok())
    }

    fn batch(&self, sql: &str) -> Result<(), StateError> {
        let sql = sql.to_string();
        self.call(move |c| Box::pin(async move { c.batch_execute(&sql).await }))
    }

    fn err_text(&self, text: &str) -> StateError {
        StateError::Db {
            path: self.shown.clone(),
            source: text.to_string().into(),
        }
    }

    /// Opens a transaction and leaves it idle, as a leader paused in the middle of a write
    /// does (for the takeover tests).
    #[doc(hidden)]
    pub fn stall_in_transaction(&self) -> Result<(), StateError> {
        self.batch("BEGIN; SELECT 1;")
    }

    /// Tries to take the lead; true when this session holds the lock. The leader's session
    /// is then ended by the server if it goes silent for `takeover`.
    pub fn try_lead(&self, takeover: Duration) -> Result<bool, StateError> {
        let got: bool = self.call(|c| {
            Box::pin(async move {
                c.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                    .await
                    .map(|r| r.get(0))
            })
        })?;
        if got {
            let ms = takeover.as_millis().max(1000);
            self.batch(&format!(
                "SET idle_session_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}; SET tcp_user_timeout = {ms}; SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3;"
            ))?;
            let me = Leader {
                host: hostname(),
                pid: std::process::id(),
                since: chrono::Utc::now().timestamp(),
                boot: boot_id(),
            };
            let text = serde_json::to_string(&me).unwrap_or_default();
            self.call(move |c| {
                Box::pin(async move {
                    c.execute(
                        "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        &[&LEADER, &text],
                    )
                    .await
                    .map(drop)
                })
            })?;
        }
        Ok(got)
    }

    /// Whether this session still holds the leader lock, asked of the server (fencing: called
    /// before each batch of requests, and as the leader's heartbeat).
    pub fn still_leading(&self) -> Result<bool, StateError> {
        self.call(|c| {
            Box::pin(async move {
                c.query_one(
                    "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND ((classid::bigint << 32) | objid::bigint) = $1",
                    &[&LEADER_LOCK],
                )
                .await
                .map(|r| r.get(0))
            })
        })
    }

    /// Whether any session holds the leader lock now (for `status`).
    pub fn someone_leads(&self) -> Result<bool, StateError> {
        self.call(|c| {
            Box::pin(async move {
                c.query_one(
                    "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1",
                    &[&LEADER_LOCK],
                )
                .await
                .map(|r| r.get(0))
            })
        })
    }

    /// Who leads, as recorded.
    pub fn leader(&self) -> Result<Option<Leader>, StateError> {
        let text: Option<String> = self.call(|c| {
            Box::pin(async move {
                c.query_opt("SELECT value FROM meta WHERE key = $1", &[&LEADER])
                    .await
                    .map(|row| row.map(|r| r.get(0)))
            })
        })?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Everything on record, and whether the store may not hold everything booked.
    pub fn load(&self) -> Result<(State, bool), StateError> {
        self.load_records(false)
    }

    /// [`Pg::load`] without the request bodies (see the SQLite store's `load_lean`).
    pub fn load_lean(&self) -> Result<(State, bool), StateError> {
        self.load_records(true)
    }

    fn load_records(&self, lean: bool) -> Result<(State, bool), StateError> {
        let rows: Vec<(String, i64, String)> = self.call(move |c| {
            Box::pin(async move {
                c.query(
                    "SELECT definition, start, CASE WHEN $1 THEN (record::jsonb - ARRAY['request', 'join_url', 'meeting_code'])::text ELSE record END
                     FROM bookings ORDER BY definition, start",
                    &[&lean],
                )
                .await
                .map(|rows| {
                    rows.into_iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2)))
                        .collect()
                })
            })
        })?;
        let corrupt = |reason: String| StateError::Corrupt {
            path: self.shown.clone(),
            reason,
        };
        let mut bookings = Vec::with_capacity(rows.len());
        let mut names = state::Names::default();
        for (definition, start, text) in rows {
            let mut record: Record = serde_json::from_str(&text)
                .map_err(|e| corrupt(format!("the record of {definition}@{start}: {e}")))?;
            names.share(&mut record);
            bookings.push(record);
        }
        let metas: Vec<(String, String)> = self.call(|c| {
            Box::pin(async move {
                c.query(
                    "SELECT key, value FROM meta WHERE key = ANY($1)",
                    &[&vec![DAEMON, LOOK_UP_FIRST]],
                )
                .await
                .map(|rows| rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
            })
        })?;
        let mut meta = Meta::default();
        let mut in_meta = None;
        let mut fresh = false;
        for (key, value) in metas {
            if key == DAEMON {
                (meta, in_meta) = Meta::parse(&value)
                    .map_err(|e| corrupt(format!("the daemon's values: {e}")))?;
            } else {
                fresh = true;
            }
        }
        // As in the SQLite store: invalid files still in the values are the ones on record.
        let invalid = match in_meta {
            Some(invalid) => invalid,
            None => {
                let rows: Vec<(String, String)> = self.call(|c| {
                    Box::pin(async move {
                        c.query(
                            "SELECT path, problems FROM invalid_files ORDER BY path",
                            &[],
                        )
                        .await
                        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
                    })
                })?;
                (rows.into_iter())
                    .map(|(path, problems)| state::InvalidFile {
                        path: path.into(),
                        problems: serde_json::from_str(&problems)
                            .unwrap_or_else(|_| vec![problems]),
                    })
                    .collect()
            }
        };
        Ok((meta.with_bookings(bookings, invalid), fresh))
    }

    /// Writes `batch` in one transaction (committed, so synced by the server, when it
    /// returns).
    pub fn commit(&self, batch: &Batch<'_>) -> Result<(), StateError> {
        self.write(batch, false)
    }

    /// Replaces every row with `state`'s, in one transaction.
    pub fn replace(&self, state: &State, meta: &Meta) -> Result<(), StateError> {
        let rows: Vec<Write<'_>> = state.bookings.iter().map(Write::Put).collect();
        let mut owned = Batch {
            rows,
            meta: Some(meta),
            looked_up: true,
            requests_done: &[],
        }
        .to_owned()?;
        let invalid: Vec<_> = (state.invalid.iter().cloned())
            .map(super::InvalidChange::Put)
            .collect();
        owned.add_invalid(true, &invalid)?;
        let bound = write_bound(self.timeout, &owned);
        self.call_within(bound, move |c| Box::pin(write_on(c, owned, true)))
    }

    /// One booking's record as stored, whole.
    pub fn record_of(
        &self,
        key: &crate::booking::BookingKey,
    ) -> Result<Option<Record>, StateError> {
        let (definition, start) = (key.definition.to_string(), key.start);
        let text: Option<String> = self.call(move |c| {
            Box::pin(async move {
                c.query_opt(
                    "SELECT record FROM bookings WHERE definition = $1 AND start = $2",
                    &[&definition, &start],
                )
                .await
                .map(|row| row.map(|r| r.get(0)))
            })
        })?;
        Ok(text.and_then(|t| serde_json::from_str::<Record>(&t).ok()))
    }

    /// The operator requests waiting, oldest first.
    pub fn requests(&self) -> Result<Vec<Request>, StateError> {
        let rows: Vec<(i64, String, String)> = self.call(|c| {
            Box::pin(async move {
                c.query(
                    "SELECT id, kind, items FROM requests ORDER BY id LIMIT $1",
                    &[&(MAX_REQUESTS as i64)],
                )
                .await
                .map(|rows| {
                    rows.into_iter()
                        .map(|r| (r.get(0), r.get(1), r.get(2)))
                        .collect()
                })
            })
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, kind, items)| Request::of_row(id, &kind, &items))
            .collect())
    }

    /// Leaves an operator request (`items`: a JSON list of strings).
    pub fn ask(&self, kind: RequestKind, items: &str) -> Result<(), StateError> {
        let (kind, items) = (kind.as_str().to_string(), items.to_string());
        self.call(move |c| {
            Box::pin(async move {
                c.execute(
                    "INSERT INTO requests (kind, items, made_at) VALUES ($1, $2, extract(epoch from now())::bigint)",
                    &[&kind, &items],
                )
                .await
                .map(|_| ())
            })
        })
    }

    /// Marks the store as maybe not holding everything booked (see the SQLite store's).
    pub fn mark_look_up_first(&self) -> Result<(), StateError> {
        self.batch(&format!(
            "INSERT INTO meta (key, value) VALUES ('{LOOK_UP_FIRST}', 'true') ON CONFLICT DO NOTHING"
        ))
    }

    fn write(&self, batch: &Batch<'_>, delete_all: bool) -> Result<(), StateError> {
        let owned = batch.to_owned()?;
        let bound = write_bound(self.timeout, &owned);
        self.call_within(bound, move |c| Box::pin(write_on(c, owned, delete_all)))
    }

    /// A handle that writes on this session from another task ([`super::Writer`]).
    pub fn handle(&self) -> Handle {
        Handle {
            jobs: self.jobs.clone(),
            lost: self.lost.clone(),
            shown: self.shown.clone(),
            timeout: self.timeout,
        }
    }
}

/// Writes on a [`Pg`]'s session without waiting on the caller's thread.
#[derive(Clone)]
pub struct Handle {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    lost: Arc<AtomicBool>,
    shown: PathBuf,
    timeout: Duration,
}

impl Handle {
    /// Writes `batch` in one transaction; completes when the server committed it (or within
    /// the bound, else the session is taken as lost).
    pub async fn write(&self, batch: Owned) -> Result<(), StateError> {
        let err_text = |text: &str| StateError::Db {
            path: self.shown.clone(),
            source: text.to_string().into(),
        };
        if self.lost.load(Ordering::SeqCst) {
            return Err(err_text("the connection to the server is lost"));
        }
        let timeout = write_bound(self.timeout, &batch);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |client| {
            Box::pin(async move {
                let answer = tokio::time::timeout(timeout, write_on(client, batch, false)).await;
                let _ = tx.send(answer);
            })
        });
        if self.jobs.send(job).is_err() {
            return Err(err_text("the connection's thread has ended"));
        }
        answer(&self.lost, &self.shown, timeout, rx.await.ok())
    }
}

/// What a job on the connection's thread came to: `got` is `None` when the thread ended
/// before answering. A query that did not answer within `timeout` marks the session `lost`:
/// it cannot be trusted any more.
fn answer<T>(
    lost: &AtomicBool,
    shown: &Path,
    timeout: Duration,
    got: Option<Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>>,
) -> Result<T, StateError> {
    let text = |text: String| StateError::Db {
        path: shown.into(),
        source: text.into(),
    };
    match got {
        Some(Ok(Ok(t))) => Ok(t),
        Some(Ok(Err(e))) => Err(StateError::Db {
            path: shown.into(),
            source: Box::new(e),
        }),
        Some(Err(_)) => {
            lost.store(true, Ordering::SeqCst);
            Err(text(format!("no answer within {timeout:?}")))
        }
        None => Err(text("the connection's thread has ended".into())),
    }
}

/// How long a write may take: a query's bound, and a millisecond a row on top (a backlog's
/// batch of intents is a round trip a row).
fn write_bound(timeout: Duration, batch: &Owned) -> Duration {
    let rows = u64::try_from(batch.len()).unwrap_or(u64::MAX);
    timeout.saturating_add(Duration::from_millis(rows))
}

/// Writes `batch` in one transaction on `c`.
async fn write_on(
    c: &mut tokio_postgres::Client,
    batch: Owned,
    delete_all: bool,
) -> Result<(), tokio_postgres::Error> {
    let tx = c.transaction().await?;
    if delete_all {
        tx.batch_execute("DELETE FROM bookings").await?;
    }
    let (mut puts, mut deletes) = (Vec::new(), Vec::new());
    for row in &batch.rows {
        match row {
            Row::Put {
                definition,
                start,
                end,
                status,
                record,
            } => puts.push((definition, start, end, *status, record)),
            Row::Delete { definition, start } => deletes.push((definition, start)),
        }
    }
    if !puts.is_empty() {
        // As the SQLite store's: a record put without its request keeps the stored one, and
        // one without its join URL and code keeps the stored ones while its meeting is the
        // same.
        let put = tx
            .prepare(
                "INSERT INTO bookings (definition, start, end_at, status, record) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (definition, start) DO UPDATE SET end_at = EXCLUDED.end_at, status = EXCLUDED.status,
                 record = (EXCLUDED.record::jsonb
                     || CASE WHEN EXCLUDED.record::jsonb -> 'request' IS NULL
                                  AND bookings.record::jsonb -> 'request' IS NOT NULL
                             THEN jsonb_build_object('request', bookings.record::jsonb -> 'request')
                             ELSE '{}'::jsonb END
                     || CASE WHEN EXCLUDED.record::jsonb -> 'join_url' IS NULL
                                  AND EXCLUDED.record::jsonb -> 'meeting_code' IS NULL
                                  AND EXCLUDED.record::jsonb -> 'meeting_id' = bookings.record::jsonb -> 'meeting_id'
                             THEN jsonb_strip_nulls(jsonb_build_object(
                                      'join_url', bookings.record::jsonb -> 'join_url',
                                      'meeting_code', bookings.record::jsonb -> 'meeting_code'))
                             ELSE '{}'::jsonb END)::text",
            )
            .await?;
        for (d, s, e, st, rec) in &puts {
            tx.execute(&put, &[d, s, e, st, rec]).await?;
        }
    }
    if !deletes.is_empty() {
        let delete = tx
            .prepare("DELETE FROM bookings WHERE definition = $1 AND start = $2")
            .await?;
        for (d, s) in &deletes {
            tx.execute(&delete, &[d, s]).await?;
        }
    }
    if delete_all || batch.invalid_reset {
        tx.batch_execute("DELETE FROM invalid_files").await?;
    }
    if !batch.invalid.is_empty() {
        let put = tx
            .prepare("INSERT INTO invalid_files (path, problems) VALUES ($1, $2) ON CONFLICT (path) DO UPDATE SET problems = EXCLUDED.problems")
            .await?;
        let delete = tx
            .prepare("DELETE FROM invalid_files WHERE path = $1")
            .await?;
        for row in &batch.invalid {
            match row {
                InvalidRow::Put { path, problems } => tx.execute(&put, &[path, problems]).await?,
                InvalidRow::Delete { path } => tx.execute(&delete, &[path]).await?,
            };
        }
    }
    if let Some(text) = &batch.meta {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&DAEMON, text],
        )
        .await?;
    }
    if batch.looked_up {
        tx.execute("DELETE FROM meta WHERE key = $1", &[&LOOK_UP_FIRST])
            .await?;
    }
    if !batch.requests_done.is_empty() {
        tx.execute(
            "DELETE FROM requests WHERE id = ANY($1)",
            &[&batch.requests_done],
        )
        .await?;
    }
    tx.commit().await
}

type DynError = Box<dyn std::error::Error + Send + Sync>;

/// The hostname, for `status`' "who leads".
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "postgres://(unparsable url)".into(),
    }
}
