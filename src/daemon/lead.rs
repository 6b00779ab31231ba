//! The lead on a shared (PostgreSQL) store: waiting for it as a standby, and keeping it while
//! leading. Nothing is sent while the lead may have lapsed: the client checks the [`Lease`]
//! before every request, each confirmed check renews it, and the daemon sends a pass's
//! requests only once a check asked after that pass planned them has been confirmed.
//!
//! A check is a query on the leader's session, which may be busy with a write: it is asked
//! and its answer taken by the loop like any other event, so the loop (and the systemd
//! watchdog's beat) never waits for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::error::DaemonError;
use super::options::{Mode, Options};
use super::report::Event;
use crate::config::Config;
use crate::lease::Lease;
use crate::state::State;
use crate::state::StateError;
use crate::store::Store;
use crate::store::postgres::Pg;

/// A check in flight: when it was asked (by the lease's clock and the loop's), and the
/// server's answer.
type Check = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// The answer to a lead check, for [`Leadership::answered`].
pub(super) struct Answer {
    /// When the check was asked, by the lease's clock.
    lease_sent: Duration,
    /// When the check was asked, by the loop's clock.
    sent: Instant,
    leading: Result<bool, StateError>,
}

/// The lead while this daemon has it. With SQLite there is no lead to keep: every check
/// passes and nothing waits for one.
pub(super) struct Leadership {
    /// With a shared store: the leader's session, which holds the lock.
    session: Option<Pg>,
    /// With a shared store: the lease the client checks before each request.
    lease: Option<Arc<Lease>>,
    /// When the last check the server confirmed was asked.
    confirmed: Instant,
    /// The check in flight.
    asking: Option<Check>,
    /// Sends wait for a confirmation asked at or after this instant (a pass planned them,
    /// or the last confirmation grew stale).
    needed: Option<Instant>,
    /// `state.takeover`.
    takeover: Duration,
}

impl Leadership {
    pub(super) fn new(
        session: Option<Pg>,
        lease: Option<Arc<Lease>>,
        takeover: Duration,
    ) -> Leadership {
        Leadership {
            session,
            lease,
            confirmed: Instant::now(),
            asking: None,
            needed: None,
            takeover,
        }
    }

    /// Whether there is a lead to keep (a shared store).
    pub(super) fn is_shared(&self) -> bool {
        self.session.is_some()
    }

    /// The leader's heartbeat, three times per takeover time (the server ends a session
    /// silent for that long, and with it the lock).
    pub(super) fn tick(&self) -> tokio::time::Interval {
        tokio::time::interval(self.takeover / 3)
    }

    /// Asks the server whether this session still holds the lock, unless a check is in
    /// flight already.
    pub(super) fn ask(&mut self) {
        if self.asking.is_some() {
            return;
        }
        let Some(pg) = self.session.clone() else {
            return;
        };
        let (lease_sent, sent) = (Lease::now(), Instant::now());
        self.asking = Some(Box::pin(async move {
            Answer {
                lease_sent,
                sent,
                leading: pg.still_leading().await,
            }
        }));
    }

    /// Requests planned now wait for a confirmation asked from now on.
    pub(super) fn need_fresh(&mut self) {
        if self.session.is_some() {
            self.needed = Some(Instant::now());
            self.ask();
        }
    }

    /// Whether requests may go now: always with SQLite; with PostgreSQL once the server
    /// confirmed the lead after they were planned, and within a tenth of the takeover time
    /// (a backlog drains for longer than that, and a daemon that no longer leads must not go
    /// on sending). Asks for a confirmation when one is needed.
    pub(super) fn may_send(&mut self) -> bool {
        if self.session.is_none() {
            return true;
        }
        if self.confirmed.elapsed() >= self.takeover / 10 {
            self.need_fresh();
        }
        let ok = self.needed.is_none_or(|at| self.confirmed >= at);
        if !ok {
            self.ask();
        }
        ok
    }

    /// The answer to the check in flight; pending while none is.
    pub(super) async fn answer(&mut self) -> Answer {
        match &mut self.asking {
            Some(check) => check.await,
            None => std::future::pending().await,
        }
    }

