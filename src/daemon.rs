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

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::model::{CancelMeeting, MeetingInfo, ModifyMeeting};
use crate::api::{ApiError, Client};
use crate::booking::{BookingKey, Name, Status};
use crate::clock::Clock;
use crate::config::{Config, ConfigError, SecretError};
use crate::lease::Lease;
use crate::ledger::Ledger;
use crate::lifecycle::{Bookings, ChangeRequest, First, Output, Rules, Told, What};
use crate::metrics::Metrics;
use crate::notifications::{Done, Message, Outbox};
use crate::notifier::Notifier;
use crate::plan::{self, Action, Tracked, Wanted};
use crate::quota::{self, Quotas};
use crate::state::{self, Change, Record, StateError};
use crate::store::{self, Store};
use crate::watch::Catalog;
use crate::watcher::{Due, Watching};

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
    fn is_one_shot(self) -> bool {
        matches!(self, Mode::Once | Mode::Recover { .. })
    }
}

/// What the daemon reports as it goes: for `demo`'s output and for tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The first scan is done and the first pass started.
    Ready { definitions: usize, invalid: usize },
    /// A meeting was booked (or an earlier, ambiguous create was found and adopted).
    Booked {
        key: BookingKey,
        /// The meeting's time zone, for showing the start.
        timezone: Option<String>,
        subject: String,
        meeting_id: String,
        meeting_code: String,
        join_url: String,
        adopted: bool,
    },
    /// The API refused a booking for good.
    Failed { key: BookingKey, error: String },
    /// An occurrence started before it could be booked.
    Missed { key: BookingKey, reason: String },
    /// A booked meeting was modified (`what` lists the fields) or cancelled.
    Changed { key: BookingKey, what: What },
    /// [`Mode::Recover`]: an occurrence due now is not among its user's meetings; the daemon
    /// will book it.
    NotFound { key: BookingKey, subject: String },
    /// Removals are held back: too many definitions vanished at once.
    RemovalsHeld { definitions: Vec<String> },
    /// A pass found the definitions changed (files read, removed).
    Scanned { changed: usize, removed: usize },
    /// PostgreSQL store: another daemon leads; this one waits to take over.
    Standby { leader: Option<String> },
    /// PostgreSQL store: this daemon took the leader lock and books.
    Leading,
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

/// Counts of the state when the daemon stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub booked: usize,
    pub pending: usize,
    pub failed: usize,
    pub missed: usize,
    pub invalid_files: usize,
    /// Bookings that failed or were missed during this run.
    pub new_problems: usize,
    /// Times the state file was written during this run.
    pub state_writes: u64,
    /// Reconcile passes made during this run (a loop that spins shows here).
    pub passes: u64,
}

/// Why the daemon could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot set up the API client: {0}")]
    Client(#[from] crate::api::client::BuildError),
    #[error("cannot read the watch dir {dir}: {source}; create it or fix watch.dir in the config")]
    WatchDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serve metrics on {addr}: {source}; fix metrics.listen in the config")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Notify(#[from] crate::notifications::NotifyError),
    #[error(
        "this daemon no longer holds the leader lock on {store}: it stopped sending, and a standby may lead now; restart it to stand by"
    )]
    LostLead { store: PathBuf },
}

/// A create whose intent is on record, waiting for its turn to be sent. Its request body is
/// the one on its record, taken from there when it goes.
struct Unsent {
    key: BookingKey,
    /// Whose quota gates it.
    userid: String,
}

/// The outcome of a request made for the loop.
enum Outcome {
    Created {
        key: BookingKey,
        result: Result<MeetingInfo, ApiError>,
    },
    Resolved {
        keys: Vec<BookingKey>,
        result: Result<Vec<MeetingInfo>, ApiError>,
    },
    Changed {
        key: BookingKey,
        result: Result<(), ApiError>,
    },
}

/// Notifications remembered per booking (`notified`).
const MAX_NOTIFIED: usize = 16;
/// How often results are written at most; intents are written at once. A result lost to a
/// crash in between is found again by the lookup of its pending record.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

struct Daemon {
    config: Config,
    options: Options,
    client: Client,
    catalog: Catalog,
    store: Store,
    /// The daemon's values as last written: written again only when they change.
    meta: store::Meta,
    /// Every booking: its record and, while the daemon works on it, its phase.
    bookings: Bookings,
    last_pass: Option<DateTime<Utc>>,
    tasks: JoinSet<Outcome>,
    /// The bookings each task in flight is about, to release them if the task dies.
    task_keys: HashMap<tokio::task::Id, Vec<BookingKey>>,
    /// The daemon's values changed (not the records: the ledger knows those).
    dirty: bool,
    last_flush: Instant,
    progress: Progress,
    passes: u64,
    /// What systemd is told.
    notifier: Notifier,
    /// The next pass looks at everything (see [`Daemon::scope`]).
    full_pass: bool,
    /// Definitions with creates a quota held back at the last pass.
    quota_held: BTreeSet<Name>,
    /// Creates whose intents are on record, waiting for a sending slot: at most
    /// [`Daemon::in_flight_limit`] requests are tasks at a time, so a backlog of 50,000 is
    /// 50,000 keys here (their bodies are on their records), not 50,000 tasks each holding its
    /// request and its answer.
    unsent: VecDeque<Unsent>,
    /// When the server last said this daemon leads (PostgreSQL).
    lead_checked: Instant,
    /// With a shared store: the lease the client checks before each request, renewed by each
    /// confirmed lead check.
    lease: Option<Arc<Lease>>,
    /// When each definition next needs a look, soonest first, and by definition.
    next_at: BTreeSet<(DateTime<Utc>, Name)>,
    next_at_of: HashMap<Name, DateTime<Utc>>,
    /// When the loop must wake next: computed by each pass, moved earlier by outcomes that
    /// set a retry time. Waking early is harmless (the pass finds nothing to do).
    wake: DateTime<Utc>,
    /// Definitions whose removal cancels wait for an operator.
    held: Vec<String>,
    /// Definitions whose meetings' changes no definition made are held (`guard.max_changes`).
    held_changes: Vec<String>,
    /// Creates are looked up instead of sent: the first pass after starting with no state,
    /// and every pass of [`Mode::Recover`].
    recovering: bool,
    /// Until then a booking made for the first time is looked up before it is created (see
    /// [`look_up_until`]).
    look_up_until: Option<DateTime<Utc>>,
    /// A hash of the API credentials: a reload that changes them retries the bookings that
    /// failed because of them.
    credentials: String,
    /// Prometheus metrics, when `[metrics] listen` is set.
    metrics: Option<Arc<Metrics>>,
    /// Where booked, changed, cancelled, failed, missed and held meetings are announced.
    outbox: Outbox,
    /// Notifications queued and not done yet (sent or given up), to wait for at shutdown.
    announcing: usize,
    /// (definition, target) pairs already warned about: a `notify` name the config lacks.
    unknown_targets: HashSet<(Name, String)>,
    /// The vendor's hourly create quota per user, kept before sending; shared with the create
    /// tasks, which ask it again when their turn comes (a refusal may have paused the user).
    quotas: Arc<std::sync::Mutex<Quotas>>,
    /// Creates held back by a quota at the last pass, per user: why, until when, how many.
    waiting: BTreeMap<String, (quota::Wait, usize)>,
    /// Lookup tasks: at shutdown they are aborted rather than waited for (one may be sleeping
    /// before it lists; it has sent nothing, and its bookings are looked up at the next start).
    lookups: HashMap<tokio::task::Id, tokio::task::AbortHandle>,
}

#[derive(Default)]
struct Progress {
    total: usize,
    done: usize,
}

