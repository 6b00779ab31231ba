//! Requests in flight: the creates waiting for a sending slot, the tasks that send creates,
//! lookups, modifies and cancels (at most twice `api.concurrency` at once), and their answers,
//! handed to the [`Bookings`] they are about.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, Id, JoinError, JoinSet};
use tokio::time::Instant;

use super::lead::Leadership;
use crate::api::model::{CancelMeeting, MeetingInfo, ModifyMeeting};
use crate::api::{ApiError, Client, Gate};
use crate::booking::BookingKey;
use crate::clock::Clock;
use crate::config::Config;
use crate::lifecycle::{Bookings, ChangeRequest, Refusal};
use crate::quota::Quotas;
use crate::state::Change;
use crate::state::RecordedRequest;
use crate::store::Reader;
use crate::watch::Catalog;

/// A create whose intent is on record, waiting for its turn to be sent. Its request body is
/// the one on its record, taken from there when it goes.
pub(super) struct Unsent {
    pub(super) key: BookingKey,
    /// Whose quota gates it.
    pub(super) userid: String,
}

/// One user's bookings to look up with one list request.
pub(super) struct Lookup {
    pub(super) userid: String,
    pub(super) instanceid: u8,
    pub(super) keys: Vec<BookingKey>,
}

/// The answer to a request made for the loop.
pub(super) enum Outcome {
    Created {
        key: BookingKey,
        result: Result<MeetingInfo, ApiError>,
    },
    Resolved {
        keys: Vec<BookingKey>,
        result: Result<Vec<MeetingInfo>, ApiError>,
        /// The request bodies on record of those whose records in memory have none (read
        /// from the store by the task, after the lookup).
        recorded: HashMap<BookingKey, RecordedRequest>,
    },
    Changed {
        key: BookingKey,
        result: Result<(), ApiError>,
        /// The join URL and code on record, when the change moved a booking whose record in
        /// memory has none: they move with it (read by the task, after the change).
        links: Option<Links>,
    },
}

/// A booking's join URL and meeting code, as recorded.
pub(super) type Links = (Option<Box<str>>, Option<Box<str>>);

/// A finished task, as [`Dispatch::next`] gives it.
pub(super) type Joined = Result<(Id, Outcome), JoinError>;

/// A create's quota gate: held back while a quota holds its user's creates (or every
/// create), and closed at once by a quota refusal, before the loop hears of it.
struct QuotaGate {
    quotas: Arc<Mutex<Quotas>>,
    clock: Arc<dyn Clock>,
    userid: String,
}

impl Gate for QuotaGate {
    fn check(&self) -> Result<(), String> {
        let quotas = self.quotas.lock().unwrap_or_else(|e| e.into_inner());
        (quotas.paused(&self.userid, self.clock.now()))
            .map_err(|wait| format!("waiting for {}", wait.reason.describe(&self.userid)))
    }

    fn refused(&self, error: &ApiError) {
        let refusal = Refusal::of(error, Some(self.userid.as_str().into()));
        hold(&self.quotas, refusal, self.clock.now());
    }
}

/// Holds the creates a quota refusal names, until the quota frees; returns when. Told by the
/// refused create's gate at once, and by the lifecycle's answer again (the same hold).
pub(super) fn hold(quotas: &Mutex<Quotas>, refusal: Refusal, now: DateTime<Utc>) -> DateTime<Utc> {
    let mut quotas = quotas.lock().unwrap_or_else(|e| e.into_inner());
    match refusal {
        Refusal::User(user) => quotas.refused_user(&user, now),
        Refusal::App => quotas.refused_app(now),
        Refusal::Month => quotas.refused_month(now),
    }
}

