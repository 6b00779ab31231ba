//! Where the records live between runs: a SQLite database (`state.file`) owned by one daemon.
//!
//! The store keeps one row per booking, keyed by (definition, occurrence start), one row per
//! invalid definition file, keyed by its path, and a few small values for the daemon (last
//! pass, held removals, quota waits, paused definitions). The daemon writes only what changed
//! since its last write ([`Batch`], [`Owned::add_invalid`]), in one transaction, synced before
//! the transaction returns: an intent is on disk before its request is sent, and recording a
//! booking costs the same with 10 or 100,000 bookings on record.
//!
//! Opening takes the same two locks the JSON state had (a `.lock` file beside the database and
//! the directory that holds it), so a second daemon on the same state refuses to start.
//! A version 1 JSON state file found at `state.file` (or named by `state.import`) is imported
//! once, in a crash-safe order, and kept as `*.imported`.
//!
//! Readers (`status`, `plan`, `export`) open the database read-only and see the last committed
//! transaction (SQLite's WAL mode), never half of one.

pub mod postgres;
mod reader;
mod requests;
mod sqlite;
mod writer;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use crate::ledger::Write;
use crate::state::{self, State, StateError};
pub use reader::Reader;
use reader::ReaderKind;
pub use requests::{MAX_REQUEST_ITEMS, MAX_REQUESTS, Request, RequestKind, ask, requests_for};
pub(crate) use writer::Row;
use writer::WriterKind;
pub use writer::{Owned, Writer};

/// The small values beside the records: everything in [`State`] but the bookings and the
/// invalid files (rows of their own, [`InvalidChange`]).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    #[serde(default)]
    pub last_pass: Option<i64>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<state::MonthCount>,
    /// As loaded: the stored values still hold the invalid files (written by a build from
    /// before they were rows). The next write of the values drops them, and the daemon writes
    /// every invalid file as a row with it (see [`State::invalid_in_meta`]).
    #[serde(skip)]
    pub invalid_in_meta: bool,
}

impl Meta {
    fn of(state: &State) -> Meta {
        Meta {
            last_pass: state.last_pass,
            held_removals: state.held_removals.clone(),
            waiting: state.waiting.clone(),
            paused: state.paused.clone(),
            look_up_until: state.look_up_until,
            held_changes: state.held_changes.clone(),
            month: state.month.clone(),
            invalid_in_meta: false,
        }
    }

    /// A state split into its records and these values (what the daemon keeps apart); its
    /// invalid files are the catalog's business ([`crate::watch::Catalog::settle_invalid`]).
    pub fn split(state: State) -> (Vec<state::Record>, Meta) {
        let meta = Meta {
            last_pass: state.last_pass,
            held_removals: state.held_removals,
            waiting: state.waiting,
            paused: state.paused,
            look_up_until: state.look_up_until,
            held_changes: state.held_changes,
            month: state.month,
            invalid_in_meta: state.invalid_in_meta,
        };
        (state.bookings, meta)
    }

    /// These values with `bookings` and `invalid`: a whole state, as a load returns it.
    fn with_bookings(
        self,
        bookings: Vec<state::Record>,
        invalid: Vec<state::InvalidFile>,
    ) -> State {
        State {
            version: state::VERSION,
            last_pass: self.last_pass,
            bookings,
            invalid,
            held_removals: self.held_removals,
            waiting: self.waiting,
            paused: self.paused,
            look_up_until: self.look_up_until,
            held_changes: self.held_changes,
            month: self.month,
            invalid_in_meta: self.invalid_in_meta,
        }
    }

    /// The values as stored (JSON), and the invalid files a store written before they were
    /// rows keeps among them (`None` when it keeps none there).
    fn parse(text: &str) -> serde_json::Result<(Meta, Option<Vec<state::InvalidFile>>)> {
        #[derive(serde::Deserialize)]
        struct Before {
            #[serde(default)]
            invalid: Option<Vec<state::InvalidFile>>,
        }
        let mut meta: Meta = serde_json::from_str(text)?;
        // Read twice only when the key may be there: a build that writes rows never writes it.
        let invalid = if text.contains("\"invalid\"") {
            serde_json::from_str::<Before>(text)?.invalid
        } else {
            None
        };
        meta.invalid_in_meta = invalid.is_some();
        Ok((meta, invalid))
    }
}

