//! The daemon: watch the definitions, reconcile them with the state, book, record.
//!
//! One loop owns the catalog of definitions, the state and the bookkeeping of what is in
//! flight. It sleeps until the next booking is due, a file changes, a request finishes, a
//! rescan is due, SIGHUP asks for a reload, or shutdown is asked for; it never polls. Each
//! pass asks [`plan::reconcile`] what to do and does it:
//!
//! - **create**: the intent (`pending`, with the request) is written to the state file and
//!   fsynced *before* the request is sent; the result (`booked` with the meeting id, or
//!   `failed`) is recorded after, writes coalesced;
//! - **resolve**: a create whose outcome is unknown (timeout, reset, a crash between send and
//!   record) is looked up in the user's meeting list and adopted if it exists; only if it does
//!   not is it created again. The lookup waits twice the request timeout first, so that a
//!   request the client gave up on but the server still holds has landed. This is how a
//!   booking happens exactly once;
//! - **modify / cancel**: a booked meeting whose definition changed or went is modified or
//!   cancelled; the change is recorded before it is sent and cleared after (both are
//!   idempotent, so an unfinished one is sent again); removals wait for an operator when too
//!   many definitions vanish at once;
//! - **missed**: an occurrence whose start passed before it could be booked is recorded as
//!   such, never sent.
//!
//! Shutdown stops new work, lets requests in flight finish (bounded), and flushes the state.
//!
//! The loop is a driver: what happens to each booking is decided by [`crate::lifecycle`], and
//! what to book by [`crate::plan`]. Each kind of I/O has its own room:
//!
//! - [`planner`]: each pass (the plan for what may need something, and its lifecycle steps);
//! - [`dispatch`]: requests in flight, at most twice `api.concurrency`, and their answers;
//! - [`persist`]: writes to the store;
//! - [`lead`]: the lead on a shared (PostgreSQL) store;
//! - [`announce`]: the notifications sent;
//! - [`reload`]: the config read again on SIGHUP.
//!
//! None of them uses another but [`dispatch`]'s request types (the planner hands requests
//! over) and [`lead`] (the drains keep the lead); `mod.rs` ties them together. The leaves
//! [`options`], [`report`] and [`error`] are what callers see.

mod announce;
mod dispatch;
mod error;
mod lead;
mod options;
mod persist;
mod planner;
mod reload;
mod report;
mod serve;
mod steps;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

pub use error::DaemonError;
pub use options::{Mode, Options};
pub use report::{Event, Summary};

use crate::api::Client;
use crate::config::Config;
use crate::lease::Lease;
use crate::ledger::Ledger;
use crate::lifecycle::{Bookings, Output, Rules};
use crate::metrics::Metrics;
use crate::notifications::{Done, Outbox};
use crate::notifier::Notifier;
use crate::quota::Quotas;
use crate::store::{self, Store};
use crate::watch::Catalog;
use crate::watcher::{Due, Watching};
use announce::{Announcer, Cx};
use dispatch::{Dispatch, Joined};
use lead::Leadership;
use persist::Persist;
use planner::{Planner, World};

/// The daemon's rooms, and what ties them.
struct Daemon {
    config: Config,
    options: Options,
    catalog: Catalog,
    store: Store,
    /// Reads what memory does not hold of the store, away from the loop.
    reader: store::Reader,
    /// Every booking: its record and, while the daemon works on it, its phase.
    bookings: Bookings,
    planner: Planner,
    dispatch: Dispatch,
    persist: Persist,
    lead: Leadership,
    announcer: Announcer,
    /// What systemd is told.
    notifier: Notifier,
    /// When the loop must wake next: set by each pass, moved earlier by answers that set a
    /// retry time. Waking early is harmless (the pass finds nothing to do).
    wake: chrono::DateTime<chrono::Utc>,
    /// A hash of the API credentials: a reload that changes them retries the bookings that
    /// failed because of them.
    credentials: String,
    /// The vendor's hourly create quota per user, kept before sending (shared with the
    /// create tasks).
    quotas: Arc<Mutex<Quotas>>,
    /// Prometheus metrics, when `[metrics] listen` is set.
    metrics: Option<Arc<Metrics>>,
    /// Why the last reload failed, while it did ([`reload`]).
    reload_failure: Option<String>,
}