/// The requests in flight and the creates waiting for a slot.
pub(super) struct Dispatch {
    client: Client,
    /// What the tasks read of the store: request bodies and join URLs memory does not hold.
    reader: Reader,
    tasks: JoinSet<Outcome>,
    /// The bookings each task in flight is about, to release them if the task dies.
    task_keys: HashMap<Id, Vec<BookingKey>>,
    /// Lookup tasks: at shutdown they are aborted rather than waited for (one may be sleeping
    /// before it lists; it has sent nothing, and its bookings are looked up at the next start).
    lookups: HashMap<Id, AbortHandle>,
    /// Creates whose intents are recorded, each with the number of the write that holds its
    /// intent, waiting for that write and for a sending slot: a backlog of 50,000 is 50,000
    /// keys here (their bodies are on their records), not 50,000 tasks each holding its
    /// request and its answer.
    unsent: VecDeque<(u64, Unsent)>,
    /// Modifies and cancels whose intents are recorded, waiting for their write likewise.
    changes: VecDeque<(u64, BookingKey)>,
    /// The last write done: requests whose intents it (or an earlier one) holds may go.
    written: u64,
    /// The vendor's hourly create quota per user, shared with the create tasks, which ask it
    /// again when their turn comes (a refusal may have paused the user).
    quotas: Arc<Mutex<Quotas>>,
    clock: Arc<dyn Clock>,
    /// At most this many tasks at once: enough to keep every connection the client may use
    /// busy, with one waiting behind each.
    limit: usize,
    /// Twice `api.timeout`: how long a create the client gave up on may take to land.
    settle: Duration,
    /// The store was made now where no daemon had run ([`Store::first`]), and this process
    /// has sent nothing yet: a lookup whose user has no meetings in its window concludes at
    /// once (nothing was ever booked; a daemon that ran on a lost state left its lock file, so
    /// its store would not be first). Once anything is sent, lookups wait as always.
    ///
    /// [`Store::first`]: crate::store::Store::first
    first_install: bool,
    /// `lifecycle.reason_code`, sent with each cancel.
    reason_code: i64,
    /// Creates queued and answered in the current backlog, for the progress log.
    total: usize,
    done: usize,
}

impl Dispatch {
    pub(super) fn new(
        client: Client,
        config: &Config,
        quotas: Arc<Mutex<Quotas>>,
        clock: Arc<dyn Clock>,
        reader: Reader,
    ) -> Dispatch {
        let mut d = Dispatch {
            client,
            reader,
            tasks: JoinSet::new(),
            task_keys: HashMap::new(),
            lookups: HashMap::new(),
            unsent: VecDeque::new(),
            changes: VecDeque::new(),
            written: 0,
            quotas,
            clock,
            limit: 0,
            settle: Duration::ZERO,
            first_install: false,
            reason_code: 0,
            total: 0,
            done: 0,
        };
        d.configure(config);
        d
    }

    /// See the field: `first` is the store's.
    pub(super) fn first_install(mut self, first: bool) -> Dispatch {
        self.first_install = first;
        self
    }

    /// A reloaded config: its limits now, its client for the requests from now on.
    pub(super) fn reload(&mut self, client: Client, config: &Config) {
        self.client = client;
        self.configure(config);
    }

    fn configure(&mut self, config: &Config) {
        self.limit = config.api.concurrency.max(1) * 2;
        self.settle = config.api.timeout * 2;
        self.reason_code = config.lifecycle.reason_code;
    }

    /// The client requests are sent with.
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// Nothing in flight and nothing waiting to go.
    pub(super) fn is_idle(&self) -> bool {
        self.tasks.is_empty() && self.unsent.is_empty() && self.changes.is_empty()
    }

    /// Write `number` is done: the requests whose intents it holds may go.
    pub(super) fn written(&mut self, number: u64) {
        self.written = self.written.max(number);
    }

    /// Requests in flight.
    pub(super) fn in_flight(&self) -> usize {
        self.tasks.len()
    }

    /// Whether a queued create may go (its intent is written) and a slot is free.
    pub(super) fn can_send(&self) -> bool {
        self.unsent.front().is_some_and(|(w, _)| *w <= self.written)
            && self.tasks.len() < self.limit
    }

    /// Creates whose intents write `write` holds, to send once it is done, as slots free.
    pub(super) fn queue(&mut self, unsent: Vec<Unsent>, write: u64) {
        if self.total == self.done {
            (self.total, self.done) = (0, 0);
        }
        self.total += unsent.len();
        self.unsent.extend(unsent.into_iter().map(|u| (write, u)));
    }

    /// Modifies and cancels whose intents write `write` holds, to send once it is done.
    pub(super) fn queue_changes(&mut self, keys: Vec<BookingKey>, write: u64) {
        self.changes.extend(keys.into_iter().map(|k| (write, k)));
    }

    /// Sends the queued changes whose intents are written.
    pub(super) fn send_changes(&mut self, bookings: &mut Bookings) {
        while self
            .changes
            .front()
            .is_some_and(|(w, _)| *w <= self.written)
        {
            if let Some((_, key)) = self.changes.pop_front() {
                self.change(bookings, key);
            }
        }
    }

    /// Sends queued creates whose intents are written, while there is room.
    pub(super) fn send_creates(&mut self, bookings: &mut Bookings) {
        while self.can_send() {
            let Some((_, u)) = self.unsent.pop_front() else {
                break;
            };
            self.send_create(u, bookings);
        }
    }

