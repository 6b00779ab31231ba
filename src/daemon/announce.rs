//! Announcements: booked, changed, cancelled, failed, missed and held meetings, told to the
//! notification targets that follow them, once per target and event (across restarts too:
//! each booking's `notified` keeps what was sent).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::lead::Leadership;
use super::report::Event;
use crate::booking::{BookingKey, Name, Status};
use crate::ledger::Ledger;
use crate::lifecycle::{Bookings, What};
use crate::notifications::{Done, Message, Outbox};
use crate::store::Reader;
use crate::watch::Catalog;

/// Notifications remembered per booking (`notified`).
const MAX_NOTIFIED: usize = 16;

/// What an announcement reads.
pub(super) struct Cx<'a> {
    pub(super) records: &'a Ledger,
    /// The definitions, for the targets each names.
    pub(super) catalog: &'a Catalog,
    /// `defaults.timezone`, for a booking without its own.
    pub(super) timezone: chrono_tz::Tz,
}

/// What [`Announcer::came`] reads beside the bookings.
pub(super) struct Cx2<'a> {
    pub(super) catalog: &'a Catalog,
    pub(super) timezone: chrono_tz::Tz,
}

/// What [`Announcer::next`] gives.
pub(super) enum Came {
    Done(Done),
    Read(Pending, Links),
}

/// The notifications queued and done.
pub(super) struct Announcer {
    outbox: Outbox,
    /// Notifications queued and not done yet (sent or given up), to wait for at shutdown.
    announcing: usize,
    /// Notifications done, from the outbox.
    done: mpsc::UnboundedReceiver<Done>,
    /// (definition, target) pairs already warned about: a `notify` name the config lacks.
    unknown_targets: HashSet<(Name, String)>,
    /// Reads the join URLs and codes that memory does not hold (a record loaded at start).
    reader: Reader,
    /// Announcements waiting for those reads.
    reads: JoinSet<(Pending, Links)>,
}

/// An announcement about a booking, before its message is made.
pub(super) struct Pending {
    key: BookingKey,
    kind: crate::config::NotifyEvent,
    detail: Option<String>,
}

/// A booking's join URL and meeting code.
pub(super) type Links = (Option<String>, Option<String>);

impl Announcer {
    pub(super) fn new(
        outbox: Outbox,
        done: mpsc::UnboundedReceiver<Done>,
        reader: Reader,
    ) -> Announcer {
        Announcer {
            outbox,
            announcing: 0,
            done,
            unknown_targets: HashSet::new(),
            reader,
            reads: JoinSet::new(),
        }
    }