/// Runs the daemon until `shutdown` completes (or, in [`Mode::Once`], until its pass is done).
pub async fn run(
    config: Config,
    mut options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let secret = config.api.secret_key.load()?;
    let credentials = reload::fingerprint(&config.api, &secret);
    let mut client = Client::new(&config.api, &config.retry, secret)?;
    let metrics = config.metrics_listen.map(|_| Arc::new(Metrics::new()));
    if let Some(metrics) = &metrics {
        client = client.with_metrics(metrics.clone());
    }
    let (done_tx, done_rx) = mpsc::unbounded_channel::<Done>();
    let outbox = Outbox::start(&config.notify, done_tx, metrics.clone())?;
    tokio::pin!(shutdown);
    // With a shared store, nothing is sent while the lead may have lapsed.
    let lease = config
        .state
        .url
        .as_ref()
        .map(|_| Arc::new(Lease::new(config.state.takeover)));
    if let Some(lease) = &lease {
        client = client.with_lease(lease.clone());
    }
    let Some((store, state)) =
        lead::open(&config, &options, lease.as_deref(), shutdown.as_mut()).await?
    else {
        return Ok(Summary::default()); // Shutdown came while waiting for the lead.
    };
    // Metrics, when configured: the server runs beside the loop and ends with it. Its port is
    // taken once the store is this daemon's, so a second daemon on the same store is told
    // that the store is in use, not that the port is.
    let _metrics_server = match (config.metrics_listen, &metrics) {
        (Some(addr), Some(metrics)) => {
            Some(serve::metrics(addr, metrics.clone(), &config, &options).await?)
        }
        _ => None,
    };
    let fresh = store.fresh();
    let mut catalog = Catalog::new(&config.watch.dir);
    let now = options.clock.now();
    let changes =
        catalog
            .rescan(&config.defaults, now)
            .map_err(|source| DaemonError::WatchDir {
                dir: config.watch.dir.clone(),
                source,
            })?;
    tracing::info!(
        dir = %config.watch.dir.display(),
        files = changes.changed,
        state = %store.path().display(),
        "starting: {} definition file(s), {} booking(s) on record",
        catalog.len(),
        state.bookings.len()
    );
    // The invalid files on record: only those that differ from the files are written.
    catalog.settle_invalid(&state.invalid, state.invalid_in_meta);
    let (records, meta) = store::Meta::split(state);
    let mut records = Ledger::new(records);
    // The request bodies stay in the store: read back when a lookup or a changed definition
    // needs one. The rest of each record is what the loop works with.
    records.forget_all_requests();
    let quotas = Arc::new(Mutex::new(
        Quotas::new(config.api.creates_per_hour_per_user)
            .with_month(config.api.creates_per_month, meta.month.clone()),
    ));
    let mut watching = Watching::start(catalog.dir(), options.watch);
    let mut reloads = options.reloads.take();
    let mut persist = Persist::new(meta.clone(), store.writer()?); // The planner reads it too.
    persist.set_exact_month(config.api.creates_per_month > 0);
    let mut d = Daemon {
        // A pending record from an earlier run may have been sent: it is looked up first.
        bookings: Bookings::new(records, Rules::of(&config.retry, options.mode.recovers())),
        planner: Planner::new(options.mode, options.check_incremental, &meta, fresh, now),
        dispatch: Dispatch::new(
            client,
            &config,
            quotas.clone(),
            options.clock.clone(),
            store.reader(),
        )
        .first_install(store.first()),
        persist,
        lead: Leadership::new(store.session(), lease, config.state.takeover),
        announcer: Announcer::new(outbox, done_rx, store.reader()),
        reader: store.reader(),
        notifier: Notifier::new(options.systemd),
        config,
        options,
        catalog,
        store,
        wake: now,
        credentials,
        quotas,
        metrics,
        reload_failure: None,
    };

    {
        let cx = Cx {
            records: d.bookings.records(),
            catalog: &d.catalog,
            timezone: d.config.defaults.timezone,
        };
        d.announcer.announce_missing(now, &cx);
    }
    d.emit(Event::Ready {
        definitions: d.catalog.definitions().count(),
        invalid: d.catalog.invalid_count(),
    });
    d.pass().await?;
    d.finish_writes().await?; // READY=1 once the first pass's intents are on record.
    d.notifier.send(&[sd_notify::NotifyState::Ready]);
    let mut heartbeat = tokio::time::interval(crate::metrics::HEARTBEAT);
    if let Some(m) = &d.metrics {
        m.heartbeat(d.options.clock.now().timestamp());
        m.set_ready();
    }

    let mut rescan = tokio::time::interval(d.config.watch.rescan_interval);
    rescan.reset(); // The first tick would fire at once; the first scan is done.
    let watchdog = if d.options.systemd {
        sd_notify::watchdog_enabled()
    } else {
        None
    };
    let mut watchdog_tick =
        tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |w| w / 2));
    let mut lead_tick = d.lead.tick();

    loop {
        if d.options.mode.is_one_shot() && d.dispatch.is_idle() && !d.has_work_now() {
            break;
        }
        let (wake, clock) = (d.wake, d.options.clock.clone());
        let (flush_at, status_at) = (d.persist.due(), d.notifier.due());
        tokio::select! {
            _ = &mut shutdown => break,
            due = watching.next() => d.on_watch(due, &mut watching).await?,
            Some(()) = options::recv_opt(&mut reloads) => d.on_reload(&mut watching, &mut rescan).await?,
            joined = d.dispatch.next() => d.on_joined(joined).await?,
            _ = clock.sleep_until(wake) => d.pass().await?,
            _ = rescan.tick() => d.on_rescan(&mut watching).await?,
            _ = tokio::time::sleep_until(flush_at), if d.persist.needed(&d.bookings) && !d.persist.writing() => {
                d.flush()?;
            }
            result = d.persist.done() => d.on_written(result)?,
            _ = tokio::time::sleep_until(status_at.unwrap_or_else(Instant::now)), if status_at.is_some() => d.notifier.send_waiting(),
            _ = lead_tick.tick(), if d.lead.is_shared() => d.lead.ask(),
            answer = d.lead.answer() => d.on_lead(answer)?,
            _ = watchdog_tick.tick(), if watchdog.is_some() => d.notifier.send(&[sd_notify::NotifyState::Watchdog]),
            _ = heartbeat.tick(), if d.metrics.is_some() => d.heartbeat(),
            came = d.announcer.next() => {
                let cx = announce::Cx2 { catalog: &d.catalog, timezone: d.config.defaults.timezone };
                d.announcer.came(came, &mut d.bookings, cx);
            }
        }
    }
    tracing::info!("shutting down: finishing requests in flight");

    d.notifier.send(&[sd_notify::NotifyState::Stopping]);
    let deadline = Instant::now() + d.options.drain_timeout;
    let stop_now = d.options.stop_now.take();
    let (bookings, catalog) = (&mut d.bookings, &d.catalog);
    (d.dispatch)
        .drain(bookings, catalog, &mut d.lead, deadline, stop_now)
        .await;
    d.follow_up(); // What the answers told goes out, and is announced.
    (d.announcer)
        .drain(
            &mut d.bookings,
            &d.catalog,
            d.config.defaults.timezone,
            deadline,
            &mut d.lead,
        )
        .await;
    d.finish_writes().await?;
    let summary = d.summary();
    summary.log();
    Ok(summary)
}

