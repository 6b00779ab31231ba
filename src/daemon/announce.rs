//! Announcements: booked, changed, cancelled, failed, missed and held meetings, told to the
//! notification targets that follow them, once per target and event (across restarts too:
//! each booking's `notified` keeps what was sent).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::lead::Leadership;
use super::report::Event;
use crate::booking::{BookingKey, Name, Status};
use crate::ledger::Ledger;
use crate::lifecycle::{Bookings, What};
use crate::notifications::{Done, Message, Outbox};
use crate::store::Store;
use crate::watch::Catalog;

/// Notifications remembered per booking (`notified`).
const MAX_NOTIFIED: usize = 16;

/// What an announcement reads.
pub(super) struct Cx<'a> {
    pub(super) records: &'a Ledger,
    /// The definitions, for the targets each names.
    pub(super) catalog: &'a Catalog,
    /// The join URLs and codes that memory does not hold.
    pub(super) store: &'a Store,
    /// `defaults.timezone`, for a booking without its own.
    pub(super) timezone: chrono_tz::Tz,
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
}

impl Announcer {
    pub(super) fn new(outbox: Outbox, done: mpsc::UnboundedReceiver<Done>) -> Announcer {
        Announcer {
            outbox,
            announcing: 0,
            done,
            unknown_targets: HashSet::new(),
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
        self.announce_record(key, kind, detail, cx);
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
        let zone: chrono_tz::Tz = r
            .timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(cx.timezone);
        // A record loaded at start holds neither: they stay in the store (read back here).
        let (join_url, meeting_code) = match (&r.join_url, &r.meeting_code, &r.meeting_id) {
            (None, None, Some(_)) => match cx.store.record_of(key) {
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

    /// The next notification done.
    pub(super) async fn next(&mut self) -> Option<Done> {
        self.done.recv().await
    }

    /// At shutdown: waits (bounded) for the notifications in flight, and records them,
    /// keeping the lead meanwhile.
    pub(super) async fn drain(
        &mut self,
        bookings: &mut Bookings,
        deadline: Instant,
        lead: &mut Leadership,
        // `&mut`: a `&Store` held across the awaits would need the store to be `Sync`.
        store: &mut Store,
    ) {
        let mut lead_tick = lead.tick();
        while self.announcing > 0 {
            tokio::select! {
                Some(done) = self.done.recv() => self.notified(done, bookings),
                _ = lead_tick.tick(), if store.is_shared() => lead.keep(&*store),
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