/// Runs the daemon until `shutdown` completes (or, in [`Mode::Once`], until its pass is done).
pub async fn run(
    config: Config,
    mut options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let secret = config.api.secret_key.load()?;
    let credentials = fingerprint(&config.api, &secret);
    let mut client = Client::new(&config.api, &config.retry, secret)?;
    // Metrics, when configured: the server runs beside the loop and ends with it.
    let (metrics, metrics_server) = match config.metrics_listen {
        Some(addr) => {
            let listener = crate::metrics::bind(addr)
                .await
                .map_err(|source| DaemonError::Metrics { addr, source })?;
            let metrics = Arc::new(Metrics::new());
            client = client.with_metrics(metrics.clone());
            let (state, clock) = (config.state.clone(), options.clock.clone());
            let calendar: crate::metrics::CalendarSource = Arc::new(move || {
                store::read_for(&state)
                    .map(|s| crate::calendar::ics(&s.bookings, clock.now()))
                    .map_err(|e| e.to_string())
            });
            let server = tokio::spawn(crate::metrics::serve(listener, metrics.clone(), calendar));
            tracing::info!(%addr, "serving /metrics, /healthz, /readyz and /calendar.ics");
            (Some(metrics), Some(AbortOnDrop(server)))
        }
        None => (None, None),
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let outbox = Outbox::start(&config.notify, done_tx, metrics.clone())?;
    // With no state at all (first start, or a lost state), whatever is due may already have
    // been booked by a state that is gone: everything is looked up before it is created.
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
    let (store, state) = if let (Some(url), Some(lease)) = (&config.state.url, &lease) {
        let lead = Lead {
            takeover: config.state.takeover,
            settle: config.api.timeout * 2,
            lease,
        };
        match wait_for_lead(url.expose(), &lead, &options, shutdown.as_mut()).await? {
            Some(pg) => Store::leading(pg)?,
            None => return Ok(Summary::default()),
        }
    } else if options.mode == (Mode::Recover { dry_run: true }) {
        Store::open_in_memory(&config.state.file, config.state.import.as_deref())?
    } else {
        Store::open(&config.state.file, config.state.import.as_deref())?
    };
    let fresh = store.fresh();
    let recovering = fresh || matches!(options.mode, Mode::Recover { .. });
    let creates_per_hour = config.api.creates_per_hour_per_user;
    if fresh && options.mode != (Mode::Recover { dry_run: true }) {
        tracing::warn!(
            state = %config.state.file.display(),
            "no state file: every booking due now is looked up in its user's meetings before anything is created"
        );
    }
    let mut catalog = Catalog::new(&config.watch.dir).with_retention(config.state.retention);
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
    let last_pass = state.last_pass;
    let (bookings, meta) = store::Meta::split(state);
    let held = meta.held_removals.clone();
    let held_changes = meta.held_changes.clone();
    let look_up_until = look_up_until(fresh, meta.look_up_until, now);
    let mut records = Ledger::new(bookings);
    // The request bodies stay in the store: read back when a lookup or a changed definition
    // needs one. The rest of each record is what the loop works with.
    records.forget_all_requests();
    // A pending record from an earlier run may have been sent: it is looked up first.
    let bookings = Bookings::new(records, rules(&config, options.mode));
    let mut watching = Watching::start(catalog.dir(), options.watch);
    let mut reloads = options.reloads.take();
    let systemd = options.systemd;
    let mut d = Daemon {
        last_pass: last_pass.and_then(|t| DateTime::from_timestamp(t, 0)),
        config,
        options,
        client,
        catalog,
        store,
        meta,
        bookings,
        tasks: JoinSet::new(),
        task_keys: HashMap::new(),
        dirty: true,
        last_flush: Instant::now(),
        progress: Progress::default(),
        passes: 0,
        notifier: Notifier::new(systemd),
        full_pass: true,
        quota_held: BTreeSet::new(),
        unsent: VecDeque::new(),
        lead_checked: Instant::now(),
        lease,
        next_at: BTreeSet::new(),
        next_at_of: HashMap::new(),
        wake: now,
        held,
        held_changes,
        recovering,
        look_up_until,
        lookups: HashMap::new(),
        quotas: Arc::new(std::sync::Mutex::new(Quotas::new(creates_per_hour))),
        credentials,
        metrics,
        outbox,
        announcing: 0,
        unknown_targets: HashSet::new(),
        waiting: BTreeMap::new(),
    };

    d.announce_missing(now);
    d.emit(Event::Ready {
        definitions: d.catalog.definitions().count(),
        invalid: d.catalog.invalid().len(),
    });
    d.pass()?;
    d.flush()?;
    d.notifier.send(&[sd_notify::NotifyState::Ready]);
    let _metrics_server = metrics_server;
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
    let mut lead_tick = d.lead_tick();

    loop {
        if d.options.mode.is_one_shot()
            && d.tasks.is_empty()
            && d.unsent.is_empty()
            && !d.has_work_now()
        {
            break;
        }
        let (wake, flush_at, clock) = (d.wake, d.last_flush + FLUSH_EVERY, d.options.clock.clone());
        let status_at = d.notifier.due();
        tokio::select! {
            _ = &mut shutdown => break,
            due = watching.next() => d.on_watch(due, &mut watching)?,
            Some(()) = recv_opt(&mut reloads) => d.on_reload(&mut watching, &mut rescan)?,
            Some(joined) = d.tasks.join_next_with_id(), if !d.tasks.is_empty() => d.on_joined(joined)?,
            _ = clock.sleep_until(wake) => d.pass()?,
            _ = rescan.tick() => d.on_rescan(&mut watching)?,
            _ = tokio::time::sleep_until(flush_at), if d.needs_flush() => d.flush()?,
            _ = tokio::time::sleep_until(status_at.unwrap_or_else(Instant::now)), if status_at.is_some() => d.notifier.send_waiting(),
            _ = lead_tick.tick(), if d.store.is_shared() => d.check_lead()?,
            _ = watchdog_tick.tick(), if watchdog.is_some() => d.notifier.send(&[sd_notify::NotifyState::Watchdog]),
            _ = heartbeat.tick(), if d.metrics.is_some() => d.heartbeat(),
            Some(done) = done_rx.recv() => d.on_notified(done),
        }
    }
    tracing::info!("shutting down: finishing requests in flight");

    d.notifier.send(&[sd_notify::NotifyState::Stopping]);
    d.drain().await;
    d.drain_notifications(&mut done_rx).await;
    d.flush()?;
    let summary = d.summary();
    tracing::info!(
        booked = summary.booked,
        pending = summary.pending,
        failed = summary.failed,
        missed = summary.missed,
        invalid_files = summary.invalid_files,
        state_writes = summary.state_writes,
        "stopped"
    );
    Ok(summary)
}

async fn recv_opt(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    fn emit(&mut self, event: Event) {
        self.announce(&event);
        if let Some(tx) = &self.options.events {
            let _ = tx.send(event);
        }
    }

    /// Queues the notifications an event calls for, to the targets that follow it and have
    /// not had it yet (per the booking's `notified`).
    fn announce(&mut self, event: &Event) {
        use crate::config::NotifyEvent as N;
        let (key, kind, detail) = match event {
            Event::Booked { key, .. } => (key, N::Booked, None),
            Event::Failed { key, error } => (key, N::Failed, Some(error.clone())),
            Event::Missed { key, reason } => (key, N::Missed, Some(reason.clone())),
            Event::Changed {
                key,
                what: what @ What::Cancelled(_),
            } => (key, N::Cancelled, Some(what.to_string())),
            Event::Changed { key, what } => (key, N::Changed, Some(what.to_string())),
            Event::RemovalsHeld { definitions } => {
                let message = Message {
                    event: N::Held,
                    definition: String::new(),
                    occurrence: 0,
                    subject: String::new(),
                    start: String::new(),
                    timezone: String::new(),
                    join_url: None,
                    meeting_code: None,
                    detail: None,
                    definitions: definitions.clone(),
                };
                for (i, _) in self.outbox.targets_for(N::Held, "", &[]) {
                    self.outbox.send(i, &message, None);
                }
                return;
            }
            _ => return,
        };
        self.announce_record(key, kind, detail);
    }

    /// Queues `kind` about the booking `key` (as its record stands) to the targets that have
    /// not had it.
    fn announce_record(
        &mut self,
        key: &BookingKey,
        kind: crate::config::NotifyEvent,
        detail: Option<String>,
    ) {
        let named = self
            .catalog
            .get(&key.definition)
            .map(|d| d.notify.clone())
            .unwrap_or_default();
        for name in &named {
            if !self.outbox.has(name)
                && self
                    .unknown_targets
                    .insert((key.definition.clone(), name.clone()))
            {
                tracing::warn!(
                    definition = %key.definition,
                    "the definition names notify target `{name}`, which the config does not have; add a [[notify]] named so, or fix the name"
                );
            }
        }
        if self.outbox.is_empty() {
            return;
        }
        let Some(r) = self.bookings.records().get(key) else {
            return;
        };
        let zone: chrono_tz::Tz = r
            .timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(self.config.defaults.timezone);
        // A record loaded at start holds neither: they stay in the store (read back here).
        let (join_url, meeting_code) = match (&r.join_url, &r.meeting_code, &r.meeting_id) {
            (None, None, Some(_)) => match self.store.record_of(key) {
                Ok(stored) => stored.map_or((None, None), |s| {
                    (
                        s.join_url.map(String::from),
                        s.meeting_code.map(String::from),
                    )
                }),
                Err(e) => {
                    tracing::warn!(booking = %key, "cannot read the join URL for the notification: {e}");
                    (None, None)
                }
            },
            _ => (
                r.join_url.as_deref().map(str::to_string),
                r.meeting_code.as_deref().map(str::to_string),
            ),
        };
        let message = Message {
            event: kind,
            definition: key.definition.to_string(),
            occurrence: key.start,
            subject: r.subject.clone(),
            start: DateTime::from_timestamp(key.start, 0)
                .map(|t| t.with_timezone(&zone).to_rfc3339())
                .unwrap_or_default(),
            timezone: zone.name().to_string(),
            join_url,
            meeting_code,
            detail,
            definitions: Vec::new(),
        };
        let id = message.event_id(r.sequence, r.updated_at);
        for (i, name) in self.outbox.targets_for(kind, &key.definition, &named) {
            let mark = format!("{name}/{id}");
            if r.notified.contains(&mark) {
                continue;
            }
            self.outbox.send(i, &message, Some((key.clone(), mark)));
            self.announcing += 1;
        }
    }

    /// A notification about a booking is done: recorded, so it is not sent again.
    fn on_notified(&mut self, done: Done) {
        self.announcing = self.announcing.saturating_sub(1);
        if let Some(r) = self.bookings.records_mut().get_mut(&done.key) {
            if !r.notified.contains(&done.mark) {
                r.notified.push(done.mark);
            }
            // The latest few are enough to tell what was sent for the current event.
            let excess = r.notified.len().saturating_sub(MAX_NOTIFIED);
            r.notified.drain(..excess);
        }
    }

    /// After a restart: what the last run did not get to announce, if it is recent.
    fn announce_missing(&mut self, now: DateTime<Utc>) {
        use crate::config::NotifyEvent as N;
        if self.outbox.is_empty() {
            return;
        }
        let since = now.timestamp()
            - i64::try_from(crate::notifications::RESEND_WITHIN.as_secs()).unwrap_or(0);
        let due: Vec<(BookingKey, N, Option<String>)> = self
            .bookings
            .records()
            .iter()
            .filter(|(_, r)| r.updated_at >= since)
            .filter_map(|(k, r)| {
                let kind = match r.status {
                    Status::Booked if r.sequence > 0 => N::Changed,
                    Status::Booked => N::Booked,
                    Status::Cancelled => N::Cancelled,
                    Status::Failed => N::Failed,
                    Status::Missed => N::Missed,
                    Status::Pending => return None,
                };
                let detail = match kind {
                    N::Booked | N::Changed => None,
                    _ => r.last_error.as_deref().map(str::to_string),
                };
                Some((k.clone(), kind, detail))
            })
            .collect();
        for (key, kind, detail) in due {
            self.announce_record(&key, kind, detail);
        }
    }

    /// At shutdown: waits (bounded) for the notifications in flight, and records them.
    async fn drain_notifications(&mut self, done_rx: &mut mpsc::UnboundedReceiver<Done>) {
        let deadline = Instant::now() + self.options.drain_timeout;
        let mut lead_tick = self.lead_tick();
        while self.announcing > 0 {
            tokio::select! {
                Some(done) = done_rx.recv() => self.on_notified(done),
                _ = lead_tick.tick(), if self.store.is_shared() => self.keep_lead(),
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        "{} notification(s) still being sent at shutdown; recent ones are sent again at the next start",
                        self.announcing
                    );
                    break;
                }
            }
        }
    }

    /// Paths settled, or a rescan asked for by the watcher: read them, then a pass.
    fn on_watch(&mut self, due: Due, watching: &mut Watching) -> Result<(), DaemonError> {
        let now = self.options.clock.now();
        let result = match due {
            Due::Paths(paths) => self.catalog.refresh(&paths, &self.config.defaults, now),
            Due::Rescan => {
                watching.clear();
                self.catalog.rescan(&self.config.defaults, now)
            }
        };
        self.after_scan(result);
        self.pass()
    }

    /// The periodic rescan (events are hints; this is the guarantee), then a pass.
    fn on_rescan(&mut self, watching: &mut Watching) -> Result<(), DaemonError> {
        watching.check_replaced(self.catalog.dir());
        self.full_pass = true;
        let now = self.options.clock.now();
        let result = self.catalog.rescan(&self.config.defaults, now);
        self.after_scan(result);
        self.pass()
    }

    /// SIGHUP: the config again, a rescan, a pass.
    fn on_reload(
        &mut self,
        watching: &mut Watching,
        rescan: &mut tokio::time::Interval,
    ) -> Result<(), DaemonError> {
        self.reload(watching);
        self.full_pass = true;
        *rescan = tokio::time::interval(self.config.watch.rescan_interval);
        rescan.reset();
        self.pass()
    }

    /// A request task finished: its outcome in, and a pass when it asks for one.
    fn on_joined(
        &mut self,
        joined: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
    ) -> Result<(), DaemonError> {
        if self.joined(joined) {
            self.pass()?;
        }
        self.send_unsent()
    }

    /// The metrics' liveness heartbeat.
    fn heartbeat(&self) {
        if let Some(m) = &self.metrics {
            m.heartbeat(Utc::now().timestamp());
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
                self.dirty = true;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(
                "cannot rescan the watch dir {}: {e}; keeping what was read before",
                self.catalog.dir().display()
            ),
        }
    }

    /// Re-reads the config (SIGHUP). A broken config is reported and the old one kept.
    fn reload(&mut self, watching: &mut Watching) {
        self.notifier.send(&[
            sd_notify::NotifyState::Reloading,
            sd_notify::NotifyState::monotonic_usec_now()
                .unwrap_or(sd_notify::NotifyState::MonotonicUsec(0)),
        ]);
        if let Some(path) = self.options.config_path.clone() {
            match Config::load(&path)
                .map_err(DaemonError::from)
                .and_then(|c| {
                    let key = c.api.secret_key.load()?;
                    let credentials = fingerprint(&c.api, &key);
                    let client = self.client.reload(&c.api, &c.retry, key)?;
                    Ok((c, client, credentials))
                }) {
                Ok((config, client, credentials)) => {
                    if credentials != self.credentials {
                        // Failures the old credentials caused are worth another try now.
                        let keys: Vec<BookingKey> = self
                            .bookings
                            .records()
                            .values()
                            .filter(|r| {
                                r.status == Status::Failed
                                    && r.error_code.is_some_and(|c| {
                                        crate::api::error::codes::CREDENTIALS.contains(&c)
                                    })
                            })
                            .map(Record::key)
                            .collect();
                        let now = self.options.clock.now();
                        self.bookings
                            .retry(&keys, "the API credentials changed", now);
                        self.credentials = credentials;
                    }
                    if config.state.file != self.config.state.file {
                        tracing::warn!(
                            "state.file changed in the config; it takes effect at the next restart"
                        );
                    }
                    let dir_changed = config.watch.dir != self.config.watch.dir;
                    self.quotas()
                        .set_limit(config.api.creates_per_hour_per_user);
                    self.config.api = config.api;
                    self.config.retry = config.retry;
                    self.bookings
                        .set_rules(rules(&self.config, self.options.mode));
                    self.config.watch = config.watch;
                    self.config.defaults = config.defaults;
                    self.config.lifecycle = config.lifecycle;
                    self.config.state.retention = config.state.retention;
                    self.catalog.set_retention(config.state.retention);
                    self.client = client;
                    if dir_changed {
                        self.catalog = Catalog::new(&self.config.watch.dir)
                            .with_retention(self.config.state.retention);
                        watching.restart(self.catalog.dir());
                    }
                    tracing::info!(config = %path.display(), "config reloaded");
                }
                Err(e) => tracing::error!("config not reloaded, keeping the running one: {e}"),
            }
        }
        let now = self.options.clock.now();
        let result = self.catalog.reparse_all(&self.config.defaults, now);
        self.after_scan(result);
        self.notifier.send(&[sd_notify::NotifyState::Ready]);
    }

    /// The plan for the definitions in `scope` (all of them when `None`) and their records.
    fn reconciled<'a>(
        &'a self,
        now: DateTime<Utc>,
        scope: Option<&BTreeSet<Name>>,
    ) -> plan::Reconciled {
        let records = self.bookings.records();
        let bookings = &self.bookings;
        let tracked_of = |(k, r): (&BookingKey, &'a Record)| (k.clone(), bookings.tracked(k, r));
        let (defs, tracked, at_stake): (Vec<_>, BTreeMap<BookingKey, Tracked<'_>>, _) = match scope
        {
            None => (
                self.catalog.definitions().collect(),
                records.iter().map(tracked_of).collect(),
                None,
            ),
            Some(ids) => {
                // A removal is judged against every definition with meetings to come.
                let removal = ids.iter().any(|id| {
                    self.catalog.hash_of(id).is_none() && records.of_definition(id).next().is_some()
                });
                (
                    ids.iter().filter_map(|id| self.catalog.get(id)).collect(),
                    ids.iter()
                        .flat_map(|id| records.of_definition(id))
                        .map(tracked_of)
                        .collect(),
                    removal.then(|| self.at_stake(now)),
                )
            }
        };
        let hash_of = |id: &str| self.catalog.hash_of(id);
        plan::reconcile(
            &defs,
            &tracked,
            &plan::Context {
                format: self.config.api.user_format,
                now,
                last_pass: self.last_pass,
                lifecycle: &self.config.lifecycle,
                hash_of: &hash_of,
                removals_approved: &state::read_approval(&self.config.state.file).unwrap_or_else(
                    |e| {
                        tracing::error!(
                            "cannot read the approval {}: {e}; removals stay held",
                            state::approval_path(&self.config.state.file).display()
                        );
                        Default::default()
                    },
                ),
                edited: &|id| self.catalog.edited(id),
                max_changes: self.config.guard.max_changes,
                changes_approved: &state::read_changes_approval(&self.config.state.file)
                    .unwrap_or_else(|e| {
                        tracing::error!(
                            "cannot read the approval {}: {e}; changes stay held",
                            state::changes_approval_path(&self.config.state.file).display()
                        );
                        Default::default()
                    }),
                forget_before: self.config.state.forget_before(now),
                at_stake,
            },
        )
    }

    /// Reads back the request bodies a pass compares with: those of booked meetings still to
    /// come whose definition changed since they were booked (the plan modifies the fields
    /// that differ).
    fn read_requests_for_changes(&mut self, now: DateTime<Utc>, scope: Option<&BTreeSet<Name>>) {
        let stale = |k: &BookingKey, r: &Record| {
            r.status == Status::Booked
                && r.request.is_none()
                && r.change.is_none()
                && k.start > now.timestamp()
                && self
                    .catalog
                    .hash_of(&k.definition)
                    .is_some_and(|h| *h != *r.definition_hash)
        };
        let records = self.bookings.records();
        let keys: Vec<BookingKey> = match scope {
            None => records
                .iter()
                .filter(|(k, r)| stale(k, r))
                .map(|(k, _)| k.clone())
                .collect(),
            Some(ids) => ids
                .iter()
                .flat_map(|id| records.of_definition(id))
                .filter(|(k, r)| stale(k, r))
                .map(|(k, _)| k.clone())
                .collect(),
        };
        for key in keys {
            match self.store.request_of(&key) {
                Ok(Some(q)) => self.bookings.records_mut().restore_request(&key, q),
                Ok(None) => {}
                Err(e) => tracing::warn!(booking = %key, "cannot read the recorded request: {e}"),
            }
        }
    }

    /// How many definitions have booked meetings still to come (records are in definition
    /// order, so one walk counts them).
    fn at_stake(&self, now: DateTime<Utc>) -> usize {
        let mut count = 0;
        let mut last: Option<&str> = None;
        for (k, r) in self.bookings.records().iter() {
            if r.status == Status::Booked
                && k.start > now.timestamp()
                && last != Some(&*k.definition)
            {
                count += 1;
                last = Some(&*k.definition);
            }
        }
        count
    }

    /// What this pass looks at: `None` for everything (the first pass, after a rescan or a
    /// reload, and always in `once` and `recover`); else the definitions whose files changed,
    /// whose records changed since the last pass, that have bookings in progress or removals
    /// held, and whose next booking time or start has come. The rest cannot need anything:
    /// their files and records are as the last pass left them, and no time of theirs came.
    fn scope(&mut self, now: DateTime<Utc>) -> Option<BTreeSet<Name>> {
        let mut ids = self.catalog.take_touched();
        ids.extend(self.bookings.records_mut().take_touched());
        if std::mem::take(&mut self.full_pass) || self.options.mode != Mode::Run {
            return None;
        }
        ids.extend(self.bookings.live_keys().map(|k| k.definition.clone()));
        ids.extend(self.held.iter().map(|h| Name::from(h.as_str())));
        ids.extend(self.held_changes.iter().map(|h| Name::from(h.as_str())));
        // Creates a quota held back: looked at again until they go.
        ids.append(&mut self.quota_held);
        while let Some((at, _)) = self.next_at.first()
            && *at <= now
        {
            if let Some((_, id)) = self.next_at.pop_first() {
                ids.insert(id);
            }
        }
        Some(ids)
    }

    /// Notes when each definition in `scope` (all when `None`) next needs a look.
    fn update_next_at(&mut self, scope: Option<&BTreeSet<Name>>, now: DateTime<Utc>) {
        let mut set = |id: &Name, at: Option<DateTime<Utc>>| {
            if let Some(old) = self.next_at_of.remove(id) {
                self.next_at.remove(&(old, id.clone()));
            }
            if let Some(at) = at {
                self.next_at_of.insert(id.clone(), at);
                self.next_at.insert((at, id.clone()));
            }
        };
        match scope {
            None => {
                let times: Vec<(Name, Option<DateTime<Utc>>)> = self
                    .catalog
                    .definitions()
                    .map(|d| (d.id.clone(), plan::next_event(d, now)))
                    .collect();
                self.next_at.clear();
                self.next_at_of.clear();
                for (id, at) in times {
                    if let Some(at) = at {
                        self.next_at_of.insert(id.clone(), at);
                        self.next_at.insert((at, id));
                    }
                }
            }
            Some(ids) => {
                let times: Vec<(&Name, Option<DateTime<Utc>>)> = ids
                    .iter()
                    .map(|id| {
                        (
                            id,
                            self.catalog.get(id).and_then(|d| plan::next_event(d, now)),
                        )
                    })
                    .collect();
                for (id, at) in times {
                    set(id, at);
                }
            }
        }
    }

    /// Whether a pass now would do something (for `once`).
    fn has_work_now(&self) -> bool {
        let now = self.options.clock.now();
        let quotas = self.quotas();
        // A create held back by a quota waits for the quota's wake-up, not a pass now.
        let held = |a: &Action| match a {
            Action::Create(w) => quotas.check(&w.request.userid, now).is_err(),
            _ => false,
        };
        self.reconciled(now, None)
            .actions
            .iter()
            .any(|a| self.allowed(a) && !held(a))
    }

    /// Whether this run carries out `action`: [`Mode::Recover`] only looks up and records,
    /// and does not look up again what it did not find.
    fn allowed(&self, action: &Action) -> bool {
        match self.options.mode {
            Mode::Recover { .. } => match action {
                Action::Create(w) => !self.bookings.not_found(&w.key),
                Action::Resolve(_)
                | Action::Move { .. }
                | Action::Missed { .. }
                | Action::Forget(_) => true,
                _ => false,
            },
            Mode::Run | Mode::Once => true,
        }
    }

    /// One reconcile pass: carry out what the plan says.
    fn pass(&mut self) -> Result<(), DaemonError> {
        self.passes += 1;
        let now = self.options.clock.now();
        let request = state::retry_path(&self.config.state.file);
        match state::read_retry(&self.config.state.file) {
            Ok(keys) if !keys.is_empty() => {
                self.bookings
                    .retry(&keys, "asked for with `wemeet-scheduler retry`", now);
                if let Err(e) = std::fs::remove_file(&request) {
                    tracing::warn!("cannot remove the retry request {}: {e}", request.display());
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!("cannot read the retry request {}: {e}", request.display()),
        }
        let scope = self.scope(now);
        let full = scope.is_none();
        if full {
            self.prune(now);
        }
        self.read_requests_for_changes(now, scope.as_ref());
        let plan::Reconciled {
            actions,
            held,
            held_changes,
            ..
        } = self.reconciled(now, scope.as_ref());
        #[cfg(debug_assertions)]
        if scope.is_some() && self.options.check_incremental {
            // Tests: an incremental pass must decide what a full one would.
            let full = self.reconciled(now, None);
            let sorted = |a: &[Action]| {
                let mut v: Vec<String> = a.iter().map(|a| format!("{a:?}")).collect();
                v.sort();
                v
            };
            assert_eq!(
                sorted(&actions),
                sorted(&full.actions),
                "incremental pass at {now}"
            );
            assert_eq!(held, full.held, "incremental pass at {now}");
            assert_eq!(held_changes, full.held_changes, "incremental pass at {now}");
        }
        self.update_next_at(scope.as_ref(), now);
        if !matches!(self.options.mode, Mode::Recover { .. }) {
            self.note_held(held);
            self.note_held_changes(held_changes);
        }
        let actions: Vec<Action> = actions.into_iter().filter(|a| self.allowed(a)).collect();
        let mut creates = Vec::new();
        let mut changes = Vec::new();
        let mut resolves: BTreeMap<(String, u8), Vec<BookingKey>> = BTreeMap::new();
        // A moved booking is looked up by the next pass, at once.
        let mut moved = false;
        for action in actions {
            match action {
                Action::Move { from, to } => {
                    // The body that was sent is what the lookup compares: it moves along.
                    let sent = match self
                        .bookings
                        .records()
                        .get(&from)
                        .and_then(|r| r.request.clone())
                    {
                        Some(q) => Some(q),
                        None => self.store.request_of(&from).ok().flatten(),
                    };
                    moved |= self.bookings.moved(&from, &to.definition, sent).is_some();
                }
                Action::Modify {
                    key,
                    wanted,
                    fields,
                } => {
                    let request = match serde_json::to_value(&wanted.request) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::error!(booking = %key, "cannot build the request for the change: {e}; the meeting is left as it is");
                            continue;
                        }
                    };
                    let definition_hash = self.hash_of(&key);
                    changes.push(key.clone());
                    let change = Change::Modify {
                        fields,
                        start: wanted.key.start,
                        end: wanted.end.timestamp(),
                        request,
                        definition_hash,
                    };
                    self.bookings.change(&key, change, now);
                }
                Action::Cancel { key, reason } => {
                    changes.push(key.clone());
                    self.bookings.change(&key, Change::Cancel { reason }, now);
                }
                Action::Resume(key) => changes.push(key),
                Action::DropChange { key, reason } => self.bookings.drop_change(&key, reason),
                Action::Rehash(key) => {
                    if let Some(h) = self.catalog.hash_of(&key.definition) {
                        self.bookings.rehash(&key, h);
                    }
                }
                Action::Create(w) => creates.push(w),
                Action::Resolve(key) => {
                    if let Some(r) = self.bookings.records().get(&key) {
                        resolves
                            .entry((r.userid.to_string(), r.instanceid))
                            .or_default()
                            .push(key);
                    }
                }
                Action::Missed { wanted, reason } => {
                    let hash = self.hash_of(&wanted.key);
                    self.bookings.missed(&wanted, &hash, reason, now);
                }
                Action::Forget(key) => self.bookings.forget(&key),
            }
        }
        // Moves ask for a pass (taken by `wake` below); what the plan's steps told goes out.
        self.follow_up();
        self.last_pass = Some(now);
        if let Some(m) = &self.metrics {
            m.last_pass.set(now.timestamp());
        }
        self.wake = if moved { now } else { self.next_wake() };
        if !changes.is_empty() || !creates.is_empty() || !resolves.is_empty() {
            // Fencing: a daemon that no longer leads sends nothing.
            self.check_lead()?;
        }
        if !changes.is_empty() {
            // The intent of each modify and cancel is on disk before it is sent.
            self.flush()?;
            for key in changes {
                self.dispatch_change(key);
            }
        }
        // Recovery, and for a year after a new or restored store every booking made for the
        // first time (a paused series resumed, a broken file fixed, a shorter `book_ahead`
        // reaching an occurrence): the state it replaced may have booked it. Record the
        // intents, then look each up (the `unsure` path) instead of sending it; what is not
        // found is created by a later pass (not in recover mode).
        let first_time_looked_up = self.look_up_until.is_some_and(|t| now < t);
        // At start a process that lost the state may have just died with creates on their
        // way: those lookups wait for them to land. Later, nothing of these was ever sent.
        let never_sent = !self.recovering;
        let look_up: Vec<Wanted> = if self.recovering {
            std::mem::take(&mut creates)
        } else if first_time_looked_up {
            let (first, again): (Vec<Wanted>, Vec<Wanted>) = std::mem::take(&mut creates)
                .into_iter()
                .partition(|w| !self.bookings.records().contains(&w.key));
            creates = again;
            first
        } else {
            Vec::new()
        };
        if !look_up.is_empty() {
            tracing::info!(
                count = look_up.len(),
                "looking up bookings before creating them: a state this store replaced may have booked them"
            );
            for w in look_up {
                let hash = self.hash_of(&w.key);
                self.bookings
                    .intent(&w, &hash, First::LookUp { never_sent }, now);
            }
            self.wake = now;
        }
        if !matches!(self.options.mode, Mode::Recover { .. }) {
            self.recovering = false;
        }
        // Quotas: in start order, so the soonest meetings go first; a user at the limit waits
        // without holding back the others. (The plan lists creates of pending bookings, those
        // looked up first, in key order: `q10` before `q2`.)
        creates.sort_by(|a, b| (a.key.start, &a.key).cmp(&(b.key.start, &b.key)));
        let mut waiting: BTreeMap<String, (quota::Wait, usize)> = BTreeMap::new();
        let mut quota_held = std::mem::take(&mut self.quota_held);
        let mut quotas = self.quotas();
        creates.retain(|w| match quotas.admit(&w.request.userid, now) {
            Ok(()) => true,
            Err(wait) => {
                quota_held.insert(w.key.definition.clone());
                waiting
                    .entry(w.request.userid.clone())
                    .or_insert((wait, 0))
                    .1 += 1;
                false
            }
        });
        drop(quotas);
        self.quota_held = quota_held;
        if let Some(until) = waiting.values().map(|(wait, _)| wait.until).min() {
            self.wake = self.wake.min(until);
        }
        self.note_waiting(waiting);
        if !creates.is_empty() {
            let mut unsent = Vec::with_capacity(creates.len());
            for w in creates {
                let hash = self.hash_of(&w.key);
                if self.bookings.intent(&w, &hash, First::Send, now) {
                    unsent.push(Unsent {
                        key: w.key,
                        userid: w.request.userid,
                    });
                }
            }
            self.follow_up();
            // The intent must be on disk before any of these creates is sent.
            self.flush()?;
            if self.progress.total == self.progress.done {
                self.progress = Progress::default();
            }
            self.progress.total += unsent.len();
            self.unsent.extend(unsent);
            self.send_unsent()?;
        }
        for ((userid, instanceid), keys) in resolves {
            // Only meetings that start at or after the earliest booking looked up can be ours.
            let from = keys.iter().map(|k| k.start).min().unwrap_or_default();
            let until = keys.iter().map(|k| k.start).max().unwrap_or_default();
            // A request the client gave up on may still be in the server's queue: give it
            // time to land before concluding from its absence that it never will. Not needed
            // when none of these was ever sent.
            let settle = if self.bookings.dispatch_lookup(&keys) {
                self.config.api.timeout * 2
            } else {
                Duration::ZERO
            };
            tracing::info!(userid = %userid, count = keys.len(), "looking up creates whose outcome is unknown");
            let client = self.client.clone();
            let task_keys = keys.clone();
            let handle = self.tasks.spawn(async move {
                tokio::time::sleep(settle).await;
                let result = client.list_upcoming(&userid, instanceid, from, until).await;
                Outcome::Resolved { keys, result }
            });
            self.task_keys.insert(handle.id(), task_keys);
            self.lookups.insert(handle.id(), handle);
        }
        if full {
            crate::memory::give_back();
        }
        Ok(())
    }

    /// The hash of the definition a booking is made from.
    fn hash_of(&self, key: &BookingKey) -> String {
        self.catalog
            .hash_of(&key.definition)
            .unwrap_or_default()
            .to_string()
    }

    /// How many requests may be tasks at once: enough to keep every connection the client
    /// may use busy, with one waiting behind each.
    fn in_flight_limit(&self) -> usize {
        self.config.api.concurrency.max(1) * 2
    }

    /// Sends queued creates while there is room. With PostgreSQL, the lead is checked again
    /// first when the last check is older than a tenth of the takeover time: a backlog drains
    /// for longer than that, and a daemon that no longer leads must not go on sending it.
    fn send_unsent(&mut self) -> Result<(), DaemonError> {
        let room = self.in_flight_limit().saturating_sub(self.tasks.len());
        if self.unsent.is_empty() || room == 0 {
            return Ok(());
        }
        if self.lead_checked.elapsed() >= self.config.state.takeover / 10 {
            self.check_lead()?;
        }
        for _ in 0..room {
            let Some(u) = self.unsent.pop_front() else {
                break;
            };
            self.dispatch_create(u);
        }
        Ok(())
    }

    fn dispatch_create(&mut self, u: Unsent) {
        // The body recorded with the intent; from the store if memory lost it.
        let body = match self.bookings.records_mut().take_request(&u.key) {
            Some(body) => Ok(body),
            None => self
                .store
                .request_of(&u.key)
                .map_err(|e| e.to_string())
                .and_then(|b| b.ok_or_else(|| "no request body on record".to_string())),
        };
        let body = match body {
            Ok(body) => body.0.get().as_bytes().to_vec(),
            Err(e) => {
                let now = self.options.clock.now();
                self.bookings.unsendable(&u.key, e, now);
                self.follow_up();
                return;
            }
        };
        self.bookings.dispatch_create(&u.key);
        let client = self.client.clone();
        let key = u.key.clone();
        let (quotas, clock) = (self.quotas.clone(), self.options.clock.clone());
        let handle = self.tasks.spawn(async move {
            let Unsent { key, userid } = u;
            let gate = move || {
                let quotas = quotas.lock().unwrap_or_else(|e| e.into_inner());
                quotas
                    .paused(&userid, clock.now())
                    .map_err(|wait| format!("waiting for {}", wait.reason.describe(&userid)))
            };
            let result = client.create_body_gated(body, Some(&gate)).await;
            Outcome::Created { key, result }
        });
        self.task_keys.insert(handle.id(), vec![key]);
    }

    /// Takes in a finished task. Returns whether a pass should follow.
    fn joined(
        &mut self,
        joined: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>,
    ) -> bool {
        match joined {
            Ok((id, outcome)) => {
                self.task_keys.remove(&id);
                self.lookups.remove(&id);
                self.apply(outcome)
            }
            Err(e) => {
                // A task that panicked or was aborted: its create may have been sent, so its
                // bookings are looked up before anything else happens to them.
                if e.is_cancelled() {
                    tracing::debug!("a request task was stopped at shutdown");
                } else {
                    tracing::error!("a request task ended abnormally: {e}");
                }
                let keys = self.task_keys.remove(&e.id()).unwrap_or_default();
                self.bookings.lost(&keys);
                self.follow_up()
            }
        }
    }

    /// Hands a finished request's answer to the bookings. Returns whether a pass should
    /// follow.
    fn apply(&mut self, outcome: Outcome) -> bool {
        let now = self.options.clock.now();
        match outcome {
            Outcome::Changed { key, result } => {
                if result.is_ok() && self.bookings.needs_links(&key) {
                    // The booking moves to another row, and memory holds it without its join
                    // URL and code: they move with it, from the store.
                    match self.store.record_of(&key) {
                        Ok(Some(stored)) => {
                            self.bookings
                                .keep_links(&key, stored.join_url, stored.meeting_code);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(booking = %key, "cannot read the join URL to keep it: {e}")
                        }
                    }
                }
                let hash = self.catalog.hash_of(&key.definition).map(str::to_string);
                self.bookings.changed(key, result, hash.as_deref(), now);
            }
            Outcome::Created { key, result } => {
                self.progress.done += 1;
                self.log_progress();
                self.bookings.created(key, result, now);
            }
            Outcome::Resolved { keys, result } => {
                // What the creates asked for (hosts, invitees): from the store, unless memory
                // holds it.
                let mut recorded = HashMap::new();
                if result.is_ok() {
                    for key in keys.iter().filter(|k| self.bookings.needs_request(k)) {
                        match self.store.request_of(key) {
                            Ok(Some(q)) => {
                                recorded.insert(key.clone(), q);
                            }
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!(booking = %key, "cannot read the recorded request: {e}; matching on subject and times");
                            }
                        }
                    }
                }
                self.bookings.looked_up(keys, result, &recorded, now);
            }
        }
        self.follow_up()
    }

    /// Carries out what the bookings asked for. Returns whether a pass should follow.
    fn follow_up(&mut self) -> bool {
        let mut pass = false;
        while let Some(output) = self.bookings.poll() {
            match output {
                Output::Told(told) => self.told(told),
                Output::Pass => pass = true,
                // Once the last one is back, a pass records who waits, and for what.
                Output::PassWhenQuiet => pass |= self.tasks.is_empty(),
                Output::WakeAt(at) => self.wake = self.wake.min(at),
                Output::QuotaRefused { key, userid, error } => {
                    let now = self.options.clock.now();
                    let until = match userid {
                        Some(user) => self.quotas().refused_user(&user, now),
                        None => self.quotas().refused_app(now),
                    };
                    self.wake = self.wake.min(until);
                    tracing::warn!(booking = %key, "API quota used up ({error}); creates wait until {}", until.format("%F %T UTC"));
                }
            }
        }
        pass
    }

    /// What happened to a booking, to the log's readers, the events and the notifications.
    fn told(&mut self, told: Told) {
        let event = match told {
            Told::Booked {
                key,
                meeting: m,
                adopted,
            } => {
                let Some(r) = self.bookings.records().get(&key) else {
                    return;
                };
                let (subject, timezone) = (r.subject.clone(), r.timezone.clone());
                let start = crate::booking::show_start(
                    key.start,
                    timezone.as_deref(),
                    self.config.defaults.timezone,
                    "%a %F %H:%M %Z",
                );
                tracing::info!(
                    booking = %key,
                    meeting_id = %m.meeting_id,
                    meeting_code = %m.meeting_code,
                    adopted,
                    "booked {subject:?} {start} {}",
                    m.join_url
                );
                Event::Booked {
                    key,
                    timezone: timezone.map(|z| z.to_string()),
                    subject,
                    meeting_id: m.meeting_id,
                    meeting_code: m.meeting_code,
                    join_url: m.join_url,
                    adopted,
                }
            }
            Told::Failed { key, error } => Event::Failed { key, error },
            Told::Missed { key, reason } => Event::Missed { key, reason },
            Told::Changed { key, what } => Event::Changed { key, what },
            Told::NotFound { key, subject } => Event::NotFound { key, subject },
        };
        self.emit(event);
    }

    /// Drops records of meetings that ended more than `state.retention` ago.
    fn prune(&mut self, now: DateTime<Utc>) {
        let cutoff = self.config.state.forget_before(now).timestamp();
        let pruned = self.bookings.prune(cutoff);
        if pruned > 0 {
            tracing::info!(
                pruned,
                "forgot bookings of meetings that ended over the retention time ago"
            );
        }
    }

    /// Records which removals are held back, saying so loudly when that changes; consumes an
    /// operator's approval once it has been acted on.
    fn note_held(&mut self, held: Vec<String>) {
        if held != self.held {
            if held.is_empty() {
                tracing::info!("no removals are held back any more");
            } else {
                tracing::error!(
                    definitions = held.len(),
                    "too many definitions vanished at once (more than lifecycle.max_cancel_fraction of those with booked meetings): cancelling NOTHING for them; if the removal is intended run `wemeet-scheduler approve-removals`, otherwise restore the files: {}",
                    held.join(", ")
                );
                self.emit(Event::RemovalsHeld {
                    definitions: held.clone(),
                });
            }
            self.held = held;
            self.dirty = true;
        }
        if self.held.is_empty() {
            drop_approval(&state::approval_path(&self.config.state.file));
        }
    }

    /// Records which definitions' changes are held back ([`plan::Reconciled::held_changes`]),
    /// saying so loudly when that changes; consumes an operator's approval once acted on.
    fn note_held_changes(&mut self, held: Vec<String>) {
        if held != self.held_changes {
            if held.is_empty() {
                tracing::info!("no changes are held back any more");
            } else {
                tracing::error!(
                    definitions = held.len(),
                    "more than guard.max_changes ({}) booked meetings would change although no definition was seen to change (a new build, or a config reload): changing NOTHING for them; see `wemeet-scheduler plan`, and if the changes are intended run `wemeet-scheduler approve-changes`: {}",
                    self.config.guard.max_changes,
                    held.join(", ")
                );
            }
            self.held_changes = held;
            self.dirty = true;
        }
        if self.held_changes.is_empty() {
            drop_approval(&state::changes_approval_path(&self.config.state.file));
        }
    }

    /// PostgreSQL: the leader's heartbeat, three times per takeover time (the server ends a
    /// session silent for that long, and with it the lock).
    fn lead_tick(&self) -> tokio::time::Interval {
        tokio::time::interval(self.config.state.takeover / 3)
    }

    /// The heartbeat while draining at shutdown: the session must outlive the drain, or the
    /// last write fails. Nothing is sent any more, so a lost lead is only logged here.
    fn keep_lead(&mut self) {
        if let Err(e) = self.check_lead() {
            tracing::warn!("while stopping: {e}");
        }
    }

    /// PostgreSQL: stops the daemon unless the server says its session still holds the
    /// leader lock (or cannot be asked).
    fn check_lead(&mut self) -> Result<(), DaemonError> {
        if !self.store.is_shared() {
            return Ok(());
        }
        let sent = Lease::now();
        match self.store.still_leading() {
            Ok(true) => {
                self.lead_checked = Instant::now();
                if let Some(lease) = &self.lease {
                    lease.confirmed(sent);
                }
                Ok(())
            }
            Ok(false) => Err(DaemonError::LostLead {
                store: self.store.path().into(),
            }),
            Err(e) => {
                tracing::error!("cannot tell whether this daemon still leads: {e}");
                Err(DaemonError::LostLead {
                    store: self.store.path().into(),
                })
            }
        }
    }

    fn dispatch_change(&mut self, key: BookingKey) {
        let Some(request) = self.bookings.dispatch_change(&key) else {
            return;
        };
        let reason_code = self.config.lifecycle.reason_code;
        let client = self.client.clone();
        let task_key = key.clone();
        let handle = self.tasks.spawn(async move {
            let ChangeRequest {
                change,
                meeting_id,
                userid,
                instanceid,
            } = request;
            let result = match change {
                Change::Modify { fields, .. } => {
                    let body = ModifyMeeting {
                        userid: userid.to_string(),
                        instanceid,
                        changes: fields,
                    };
                    client.modify(&meeting_id, &body).await
                }
                Change::Cancel { .. } => {
                    let body = CancelMeeting {
                        userid: userid.to_string(),
                        instanceid,
                        reason_code,
                    };
                    match client.cancel(&meeting_id, &body).await {
                        Ok(_) => Ok(()),
                        // Gone already: as good as cancelled.
                        Err(e) if e.code() == Some(crate::api::error::codes::NOT_FOUND) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            };
            Outcome::Changed { key, result }
        });
        self.task_keys.insert(handle.id(), vec![task_key]);
    }

    fn log_progress(&self) {
        let Progress { total, done } = self.progress;
        if total >= 100 && (done % (total / 10).max(1) == 0 || done == total) {
            tracing::info!("booked {done}/{total}");
        }
    }

    /// When the loop must wake even if nothing happens.
    fn next_wake(&self) -> DateTime<Utc> {
        let now = self.options.clock.now();
        let due = self.next_at.first().map(|(at, _)| *at);
        let pending = self.bookings.next_due(now);
        // Times already past were handled by the last pass (or are not actionable): waking
        // for them again would spin.
        let quota = self.waiting.values().map(|(wait, _)| wait.until).min();
        [due, pending, quota]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
            .unwrap_or(now + TimeDelta::days(1))
    }

    fn quotas(&self) -> std::sync::MutexGuard<'_, Quotas> {
        // A panic while holding it cannot leave the counts half-written: each change is one
        // push or insert.
        self.quotas.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records which creates wait for a quota, saying so when that changes.
    fn note_waiting(&mut self, waiting: BTreeMap<String, (quota::Wait, usize)>) {
        for (user, (wait, count)) in &waiting {
            let before = self.waiting.get(user);
            if before.is_none_or(|(w, _)| w != wait) {
                tracing::warn!(
                    userid = %user,
                    bookings = count,
                    "{count} booking(s) wait for {} until {}",
                    wait.reason.describe(user),
                    wait.until.format("%F %T UTC")
                );
            }
        }
        if waiting != self.waiting {
            self.dirty = true;
        }
        self.waiting = waiting;
    }

    /// Writes what changed since the last flush: the changed records and, when they changed,
    /// the daemon's values, in one transaction.
    fn flush(&mut self) -> Result<(), DaemonError> {
        if !self.needs_flush() || self.options.mode == (Mode::Recover { dry_run: true }) {
            return Ok(());
        }
        let invalid = self.catalog.invalid();
        let started = Instant::now();
        let meta = store::Meta {
            last_pass: self.last_pass.map(|t| t.timestamp()),
            invalid: invalid.clone(),
            held_removals: self.held.clone(),
            waiting: self
                .waiting
                .iter()
                .map(|(user, (wait, count))| state::QuotaWait {
                    userid: user.clone(),
                    bookings: *count,
                    until: wait.until.timestamp(),
                    reason: wait.reason.describe(user),
                })
                .collect(),
            paused: self
                .catalog
                .definitions()
                .filter(|d| d.paused)
                .map(|d| d.id.to_string())
                .collect(),
            look_up_until: self.look_up_until.map(|t| t.timestamp()),
            held_changes: self.held_changes.clone(),
        };
        // `last_pass` moves at every pass: alone, it is written at most once a minute (an
        // older one only widens the window in which unbooked starts count as missed, and each
        // start in it has a record already).
        let (rows, keys) = self.bookings.records_mut().take_changes();
        let only_last_pass = meta
            == store::Meta {
                last_pass: meta.last_pass,
                ..self.meta.clone()
            };
        let last_pass_fresh = matches!(
            (meta.last_pass, self.meta.last_pass),
            (Some(new), Some(old)) if new - old < 60
        );
        let write_meta = meta != self.meta && !(only_last_pass && last_pass_fresh);
        let batch = store::Batch {
            rows,
            meta: write_meta.then_some(&meta),
            looked_up: !self.recovering,
        };
        let result = self.store.commit(&batch);
        let wrote_meta = batch.meta.is_some();
        drop(batch);
        if let Err(e) = result {
            self.bookings.records_mut().restore_changes(keys);
            return Err(e.into());
        }
        // Written: the bodies live in the store from here on.
        self.bookings.records_mut().forget_requests(&keys);
        if wrote_meta {
            self.meta = meta;
        }
        self.dirty = false;
        self.last_flush = Instant::now();
        if let Some(m) = &self.metrics {
            m.store_write_seconds
                .observe(started.elapsed().as_secs_f64());
            // One walk over the records for all five counts.
            let mut counts: BTreeMap<&'static str, i64> = [
                Status::Pending,
                Status::Booked,
                Status::Failed,
                Status::Missed,
                Status::Cancelled,
            ]
            .iter()
            .map(|s| (s.as_str(), 0))
            .collect();
            for r in self.bookings.records().values() {
                *counts.entry(r.status.as_str()).or_default() += 1;
            }
            for (status, n) in counts {
                m.bookings
                    .get_or_create(&crate::metrics::StatusLabel {
                        status: status.to_string(),
                    })
                    .set(n);
            }
            m.held_removals.set(self.held.len() as i64);
            m.invalid_definitions.set(invalid.len() as i64);
            m.waiting_for_quota
                .set(self.waiting.values().map(|(_, n)| *n as i64).sum());
            m.requests_waiting.set(self.tasks.len() as i64);
        }
        self.update_status();
        Ok(())
    }

    /// Whether anything is to be written: records, or the daemon's values.
    fn needs_flush(&self) -> bool {
        self.dirty || self.bookings.records().has_changes()
    }

    /// Tells systemd the counts (`STATUS=`), when they changed.
    fn update_status(&mut self) {
        if !self.options.systemd {
            return; // Counting is not free with 100,000 records.
        }
        let s = self.summary();
        let mut status = format!(
            "booked {}, pending {}, failed {}, missed {}, invalid files {}",
            s.booked, s.pending, s.failed, s.missed, s.invalid_files
        );
        if !self.held.is_empty() {
            status.push_str(&format!(", REMOVALS HELD {}", self.held.len()));
        }
        let waiting: usize = self.waiting.values().map(|(_, n)| n).sum();
        if waiting > 0 {
            status.push_str(&format!(", waiting for a quota {waiting}"));
        }
        self.notifier.status(status);
    }

    /// Waits (bounded) for requests in flight and records their outcomes.
    async fn drain(&mut self) {
        for (_, lookup) in self.lookups.drain() {
            lookup.abort();
        }
        if !self.unsent.is_empty() {
            // Their intents are on record: they stay pending, and the next start looks them
            // up before creating them (none was sent, so none is found).
            tracing::info!(
                "{} create(s) not sent yet stay pending; the next start books them",
                self.unsent.len()
            );
            self.unsent.clear();
        }
        let deadline = Instant::now() + self.options.drain_timeout;
        let mut stop_now = self.options.stop_now.take();
        let mut lead_tick = self.lead_tick();
        while !self.tasks.is_empty() {
            tokio::select! {
                _ = lead_tick.tick(), if self.store.is_shared() => self.keep_lead(),
                joined = self.tasks.join_next_with_id() => match joined {
                    Some(joined) => {
                        self.joined(joined);
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        "{} request(s) still in flight after {:?}; they stay pending and are looked up at the next start",
                        self.tasks.len(),
                        self.options.drain_timeout
                    );
                    self.tasks.abort_all();
                    break;
                }
                Some(()) = recv_opt(&mut stop_now) => {
                    tracing::warn!(
                        "stopping now: {} request(s) in flight stay pending and are looked up at the next start",
                        self.tasks.len()
                    );
                    self.tasks.abort_all();
                    break;
                }
            }
        }
        // Aborted tasks still report (as cancelled): their bookings are marked for a lookup.
        while let Some(joined) = self.tasks.join_next_with_id().await {
            self.joined(joined);
        }
    }

    fn summary(&self) -> Summary {
        let count = |s: Status| self.bookings.records().count(s);
        Summary {
            booked: count(Status::Booked),
            pending: count(Status::Pending),
            failed: count(Status::Failed),
            missed: count(Status::Missed),
            invalid_files: self.catalog.invalid().len(),
            new_problems: self.bookings.problems(),
            state_writes: self.store.writes(),
            passes: self.passes,
        }
    }
}

/// Removes an operator's approval once nothing it approved is held any more.
fn drop_approval(approval: &std::path::Path) {
    if approval.exists()
        && let Err(e) = std::fs::remove_file(approval)
    {
        tracing::warn!("cannot remove the approval {}: {e}", approval.display());
    }
}

/// What taking the lead needs to know.
struct Lead<'l> {
    /// `state.takeover`.
    takeover: Duration,
    /// Twice `api.timeout`: how long a request another leader sent may take to land.
    settle: Duration,
    lease: &'l Lease,
}

