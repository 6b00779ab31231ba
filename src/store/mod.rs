//! Where the records live between runs: a SQLite database (`state.file`) owned by one daemon.
//!
//! The store keeps one row per booking, keyed by (definition, occurrence start), and a few
//! small values for the daemon (last pass, invalid files, held removals, quota waits, paused
//! definitions). The daemon writes only what changed since its last write ([`Batch`]), in one
//! transaction, synced before the transaction returns: an intent is on disk before its request
//! is sent, and recording a booking costs the same with 10 or 100,000 bookings on record.
//!
//! Opening takes the same two locks the JSON state had (a `.lock` file beside the database and
//! the directory that holds it), so a second daemon on the same state refuses to start.
//! A version 1 JSON state file found at `state.file` (or named by `state.import`) is imported
//! once, in a crash-safe order, and kept as `*.imported`.
//!
//! Readers (`status`, `plan`, `export`) open the database read-only and see the last committed
//! transaction (SQLite's WAL mode), never half of one.

pub mod postgres;
mod sqlite;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::ledger::Write;
use crate::state::{self, State, StateError};

/// The small values beside the records: everything in [`State`] but the bookings.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub last_pass: Option<i64>,
    #[serde(default)]
    pub invalid: Vec<state::InvalidFile>,
    #[serde(default)]
    pub held_removals: Vec<String>,
    #[serde(default)]
    pub waiting: Vec<state::QuotaWait>,
    #[serde(default)]
    pub paused: Vec<String>,
    #[serde(default)]
    pub look_up_until: Option<i64>,
    #[serde(default)]
    pub held_changes: Vec<String>,
}

impl Meta {
    fn of(state: &State) -> Meta {
        Meta {
            last_pass: state.last_pass,
            invalid: state.invalid.clone(),
            held_removals: state.held_removals.clone(),
            waiting: state.waiting.clone(),
            paused: state.paused.clone(),
            look_up_until: state.look_up_until,
            held_changes: state.held_changes.clone(),
        }
    }

    /// A state split into its records and these values (what the daemon keeps apart).
    pub fn split(state: State) -> (Vec<state::Record>, Meta) {
        let meta = Meta {
            last_pass: state.last_pass,
            invalid: state.invalid,
            held_removals: state.held_removals,
            waiting: state.waiting,
            paused: state.paused,
            look_up_until: state.look_up_until,
            held_changes: state.held_changes,
        };
        (state.bookings, meta)
    }

    /// These values with `bookings`: a whole state, as a load returns it.
    fn with_bookings(self, bookings: Vec<state::Record>) -> State {
        State {
            version: state::VERSION,
            last_pass: self.last_pass,
            bookings,
            invalid: self.invalid,
            held_removals: self.held_removals,
            waiting: self.waiting,
            paused: self.paused,
            look_up_until: self.look_up_until,
            held_changes: self.held_changes,
        }
    }
}

/// One write: rows to put or delete, and the meta values when they changed.
#[derive(Debug, Default)]
pub struct Batch<'a> {
    pub rows: Vec<Write<'a>>,
    pub meta: Option<&'a Meta>,
    /// Everything due that a fresh store made the daemon look up is on record as an intent
    /// (or found): the store need not be looked up first again.
    pub looked_up: bool,
    /// Operator requests acted on ([`Request::id`]): removed with the records they changed.
    pub requests_done: &'a [i64],
}

impl Batch<'_> {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.meta.is_none() && self.requests_done.is_empty()
    }
}

/// A [`Batch`] made ready to write away from the loop: every record already serialized, so the
/// writer needs nothing of the caller's ([`Writer`]).
#[derive(Debug, Default)]
pub struct Owned {
    pub(crate) rows: Vec<Row>,
    /// The daemon's values as JSON, when they are written.
    pub(crate) meta: Option<String>,
    pub(crate) looked_up: bool,
    pub(crate) requests_done: Vec<i64>,
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
        })
    }
}

impl Owned {
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.meta.is_none() && self.requests_done.is_empty()
    }
}

