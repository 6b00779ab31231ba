//! The booking lifecycle: what each step the daemon takes, and each answer the API gives, does
//! to a booking. Sans-IO, in the way quinn-proto and rustls keep protocol state apart from
//! sockets: events go in as method calls, [`Output`]s come out of [`Bookings::poll`]; no I/O,
//! no clock (`now` is an argument), no tokio. The daemon drives it: it sends the requests,
//! reads the store, and hands the answers back.
//!
//! [`Bookings`] owns every booking's whole state: its [`Record`] (what is on record, kept in a
//! [`Ledger`] that marks every change for the next write) and, while the daemon works on it,
//! its [`Phase`] with the counts of this run ([`Live`]).
//!
//! ```text
//!             intent            dispatch_create          created: ok ──────────────────> done (booked)
//!   Idle ───────────────> Queued ─────────────> Sending(Create) ── unclear ──> Unsure
//!    ^  \ look_up_first                                 │ refused for good ───> done (failed)
//!    │   └──────────────────────────> Unsure <──────────┘ (lost task)
//!    │                                  │ dispatch_lookup
//!    │                                  v
//!    │  not found              Sending(LookUp) ── found one ──> done (booked, adopted)
//!    └──── LookedUp <──────────────┤  ├─ failed ──> Unsure { not_before }
//!                                  │  └─ several, refused, too many tries ──> done (failed)
//!   Idle ── change ──> dispatch_change ──> Sending(Change) ── ok ──> done (modified, cancelled)
//!                                                   └─ failed ──> Waiting { until } / done (refused)
//! ```
//!
//! "Done" means the booking leaves the live set: its record says the rest (booked, failed,
//! missed, cancelled). A pending record loaded at start is [`Phase::Unsure`]: its create may
//! have been sent by the run that wrote it.
//!
//! Pairs that cannot happen, and why (`tests/matrix.rs` has a row for every other pair, and
//! fails on a phase or an event that has neither):
//! - an answer for a booking that is not [`Phase::Sending`] that request: a booking has at
//!   most one request in flight (the plan skips busy bookings), and the daemon hands every
//!   answer to the request it sent. Should one come anyway, a create's or change's answer is
//!   still taken (it is certain about the meeting; a change's finds nothing to take in a
//!   booking with no change on record, and leaves it as it is), and a lookup's is dropped (it
//!   was made for a booking that has moved on: concluding from it could create twice); both
//!   are logged.
//!   Likewise `lost` (a request ended without an answer) comes only for a booking that is
//!   [`Phase::Sending`]; should it come for another, that booking is looked up all the same;
//! - an answer for a key with no record: a record leaves the ledger only when it is done,
//!   forgotten or moved, never while a request for it is in flight (`prune` keeps busy ones;
//!   `Forget` and `Move` come from the plan, which skips busy bookings). The answer is then
//!   dropped, and the live entry with it;
//! - a step of the plan for a busy booking ([`Phase::Queued`] or [`Phase::Sending`]):
//!   `intent`, `missed`, `forget`, `moved`, `change`, `drop_change`, `rehash`. The plan skips
//!   busy bookings (a change recorded is [`Phase::Queued`] until it is sent, so a pass while
//!   its intent is written does not plan it again); nothing here guards against one (an
//!   `intent` would queue a second create);
//! - a `dispatch_change` for a booking already [`Phase::Sending`]: a change goes from
//!   [`Phase::Queued`] (just recorded), or from Idle or [`Phase::Waiting`] (resumed from the
//!   record). Should one come anyway (a change queued twice), nothing is sent: it is on its
//!   way once;
//! - a step for a phase it is not made for: `dispatch_create` sends a [`Phase::Queued`]
//!   create only (should it come for another, nothing is sent); `unsendable` is only the create that `intent` has just queued (or marked
//!   unsure); `dispatch_lookup` looks up an [`Phase::Unsure`] booking only. The plan never
//!   creates (`intent`) an unsure booking (it looks it up), moves (`moved`) only unsure ones,
//!   and changes (`change`, `rehash`, `dispatch_change`, `drop_change`) only booked meetings,
//!   which are never [`Phase::LookedUp`] (that is a pending booking), and are
//!   [`Phase::Waiting`] only with a change on record (`change` and `rehash` come only for a
//!   meeting without one). Nothing guards against these either.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::api::ApiError;
use crate::api::error::codes;
use crate::api::model::MeetingInfo;
use crate::booking::{BookingKey, Name, Status};
use crate::ledger::Ledger;
use crate::plan::{Tracked, Wanted};
use crate::state::{Change, Record, RecordedRequest};

