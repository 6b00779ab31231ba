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
//! **On the caller's runtime.** A [`Pg`] is a tokio-postgres client whose connection is a
//! task on the runtime that connected it (the daemon's), and every call is `async`: the daemon
//! awaits a write or a lead check beside its other work, never blocking its loop. Its session
//! is one connection: the calls on it take turns (a lock), each bounded by `timeout` once it
//! has the session. The commands, which have no runtime of their own, use the blocking
//! functions at the end of this file ([`blocking`]), each with a runtime for its one job.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

use super::writer::InvalidRow;
use super::{MAX_REQUESTS, Meta, Owned, Request, RequestKind, Row};
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

/// A session with the database: the client, and the connection's task on the runtime that
/// connected it. Cheap to clone; the clones share the session.
#[derive(Clone)]
pub struct Pg {
    /// One call on the session at a time (a write's transaction must not take in another's
    /// statements).
    client: Arc<tokio::sync::Mutex<tokio_postgres::Client>>,
    /// The server closed the session, or the connection broke: nothing more can be trusted.
    lost: Arc<AtomicBool>,
    /// What the config said, with any password replaced, for messages.
    shown: PathBuf,
    /// Each call's bound: a cut-off server must not hang the daemon.
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
    /// Connects to `url` on the current runtime; `takeover` bounds each query and sets how
    /// soon the server ends a leader's session that went silent.
    pub async fn connect(url: &str, takeover: Duration) -> Result<Pg, StateError> {
        let shown = PathBuf::from(redact(url));
        let db_err = |source: DynError| StateError::Db {
            path: shown.clone(),
            source,
        };
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| db_err(Box::new(e) as DynError))?;
        let timeout = (takeover / 3).max(Duration::from_secs(1));
        let (client, connection) = match tokio::time::timeout(timeout, config.connect(NoTls)).await
        {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(db_err(Box::new(e))),
            Err(e) => return Err(db_err(Box::new(e))),
        };
        let lost = Arc::new(AtomicBool::new(false));
        let lost_conn = lost.clone();
        // The connection lives as long as a clone of the client does: dropping the last
        // `Pg` closes the session (and so lets go of the leader lock at once).
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!("the PostgreSQL connection broke: {e}");
            }
            lost_conn.store(true, Ordering::SeqCst);
        });
        let pg = Pg {
            client: Arc::new(tokio::sync::Mutex::new(client)),
            lost,
            shown,
            timeout,
        };
        // Daemons started together on a new database would race in the catalog
        // (`CREATE TABLE IF NOT EXISTS` is not safe against a concurrent create): the first
        // takes a transaction lock, creates, commits; the others then find it done.
        pg.batch(format!(
            "BEGIN; SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {CREATE} COMMIT;"
        ))
        .await?;
        let found: Option<String> = pg
            .call(move |c| async move {
                c.query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
                    .await
                    .map(|row| row.map(|r| r.get(0)))
            })
            .await?;
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
                pg.batch(format!(
                    "INSERT INTO meta (key, value) VALUES ('schema', '{SCHEMA}') ON CONFLICT DO NOTHING;
                     INSERT INTO meta (key, value) VALUES ('{LOOK_UP_FIRST}', 'true') ON CONFLICT DO NOTHING;"
                ))
                .await?;
            }
        }
        Ok(pg)
    }

    /// The database as messages name it (password removed).
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Runs `f` on the session once it has it, for at most `timeout`.
    async fn call<T, F>(
        &self,
        f: impl FnOnce(Session) -> F + Send + 'static,
    ) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        self.call_within(self.timeout, f).await
    }

    /// [`Pg::call`] with its own bound (a big batch takes longer than a query). The wait for
    /// the session is not counted: whoever has it is bounded likewise. A call that is not
    /// answered within the bound marks the session lost: it cannot be trusted any more.
    ///
    /// The call is a task of its own: its round trips go on while the caller is busy (the
    /// daemon's loop in a long pass does not poll its write).
    async fn call_within<T, F>(
        &self,
        timeout: Duration,
        f: impl FnOnce(Session) -> F + Send + 'static,
    ) -> Result<T, StateError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        if self.lost.load(Ordering::SeqCst) {
            return Err(self.err_text("the connection to the server is lost".into()));
        }
        let client = self.client.clone();
        let call = tokio::spawn(async move {
            let session = client.lock_owned().await;
            tokio::time::timeout(timeout, f(session)).await
        });
        match call.await {
            Ok(Ok(Ok(t))) => Ok(t),
            Ok(Ok(Err(e))) => Err(StateError::Db {
                path: self.shown.clone(),
                source: Box::new(e),
            }),
            Ok(Err(_)) => {
                self.lost.store(true, Ordering::SeqCst);
                Err(self.err_text(format!("no answer within {timeout:?}")))
            }
            Err(e) => Err(StateError::Db {
                path: self.shown.clone(),
                source: Box::new(e),
            }),
        }
    }

    async fn batch(&self, sql: String) -> Result<(), StateError> {
        self.call(move |c| async move { c.batch_execute(&sql).await })
            .await
    }

    fn err_text(&self, text: String) -> StateError {
        StateError::Db {
            path: self.shown.clone(),
            source: text.into(),
        }
    }

    /// Opens a transaction and leaves it idle, as a leader paused in the middle of a write
    /// does (for the takeover tests).
    #[doc(hidden)]
    pub async fn stall_in_transaction(&self) -> Result<(), StateError> {
        self.batch("BEGIN; SELECT 1;".into()).await
    }

    /// Runs `sql` (statements without parameters) on this session, for the tests' stalls.
    #[doc(hidden)]
    pub async fn execute_batch(&self, sql: &str) -> Result<(), StateError> {
        self.batch(sql.to_string()).await
    }

    /// Tries to take the lead; true when this session holds the lock. The leader's session
    /// is then ended by the server if it goes silent for `takeover`.
    pub async fn try_lead(&self, takeover: Duration) -> Result<bool, StateError> {
        let got: bool = self
            .call(move |c| async move {
                c.query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                    .await
                    .map(|r| r.get(0))
            })
            .await?;
        if got {
            let ms = takeover.as_millis().max(1000);
            self.batch(format!(
                "SET idle_session_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms}; SET tcp_user_timeout = {ms}; SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3;"
            ))
            .await?;
            let me = Leader {
                host: hostname(),
                pid: std::process::id(),
                since: chrono::Utc::now().timestamp(),
                boot: boot_id(),
            };
            let text = serde_json::to_string(&me).unwrap_or_default();
            self.call(move |c| async move {
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    &[&LEADER, &text],
                )
                .await
                .map(drop)
            })
            .await?;
        }
        Ok(got)
    }

    /// Whether this session still holds the leader lock, asked of the server (fencing: asked
    /// before each batch of requests, and as the leader's heartbeat).
    pub async fn still_leading(&self) -> Result<bool, StateError> {
        self.call(move |c| async move {
            c.query_one(
                "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND ((classid::bigint << 32) | objid::bigint) = $1",
                &[&LEADER_LOCK],
            )
            .await
            .map(|r| r.get(0))
        })
        .await
    }

    /// Whether any session holds the leader lock now (for `status`).
    pub async fn someone_leads(&self) -> Result<bool, StateError> {
        self.call(move |c| async move {
            c.query_one(
                "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = $1",
                &[&LEADER_LOCK],
            )
            .await
            .map(|r| r.get(0))
        })
        .await
    }

    /// Who leads, as recorded.
    pub async fn leader(&self) -> Result<Option<Leader>, StateError> {
        let text: Option<String> = self
            .call(move |c| async move {
                c.query_opt("SELECT value FROM meta WHERE key = $1", &[&LEADER])
                    .await
                    .map(|row| row.map(|r| r.get(0)))
            })
            .await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Everything on record, and whether the store may not hold everything booked.
    pub async fn load(&self) -> Result<(State, bool), StateError> {
        self.load_records(false).await
    }

    /// [`Pg::load`] without the request bodies (see the SQLite store's `load_lean`).
    pub async fn load_lean(&self) -> Result<(State, bool), StateError> {
        self.load_records(true).await
    }

    async fn load_records(&self, lean: bool) -> Result<(State, bool), StateError> {
        let rows: Vec<(String, i64, String)> = self
            .call(move |c| async move {
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
            .await?;
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
        let metas: Vec<(String, String)> = self
            .call(move |c| async move {
                c.query(
                    "SELECT key, value FROM meta WHERE key = ANY($1)",
                    &[&vec![DAEMON, LOOK_UP_FIRST]],
                )
                .await
                .map(|rows| rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
            })
            .await?;
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
                let rows: Vec<(String, String)> = self
                    .call(move |c| async move {
                        c.query(
                            "SELECT path, problems FROM invalid_files ORDER BY path",
                            &[],
                        )
                        .await
                        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
                    })
                    .await?;
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

    /// Writes `batch` in one transaction; returns when the server committed it (so synced),
    /// or within the bound, else the session is taken as lost.
    pub async fn write(&self, batch: Owned) -> Result<(), StateError> {
        let bound = write_bound(self.timeout, &batch);
        self.call_within(bound, |mut c| async move {
            write_on(&mut c, batch, false).await
        })
        .await
    }

    /// Replaces every row with `state`'s, in one transaction.
    pub async fn replace(&self, state: &State, meta: &Meta) -> Result<(), StateError> {
        let owned = Owned::replacing(state, meta)?;
        let bound = write_bound(self.timeout, &owned);
        self.call_within(
            bound,
            |mut c| async move { write_on(&mut c, owned, true).await },
        )
        .await
    }

    /// One booking's record as stored, whole.
    pub async fn record_of(
        &self,
        key: &crate::booking::BookingKey,
    ) -> Result<Option<Record>, StateError> {
        let (definition, start) = (key.definition.to_string(), key.start);
        let text: Option<String> = self
            .call(move |c| async move {
                c.query_opt(
                    "SELECT record FROM bookings WHERE definition = $1 AND start = $2",
                    &[&definition, &start],
                )
                .await
                .map(|row| row.map(|r| r.get(0)))
            })
            .await?;
        Ok(text.and_then(|t| serde_json::from_str::<Record>(&t).ok()))
    }

    /// The operator requests waiting, oldest first.
    pub async fn requests(&self) -> Result<Vec<Request>, StateError> {
        let rows: Vec<(i64, String, String)> = self
            .call(move |c| async move {
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
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, kind, items)| Request::of_row(id, &kind, &items))
            .collect())
    }

    /// Leaves an operator request (`items`: a JSON list of strings).
    pub async fn ask(&self, kind: RequestKind, items: &str) -> Result<(), StateError> {
        let (kind, items) = (kind.as_str().to_string(), items.to_string());
        self.call(move |c| async move {
            c.execute(
                "INSERT INTO requests (kind, items, made_at) VALUES ($1, $2, extract(epoch from now())::bigint)",
                &[&kind, &items],
            )
            .await
            .map(drop)
        })
        .await
    }
}

/// Runs `job` on a connection to `url` for a caller without a runtime of its own (the
/// commands, and tests that set a database up): a runtime is made for the one job, on a
/// thread of its own when the caller is inside another runtime (which must not block on it).
pub fn blocking<T: Send>(
    url: &str,
    takeover: Duration,
    job: impl AsyncFnOnce(Pg) -> Result<T, StateError> + Send,
) -> Result<T, StateError> {
    let run = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StateError::Db {
                path: PathBuf::from(redact(url)),
                source: Box::new(e),
            })?;
        runtime.block_on(async move { job(Pg::connect(url, takeover).await?).await })
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return run();
    }
    std::thread::scope(|s| match s.spawn(run).join() {
        Ok(result) => result,
        Err(_) => Err(StateError::Db {
            path: PathBuf::from(redact(url)),
            source: "the database job's thread panicked".into(),
        }),
    })
}

/// How long a write may take: a query's bound, and a millisecond a row on top (a backlog's
/// batch of intents is a round trip a row).
fn write_bound(timeout: Duration, batch: &Owned) -> Duration {
    let rows = u64::try_from(batch.len()).unwrap_or(u64::MAX);
    timeout.saturating_add(Duration::from_millis(rows))
}

/// The session, while a call has it.
type Session = tokio::sync::OwnedMutexGuard<tokio_postgres::Client>;

/// The columns of the rows a write puts, one array each.
#[derive(Default)]
struct Puts<'a> {
    definitions: Vec<&'a str>,
    starts: Vec<i64>,
    ends: Vec<i64>,
    statuses: Vec<&'static str>,
    records: Vec<&'a str>,
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
    // One statement for the puts and one for the deletes, whatever their number (a round
    // trip a row made a backlog's write of 1,000 intents take over a second). A key's last
    // row is the one that counts.
    let mut last: HashMap<(&str, i64), &Row> = HashMap::with_capacity(batch.rows.len());
    for row in &batch.rows {
        let key = match row {
            Row::Put {
                definition, start, ..
            }
            | Row::Delete { definition, start } => (definition.as_str(), *start),
        };
        last.insert(key, row);
    }
    let mut puts = Puts::default();
    let (mut gone_definitions, mut gone_starts) = (Vec::new(), Vec::new());
    for row in last.into_values() {
        match row {
            Row::Put {
                definition,
                start,
                end,
                status,
                record,
            } => {
                puts.definitions.push(definition.as_str());
                puts.starts.push(*start);
                puts.ends.push(*end);
                puts.statuses.push(*status);
                puts.records.push(record.as_str());
            }
            Row::Delete { definition, start } => {
                gone_definitions.push(definition.as_str());
                gone_starts.push(*start);
            }
        }
    }
    if !puts.definitions.is_empty() {
        // As the SQLite store's: a record put without its request keeps the stored one, and
        // one without its join URL and code keeps the stored ones while its meeting is the
        // same.
        tx.execute(
            "INSERT INTO bookings (definition, start, end_at, status, record)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[])
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
            &[
                &puts.definitions,
                &puts.starts,
                &puts.ends,
                &puts.statuses,
                &puts.records,
            ],
        )
        .await?;
    }
    if !gone_definitions.is_empty() {
        tx.execute(
            "DELETE FROM bookings b USING unnest($1::text[], $2::bigint[]) AS gone(definition, start)
             WHERE b.definition = gone.definition AND b.start = gone.start",
            &[&gone_definitions, &gone_starts],
        )
        .await?;
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