/// Writes batches off the caller's thread: the daemon's loop hands each write to it and goes
/// on (a store that stalls for seconds must not stall the loop, its timers or the systemd
/// watchdog), and learns when the write is durable. Cheap to clone; one write at a time is
/// the caller's rule.
#[derive(Clone)]
pub struct Writer {
    kind: WriterKind,
    /// Batches written, shared with the [`Store`] (`Summary::state_writes`).
    writes: Arc<AtomicU64>,
}

#[derive(Clone)]
enum WriterKind {
    /// A thread of its own with its own connection to the database (SQLite takes a second
    /// connection; readers are never blocked by it in WAL mode).
    Sqlite(std::sync::mpsc::Sender<(Owned, tokio::sync::oneshot::Sender<Result<(), StateError>>)>),
    /// The leader's session (its connection is already off the loop).
    Postgres(postgres::Handle),
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

/// What an operator asks the daemon for: a row in the store, written by `retry`,
/// `approve-removals` and `approve-changes`, read by the daemon (the leader, on PostgreSQL) at
/// each pass. A running daemon acts on it at its next pass; a stopped one when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Rising: the daemon acts on each once, and removes it once done.
    pub id: i64,
    pub kind: RequestKind,
    /// Booking keys (`definition@start`) for a retry; definition ids for an approval.
    pub items: Vec<String>,
}