impl Daemon {
    /// Reports an event: to the notification targets that follow it, and to `events`.
    fn emit(&mut self, event: Event) {
        let cx = Cx {
            records: self.bookings.records(),
            catalog: &self.catalog,
            timezone: self.config.defaults.timezone,
        };
        self.announcer.announce(&event, &cx);
        if let Some(tx) = &self.options.events {
            let _ = tx.send(event);
        }
    }

    /// Paths settled, or a rescan asked for by the watcher: read them, then a pass.
    async fn on_watch(&mut self, due: Due, watching: &mut Watching) -> Result<(), DaemonError> {
        let now = self.options.clock.now();
        let result = match due {
            Due::Paths(paths) => self.catalog.refresh(&paths, &self.config.defaults, now),
            Due::Rescan => {
                watching.clear();
                self.catalog.rescan(&self.config.defaults, now)
            }
        };
        self.after_scan(result);
        self.pass().await
    }

    /// The periodic rescan (events are hints; this is the guarantee), then a pass.
    async fn on_rescan(&mut self, watching: &mut Watching) -> Result<(), DaemonError> {
        watching.check_replaced(self.catalog.dir());
        self.planner.look_at_everything();
        let now = self.options.clock.now();
        let result = self.catalog.rescan(&self.config.defaults, now);
        self.after_scan(result);
        self.pass().await
    }