    /// Takes a check's answer: the lead confirmed (and the lease renewed), else an error
    /// that stops the daemon.
    pub(super) fn answered(&mut self, answer: Answer) -> Result<(), DaemonError> {
        self.asking = None;
        let shown = || {
            self.session
                .as_ref()
                .map(|pg| pg.shown().to_path_buf())
                .unwrap_or_default()
        };
        match answer.leading {
            Ok(true) => {
                self.confirmed = self.confirmed.max(answer.sent);
                if let Some(lease) = &self.lease {
                    lease.confirmed(answer.lease_sent);
                }
                if self.needed.is_some_and(|at| self.confirmed < at) {
                    self.ask();
                }
                Ok(())
            }
            Ok(false) => Err(DaemonError::LostLead { store: shown() }),
            Err(e) => {
                tracing::error!("cannot tell whether this daemon still leads: {e}");
                Err(DaemonError::LostLead { store: shown() })
            }
        }
    }

    /// The heartbeat's answer while draining at shutdown: the session must outlive the
    /// drain, or the last write fails. Nothing is sent any more, so a lost lead is only
    /// logged here.
    pub(super) fn kept(&mut self, answer: Answer) {
        if let Err(e) = self.answered(answer) {
            tracing::warn!("while stopping: {e}");
        }
    }
}

/// Opens the store the config names: SQLite (in memory for a dry run), or PostgreSQL once
/// this daemon leads ([`wait_for_lead`]). `None` when shutdown came first.
pub(super) async fn open(
    config: &Config,
    options: &Options,
    lease: Option<&Lease>,
    shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<Option<(Store, State)>, DaemonError> {
    let state = &config.state;
    let opened = match (&state.url, lease) {
        (Some(url), Some(lease)) => {
            let lead = Lead {
                takeover: state.takeover,
                settle: config.api.timeout * 2,
                lease,
            };
            match wait_for_lead(url.expose(), &lead, options, shutdown).await? {
                Some(pg) => Store::leading(pg, url.expose(), state.takeover).await?,
                None => return Ok(None),
            }
        }
        _ if options.mode == (Mode::Recover { dry_run: true }) => {
            Store::open_in_memory(&state.file, state.import.as_deref())?
        }
        _ => Store::open(&state.file, state.import.as_deref())?,
    };
    say_what_a_fresh_store_does(&opened.0, config, options);
    Ok(Some(opened))
}

/// With no state at all (a first start, or a lost state), whatever is due may already have
/// been booked by a state that is gone: everything is looked up before it is created.
fn say_what_a_fresh_store_does(store: &Store, config: &Config, options: &Options) {
    if !store.fresh() || options.mode == (Mode::Recover { dry_run: true }) {
        return;
    }
    let shown = config.state.file.display();
    let wait = humantime::format_duration(config.api.timeout * 2);
    if store.first() {
        tracing::warn!(
            state = %shown,
            "a new state (no database and no lock file were here: a first start): every booking due now is looked up in its user's meetings before it is created; a user with no meetings then needs no wait, one with meetings waits {wait} (twice api.timeout) for creates of an earlier daemon to land"
        );
    } else {
        tracing::warn!(
            state = %shown,
            %wait,
            "no state file (a lost state, or a store not written yet): every booking due now is looked up in its user's meetings before anything is created, after waiting twice api.timeout for creates of a daemon that ran on a lost state to land"
        );
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
) -> Result<Option<Pg>, DaemonError> {
    let takeover = lead.takeover;
    let pg = Pg::connect(url, takeover).await?;
    let mut announced = false;
    loop {
        // Who led last, before this daemon may overwrite it: unless that one certainly sends
        // nothing any more (its process on this machine is gone), what it sent under its
        // lease must land before this daemon sends.
        let previous = pg.leader().await.ok().flatten();
        let fence = previous.is_some_and(|l| !l.certainly_gone());
        let sent = Lease::now();
        if pg.try_lead(takeover).await? {
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
                            if !pg.still_leading().await? {
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
                .await
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