/// The key of an invalid file's row: its path, as `status` shows it (lossy UTF-8, as
/// [`state::InvalidFile::new`] makes it).
pub fn invalid_key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A change to the invalid files on record: one row each, keyed by [`invalid_key`].
#[derive(Debug, Clone, PartialEq)]
pub enum InvalidChange {
    Put(state::InvalidFile),
    Delete(String),
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

/// The daemon's store: locked, open, written in batches.
pub struct Store {
    /// The file, or the database URL with its password removed.
    path: PathBuf,
    backend: Backend,
    /// The store may not hold everything booked (it is new, or restored from a backup, and the
    /// daemon has not written to it since): whatever is due may have been booked by a state
    /// that is gone, and is looked up before it is created.
    fresh: bool,
    /// Made now where neither a database nor its lock file was (SQLite): a first start, not a
    /// lost state, since a daemon that ran here leaves its lock file behind.
    first: bool,
    /// Batches written, here or by a [`Writer`].
    writes: Arc<AtomicU64>,
}

/// Where the rows go.
enum Backend {
    Sqlite {
        /// Shared with the [`Reader`], which reads on a blocking thread.
        db: Arc<Mutex<sqlite::Db>>,
        /// Held for the life of the store; the OS releases the lock when the process dies.
        _lock: File,
        /// The lock on the state's directory, held likewise: a lock file can be deleted (and a
        /// second daemon then makes and locks a new one), a directory holding the state
        /// cannot. `None` where the filesystem cannot lock directories (NFS).
        _dir_lock: Option<File>,
    },
    /// One writer at a time by the leader lock (see [`postgres`]).
    Postgres {
        /// The session that holds the leader lock: the writes and the lead checks.
        leader: postgres::Pg,
        /// A second session for the reads, which never wait behind a write (as SQLite's
        /// readers do not, in WAL mode).
        reader: postgres::Pg,
    },
}

impl Store {
    fn new(path: &Path, backend: Backend, fresh: bool) -> Store {
        Store {
            path: path.into(),
            backend,
            fresh,
            first: false,
            writes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Takes the locks, imports a JSON state if one is there, and loads every record (without
    /// its request body: see [`Reader::request_of`]). Fails
    /// when another process holds the lock, or the store is corrupt or newer than this build.
    pub fn open(path: &Path, import: Option<&Path>) -> Result<(Store, State), StateError> {
        let write_err = |source| StateError::Write {
            path: path.into(),
            source,
        };
        let dir = parent(path);
        let first = !path.exists()
            && !with_suffix(path, ".lock").exists()
            && import.is_none_or(|f| !f.exists());
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
            db: Arc::new(Mutex::new(db)),
            _lock: lock,
            _dir_lock: dir_lock,
        };
        let store = Store {
            first: first && new,
            ..Store::new(path, backend, fresh)
        };
        Ok((store, state))
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
            db: Arc::new(Mutex::new(db)),
            _lock: lock,
            _dir_lock: dir_lock,
        };
        Ok((Store::new(path, backend, fresh), state))
    }

    /// The store on a PostgreSQL database whose leader lock `pg` holds: loads everything,
    /// and opens a second session to `url` for the reads.
    pub async fn leading(
        pg: postgres::Pg,
        url: &str,
        takeover: std::time::Duration,
    ) -> Result<(Store, State), StateError> {
        let (state, fresh) = pg.load_lean().await?;
        let reader = postgres::Pg::connect(url, takeover).await?;
        let path = pg.shown().to_path_buf();
        let backend = Backend::Postgres { leader: pg, reader };
        Ok((Store::new(&path, backend, fresh), state))
    }

    /// The session that holds the leader lock, with a shared store: what the lead checks
    /// ask on.
    pub fn session(&self) -> Option<postgres::Pg> {
        match &self.backend {
            Backend::Sqlite { .. } => None,
            Backend::Postgres { leader, .. } => Some(leader.clone()),
        }
    }

    /// A [`Reader`] of this store, for reads away from the caller's loop.
    pub fn reader(&self) -> Reader {
        Reader(match &self.backend {
            Backend::Sqlite { db, .. } => ReaderKind::Sqlite(db.clone()),
            Backend::Postgres { reader, .. } => ReaderKind::Postgres(reader.clone()),
        })
    }

    /// Whether the store is a PostgreSQL database (and so needs a heartbeat).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres { .. })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store may not hold everything booked (see the field).
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    /// Whether the store was made now where no daemon had run (see the field).
    pub fn first(&self) -> bool {
        self.first
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
            Backend::Postgres { leader, .. } => WriterKind::Postgres(leader.clone()),
        };
        Ok(Writer {
            kind,
            writes: self.writes.clone(),
        })
    }

    /// Whether the rows are in memory only (`recover --dry-run`).
    fn in_memory(&self) -> bool {
        matches!(&self.backend, Backend::Sqlite { db, .. } if lock_db(db).in_memory())
    }

    /// Writes `batch` in one transaction, synced to disk before it returns.
    pub fn commit(&mut self, batch: &Batch<'_>) -> Result<(), StateError> {
        if batch.is_empty() {
            return Ok(());
        }
        match &self.backend {
            Backend::Sqlite { db, .. } => lock_db(db).commit(batch)?,
            Backend::Postgres { .. } => return Err(self.written_by_writer()),
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Replaces everything in the store with `state` (for the demo and the tests: a state
    /// known to be whole, so the look-up-first mark goes too).
    pub fn replace(&mut self, state: &State) -> Result<(), StateError> {
        match &self.backend {
            Backend::Sqlite { db, .. } => lock_db(db).replace(state, &Meta::of(state))?,
            Backend::Postgres { .. } => return Err(self.written_by_writer()),
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Store {
    /// A PostgreSQL store is written on its session's runtime, through [`Store::writer`]
    /// (or [`postgres::blocking`]), never by a call that blocks.
    fn written_by_writer(&self) -> StateError {
        StateError::Db {
            path: self.path.clone(),
            source: "a PostgreSQL store is written through its writer".into(),
        }
    }
}

/// The SQLite connection, also when a thread that held it panicked (the connection itself
/// is whole: each write is one transaction).
pub(super) fn lock_db(db: &Mutex<sqlite::Db>) -> std::sync::MutexGuard<'_, sqlite::Db> {
    db.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
        Some(url) => {
            Ok(postgres::blocking(url.expose(), config.takeover, async |pg| pg.load().await)?.0)
        }
        None => read(&config.file),
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
