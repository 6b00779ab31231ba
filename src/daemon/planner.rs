//! Each pass: which definitions may need something ([`Planner::scope`]), what the plan says
//! for them ([`plan::reconcile`]), and the lifecycle steps that carry it out. What is then to
//! be sent comes back as [`Planned`]; the daemon writes the intents and sends it.
//!
//! The planner keeps what passes share: when each definition next needs a look, what is held
//! back (removals, changes, creates over a quota), and until when bookings made for the first
//! time are looked up before they are created.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};

use super::dispatch::{Lookup, Unsent};
use super::options::Mode;
use super::steps;
use crate::booking::{BookingKey, Name, Status};
use crate::config::Config;
use crate::ledger::Ledger;
use crate::lifecycle::{Bookings, First};
use crate::plan::{self, Action, Tracked, Wanted};
use crate::quota::{self, Quotas};
use crate::state::{self, Record};
use crate::store::{self, Reader, RequestKind};
use crate::watch::Catalog;

/// What a pass reads.
pub(super) struct World<'a> {
    pub(super) config: &'a Config,
    pub(super) catalog: &'a Catalog,
    /// Request bodies that memory does not hold, and the operators' requests.
    pub(super) reader: &'a Reader,
    pub(super) quotas: &'a Mutex<Quotas>,
}

/// What a pass leaves to send, its intents on record (in memory: written before sending).
pub(super) struct Planned {
    /// Bookings with a modify or cancel to send.
    pub(super) changes: Vec<BookingKey>,
    /// Creates to send.
    pub(super) creates: Vec<Unsent>,
    /// Bookings to look up, by user.
    pub(super) lookups: Vec<Lookup>,
    /// When the loop must wake next, if nothing else happens.
    pub(super) wake: DateTime<Utc>,
    /// The pass looked at everything.
    pub(super) full: bool,
    /// The removals held back, when that changed to some: the daemon tells.
    pub(super) removals_held: Option<Vec<String>>,
    /// Creates began to wait for the month to turn (none did at the pass before): the wait,
    /// and how many: the daemon tells.
    pub(super) month_paused: Option<(quota::Wait, usize)>,
}

impl Planned {
    /// Whether anything is to be sent.
    pub(super) fn sends(&self) -> bool {
        !self.changes.is_empty() || !self.creates.is_empty() || !self.lookups.is_empty()
    }
}

/// The definitions operators approved the held removals or changes of, and the requests
/// that did: removed from the store once nothing is held any more.
#[derive(Default)]
struct Approvals {
    removals: BTreeSet<String>,
    removal_requests: Vec<i64>,
    changes: BTreeSet<String>,
    change_requests: Vec<i64>,
}

/// What passes share.
pub(super) struct Planner {
    mode: Mode,
    /// Tests: check that every incremental pass decides what a full pass would.
    // Read by a check that only debug builds make.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    check_incremental: bool,
    pub(super) last_pass: Option<DateTime<Utc>>,
    /// The next pass looks at everything (see [`Planner::scope`]).
    full_pass: bool,
    /// Definitions with creates a quota held back at the last pass.
    quota_held: BTreeSet<Name>,
    /// When each definition next needs a look, soonest first, and by definition.
    next_at: BTreeSet<(DateTime<Utc>, Name)>,
    next_at_of: HashMap<Name, DateTime<Utc>>,
    /// Definitions whose removal cancels wait for an operator.
    held: Vec<String>,
    /// Definitions whose meetings' changes no definition made are held (`guard.max_changes`).
    held_changes: Vec<String>,
    /// Creates held back by a quota at the last pass, per user: why, until when, how many.
    waiting: BTreeMap<String, (quota::Wait, usize)>,
    /// Creates are looked up instead of sent: the first pass after starting with no state,
    /// and every pass of [`Mode::Recover`].
    pub(super) recovering: bool,
    /// Until then a booking made for the first time is looked up before it is created (see
    /// [`look_up_until`]).
    look_up_until: Option<DateTime<Utc>>,
    /// What operators approved (their requests in the store), until nothing is held.
    approvals: Approvals,
    /// The newest operator request acted on: later reads skip it and those before.
    last_request: i64,
    /// Operator requests acted on, removed by the next write.
    requests_done: Vec<i64>,
    /// The values the store keeps changed (held, waiting), or requests were acted on: the next
    /// write takes them.
    touched: bool,
    pub(super) passes: u64,
}