    pub(super) fn announce(&mut self, event: &Event, cx: &Cx<'_>) {
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
                return self.announce_daemon(N::Held, None, definitions.clone());
            }
            Event::Reloaded {
                failed: Some(reason),
            } => return self.announce_daemon(N::ReloadFailed, Some(reason.clone()), Vec::new()),
            Event::CreatesPaused {
                why,
                until,
                waiting,
            } => {
                let detail = format!(
                    "{waiting} booking(s) wait for {why} until {} (00:00 on the 1st, China time)",
                    until.format("%F %H:%M UTC")
                );
                return self.announce_daemon(N::Quota, Some(detail), Vec::new());
            }
            _ => return,
        };
        self.announce_record(key, kind, detail, cx);
    }

    /// Queues `kind`, news of the daemon rather than of a booking, to every target that asks
    /// for it.
    fn announce_daemon(
        &mut self,
        kind: crate::config::NotifyEvent,
        detail: Option<String>,
        definitions: Vec<String>,
    ) {
        let message = Message {
            event: kind,
            definition: String::new(),
            occurrence: 0,
            subject: String::new(),
            start: String::new(),
            timezone: String::new(),
            join_url: None,
            meeting_code: None,
            detail,
            definitions,
        };
        for (i, _) in self.outbox.targets_for(kind, "", &[]) {
            self.outbox.send(i, &message, None);
        }
    }

    /// Queues `kind` about the booking `key` (as its record stands) to the targets that have
    /// not had it.
    fn announce_record(
        &mut self,
        key: &BookingKey,
        kind: crate::config::NotifyEvent,
        detail: Option<String>,
        cx: &Cx<'_>,
    ) {
        let named = cx
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
        let Some(r) = cx.records.get(key) else {
            return;
        };
        let pending = Pending {
            key: key.clone(),
            kind,
            detail,
        };
        // A record loaded at start holds neither: they stay in the store, read back first.
        if let (None, None, Some(_)) = (&r.join_url, &r.meeting_code, &r.meeting_id) {
            let read = self.reader.record_of(key);
            self.reads.spawn(async move {
                let links = match read.await {
                    Ok(stored) => stored.map_or((None, None), |s| {
                        (
                            s.join_url.map(String::from),
                            s.meeting_code.map(String::from),
                        )
                    }),
                    Err(e) => {
                        tracing::warn!(booking = %pending.key, "cannot read the join URL for the notification: {e}");
                        (None, None)
                    }
                };
                (pending, links)
            });
            return;
        }
        let links = (
            r.join_url.as_deref().map(str::to_string),
            r.meeting_code.as_deref().map(str::to_string),
        );
        self.queue(pending, links, cx);
    }

    /// Queues the message of `pending`, with its booking's links, to the targets that have
    /// not had it.
    pub(super) fn queue(&mut self, pending: Pending, links: Links, cx: &Cx<'_>) {
        let Pending { key, kind, detail } = pending;
        let key = &key;
        let Some(r) = cx.records.get(key) else {
            return;
        };
        let named = cx
            .catalog
            .get(&key.definition)
            .map(|d| d.notify.clone())
            .unwrap_or_default();
        let zone: chrono_tz::Tz = r
            .timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(cx.timezone);
        let (join_url, meeting_code) = links;
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
    pub(super) fn notified(&mut self, done: Done, bookings: &mut Bookings) {
        self.announcing = self.announcing.saturating_sub(1);
        if let Some(r) = bookings.records_mut().get_mut(&done.key) {
            if !r.notified.contains(&done.mark) {
                r.notified.push(done.mark);
            }
            // The latest few are enough to tell what was sent for the current event.
            let excess = r.notified.len().saturating_sub(MAX_NOTIFIED);
            r.notified.drain(..excess);
        }
    }

    /// After a restart: what the last run did not get to announce, if it is recent.
    pub(super) fn announce_missing(&mut self, now: DateTime<Utc>, cx: &Cx<'_>) {
        use crate::config::NotifyEvent as N;
        if self.outbox.is_empty() {
            return;
        }
        let since = now.timestamp()
            - i64::try_from(crate::notifications::RESEND_WITHIN.as_secs()).unwrap_or(0);
        let due: Vec<(BookingKey, N, Option<String>)> = cx
            .records
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
            self.announce_record(&key, kind, detail, cx);
        }
    }

    /// The next notification done, or announcement whose links were read.
    pub(super) async fn next(&mut self) -> Came {
        let (done, reads) = (&mut self.done, &mut self.reads);
        tokio::select! {
            Some(done) = done.recv() => Came::Done(done),
            Some((pending, links)) = read(reads) => Came::Read(pending, links),
            else => std::future::pending().await,
        }
    }

    /// What came: recorded, or queued.
    pub(super) fn came(&mut self, came: Came, bookings: &mut Bookings, cx: Cx2<'_>) {
        match came {
            Came::Done(done) => self.notified(done, bookings),
            Came::Read(pending, links) => {
                let cx = Cx {
                    records: bookings.records(),
                    catalog: cx.catalog,
                    timezone: cx.timezone,
                };
                self.queue(pending, links, &cx);
            }
        }
    }

    /// At shutdown: waits (bounded) for the notifications in flight, and records them,
    /// keeping the lead meanwhile.
    pub(super) async fn drain(
        &mut self,
        bookings: &mut Bookings,
        catalog: &Catalog,
        timezone: chrono_tz::Tz,
        deadline: Instant,
        lead: &mut Leadership,
    ) {
        let mut lead_tick = lead.tick();
        while self.announcing > 0 || !self.reads.is_empty() {
            tokio::select! {
                came = self.next() => self.came(came, bookings, Cx2 { catalog, timezone }),
                _ = lead_tick.tick(), if lead.is_shared() => lead.ask(),
                answer = lead.answer() => lead.kept(answer),
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
}

/// The next announcement whose links were read; pending while none is being read.
async fn read(reads: &mut JoinSet<(Pending, Links)>) -> Option<(Pending, Links)> {
    match reads.join_next().await {
        Some(Ok(read)) => Some(read),
        Some(Err(e)) => {
            tracing::error!("a read for a notification ended abnormally: {e}");
            None
        }
        None => std::future::pending().await,
    }
}
