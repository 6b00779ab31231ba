//! How the daemon is asked to run: its mode, and what it is handed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::report::Event;
use crate::clock::Clock;

/// Whether the daemon keeps running or makes one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until shutdown: watch, sleep, book.
    Run,
    /// One reconcile pass; wait for its requests (and the lookups they need); exit.
    Once,
    /// Recover a lost or new state: look up every occurrence due now that has no record in
    /// its user's meeting list, record the ones found as booked (by the adoption rule), and
    /// exit. Nothing is created, modified or cancelled. With `dry_run`, nothing is written.
    Recover { dry_run: bool },
}

impl Mode {
    /// Whether the daemon exits once its work is done.
    /// Whether the run only looks up and records ([`Mode::Recover`]).
    pub(super) fn recovers(self) -> bool {
        matches!(self, Mode::Recover { .. })
    }

    pub(super) fn is_one_shot(self) -> bool {
        matches!(self, Mode::Once | Mode::Recover { .. })
    }
}

pub struct Options {
    pub mode: Mode,
    /// The config file, re-read on reload (SIGHUP).
    pub config_path: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
    /// Receives [`Event`]s; a closed receiver is fine.
    pub events: Option<mpsc::UnboundedSender<Event>>,
    /// Each message asks for a config reload and a full rescan (SIGHUP).
    pub reloads: Option<mpsc::UnboundedReceiver<()>>,
    /// Send the systemd notify protocol (`READY=1`, `STATUS=`, ...) when `NOTIFY_SOCKET` is set.
    pub systemd: bool,
    /// Watch the directory for changes (else only periodic rescans).
    pub watch: bool,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
    /// A message here during the drain (a second Ctrl-C or SIGTERM) stops at once: what is
    /// in flight stays pending and is looked up at the next start.
    pub stop_now: Option<mpsc::UnboundedReceiver<()>>,
    /// Tests: check that every incremental pass decides what a full pass would (debug
    /// builds only; it doubles the cost of a pass).
    pub check_incremental: bool,
}

/// The next message on one of the optional channels of [`Options`]; pending forever without
/// one.
pub(super) async fn recv_opt(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