    /// SIGHUP: the config again, a rescan, a pass.
    async fn on_reload(
        &mut self,
        watching: &mut Watching,
        rescan: &mut tokio::time::Interval,
    ) -> Result<(), DaemonError> {
        self.reload(watching);
        self.planner.look_at_everything();
        *rescan = tokio::time::interval(self.config.watch.rescan_interval);
        rescan.reset();
        self.pass().await
    }

    /// A request task finished: its answer to the bookings, and a pass when they ask for one.
    async fn on_joined(&mut self, joined: Joined) -> Result<(), DaemonError> {
        (self.dispatch).hand_over(joined, &mut self.bookings, &self.catalog);
        if self.follow_up() {
            self.pass().await?;
        }
        self.send_creates();
        Ok(())
    }

    /// The server answered a lead check: confirmed, what waited for it goes; else the
    /// daemon stops.
    fn on_lead(&mut self, answer: lead::Answer) -> Result<(), DaemonError> {
        self.lead.answered(answer)?;
        self.send_queued();
        Ok(())
    }

    /// The metrics' liveness heartbeat.
    fn heartbeat(&self) {
        if let Some(m) = &self.metrics {
            m.heartbeat(chrono::Utc::now().timestamp());
        }
    }

    fn after_scan(&mut self, result: std::io::Result<crate::watch::Changes>) {
        match result {
            Ok(changes) if changes.any() => {
                tracing::info!(
                    changed = changes.changed,
                    removed = changes.removed,
                    "definitions changed"
                );
                self.emit(Event::Scanned {
                    changed: changes.changed,
                    removed: changes.removed,
                });
                self.persist.touch();
            }
            // A problem of the walk alone (a symlink out of the directory) is a row to write.
            Ok(_) if self.catalog.has_invalid_changes() => self.persist.touch(),
            Ok(_) => {}
            Err(e) => tracing::error!(
                "cannot rescan the watch dir {}: {e}; keeping what was read before",
                self.catalog.dir().display()
            ),
        }
    }

    /// Whether a pass now would do something (for `once`).
    fn has_work_now(&self) -> bool {
        let world = World {
            config: &self.config,
            catalog: &self.catalog,
            reader: &self.reader,
            quotas: &self.quotas,
        };
        (self.planner).has_work_now(&world, &self.bookings, self.options.clock.now())
    }

    /// One reconcile pass: the planner's plan, its intents written, its requests sent.
    async fn pass(&mut self) -> Result<(), DaemonError> {
        let now = self.options.clock.now();
        let touched = self.catalog.take_touched();
        let world = World {
            config: &self.config,
            catalog: &self.catalog,
            reader: &self.reader,
            quotas: &self.quotas,
        };
        let planned = (self.planner)
            .pass(&world, touched, &mut self.bookings, now)
            .await;
        if self.planner.take_touched() {
            self.persist.touch();
        }
        if let Some(m) = &self.metrics {
            m.last_pass.set(now.timestamp());
        }
        self.wake = planned.wake;
        if let Some(definitions) = planned.removals_held.clone() {
            self.emit(Event::RemovalsHeld { definitions });
        }
        if let Some((wait, waiting)) = planned.month_paused.clone() {
            let (why, until) = (wait.reason.describe(""), wait.until);
            self.emit(Event::CreatesPaused {
                why,
                until,
                waiting,
            });
        }
        // What the plan's steps told goes out; their wake-ups move `wake` earlier.
        self.follow_up();
        if planned.sends() {
            // Fencing: a daemon that no longer leads sends nothing. What this pass planned
            // waits for a confirmation of the lead asked from now on.
            self.lead.need_fresh();
            // The intent of each change and create is on record before it is sent: they go
            // once the write that holds them is done.
            let write = self.flush()?;
            self.dispatch.queue_changes(planned.changes, write);
            self.dispatch.queue(planned.creates, write);
            self.send_queued();
        }
        for lookup in planned.lookups {
            self.dispatch.look_up(&mut self.bookings, lookup);
        }
        if planned.full {
            crate::memory::give_back();
        }
        Ok(())
    }