impl Planner {
    /// The planner of a daemon started on a store with `meta`; `fresh`: a new or lost store.
    pub(super) fn new(
        mode: Mode,
        check_incremental: bool,
        meta: &store::Meta,
        fresh: bool,
        now: DateTime<Utc>,
    ) -> Planner {
        Planner {
            mode,
            check_incremental,
            last_pass: meta.last_pass.and_then(|t| DateTime::from_timestamp(t, 0)),
            full_pass: true,
            quota_held: BTreeSet::new(),
            next_at: BTreeSet::new(),
            next_at_of: HashMap::new(),
            held: meta.held_removals.clone(),
            held_changes: meta.held_changes.clone(),
            waiting: BTreeMap::new(),
            recovering: fresh || matches!(mode, Mode::Recover { .. }),
            look_up_until: look_up_until(fresh, meta.look_up_until, now),
            approvals: Approvals::default(),
            last_request: 0,
            requests_done: Vec::new(),
            touched: false,
            passes: 0,
        }
    }

    /// The next pass looks at everything (after a rescan or a reload).
    pub(super) fn look_at_everything(&mut self) {
        self.full_pass = true;
    }

    /// Whether the values the store keeps changed since the last call.
    pub(super) fn take_touched(&mut self) -> bool {
        std::mem::take(&mut self.touched)
    }

    /// Acts on the operator requests that came since the last pass: a retry at once (and done
    /// with); an approval from now until nothing it approved is held.
    async fn take_requests(
        &mut self,
        reader: &Reader,
        bookings: &mut Bookings,
        now: DateTime<Utc>,
    ) {
        let requests = match reader.requests().await {
            Ok(requests) => requests,
            Err(e) => {
                tracing::error!(
                    "cannot read the operators' requests (retry, ack, approve): {e}; trying again at the next pass"
                );
                return;
            }
        };
        let seen = self.last_request;
        for r in requests.into_iter().filter(|r| r.id > seen) {
            self.last_request = r.id;
            match r.kind {
                RequestKind::Retry => {
                    let keys: Vec<BookingKey> = r
                        .items
                        .iter()
                        .filter_map(|k| BookingKey::parse(k))
                        .collect();
                    bookings.retry(&keys, "asked for with `wemeet-scheduler retry`", now);
                    self.done(vec![r.id]);
                }
                RequestKind::Ack => {
                    let keys: Vec<BookingKey> = r
                        .items
                        .iter()
                        .filter_map(|k| BookingKey::parse(k))
                        .collect();
                    bookings.acknowledge(&keys, "with `wemeet-scheduler ack`", now);
                    self.done(vec![r.id]);
                }
                RequestKind::ApproveRemovals => {
                    self.approvals.removals.extend(r.items);
                    self.approvals.removal_requests.push(r.id);
                }
                RequestKind::ApproveChanges => {
                    self.approvals.changes.extend(r.items);
                    self.approvals.change_requests.push(r.id);
                }
            }
        }
    }

    /// Requests acted on: the next write removes them.
    fn done(&mut self, ids: Vec<i64>) {
        if !ids.is_empty() {
            self.requests_done.extend(ids);
            self.touched = true;
        }
    }

    /// The operator requests acted on, for the next write to remove.
    pub(super) fn requests_done(&self) -> &[i64] {
        &self.requests_done
    }