/// PostgreSQL: connects and waits as a standby until this daemon takes the leader lock.
/// `None` when shutdown came first.
///
/// When another daemon led before (it is recorded, or this one waited behind it), this one
/// then waits `takeover` plus the settle time before it returns, keeping its session alive:
/// whatever the old leader sent under its lease has landed by then ([`crate::lease`]).
async fn wait_for_lead(
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

/// Aborts a task when dropped: the metrics server ends with the loop.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A hash of the credentials a client signs with (never the key itself).
fn fingerprint(api: &crate::config::ApiConfig, key: &crate::config::SecretKey) -> String {
    crate::watch::content_hash(&format!(
        "{}\n{}\n{}\n{}",
        api.app_id,
        api.secret_id,
        api.sdk_id.as_deref().unwrap_or(""),
        key.expose()
    ))
}

/// How long bookings made for the first time are looked up before they are created: a year
/// (the longest `book_ahead`) from a start on a new or restored store, since the state it
/// replaced may have booked anything up to that far ahead; otherwise what the store says.
fn look_up_until(fresh: bool, stored: Option<i64>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let stored = stored.and_then(|t| DateTime::from_timestamp(t, 0));
    if !fresh {
        return stored;
    }
    let year = TimeDelta::from_std(crate::config::BOOK_AHEAD.max).unwrap_or(TimeDelta::days(366));
    let until = now.checked_add_signed(year).unwrap_or(now);
    Some(stored.map_or(until, |s| s.max(until)))
}

/// The lifecycle's rules from the config.
fn rules(config: &Config, mode: Mode) -> Rules {
    Rules {
        max_attempts: config.retry.max_attempts,
        max_delay: config.retry.max_delay,
        recover: matches!(mode, Mode::Recover { .. }),
    }
}