    /// A write is done: the requests whose intents it holds go, and the next write starts at
    /// once when requests wait for it.
    fn on_written(
        &mut self,
        result: Result<(), crate::state::StateError>,
    ) -> Result<(), DaemonError> {
        let metrics = self.metrics.as_deref();
        let Some(written) = (self.persist).written(result, &mut self.bookings, metrics)? else {
            return Ok(()); // A part of it; the next is on its way.
        };
        self.planner.requests_removed(written.requests_done);
        if let Some(m) = metrics {
            m.requests_waiting.set(self.dispatch.in_flight() as i64);
        }
        self.dispatch.written(written.number);
        if written.again {
            self.flush()?;
        }
        self.send_queued();
        Ok(())
    }

    /// Sends the queued changes and creates whose intents are written, once the lead is
    /// confirmed for them.
    fn send_queued(&mut self) {
        if self.lead.may_send() {
            self.dispatch.send_changes(&mut self.bookings);
        }
        self.send_creates();
    }

    /// Sends queued creates while there is room. With PostgreSQL, the lead must be
    /// confirmed for them, and recently: a daemon that no longer leads must not go on sending
    /// a backlog ([`Leadership::may_send`]); they go when the answer comes.
    fn send_creates(&mut self) {
        if !self.dispatch.can_send() || !self.lead.may_send() {
            return;
        }
        (self.dispatch).send_creates(&mut self.bookings);
        self.follow_up();
    }

    /// Carries out what the bookings asked for. Returns whether a pass should follow.
    fn follow_up(&mut self) -> bool {
        let mut pass = false;
        while let Some(output) = self.bookings.poll() {
            match output {
                Output::Told(told) => {
                    let event =
                        Event::of(told, self.bookings.records(), self.config.defaults.timezone);
                    self.emit(event);
                }
                Output::Pass => pass = true,
                // Once the last one is back, a pass records who waits, and for what.
                Output::PassWhenQuiet => pass |= self.dispatch.in_flight() == 0,
                Output::WakeAt(at) => self.wake = self.wake.min(at),
                Output::QuotaRefused {
                    key,
                    refused,
                    error,
                } => {
                    let until = dispatch::hold(&self.quotas, refused, self.options.clock.now());
                    self.wake = self.wake.min(until);
                    tracing::warn!(booking = %key, cause = %error, "API quota used up; creates wait until {}", until.format("%F %T UTC"));
                }
            }
        }
        pass
    }

    /// Hands what changed since the last write to the writer (a dry-run recovery writes
    /// nothing). Returns the number of the write that holds everything recorded until now.
    fn flush(&mut self) -> Result<u64, DaemonError> {
        if self.planner.take_touched() || self.catalog.has_invalid_changes() {
            self.persist.touch();
        }
        if self.options.mode == (Mode::Recover { dry_run: true }) {
            return Ok(0);
        }
        if self.persist.writing() {
            // It goes with the next write, at once after this one.
            return Ok(self.persist.after_current());
        }
        if !self.persist.needed(&self.bookings) {
            return Ok(self.persist.last_handed());
        }
        let mut meta = self.planner.meta(&self.catalog);
        meta.month = Some(planner::lock(&self.quotas).month_count(self.options.clock.now()));
        let invalid = self.catalog.take_invalid_changes();
        let looked_up = !self.planner.recovering;
        let done = self.planner.requests_done();
        let write = (self.persist).flush(&mut self.bookings, meta, invalid, looked_up, done)?;
        self.tell_status();
        Ok(write)
    }

    /// `STATUS=` for systemd: counting is not free with 100,000 records, so only under it.
    fn tell_status(&mut self) {
        if self.options.systemd {
            let (held, waiting) = (self.planner.held().len(), self.planner.waiting());
            let failed = self.reload_failure.as_deref();
            self.notifier
                .status(self.summary().status(held, waiting, failed));
        }
    }

    /// Every write done, the last changes written: at start (what the first pass queued goes
    /// as its write lands) and at shutdown (the drain emptied the queues: nothing goes).
    async fn finish_writes(&mut self) -> Result<(), DaemonError> {
        if self.options.mode == (Mode::Recover { dry_run: true }) {
            return Ok(());
        }
        loop {
            if self.persist.writing() {
                let result = self.persist.done().await;
                self.on_written(result)?;
            } else if self.planner.take_touched() || self.persist.needed(&self.bookings) {
                self.persist.touch();
                self.flush()?;
            } else {
                return Ok(());
            }
        }
    }

    fn summary(&self) -> Summary {
        let (writes, passes) = (self.store.writes(), self.planner.passes);
        Summary::of(&self.bookings, self.catalog.invalid_count(), writes, passes)
    }
}
