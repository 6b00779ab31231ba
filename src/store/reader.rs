//! Reads away from the caller: the [`Reader`] the daemon's loop asks and goes on.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::{Request, lock_db, postgres, sqlite};
use crate::state::{self, StateError};

/// Reads a [`Store`] away from the caller: the daemon's loop asks, goes on, and takes the
/// answer when it comes. SQLite reads on a blocking thread with the store's connection (the
/// writer has its own); PostgreSQL on the store's second session. Cheap to clone.
#[derive(Clone)]
pub struct Reader(pub(super) ReaderKind);

#[derive(Clone)]
pub(super) enum ReaderKind {
    Sqlite(Arc<Mutex<sqlite::Db>>),
    Postgres(postgres::Pg),
}

impl Reader {
    /// One booking's record as stored, whole: with its request body, join URL and meeting
    /// code, which the daemon does not keep in memory.
    pub fn record_of(
        &self,
        key: &crate::booking::BookingKey,
    ) -> impl Future<Output = Result<Option<state::Record>, StateError>> + Send + 'static {
        let (reader, key) = (self.0.clone(), key.clone());
        async move {
            match reader {
                ReaderKind::Sqlite(db) => on_blocking(move || lock_db(&db).record_of(&key)).await,
                ReaderKind::Postgres(pg) => pg.record_of(&key).await,
            }
        }
    }

    /// The request body recorded for one booking: the daemon keeps records without theirs,
    /// and reads one back when it needs it (a lookup, a changed definition).
    pub fn request_of(
        &self,
        key: &crate::booking::BookingKey,
    ) -> impl Future<Output = Result<Option<state::RecordedRequest>, StateError>> + Send + 'static
    {
        let record = self.record_of(key);
        async move { Ok(record.await?.and_then(|r| r.request)) }
    }

    /// The operator requests waiting, oldest first (at most [`MAX_REQUESTS`]).
    pub fn requests(
        &self,
    ) -> impl Future<Output = Result<Vec<Request>, StateError>> + Send + 'static {
        let reader = self.0.clone();
        async move {
            match reader {
                ReaderKind::Sqlite(db) => on_blocking(move || lock_db(&db).requests()).await,
                ReaderKind::Postgres(pg) => pg.requests().await,
            }
        }
    }
}

/// Runs a read of SQLite's on the runtime's blocking threads.
async fn on_blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, StateError> + Send + 'static,
) -> Result<T, StateError> {
    tokio::task::spawn_blocking(read).await.unwrap_or_else(|e| {
        Err(StateError::Db {
            path: PathBuf::from("(reading the SQLite store)"),
            source: Box::new(e),
        })
    })
}