/// Adoptions remembered for a create's answer to contradict (see [`Bookings::created`]): far
/// more than can be in flight at once.
const MAX_ADOPTED: usize = 100_000;

/// Where a booking the daemon works on stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Nothing planned or in flight: the plan decides what comes next.
    #[default]
    Idle,
    /// Its create's or change's intent is on record, waiting to be sent.
    Queued,
    /// A request about it is in flight.
    Sending(Request),
    /// A create of it may have reached the server: it is looked up before anything else,
    /// not before `not_before` (after a failed lookup).
    Unsure { not_before: Option<DateTime<Utc>> },
    /// Looked up and not found: no create of it happened, so the plan creates it (again).
    LookedUp,
    /// A create or change that failed for now: tried again from `until`.
    Waiting { until: DateTime<Utc> },
}

/// The request a [`Phase::Sending`] booking waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Create,
    LookUp,
    Change,
}

/// A booking the daemon works on: its phase, and the counts of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Live {
    pub phase: Phase,
    /// Lookups made for it in this run; with its create calls, bounded by
    /// [`Rules::max_attempts`].
    pub lookups: u32,
    /// Lookups in a row that failed (their backoff).
    pub lookups_failed: u32,
    /// Looked up before its first create, by this process: no create of it can be on its way
    /// to the server, so its lookup need not wait for one to land.
    pub never_sent: bool,
}

/// What the daemon's config says about retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `retry.max_attempts`: create calls plus lookups before a booking fails.
    pub max_attempts: u32,
    /// `retry.max_delay`: the wait before a create or change that failed for now goes again,
    /// and the cap of the lookups' backoff.
    pub max_delay: Duration,
    /// `recover`: a booking looked up and not found is dropped (and told), not created.
    pub recover: bool,
    /// `retry.alert_after`: a booking pending for longer needs a person (the
    /// `wemeet_attention` gauge counts it, as `status` does).
    pub alert_after: Duration,
}

/// What the daemon is asked to do or tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Something happened that the world hears of (events, notifications).
    Told(Told),
    /// A pass should follow: the plan has something new to decide.
    Pass,
    /// A pass once no request is in flight: a create was held back (quota, lead), and the
    /// pass records who waits.
    PassWhenQuiet,
    /// Wake no later than this.
    WakeAt(DateTime<Utc>),
    /// The API said a create quota is used up.
    QuotaRefused {
        key: BookingKey,
        refused: Refusal,
        error: String,
    },
}

/// Whose create quota the API said is used up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The user's hourly creates (500029).
    User(Name),
    /// The app's daily requests (190311, and quota codes that name no scope).
    App,
    /// The account's monthly creates (500168): until the month turns.
    Month,
}

impl Refusal {
    /// Whose quota a quota error (see [`crate::api::Treatment::Quota`]) names: `user` made
    /// the create.
    pub fn of(error: &ApiError, user: Option<Name>) -> Refusal {
        match (error.code(), user) {
            (Some(codes::HOURLY_CREATES), Some(user)) => Refusal::User(user),
            (Some(codes::MONTHLY_CREATES), _) => Refusal::Month,
            _ => Refusal::App,
        }
    }
}

/// What happened to a booking, for events and notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum Told {
    Booked {
        key: BookingKey,
        meeting: Box<MeetingInfo>,
        /// Found by a lookup rather than answered to a create.
        adopted: bool,
    },
    Failed {
        key: BookingKey,
        error: String,
    },
    Missed {
        key: BookingKey,
        reason: String,
    },
    Changed {
        key: BookingKey,
        what: What,
    },
    /// [`Rules::recover`]: not among its user's meetings.
    NotFound {
        key: BookingKey,
        subject: String,
    },
}

/// What a change did to a booked meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// These fields were modified.
    Modified(Vec<String>),
    /// The meeting was cancelled, for this reason.
    Cancelled(String),
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            What::Modified(fields) => write!(f, "modified: {}", fields.join(", ")),
            What::Cancelled(reason) => write!(f, "cancelled: {reason}"),
        }
    }
}

/// How a planned create goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// Queued to be sent.
    Send,
    /// Looked up first (a state this store replaced may have booked it). `never_sent`: this
    /// process has sent no create of it, so the lookup need not wait for one to land.
    LookUp { never_sent: bool },
}