/// What a [`Request`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Failed bookings back to pending.
    Retry,
    /// Cancel the meetings of definitions whose removal is held back.
    ApproveRemovals,
    /// Make the held changes of these definitions' meetings.
    ApproveChanges,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Retry => "retry",
            RequestKind::ApproveRemovals => "approve-removals",
            RequestKind::ApproveChanges => "approve-changes",
        }
    }

    fn parse(text: &str) -> Option<RequestKind> {
        [
            RequestKind::Retry,
            RequestKind::ApproveRemovals,
            RequestKind::ApproveChanges,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// The most requests read at once, and the most items kept of one (a request is a few
/// definitions or bookings; these bound what a corrupt or hostile row can cost).
pub const MAX_REQUESTS: usize = 1_000;
pub const MAX_REQUEST_ITEMS: usize = 1_000_000;

impl Request {
    /// A row as stored: `None` (left alone, and logged) when its kind is unknown (a newer
    /// build's) or its items are not a list of strings.
    fn of_row(id: i64, kind: &str, items: &str) -> Option<Request> {
        let Some(kind) = RequestKind::parse(kind) else {
            tracing::warn!(
                request = id,
                "an operator request of unknown kind `{kind}` is left alone"
            );
            return None;
        };
        match serde_json::from_str::<Vec<String>>(items) {
            Ok(mut items) => {
                items.truncate(MAX_REQUEST_ITEMS);
                Some(Request { id, kind, items })
            }
            Err(e) => {
                tracing::warn!(
                    request = id,
                    "an operator request that does not parse is left alone: {e}"
                );
                None
            }
        }
    }
}

/// The daemon's store: locked, open, written in batches.
pub struct Store {
    /// The file, or the database URL with its password removed.
    path: PathBuf,
    backend: Backend,
    /// The store may not hold everything booked (it is new, or restored from a backup, and the
    /// daemon has not written to it since): whatever is due may have been booked by a state
    /// that is gone, and is looked up before it is created.
    fresh: bool,
    /// Batches written, here or by a [`Writer`].
    writes: Arc<AtomicU64>,
}

/// Where the rows go.
enum Backend {
    Sqlite {
        db: sqlite::Db,
        /// Held for the life of the store; the OS releases the lock when the process dies.
        _lock: File,
        /// The lock on the state's directory, held likewise: a lock file can be deleted (and a
        /// second daemon then makes and locks a new one), a directory holding the state
        /// cannot. `None` where the filesystem cannot lock directories (NFS).
        _dir_lock: Option<File>,
    },
    /// One writer at a time by the leader lock (see [`postgres`]).
    Postgres(postgres::Pg),
}

impl Store {
    fn new(path: &Path, backend: Backend, fresh: bool) -> Store {
        Store {
            path: path.into(),
            backend,
            fresh,
            writes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Takes the locks, imports a JSON state if one is there, and loads every record (without
    /// its request body: see [`Store::request_of`]). Fails
    /// when another process holds the lock, or the store is corrupt or newer than this build.
    pub fn open(path: &Path, import: Option<&Path>) -> Result<(Store, State), StateError> {
        let write_err = |source| StateError::Write {
            path: path.into(),
            source,
        };
        let dir = parent(path);
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let (lock, dir_lock) = lock(path)?;
        finish_import(path, import).map_err(write_err)?;
        let mut new = false;
        match sniff(path)? {
            Kind::Missing => {
                if let Some(from) = import.filter(|f| f.exists()) {
                    import_json(from, path)?;
                } else {
                    new = true;
                    // Created 0600: SQLite gives its -wal and -shm files the same mode.
                    restricted_options()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .map_err(write_err)?;
                }
            }
            Kind::Json => import_json(path, path)?,
            Kind::Sqlite => {}
        }
        let mut db = sqlite::Db::open(path)?;
        if new {
            db.mark_look_up_first()?;
        }
        // Without the request bodies: the daemon reads one back when it needs it.
        let (state, fresh) = db.load_lean()?;
        let backend = Backend::Sqlite {
            db,
            _lock: lock,
            _dir_lock: dir_lock,
        };
        Ok((Store::new(path, backend, fresh), state))
    }

    /// For a run that writes nothing (`recover --dry-run`): the locks, and what is on record
    /// in a database in memory; nothing is created or imported on disk.
    pub fn open_in_memory(
        path: &Path,
        import: Option<&Path>,
    ) -> Result<(Store, State), StateError> {
        std::fs::create_dir_all(parent(path)).map_err(|source| StateError::Write {
            path: path.into(),
            source,
        })?;
        let (lock, dir_lock) = lock(path)?;
        let from = match import.filter(|f| !path.exists() && f.exists()) {
            Some(from) => from,
            None => path,
        };
        let (state, fresh) = match sniff(from)? {
            Kind::Sqlite => sqlite::Db::open_read_only(from)?.load()?,
            Kind::Json => (state::read(from)?, false),
            Kind::Missing => (read(from)?, true),
        };
        let mut db = sqlite::Db::open_in_memory()?;
        db.replace(&state, &Meta::of(&state))?;
        let backend = Backend::Sqlite {
            db,
            _lock: lock,
            _dir_lock: dir_lock,
        };
        Ok((Store::new(path, backend, fresh), state))
    }

    /// The store on a PostgreSQL database whose leader lock `pg` holds: loads everything.
    pub fn leading(pg: postgres::Pg) -> Result<(Store, State), StateError> {
        let (state, fresh) = pg.load_lean()?;
        let path = pg.shown().to_path_buf();
        Ok((Store::new(&path, Backend::Postgres(pg), fresh), state))
    }

    /// The operator requests waiting, oldest first (at most [`MAX_REQUESTS`]).
    pub fn requests(&self) -> Result<Vec<Request>, StateError> {
        match &self.backend {
            Backend::Sqlite { db, .. } => db.requests(),
            Backend::Postgres(pg) => pg.requests(),
        }
    }

    /// Whether this store may still be written: always for SQLite (the file lock is held for
    /// the life of the process); for PostgreSQL, whether the server says this session holds
    /// the leader lock. Asked before each batch of requests (fencing).
    pub fn still_leading(&self) -> Result<bool, StateError> {
        match &self.backend {
            Backend::Sqlite { .. } => Ok(true),
            Backend::Postgres(pg) => pg.still_leading(),
        }
    }

    /// The request body recorded for one booking: the daemon keeps records without theirs,
    /// and reads one back when it needs it (a lookup, a changed definition).
    pub fn request_of(
        &self,
        key: &crate::booking::BookingKey,
    ) -> Result<Option<state::RecordedRequest>, StateError> {
        Ok(self.record_of(key)?.and_then(|r| r.request))
    }

    /// One booking's record as stored, whole: with its request body, join URL and meeting
    /// code, which the daemon does not keep in memory.
    pub fn record_of(
        &self,
        key: &crate::booking::BookingKey,
    ) -> Result<Option<state::Record>, StateError> {
        match &self.backend {
            Backend::Sqlite { db, .. } => db.record_of(key),
            Backend::Postgres(pg) => pg.record_of(key),
        }
    }

    /// Whether the store is a PostgreSQL database (and so needs a heartbeat).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store may not hold everything booked (see the field).
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    /// How many batches were written, for tests and logs.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// A [`Writer`] for this store: for SQLite, a thread with a second connection.
    pub fn writer(&self) -> Result<Writer, StateError> {
        let kind = match &self.backend {
            Backend::Sqlite { .. } if self.in_memory() => WriterKind::Discard,
            Backend::Sqlite { .. } => {
                let mut db = sqlite::Db::open(&self.path)?;
                let (jobs, rx) = std::sync::mpsc::channel::<(
                    Owned,
                    tokio::sync::oneshot::Sender<Result<(), StateError>>,
                )>();
                std::thread::Builder::new()
                    .name("sqlite-writer".into())
                    .spawn(move || {
                        while let Ok((batch, done)) = rx.recv() {
                            let _ = done.send(db.write_owned(&batch, false));
                        }
                    })
                    .map_err(|source| StateError::Write {
                        path: self.path.clone(),
                        source,
                    })?;
                WriterKind::Sqlite(jobs)
            }
            Backend::Postgres(pg) => WriterKind::Postgres(pg.handle()),
        };
        Ok(Writer {
            kind,
            writes: self.writes.clone(),
        })
    }

    /// Whether the rows are in memory only (`recover --dry-run`).
    fn in_memory(&self) -> bool {
        matches!(&self.backend, Backend::Sqlite { db, .. } if db.in_memory())
    }

    /// Writes `batch` in one transaction, synced to disk before it returns.
    pub fn commit(&mut self, batch: &Batch<'_>) -> Result<(), StateError> {
        if batch.is_empty() {
            return Ok(());
        }
        match &mut self.backend {
            Backend::Sqlite { db, .. } => db.commit(batch)?,
            Backend::Postgres(pg) => pg.commit(batch)?,
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Replaces everything in the store with `state` (for the demo and the tests: a state
    /// known to be whole, so the look-up-first mark goes too).
    pub fn replace(&mut self, state: &State) -> Result<(), StateError> {
        match &mut self.backend {
            Backend::Sqlite { db, .. } => db.replace(state, &Meta::of(state))?,
            Backend::Postgres(pg) => pg.replace(state, &Meta::of(state))?,
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Makes an empty store at `path`, known to be whole (nothing was booked before it): the
/// demo's, the tests' and the benchmarks' starting point. A daemon on a store that is merely
/// new would first look up what a lost state may have booked.
pub fn create_empty(path: &Path) -> Result<(), StateError> {
    let (mut store, _) = Store::open(path, None)?;
    store.replace(&State {
        version: state::VERSION,
        ..State::default()
    })
}

/// Reads the store the config names (the SQLite file, or the PostgreSQL database) without
/// taking its lock: what `status`, `plan` and `export` show.
pub fn read_for(config: &crate::config::StateConfig) -> Result<State, StateError> {
    match &config.url {
        Some(url) => Ok(postgres::Pg::connect(url.expose(), config.takeover)?
            .load()?
            .0),
        None => read(&config.file),
    }
}

/// Leaves an operator request for the daemon in the store `config` names: on SQLite beside
/// a running daemon (the database takes a second writer; the daemon's lock is not needed),
/// on PostgreSQL for whichever daemon leads now or next.
pub fn ask(
    config: &crate::config::StateConfig,
    kind: RequestKind,
    items: &[String],
) -> Result<(), StateError> {
    let items = serde_json::to_string(items).map_err(|e| StateError::Db {
        path: config.file.clone(),
        source: Box::new(e),
    })?;
    match &config.url {
        Some(url) => postgres::Pg::connect(url.expose(), config.takeover)?.ask(kind, &items),
        None => match sniff(&config.file)? {
            Kind::Sqlite => sqlite::Db::open(&config.file)?.ask(kind, &items),
            Kind::Missing | Kind::Json => Err(StateError::Corrupt {
                path: config.file.clone(),
                reason: "there is no database to leave the request in; start the daemon once (it makes one, or converts the JSON state of an earlier version)".into(),
            }),
        },
    }
}

/// The operator requests waiting in the store `config` names (for `plan`, which shows what
/// the daemon would do).
pub fn requests_for(config: &crate::config::StateConfig) -> Result<Vec<Request>, StateError> {
    match &config.url {
        Some(url) => postgres::Pg::connect(url.expose(), config.takeover)?.requests(),
        None => match sniff(&config.file)? {
            Kind::Sqlite => sqlite::Db::open_read_only(&config.file)?.requests(),
            Kind::Missing | Kind::Json => Ok(Vec::new()),
        },
    }
}

/// Reads a store without taking its lock: what `status`, `plan` and `export` show. A missing
/// file is an empty state; a version 1 JSON state file (not imported yet) is read as it is.
pub fn read(path: &Path) -> Result<State, StateError> {
    match sniff(path)? {
        Kind::Missing => Ok(State {
            version: state::VERSION,
            ..State::default()
        }),
        Kind::Json => state::read(path),
        Kind::Sqlite => Ok(sqlite::Db::open_read_only(path)?.load()?.0),
    }
}

/// Copies the store at `path` to `to` while the daemon may be writing it: a consistent
/// snapshot of the last committed transaction (SQLite's online backup), mode 0600.
pub fn backup(path: &Path, to: &Path) -> Result<u64, StateError> {
    match sniff(path)? {
        Kind::Sqlite => {}
        Kind::Missing => {
            return Err(StateError::Read {
                path: path.into(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        Kind::Json => {
            return Err(StateError::Corrupt {
                path: path.into(),
                reason: "it is a JSON state file not imported yet; copy it as it is".into(),
            });
        }
    }
    if to.exists() {
        return Err(StateError::Write {
            path: to.into(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the backup file exists; choose a new name",
            ),
        });
    }
    restricted_options()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|source| StateError::Write {
            path: to.into(),
            source,
        })?;
    let db = sqlite::Db::open_read_only(path)?;
    db.backup_to(to)
}

/// Puts the backup `from` in place of the store at `path`, which no daemon may hold. The
/// restored store is marked so that the next start looks up everything due before creating
/// anything: meetings booked after the backup was made are found, not booked twice.
pub fn restore(from: &Path, path: &Path) -> Result<u64, StateError> {
    if sniff(from)? != Kind::Sqlite {
        return Err(StateError::Corrupt {
            path: from.into(),
            reason: "not a wemeet-scheduler SQLite store".into(),
        });
    }
    let write_err = |source| StateError::Write {
        path: path.into(),
        source,
    };
    std::fs::create_dir_all(parent(path)).map_err(write_err)?;
    let (_lock, _dir_lock) = lock(path)?;
    // Check the backup whole before anything is replaced.
    let (state, _) = sqlite::Db::open_read_only(from)?.load()?;
    let tmp = with_suffix(path, ".restoring");
    build(&tmp, &state, true)?;
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(with_suffix(path, suffix)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write_err(e)),
            _ => {}
        }
    }
    std::fs::rename(&tmp, path).map_err(write_err)?;
    sync_dir(path).map_err(write_err)?;
    Ok(state.bookings.len() as u64)
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Missing,
    Json,
    Sqlite,
}

/// What the file at `path` holds, by its first bytes.
fn sniff(path: &Path) -> Result<Kind, StateError> {
    use std::io::Read as _;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Kind::Missing),
        Err(source) => {
            return Err(StateError::Read {
                path: path.into(),
                source,
            });
        }
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(StateError::Read {
                    path: path.into(),
                    source,
                });
            }
        }
    }
    let head = &head[..n];
    if head.is_empty() || head == b"SQLite format 3\0" {
        // An empty file is a database SQLite has not written its header to yet.
        Ok(Kind::Sqlite)
    } else if head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        Ok(Kind::Json)
    } else {
        Err(StateError::Corrupt {
            path: path.into(),
            reason: "neither a SQLite database nor a JSON state file".into(),
        })
    }
}

/// Imports the JSON state at `from` into a new database at `path`, then keeps the JSON as
/// `from.imported`. In this order, so a crash at any point leaves something whole: the
/// database is built as `path.importing`; the JSON is moved aside; the database is moved in.
/// [`finish_import`] completes the last step after a crash between the two moves.
fn import_json(from: &Path, path: &Path) -> Result<(), StateError> {
    let write_err = |source| StateError::Write {
        path: path.into(),
        source,
    };
    let state = state::read(from)?;
    let tmp = with_suffix(path, ".importing");
    build(&tmp, &state, false)?;
    let kept = with_suffix(from, ".imported");
    std::fs::rename(from, &kept).map_err(write_err)?;
    std::fs::rename(&tmp, path).map_err(write_err)?;
    sync_dir(path).map_err(write_err)?;
    tracing::info!(
        from = %from.display(),
        to = %path.display(),
        bookings = state.bookings.len(),
        "imported the JSON state into the SQLite store; the JSON file is kept as {}",
        kept.display()
    );
    Ok(())
}

/// Writes `state` as a whole new database at `tmp` (0600, checkpointed and closed, so the
/// file alone is the store), to be renamed into place; `look_up_first` marks it so.
fn build(tmp: &Path, state: &State, look_up_first: bool) -> Result<(), StateError> {
    let _ = std::fs::remove_file(tmp);
    restricted_options()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|source| StateError::Write {
            path: tmp.into(),
            source,
        })?;
    let mut db = sqlite::Db::open(tmp)?;
    db.replace(state, &Meta::of(state))?;
    if look_up_first {
        db.mark_look_up_first()?;
    }
    db.close()
}

/// Completes an import a crash interrupted after the JSON was moved aside.
fn finish_import(path: &Path, import: Option<&Path>) -> std::io::Result<()> {
    let tmp = with_suffix(path, ".importing");
    let moved_aside = std::iter::once(path)
        .chain(import)
        .any(|from| with_suffix(from, ".imported").exists());
    if !path.exists() && tmp.exists() && moved_aside {
        std::fs::rename(&tmp, path)?;
        sync_dir(path)?;
    } else if tmp.exists() {
        // An import that had not moved the JSON aside: it is done again from the start.
        std::fs::remove_file(&tmp)?;
    }
    Ok(())
}

fn lock(path: &Path) -> Result<(File, Option<File>), StateError> {
    let write_err = |source| StateError::Write {
        path: path.into(),
        source,
    };
    let locked = || StateError::Locked {
        path: path.into(),
        lock: with_suffix(path, ".lock"),
    };
    let dir_lock = File::open(parent(path)).map_err(write_err)?;
    let dir_lock = match dir_lock.try_lock() {
        Ok(()) => Some(dir_lock),
        Err(std::fs::TryLockError::WouldBlock) => return Err(locked()),
        // The filesystem cannot lock a directory: the lock file alone guards the state.
        Err(std::fs::TryLockError::Error(_)) => None,
    };
    let lock = restricted_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(with_suffix(path, ".lock"))
        .map_err(write_err)?;
    match lock.try_lock() {
        Ok(()) => Ok((lock, dir_lock)),
        Err(std::fs::TryLockError::WouldBlock) => Err(locked()),
        Err(std::fs::TryLockError::Error(e)) => Err(write_err(e)),
    }
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    File::open(parent(path))?.sync_all()
}

/// Files readable and writable by their owner only.
fn restricted_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

#[cfg(test)]
mod tests;