    /// The write removed the first `n` of [`Planner::requests_done`].
    pub(super) fn requests_removed(&mut self, n: usize) {
        self.requests_done.drain(..n.min(self.requests_done.len()));
    }

    /// Removals held back.
    pub(super) fn held(&self) -> &[String] {
        &self.held
    }

    /// Creates waiting for a quota.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.values().map(|(_, n)| n).sum()
    }

    /// The daemon's values as the store keeps them.
    pub(super) fn meta(&self, catalog: &Catalog) -> store::Meta {
        store::Meta {
            last_pass: self.last_pass.map(|t| t.timestamp()),
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
            paused: catalog
                .definitions()
                .filter(|d| d.paused)
                .map(|d| d.id.to_string())
                .collect(),
            look_up_until: self.look_up_until.map(|t| t.timestamp()),
            held_changes: self.held_changes.clone(),
            month: None, // The daemon's quotas fill it in.
            invalid_in_meta: false,
        }
    }

    /// One pass: the plan, and the lifecycle steps it takes.
    /// `touched`: the definitions whose files changed since the last pass.
    pub(super) async fn pass(
        &mut self,
        w: &World<'_>,
        touched: BTreeSet<Name>,
        bookings: &mut Bookings,
        now: DateTime<Utc>,
    ) -> Planned {
        self.passes += 1;
        let scope = self.scope(touched, bookings, now);
        let full = scope.is_none();
        if full {
            // Operators' requests are acted on at the passes that look at everything (a
            // rescan, a reload, every pass of `once`), as `retry` and `approve` say: not a
            // query of the store at every pass.
            self.take_requests(w.reader, bookings, now).await;
            steps::acknowledge_gone(w.catalog, bookings, now);
            let pruned = bookings.prune(w.config.state.forget_before(now).timestamp());
            if pruned > 0 {
                tracing::info!(
                    pruned,
                    "forgot bookings of meetings that ended over the retention time ago"
                );
            }
        }
        Self::read_requests_for_changes(w, bookings, now, scope.as_ref()).await;
        let plan::Reconciled {
            actions,
            held,
            held_changes,
            ..
        } = self.reconciled(w, bookings, now, scope.as_ref());
        #[cfg(debug_assertions)]
        if scope.is_some() && self.check_incremental {
            // Tests: an incremental pass must decide what a full one would.
            let full = self.reconciled(w, bookings, now, None);
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
        self.update_next_at(w.catalog, scope.as_ref(), now);
        let mut removals_held = None;
        if !matches!(self.mode, Mode::Recover { .. }) {
            removals_held = self.note_held(held);
            self.note_held_changes(held_changes, w);
        }
        let actions: Vec<Action> = actions
            .into_iter()
            .filter(|a| self.allowed(bookings, a))
            .collect();
        let (changes, creates, resolves, moved) =
            steps::take(w.catalog, w.reader, bookings, actions, now).await;
        self.last_pass = Some(now);
        let mut wake = if moved {
            now
        } else {
            self.next_wake(bookings, now)
        };
        let creates = self.look_up_first(w, bookings, creates, &mut wake, now);
        let (creates, month_paused) = self.admit(w, creates, &mut wake, now);
        let mut unsent = Vec::with_capacity(creates.len());
        for c in creates {
            let hash = steps::hash_of(w.catalog, &c.key);
            if bookings.intent(&c, &hash, First::Send, now) {
                unsent.push(Unsent {
                    key: c.key,
                    userid: c.request.userid,
                });
            }
        }
        let lookups = resolves
            .into_iter()
            .map(|((userid, instanceid), keys)| Lookup {
                userid,
                instanceid,
                keys,
            })
            .collect();
        Planned {
            changes,
            creates: unsent,
            lookups,
            wake,
            full,
            removals_held,
            month_paused,
        }
    }

    /// Recovery, and for a year after a new or restored store every booking made for the
    /// first time (a paused series resumed, a broken file fixed, a shorter `book_ahead`
    /// reaching an occurrence): the state it replaced may have booked it. Its intent is
    /// recorded and it is looked up instead of sent; what is not found is created by a later
    /// pass (not in recover mode). Returns the creates left to send.
    fn look_up_first(
        &mut self,
        w: &World<'_>,
        bookings: &mut Bookings,
        mut creates: Vec<Wanted>,
        wake: &mut DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<Wanted> {
        let first_time_looked_up = self.look_up_until.is_some_and(|t| now < t);
        // At start a process that lost the state may have just died with creates on their
        // way: those lookups wait for them to land. Later, nothing of these was ever sent.
        let never_sent = !self.recovering;
        let look_up: Vec<Wanted> = if self.recovering {
            std::mem::take(&mut creates)
        } else if first_time_looked_up {
            let (first, again): (Vec<Wanted>, Vec<Wanted>) = creates
                .into_iter()
                .partition(|c| !bookings.records().contains(&c.key));
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
            for c in look_up {
                let hash = steps::hash_of(w.catalog, &c.key);
                bookings.intent(&c, &hash, First::LookUp { never_sent }, now);
            }
            *wake = now;
        }
        if !matches!(self.mode, Mode::Recover { .. }) {
            self.recovering = false;
        }
        creates
    }

    /// Quotas: in start order, so the soonest meetings go first; a user at the limit waits
    /// without holding back the others. (The plan lists creates of pending bookings, those
    /// looked up first, in key order: `q10` before `q2`.) Returns the creates admitted, and
    /// the month's wait when creates began to wait for it.
    fn admit(
        &mut self,
        w: &World<'_>,
        mut creates: Vec<Wanted>,
        wake: &mut DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Vec<Wanted>, Option<(quota::Wait, usize)>) {
        creates.sort_by(|a, b| (a.key.start, &a.key).cmp(&(b.key.start, &b.key)));
        let mut waiting: BTreeMap<String, (quota::Wait, usize)> = BTreeMap::new();
        let mut quotas = lock(w.quotas);
        creates.retain(|c| match quotas.admit(&c.request.userid, now) {
            Ok(()) => true,
            Err(wait) => {
                self.quota_held.insert(c.key.definition.clone());
                waiting
                    .entry(c.request.userid.clone())
                    .or_insert((wait, 0))
                    .1 += 1;
                false
            }
        });
        drop(quotas);
        if let Some(until) = waiting.values().map(|(wait, _)| wait.until).min() {
            *wake = (*wake).min(until);
        }
        let month_paused = self.note_waiting(waiting);
        (creates, month_paused)
    }

    /// When the loop must wake even if nothing happens.
    pub(super) fn next_wake(&self, bookings: &Bookings, now: DateTime<Utc>) -> DateTime<Utc> {
        let due = self.next_at.first().map(|(at, _)| *at);
        let pending = bookings.next_due(now);
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

    /// The plan for the definitions in `scope` (all of them when `None`) and their records.
    fn reconciled<'a>(
        &self,
        w: &World<'_>,
        bookings: &'a Bookings,
        now: DateTime<Utc>,
        scope: Option<&BTreeSet<Name>>,
    ) -> plan::Reconciled {
        let records = bookings.records();
        let tracked_of = |(k, r): (&BookingKey, &'a Record)| (k.clone(), bookings.tracked(k, r));
        let (defs, tracked, at_stake): (Vec<_>, BTreeMap<BookingKey, Tracked<'_>>, _) = match scope
        {
            None => (
                w.catalog.definitions().collect(),
                records.iter().map(tracked_of).collect(),
                None,
            ),
            Some(ids) => {
                // A removal is judged against every definition with meetings to come.
                let removal = ids.iter().any(|id| {
                    w.catalog.hash_of(id).is_none() && records.of_definition(id).next().is_some()
                });
                (
                    ids.iter().filter_map(|id| w.catalog.get(id)).collect(),
                    ids.iter()
                        .flat_map(|id| records.of_definition(id))
                        .map(tracked_of)
                        .collect(),
                    removal.then(|| at_stake(records, now)),
                )
            }
        };
        let hash_of = |id: &str| w.catalog.hash_of(id);
        plan::reconcile(
            &defs,
            &tracked,
            &plan::Context {
                format: w.config.api.user_format,
                now,
                last_pass: self.last_pass,
                lifecycle: &w.config.lifecycle,
                hash_of: &hash_of,
                removals_approved: &self.approvals.removals,
                edited: &|id| w.catalog.edited(id),
                max_changes: w.config.guard.max_changes,
                changes_approved: &self.approvals.changes,
                forget_before: w.config.state.forget_before(now),
                at_stake,
            },
        )
    }

    /// Reads back the request bodies a pass compares with: those of booked meetings still to
    /// come whose definition changed since they were booked (the plan modifies the fields
    /// that differ).
    async fn read_requests_for_changes(
        w: &World<'_>,
        bookings: &mut Bookings,
        now: DateTime<Utc>,
        scope: Option<&BTreeSet<Name>>,
    ) {
        let stale = |k: &BookingKey, r: &Record| {
            r.status == Status::Booked
                && r.request.is_none()
                && r.change.is_none()
                && k.start > now.timestamp()
                && w.catalog
                    .hash_of(&k.definition)
                    .is_some_and(|h| *h != *r.definition_hash)
        };
        let records = bookings.records();
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
            match w.reader.request_of(&key).await {
                Ok(Some(q)) => bookings.records_mut().restore_request(&key, q),
                Ok(None) => {}
                Err(e) => tracing::warn!(booking = %key, "cannot read the recorded request: {e}"),
            }
        }
    }

    /// What this pass looks at: `None` for everything (the first pass, after a rescan or a
    /// reload, and always in `once` and `recover`); else the definitions whose files changed,
    /// whose records changed since the last pass, that have bookings in progress or removals
    /// held, and whose next booking time or start has come. The rest cannot need anything:
    /// their files and records are as the last pass left them, and no time of theirs came.
    fn scope(
        &mut self,
        mut ids: BTreeSet<Name>,
        bookings: &mut Bookings,
        now: DateTime<Utc>,
    ) -> Option<BTreeSet<Name>> {
        ids.extend(bookings.records_mut().take_touched());
        if std::mem::take(&mut self.full_pass) || self.mode != Mode::Run {
            return None;
        }
        ids.extend(bookings.live_keys().map(|k| k.definition.clone()));
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
    fn update_next_at(
        &mut self,
        catalog: &Catalog,
        scope: Option<&BTreeSet<Name>>,
        now: DateTime<Utc>,
    ) {
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
                let times: Vec<(Name, Option<DateTime<Utc>>)> = catalog
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
                    .map(|id| (id, catalog.get(id).and_then(|d| plan::next_event(d, now))))
                    .collect();
                for (id, at) in times {
                    set(id, at);
                }
            }
        }
    }

    /// Whether a pass now would do something (for `once`).
    pub(super) fn has_work_now(
        &self,
        w: &World<'_>,
        bookings: &Bookings,
        now: DateTime<Utc>,
    ) -> bool {
        let quotas = lock(w.quotas);
        // A create held back by a quota waits for the quota's wake-up, not a pass now.
        let held = |a: &Action| match a {
            Action::Create(w) => quotas.check(&w.request.userid, now).is_err(),
            _ => false,
        };
        self.reconciled(w, bookings, now, None)
            .actions
            .iter()
            .any(|a| self.allowed(bookings, a) && !held(a))
    }

    /// Whether this run carries out `action`: [`Mode::Recover`] only looks up and records,
    /// and does not look up again what it did not find.
    fn allowed(&self, bookings: &Bookings, action: &Action) -> bool {
        match self.mode {
            Mode::Recover { .. } => match action {
                Action::Create(w) => !bookings.not_found(&w.key),
                Action::Resolve(_)
                | Action::Move { .. }
                | Action::Missed { .. }
                | Action::Forget(_) => true,
                _ => false,
            },
            Mode::Run | Mode::Once => true,
        }
    }

    /// Records which removals are held back, saying so loudly when that changes; consumes an
    /// operator's approval once it has been acted on.
    fn note_held(&mut self, held: Vec<String>) -> Option<Vec<String>> {
        let mut told = None;
        if held != self.held {
            if held.is_empty() {
                tracing::info!("no removals are held back any more");
            } else {
                tracing::error!(
                    definitions = held.len(),
                    "too many definitions vanished at once (more than lifecycle.max_cancel_fraction of those with booked meetings): cancelling NOTHING for them; if the removal is intended run `wemeet-scheduler approve-removals`, otherwise restore the files: {}",
                    held.join(", ")
                );
                told = Some(held.clone());
            }
            self.held = held;
            self.touched = true;
        }
        if self.held.is_empty() {
            let done = std::mem::take(&mut self.approvals.removal_requests);
            self.done(done);
            self.approvals.removals.clear();
        }
        told
    }

    /// Records which definitions' changes are held back ([`plan::Reconciled::held_changes`]),
    /// saying so loudly when that changes; consumes an operator's approval once acted on.
    fn note_held_changes(&mut self, held: Vec<String>, w: &World<'_>) {
        if held != self.held_changes {
            if held.is_empty() {
                tracing::info!("no changes are held back any more");
            } else {
                tracing::error!(
                    definitions = held.len(),
                    "more than guard.max_changes ({}) booked meetings would change although no definition was seen to change (a new build, or a config reload): changing NOTHING for them; see `wemeet-scheduler plan`, and if the changes are intended run `wemeet-scheduler approve-changes`: {}",
                    w.config.guard.max_changes,
                    held.join(", ")
                );
            }
            self.held_changes = held;
            self.touched = true;
        }
        if self.held_changes.is_empty() {
            let done = std::mem::take(&mut self.approvals.change_requests);
            self.done(done);
            self.approvals.changes.clear();
        }
    }

    /// Records which creates wait for a quota, saying so when that changes. Returns the
    /// month's wait (and how many wait for it) when none waited for the month before.
    fn note_waiting(
        &mut self,
        waiting: BTreeMap<String, (quota::Wait, usize)>,
    ) -> Option<(quota::Wait, usize)> {
        let month = |w: &quota::Wait| {
            matches!(
                w.reason,
                quota::WaitReason::MonthlyCreates | quota::WaitReason::MonthRefused
            )
        };
        let before = self.waiting.values().any(|(w, _)| month(w));
        let now_waiting = waiting.values().filter(|(w, _)| month(w)).fold(
            None,
            |acc: Option<(quota::Wait, usize)>, (w, n)| match acc {
                Some((first, total)) => Some((first, total + n)),
                None => Some((w.clone(), *n)),
            },
        );
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
            self.touched = true;
        }
        self.waiting = waiting;
        now_waiting.filter(|_| !before)
    }
}

/// How many definitions have booked meetings still to come (records are in definition order,
/// so one walk counts them).
fn at_stake(records: &Ledger, now: DateTime<Utc>) -> usize {
    let mut count = 0;
    let mut last: Option<&str> = None;
    for (k, r) in records.iter() {
        if r.status == Status::Booked && k.start > now.timestamp() && last != Some(&*k.definition) {
            count += 1;
            last = Some(&*k.definition);
        }
    }
    count
}

pub(super) fn lock(quotas: &Mutex<Quotas>) -> MutexGuard<'_, Quotas> {
    // A panic while holding it cannot leave the counts half-written: each change is one push
    // or insert.
    quotas.lock().unwrap_or_else(|e| e.into_inner())
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