/// A modify or cancel to send.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRequest {
    pub change: Change,
    pub meeting_id: Box<str>,
    pub userid: Name,
    pub instanceid: u8,
}

/// Every booking on record, and what the daemon is doing about those it works on.
#[derive(Debug)]
pub struct Bookings {
    records: Ledger,
    live: HashMap<BookingKey, Live>,
    /// Meetings that lookups adopted in this run, by id: a create's answer naming one of them
    /// later means the adoption took a twin booking's meeting.
    adopted: HashMap<Box<str>, BookingKey>,
    /// [`Rules::recover`]: bookings looked up and not found (not looked up again).
    not_found: HashSet<BookingKey>,
    rules: Rules,
    out: VecDeque<Output>,
    /// Bookings that failed or were missed.
    problems: usize,
}

impl Rules {
    /// The rules `[retry]` sets; `recover` for [`Rules::recover`].
    pub fn of(retry: &crate::config::RetryConfig, recover: bool) -> Rules {
        Rules {
            max_attempts: retry.max_attempts,
            max_delay: retry.max_delay,
            recover,
            alert_after: retry.alert_after,
        }
    }
}

impl Bookings {
    /// The records as loaded. A pending one may have been sent by the run that wrote it: it is
    /// looked up before it is created again.
    pub fn new(records: Ledger, rules: Rules) -> Bookings {
        let live = records
            .iter()
            .filter(|(_, r)| r.status == Status::Pending)
            .map(|(k, _)| (k.clone(), Live::unsure()))
            .collect();
        Bookings {
            records,
            live,
            adopted: HashMap::new(),
            not_found: HashSet::new(),
            rules,
            out: VecDeque::new(),
            problems: 0,
        }
    }

    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// The next output, in the order they came.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Every output so far.
    pub fn drain(&mut self) -> Vec<Output> {
        self.out.drain(..).collect()
    }

