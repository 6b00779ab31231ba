//! Operator requests: rows in the store that `retry`, `ack`, `approve-removals` and
//! `approve-changes` leave for the daemon.

use super::{Kind, postgres, sniff, sqlite};
use crate::state::StateError;

/// What an operator asks the daemon for: a row in the store, written by `retry`, `ack`,
/// `approve-removals` and `approve-changes`, read by the daemon (the leader, on PostgreSQL) at
/// each pass. A running daemon acts on it at its next pass; a stopped one when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Rising: the daemon acts on each once, and removes it once done.
    pub id: i64,
    pub kind: RequestKind,
    /// Booking keys (`definition@start`) for a retry or an ack; definition ids for an approval.
    pub items: Vec<String>,
}

/// What a [`Request`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Failed bookings (and missed ones not started) back to pending.
    Retry,
    /// Cancel the meetings of definitions whose removal is held back.
    ApproveRemovals,
    /// Make the held changes of these definitions' meetings.
    ApproveChanges,
    /// Failed or missed bookings, or live meetings whose cancel was refused, need no one
    /// any more.
    Ack,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Retry => "retry",
            RequestKind::ApproveRemovals => "approve-removals",
            RequestKind::ApproveChanges => "approve-changes",
            RequestKind::Ack => "ack",
        }
    }

    fn parse(text: &str) -> Option<RequestKind> {
        [
            RequestKind::Retry,
            RequestKind::ApproveRemovals,
            RequestKind::ApproveChanges,
            RequestKind::Ack,
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
    pub(super) fn of_row(id: i64, kind: &str, items: &str) -> Option<Request> {
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
        Some(url) => postgres::blocking(url.expose(), config.takeover, async |pg| {
            pg.ask(kind, &items).await
        }),
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
        Some(url) => postgres::blocking(url.expose(), config.takeover, async |pg| {
            pg.requests().await
        }),
        None => match sniff(&config.file)? {
            Kind::Sqlite => sqlite::Db::open_read_only(&config.file)?.requests(),
            Kind::Missing | Kind::Json => Ok(Vec::new()),
        },
    }
}
