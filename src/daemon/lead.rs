//! The lead on a shared (PostgreSQL) store: waiting for it as a standby, and keeping it while
//! leading. Nothing is sent while the lead may have lapsed: the client checks the [`Lease`]
//! before every request, and each confirmed check renews it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::error::DaemonError;
use super::options::Options;
use super::report::Event;
use crate::lease::Lease;
use crate::store::Store;

/// The lead while this daemon has it: when the server last confirmed it, and the lease the
/// client checks. With SQLite there is no lead to keep: every check passes.
pub(super) struct Leadership {
    /// With a shared store: the lease the client checks before each request, renewed by each
    /// confirmed check.
    lease: Option<Arc<Lease>>,
    /// When the server last said this daemon leads.
    checked: Instant,
    /// `state.takeover`.
    takeover: Duration,
}

impl Leadership {
    pub(super) fn new(lease: Option<Arc<Lease>>, takeover: Duration) -> Leadership {
        Leadership {
            lease,
            checked: Instant::now(),
            takeover,
        }
    }

    /// The leader's heartbeat, three times per takeover time (the server ends a session
    /// silent for that long, and with it the lock).
    pub(super) fn tick(&self) -> tokio::time::Interval {
        tokio::time::interval(self.takeover / 3)
    }

    /// Whether the last confirmation is older than a tenth of the takeover time: a backlog
    /// drains for longer than that, and a daemon that no longer leads must not go on sending.
    pub(super) fn stale(&self) -> bool {
        self.checked.elapsed() >= self.takeover / 10
    }

    /// Stops the daemon unless the server says its session still holds the leader lock (or
    /// cannot be asked).
    pub(super) fn check(&mut self, store: &Store) -> Result<(), DaemonError> {
        if !store.is_shared() {
            return Ok(());
        }
        let sent = Lease::now();
        match store.still_leading() {
            Ok(true) => {
                self.checked = Instant::now();
                if let Some(lease) = &self.lease {
                    lease.confirmed(sent);
                }
                Ok(())
            }
            Ok(false) => Err(DaemonError::LostLead {
                store: store.path().into(),
            }),
            Err(e) => {
                tracing::error!("cannot tell whether this daemon still leads: {e}");
                Err(DaemonError::LostLead {
                    store: store.path().into(),
                })
            }
        }
    }

    /// The heartbeat while draining at shutdown: the session must outlive the drain, or the
    /// last write fails. Nothing is sent any more, so a lost lead is only logged here.
    pub(super) fn keep(&mut self, store: &Store) {
        if let Err(e) = self.check(store) {
            tracing::warn!("while stopping: {e}");
        }
    }
}

/// What taking the lead needs to know.
pub(super) struct Lead<'l> {
    /// `state.takeover`.
    pub(super) takeover: Duration,
    /// Twice `api.timeout`: how long a request another leader sent may take to land.
    pub(super) settle: Duration,
    pub(super) lease: &'l Lease,
}

/// PostgreSQL: connects and waits as a standby until this daemon takes the leader lock.
/// `None` when shutdown came first.
///
/// When another daemon led before (it is recorded, or this one waited behind it), this one
/// then waits `takeover` plus the settle time before it returns, keeping its session alive:
/// whatever the old leader sent under its lease has landed by then ([`crate::lease`]).
pub(super) async fn wait_for_lead(
    url: &str,
    lead: &Lead<'_>,
    options: &Options,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<crate::store::postgres::Pg>, DaemonError> {
    let takeover = lead.takeover;
    let pg = crate::store::postgres::Pg::connect(url, takeover)?;
    let mut announced = false;
    loop {
        // Who led last, before this daemon may overwrite it: unless that one certainly sends
        // nothing any more (its process on this machine is gone), what it sent under its
        // lease must land before this daemon sends.
        let previous = pg.leader().ok().flatten();
        let fence = previous.is_some_and(|l| !l.certainly_gone());
        let sent = Lease::now();
        if pg.try_lead(takeover)? {
            lead.lease.confirmed(sent);
            if !fence {
                tracing::info!(store = %pg.shown().display(), "leading: this daemon books");
            } else {
                let wait = takeover + lead.settle;
                tracing::info!(
                    store = %pg.shown().display(),
                    "leading: this daemon books after {} (what the last leader sent must land first)",
                    humantime::format_duration(wait)
                );
                let until = tokio::time::Instant::now() + wait;
                let mut beat = tokio::time::interval(takeover / 3);
                loop {
                    tokio::select! {
                        _ = shutdown.as_mut() => return Ok(None),
                        _ = tokio::time::sleep_until(until) => break,
                        _ = beat.tick() => {
                            let sent = Lease::now();
                            if !pg.still_leading()? {
                                return Err(DaemonError::LostLead { store: pg.shown().into() });
                            }
                            lead.lease.confirmed(sent);
                        }
                    }
                }
            }
            if let Some(tx) = &options.events {
                let _ = tx.send(Event::Leading);
            }
            return Ok(Some(pg));
        }
        if !announced {
            let leader = pg
                .leader()
                .ok()
                .flatten()
                .map(|l| format!("{} (pid {})", l.host, l.pid));
            tracing::info!(
                store = %pg.shown().display(),
                "standby: {} leads; this daemon takes the lead within {} of it stopping, and books {} after that",
                leader.as_deref().unwrap_or("another daemon"),
                humantime::format_duration(takeover),
                humantime::format_duration(takeover + lead.settle)
            );
            if options.systemd {
                let status = format!(
                    "standby: {} leads",
                    leader.as_deref().unwrap_or("another daemon")
                );
                let _ = crate::notifier::notify_nonblocking(&[
                    sd_notify::NotifyState::Ready,
                    sd_notify::NotifyState::Status(&status),
                ]);
            }
            if let Some(tx) = &options.events {
                let _ = tx.send(Event::Standby { leader });
            }
            announced = true;
        }
        tokio::select! {
            _ = shutdown.as_mut() => return Ok(None),
            _ = tokio::time::sleep(takeover / 10) => {}
        }
    }
}