    /// The rules in force.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn records(&self) -> &Ledger {
        &self.records
    }

    /// The ledger, for what is not a step of the lifecycle: writing it, request bodies moved
    /// between memory and the store, notifications done.
    pub fn records_mut(&mut self) -> &mut Ledger {
        &mut self.records
    }

    pub fn live(&self, key: &BookingKey) -> Option<&Live> {
        self.live.get(key)
    }

    pub fn phase(&self, key: &BookingKey) -> Phase {
        self.live.get(key).map_or(Phase::Idle, |l| l.phase)
    }

    /// The bookings the daemon works on.
    pub fn live_keys(&self) -> impl Iterator<Item = &BookingKey> {
        self.live.keys()
    }

    /// Bookings that failed or were missed so far.
    pub fn problems(&self) -> usize {
        self.problems
    }

    /// Whether [`Rules::recover`] looked this booking up and did not find it.
    pub fn not_found(&self, key: &BookingKey) -> bool {
        self.not_found.contains(key)
    }

    /// A record with what the plan needs to know of its phase.
    pub fn tracked<'a>(&self, key: &BookingKey, record: &'a Record) -> Tracked<'a> {
        let phase = self.phase(key);
        Tracked {
            record,
            unsure: matches!(
                phase,
                Phase::Unsure { .. } | Phase::Sending(Request::LookUp)
            ),
            busy: matches!(phase, Phase::Queued | Phase::Sending(_)),
            retry_at: match phase {
                Phase::Unsure { not_before } => not_before,
                Phase::Waiting { until } => Some(until),
                _ => None,
            },
        }
    }

    /// When a booking not in flight needs the loop next: its retry time, or just after its
    /// start (to record it missed), whichever is ahead of `now`.
    pub fn next_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.live
            .iter()
            .filter(|(k, _)| {
                self.records
                    .get(k)
                    .is_some_and(|r| r.status == Status::Pending || r.change.is_some())
            })
            .filter_map(|(k, l)| {
                let retry_at = match l.phase {
                    Phase::Queued | Phase::Sending(_) => return None,
                    Phase::Unsure { not_before } => not_before,
                    Phase::Waiting { until } => Some(until),
                    Phase::Idle | Phase::LookedUp => None,
                };
                [retry_at, DateTime::from_timestamp(k.start + 1, 0)]
                    .into_iter()
                    .flatten()
                    .filter(|t| *t > now)
                    .min()
            })
            .min()
    }

    // ---- Operator and plan steps ------------------------------------------------------------

    /// Failed bookings (and missed ones not started yet) back to pending, to be looked up (an
    /// earlier create may have happened) and booked again. Returns how many went back.
    pub fn retry(&mut self, keys: &[BookingKey], why: &str, now: DateTime<Utc>) -> usize {
        let done = self.records.retry(keys, now.timestamp());
        for key in &done {
            let live = self.live.entry(key.clone()).or_default();
            live.phase = Phase::Unsure { not_before: None };
            live.lookups = 0;
            tracing::info!(booking = %key, "retrying a failed or missed booking: {why}");
        }
        done.len()
    }

    /// Failed or missed bookings, or live meetings whose cancel was refused, acknowledged:
    /// they stay as they are and need no one any more. Returns how many were.
    pub fn acknowledge(&mut self, keys: &[BookingKey], why: &str, now: DateTime<Utc>) -> usize {
        let done = self.records.acknowledge(keys, now.timestamp());
        for key in &done {
            tracing::info!(booking = %key, "acknowledged: {why}");
        }
        done.len()
    }

    /// The intent of a create: `pending`, with its request, on record. With [`First::Send`]
    /// it is queued (the daemon sends it once the intent is written); with
    /// [`First::LookUp`] it is looked up first. `hash` is its definition's. Returns whether
    /// the create is to be sent: a request that cannot be written fails the booking.
    pub fn intent(&mut self, w: &Wanted, hash: &str, first: First, now: DateTime<Utc>) -> bool {
        let mut record = self.new_record(w, hash, Status::Pending, now);
        let body = RecordedRequest::of(&w.request);
        let error = body.as_ref().err().map(ToString::to_string);
        record.request = body.ok();
        self.records.insert(w.key.clone(), record);
        let live = self.live.entry(w.key.clone()).or_default();
        match first {
            First::Send => live.phase = Phase::Queued,
            First::LookUp { never_sent } => {
                live.phase = Phase::Unsure { not_before: None };
                live.never_sent = never_sent;
            }
        }
        if let Some(e) = error {
            self.unsendable(&w.key, e, now);
            return false;
        }
        first == First::Send
    }

    /// A queued create that cannot be sent (its body is not on record): taken as a create
    /// that ended without a clear answer, so it is looked up, and no call is counted.
    pub fn unsendable(&mut self, key: &BookingKey, reason: String, now: DateTime<Utc>) {
        self.set_phase(key, Phase::Sending(Request::Create));
        self.created(
            key.clone(),
            Err(ApiError::unsent("POST", "/v1/meetings", reason)),
            now,
        );
    }

    /// An occurrence whose start passed before it could be booked.
    pub fn missed(&mut self, w: &Wanted, hash: &str, reason: String, now: DateTime<Utc>) {
        tracing::warn!(booking = %w.key, subject = %w.request.subject, "missed: {reason}");
        let mut record = self.new_record(w, hash, Status::Missed, now);
        record.last_error = Some(reason.as_str().into());
        self.records.insert(w.key.clone(), record);
        self.live.remove(&w.key);
        self.problems += 1;
        self.tell(Told::Missed {
            key: w.key.clone(),
            reason,
        });
    }

    /// No longer wanted and never created: dropped.
    pub fn forget(&mut self, key: &BookingKey) {
        tracing::info!(booking = %key, "no longer wanted and never created; dropped");
        self.records.remove(key);
        self.live.remove(key);
    }

    /// A pending booking whose create was unclear follows its renamed file to `to`, with the
    /// request body that was sent (when memory no longer holds it). A pass follows at once.
    /// Returns the new key.
    pub fn moved(
        &mut self,
        from: &BookingKey,
        to: &Name,
        sent: Option<RecordedRequest>,
    ) -> Option<BookingKey> {
        let key = self.records.moved(from, to, sent)?;
        tracing::info!(booking = %from, to = %key, "its file was renamed while its create was unclear: the booking moves with it and is looked up");
        if let Some(live) = self.live.remove(from) {
            self.live.insert(key.clone(), live);
        }
        self.out.push_back(Output::Pass);
        Some(key)
    }

    /// The intent of a modify or cancel of a booked meeting, on record before it is sent.
    pub fn change(&mut self, key: &BookingKey, change: Change, now: DateTime<Utc>) {
        if let Some(r) = self.records.get_mut(key) {
            tracing::info!(booking = %key, change = change.kind().as_str(), "changing a booked meeting");
            r.change = Some(Box::new(change));
            r.updated_at = now.timestamp();
            // Busy until it is sent: a pass while its intent is written must not plan it
            // again (it would be queued, and sent, twice). An unsure booking stays so.
            if self.phase(key) == Phase::Idle {
                self.set_phase(key, Phase::Queued);
            }
        }
    }

    /// A change on record that is no longer wanted (its definition is back as it was), or,
    /// with none, a refused change that no longer applies: its definition is back as it was
    /// when the meeting was booked, so the meeting is as its file wants it.
    pub fn drop_change(&mut self, key: &BookingKey, reason: &str) {
        if self
            .records
            .get(key)
            .is_some_and(|r| r.change.is_some() || r.refused.is_some())
            && let Some(r) = self.records.get_mut(key)
        {
            if r.change.take().is_some() {
                tracing::warn!(booking = %key, "{reason}; the change is dropped");
            } else if let Some(refused) = r.refused.take() {
                tracing::info!(booking = %key, "{reason}; the refused {} no longer applies", refused.kind.as_str());
            }
        }
        self.unqueue(key);
    }

    /// The definition changed in nothing the meeting shows: its new hash is noted.
    pub fn rehash(&mut self, key: &BookingKey, hash: &str) {
        if let Some(r) = self.records.get_mut(key) {
            r.definition_hash = hash.into();
        }
    }

    /// Drops the records of meetings that ended before `cutoff` (unix seconds), but those
    /// still in progress. Returns how many went.
    pub fn prune(&mut self, cutoff: i64) -> usize {
        let before = self.records.len();
        let live = &self.live;
        self.records.retain(|k, r| {
            r.occurrence_end >= cutoff
                || r.status == Status::Pending
                || r.change.is_some()
                || live
                    .get(k)
                    .is_some_and(|l| matches!(l.phase, Phase::Queued | Phase::Sending(_)))
        });
        before - self.records.len()
    }

    // ---- Requests going out -----------------------------------------------------------------

    /// A queued create is sent now: one more create call on record. Returns whether to send
    /// it: only a [`Phase::Queued`] booking's create goes (one whose create was answered or
    /// dropped meanwhile sends nothing; a create never goes twice).
    pub fn dispatch_create(&mut self, key: &BookingKey) -> bool {
        if self.phase(key) != Phase::Queued || !self.records.contains(key) {
            tracing::warn!(booking = %key, "a queued create whose booking moved on; not sent");
            return false;
        }
        if let Some(r) = self.records.get_mut(key) {
            r.attempts += 1;
        }
        let live = self.live.entry(key.clone()).or_default();
        live.phase = Phase::Sending(Request::Create);
        live.never_sent = false;
        true
    }

    /// These bookings are looked up in one list request. Returns whether any create of them
    /// may be on its way to the server (the lookup then waits for it to land first).
    pub fn dispatch_lookup(&mut self, keys: &[BookingKey]) -> bool {
        let mut sent = false;
        for k in keys {
            let live = self.live.entry(k.clone()).or_default();
            sent |= !live.never_sent;
            live.phase = Phase::Sending(Request::LookUp);
        }
        sent
    }

    /// The change on record for `key`, to send now; `None` when there is none (or no meeting).
    pub fn dispatch_change(&mut self, key: &BookingKey) -> Option<ChangeRequest> {
        let Some(r) = self.records.get(key) else {
            self.unqueue(key);
            return None;
        };
        let (Some(change), Some(meeting_id)) = (r.change.as_deref(), r.meeting_id.as_ref()) else {
            self.unqueue(key);
            return None;
        };
        if matches!(self.phase(key), Phase::Sending(_)) {
            // Queued twice (two passes resumed it before it went): it is on its way once.
            return None;
        }
        let request = ChangeRequest {
            change: change.clone(),
            meeting_id: meeting_id.clone(),
            userid: r.userid.clone(),
            instanceid: r.instanceid,
        };
        self.live.entry(key.clone()).or_default().phase = Phase::Sending(Request::Change);
        Some(request)
    }

    // ---- Helpers ----------------------------------------------------------------------------

    /// Whether to take an answer about `key` to `request` (see the module doc).
    fn answered(&mut self, key: &BookingKey, request: Request) -> bool {
        let phase = self.phase(key);
        if !self.records.contains(key) {
            tracing::warn!(booking = %key, "an answer to a {request:?} came for a booking no longer on record; dropped");
            self.live.remove(key);
            return false;
        }
        if phase == Phase::Sending(request) {
            return true;
        }
        tracing::warn!(booking = %key, "an answer to a {request:?} came for a booking in {phase:?}");
        request != Request::LookUp
    }

    /// A booking queued with nothing left to send is not busy any more (else the plan would
    /// skip it for good).
    fn unqueue(&mut self, key: &BookingKey) {
        if self.phase(key) == Phase::Queued {
            self.set_phase(key, Phase::Idle);
        }
    }

    fn set_phase(&mut self, key: &BookingKey, phase: Phase) {
        self.live.entry(key.clone()).or_default().phase = phase;
    }

    fn retry_delay(&self) -> TimeDelta {
        TimeDelta::from_std(self.rules.max_delay).unwrap_or(TimeDelta::minutes(5))
    }

    fn tell(&mut self, told: Told) {
        self.out.push_back(Output::Told(told));
    }

    /// The meeting exists: booked, done.
    fn booked(&mut self, key: &BookingKey, m: MeetingInfo, adopted: bool, now: DateTime<Utc>) {
        self.live.remove(key);
        if self
            .records
            .booked(
                key,
                &m.meeting_id,
                &m.meeting_code,
                &m.join_url,
                now.timestamp(),
            )
            .is_some()
        {
            self.tell(Told::Booked {
                key: key.clone(),
                meeting: Box::new(m),
                adopted,
            });
        }
    }

    /// Failed for good: not tried again until its file changes (or an operator asks).
    fn fail(&mut self, key: BookingKey, failure: Failure, hint: &str, now: DateTime<Utc>) {
        let Failure { text, code, trace } = failure;
        self.live.remove(&key);
        self.records.failed(&key, &text, code, now.timestamp());
        self.problems += 1;
        tracing::error!(booking = %key, error_code = code, trace, cause = %text, "booking failed; {hint}");
        self.tell(Told::Failed { key, error: text });
    }

    /// A fresh record for an occurrence, keeping the attempts, last error and notifications
    /// of the one it replaces.
    fn new_record(&self, w: &Wanted, hash: &str, status: Status, now: DateTime<Utc>) -> Record {
        let previous = self.records.get(&w.key);
        Record {
            definition: w.key.definition.clone(),
            occurrence_start: w.key.start,
            occurrence_end: w.end.timestamp(),
            status,
            userid: w.request.userid.as_str().into(),
            instanceid: w.request.instanceid,
            subject: w.request.subject.clone(),
            timezone: Some(w.timezone.name().into()),
            definition_hash: hash.into(),
            request: None,
            meeting_id: None,
            meeting_code: None,
            join_url: None,
            attempts: previous.map_or(0, |r| r.attempts),
            last_error: previous.and_then(|r| r.last_error.clone()),
            error_code: None,
            updated_at: now.timestamp(),
            change: None,
            refused: None,
            sequence: 0,
            notified: previous.map(|r| r.notified.clone()).unwrap_or_default(),
            acknowledged: None,
        }
    }
}

impl Live {
    fn unsure() -> Live {
        Live {
            phase: Phase::Unsure { not_before: None },
            ..Live::default()
        }
    }
}

/// Why a booking failed for good: the text its record keeps and notifications tell, and, as
/// fields of the log line, the vendor's error code and trace id.
struct Failure {
    text: String,
    code: Option<i64>,
    trace: Option<String>,
}

impl Failure {
    /// `text`, about the API error `e`.
    fn api(text: String, e: &ApiError) -> Failure {
        Failure {
            text,
            code: e.code(),
            trace: e.trace().map(str::to_string),
        }
    }

    /// `text`, with the error code on record, if any.
    fn plain(text: String, code: Option<i64>) -> Failure {
        Failure {
            text,
            code,
            trace: None,
        }
    }
}

/// Waits between failed lookups: 10 s, 20 s, 40 s, ... up to `max`.
pub fn lookup_backoff(failures: u32, max: Duration) -> TimeDelta {
    let secs = 10u64.saturating_mul(1u64 << failures.saturating_sub(1).min(20));
    TimeDelta::from_std(Duration::from_secs(secs).min(max)).unwrap_or(TimeDelta::minutes(5))
}

mod answers;
#[cfg(test)]
mod tests;