    fn send_create(&mut self, u: Unsent, bookings: &mut Bookings) {
        // The body recorded with the intent; from the store if memory lost it (read by the
        // task: a body that cannot be read is a create certainly not sent).
        if !bookings.dispatch_create(&u.key) {
            return;
        }
        // From now on a lookup may be of this process's own create.
        self.first_install = false;
        let kept = bookings.records_mut().take_request(&u.key);
        let (client, reader) = (self.client.clone(), self.reader.clone());
        let key = u.key.clone();
        let (quotas, clock) = (self.quotas.clone(), self.clock.clone());
        let handle = self.tasks.spawn(async move {
            let Unsent { key, userid } = u;
            let body = match kept {
                Some(body) => Ok(body),
                None => reader
                    .request_of(&key)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|b| b.ok_or_else(|| "no request body on record".to_string())),
            };
            let body = match body {
                Ok(body) => body.0.get().as_bytes().to_vec(),
                Err(e) => {
                    let result = Err(ApiError::unsent("POST", "/v1/meetings", e));
                    return Outcome::Created { key, result };
                }
            };
            let gate = QuotaGate {
                quotas,
                clock,
                userid,
            };
            let result = client.create_body_gated(body, Some(&gate)).await;
            Outcome::Created { key, result }
        });
        self.task_keys.insert(handle.id(), vec![key]);
    }

    /// Looks up one user's bookings whose creates' outcomes are unknown.
    pub(super) fn look_up(&mut self, bookings: &mut Bookings, lookup: Lookup) {
        let Lookup {
            userid,
            instanceid,
            keys,
        } = lookup;
        // Only meetings that start at or after the earliest booking looked up can be ours.
        let from = keys.iter().map(|k| k.start).min().unwrap_or_default();
        let until = keys.iter().map(|k| k.start).max().unwrap_or_default();
        // A request the client gave up on may still be in the server's queue: give it time to
        // land before concluding from its absence that it never will. Not needed when none of
        // these was ever sent.
        let settle = if bookings.dispatch_lookup(&keys) {
            self.settle
        } else {
            Duration::ZERO
        };
        // A first install looks before it waits: a user with no meetings had nothing booked.
        let look_first = self.first_install && !settle.is_zero();
        tracing::info!(userid = %userid, count = keys.len(), "looking up creates whose outcome is unknown");
        // What the creates asked for (hosts, invitees): from the store, unless memory holds it.
        let unknown: Vec<BookingKey> = keys
            .iter()
            .filter(|k| bookings.needs_request(k))
            .cloned()
            .collect();
        let (client, reader) = (self.client.clone(), self.reader.clone());
        let task_keys = keys.clone();
        let handle = self.tasks.spawn(async move {
            let list = || client.list_upcoming(&userid, instanceid, from, until);
            let result = match if look_first { Some(list().await) } else { None } {
                Some(Ok(none)) if none.is_empty() => {
                    tracing::info!(userid = %userid, "a new state, and the user has no meetings in the window: nothing was booked before; no wait");
                    Ok(none)
                }
                first => {
                    if first.is_some() {
                        tracing::info!(userid = %userid, wait = %humantime::format_duration(settle), "a new state, but the user has meetings in the window: waiting for creates of an earlier daemon to land before looking again");
                    }
                    tokio::time::sleep(settle).await;
                    list().await
                }
            };
            let mut recorded = HashMap::new();
            if result.is_ok() {
                for key in unknown {
                    match reader.request_of(&key).await {
                        Ok(Some(q)) => {
                            recorded.insert(key, q);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(booking = %key, "cannot read the recorded request: {e}; matching on subject and times");
                        }
                    }
                }
            }
            Outcome::Resolved {
                keys,
                result,
                recorded,
            }
        });
        self.task_keys.insert(handle.id(), task_keys);
        self.lookups.insert(handle.id(), handle);
    }

    /// Sends the modify or cancel on record for `key`.
    fn change(&mut self, bookings: &mut Bookings, key: BookingKey) {
        let Some(request) = bookings.dispatch_change(&key) else {
            return;
        };
        let reason_code = self.reason_code;
        let (client, reader) = (self.client.clone(), self.reader.clone());
        let task_key = key.clone();
        // The booking moves to another row, and memory holds it without its join URL and
        // code: they move with it, from the store.
        let move_links = bookings.needs_links(&key);
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
                    let body = CancelMeeting::meeting(userid.to_string(), instanceid, reason_code);
                    match client.cancel(&meeting_id, &body).await {
                        Ok(_) => Ok(()),
                        // Gone already: as good as cancelled.
                        Err(e) if e.code() == Some(crate::api::error::codes::NOT_FOUND) => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            };
            let mut links = None;
            if result.is_ok() && move_links {
                match reader.record_of(&key).await {
                    Ok(Some(stored)) => links = Some((stored.join_url, stored.meeting_code)),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(booking = %key, "cannot read the join URL to keep it: {e}")
                    }
                }
            }
            Outcome::Changed { key, result, links }
        });
        self.task_keys.insert(handle.id(), vec![task_key]);
    }

    /// The next task to finish; pending forever while none is in flight.
    pub(super) async fn next(&mut self) -> Joined {
        match self.tasks.join_next_with_id().await {
            Some(joined) => joined,
            None => std::future::pending().await,
        }
    }

    /// Hands a finished task's answer to the bookings it is about. A task that panicked or
    /// was stopped may have sent its request: its bookings are looked up before anything else
    /// happens to them.
    pub(super) fn hand_over(&mut self, joined: Joined, bookings: &mut Bookings, catalog: &Catalog) {
        let now = self.clock.now();
        match joined {
            Ok((id, outcome)) => {
                self.task_keys.remove(&id);
                self.lookups.remove(&id);
                self.answer(outcome, bookings, catalog, now);
            }
            Err(e) => {
                if e.is_cancelled() {
                    tracing::debug!("a request task was stopped at shutdown");
                } else {
                    tracing::error!("a request task ended abnormally: {e}");
                }
                let keys = self.task_keys.remove(&e.id()).unwrap_or_default();
                self.lookups.remove(&e.id());
                bookings.lost(&keys);
            }
        }
    }

    fn answer(
        &mut self,
        outcome: Outcome,
        bookings: &mut Bookings,
        catalog: &Catalog,
        now: DateTime<Utc>,
    ) {
        match outcome {
            Outcome::Changed { key, result, links } => {
                if let Some((join_url, code)) = links.filter(|_| bookings.needs_links(&key)) {
                    bookings.keep_links(&key, join_url, code);
                }
                let hash = catalog.hash_of(&key.definition).map(str::to_string);
                bookings.changed(key, result, hash.as_deref(), now);
            }
            Outcome::Created { key, result } => {
                self.done += 1;
                let (total, done) = (self.total, self.done);
                if total >= 100 && (done % (total / 10).max(1) == 0 || done == total) {
                    tracing::info!("booked {done}/{total}");
                }
                bookings.created(key, result, now);
            }
            Outcome::Resolved {
                keys,
                result,
                recorded,
            } => bookings.looked_up(keys, result, &recorded, now),
        }
    }

    /// At shutdown: waits until `deadline` for the requests in flight, handing their answers
    /// to the bookings and keeping the lead meanwhile; a message on `stop_now` (a second
    /// signal) stops at once. Lookups stop at once (they have sent nothing that matters);
    /// queued creates stay pending (their intents are on record: the next start looks them
    /// up, finds none, and books them); requests still in flight at the end are stopped, and
    /// their bookings are looked up at the next start.
    pub(super) async fn drain(
        &mut self,
        bookings: &mut Bookings,
        catalog: &Catalog,
        lead: &mut Leadership,
        deadline: Instant,
        mut stop_now: Option<mpsc::UnboundedReceiver<()>>,
    ) {
        for (_, lookup) in self.lookups.drain() {
            lookup.abort();
        }
        if !self.unsent.is_empty() {
            tracing::info!(
                "{} create(s) not sent yet stay pending; the next start books them",
                self.unsent.len()
            );
            self.unsent.clear();
        }
        // Their intents are recorded: the next start sends them.
        self.changes.clear();
        let mut lead_tick = lead.tick();
        let stop = async move {
            match &mut stop_now {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stop);
        while !self.tasks.is_empty() {
            tokio::select! {
                _ = lead_tick.tick(), if lead.is_shared() => lead.ask(),
                answer = lead.answer() => lead.kept(answer),
                joined = self.next() => self.hand_over(joined, bookings, catalog),
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        "{} request(s) still in flight at the end of the drain; they stay pending and are looked up at the next start",
                        self.tasks.len(),
                    );
                    break;
                }
                Some(()) = &mut stop => {
                    tracing::warn!(
                        "stopping now: {} request(s) in flight stay pending and are looked up at the next start",
                        self.tasks.len()
                    );
                    break;
                }
            }
        }
        // Stopped tasks still report (as cancelled): their bookings are marked for a lookup.
        self.tasks.abort_all();
        while let Some(joined) = self.tasks.join_next_with_id().await {
            self.hand_over(joined, bookings, catalog);
        }
    }
}
