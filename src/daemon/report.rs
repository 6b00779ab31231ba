//! What the daemon reports: events as it goes, and counts when it stops.

use crate::booking::{BookingKey, Status};
use crate::ledger::Ledger;
use crate::lifecycle::{Bookings, Told, What};

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
    /// A reload (SIGHUP) is done: the config read again, or `failed` (why, on one line) and
    /// the running one kept; the definitions read again either way.
    Reloaded { failed: Option<String> },
    /// Creates began to wait for the month to turn: `why` (the budget, or the service's
    /// 500168), until when, and how many wait.
    CreatesPaused {
        why: String,
        until: chrono::DateTime<chrono::Utc>,
        waiting: usize,
    },
    /// PostgreSQL store: another daemon leads; this one waits to take over.
    Standby { leader: Option<String> },
    /// PostgreSQL store: this daemon took the leader lock and books.
    Leading,
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

impl Summary {
    /// The log line of a daemon that stopped.
    pub(super) fn log(&self) {
        tracing::info!(
            booked = self.booked,
            pending = self.pending,
            failed = self.failed,
            missed = self.missed,
            invalid_files = self.invalid_files,
            state_writes = self.state_writes,
            "stopped"
        );
    }

    /// The counts now.
    pub(super) fn of(
        bookings: &Bookings,
        invalid_files: usize,
        writes: u64,
        passes: u64,
    ) -> Summary {
        let records = bookings.records();
        Summary {
            booked: records.count(Status::Booked),
            pending: records.count(Status::Pending),
            failed: records.count(Status::Failed),
            missed: records.count(Status::Missed),
            invalid_files,
            new_problems: bookings.problems(),
            state_writes: writes,
            passes,
        }
    }

    /// What systemd is told (`STATUS=`): the counts, what is held back or waits, and a
    /// failed reload with its reason (last: it can be long).
    pub(super) fn status(
        &self,
        held_removals: usize,
        waiting_for_quota: usize,
        reload_failed: Option<&str>,
    ) -> String {
        let mut status = format!(
            "booked {}, pending {}, failed {}, missed {}, invalid files {}",
            self.booked, self.pending, self.failed, self.missed, self.invalid_files
        );
        if held_removals > 0 {
            status.push_str(&format!(", REMOVALS HELD {held_removals}"));
        }
        if waiting_for_quota > 0 {
            status.push_str(&format!(", waiting for a quota {waiting_for_quota}"));
        }
        if let Some(reason) = reload_failed {
            status.push_str(&format!(
                ", CONFIG RELOAD FAILED (the previous config runs): {reason}"
            ));
        }
        status
    }
}

impl Event {
    /// The event for what the lifecycle told (and the log line of a booking made).
    /// `timezone`: `defaults.timezone`, for a booking without its own.
    pub(super) fn of(told: Told, records: &Ledger, timezone: chrono_tz::Tz) -> Event {
        match told {
            Told::Booked {
                key,
                meeting: m,
                adopted,
            } => {
                let (subject, zone) = records
                    .get(&key)
                    .map(|r| (r.subject.clone(), r.timezone.clone()))
                    .unwrap_or_default();
                let start = crate::booking::show_start(
                    key.start,
                    zone.as_deref(),
                    timezone,
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
                    timezone: zone.map(|z| z.to_string()),
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
        }
    }
}
