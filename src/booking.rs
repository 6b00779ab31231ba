//! The identity and standing of one booking, shared by the plan (which wants bookings) and the
//! state (which records them).

use std::fmt;
use std::sync::Arc;

use chrono::DateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A booking's start (unix seconds) in its meeting's time zone (an IANA name, when recorded),
/// else in `fallback`, written with `format` (chrono's strftime).
pub fn show_start(start: i64, zone: Option<&str>, fallback: Tz, format: &str) -> String {
    let zone: Tz = zone.and_then(|z| z.parse().ok()).unwrap_or(fallback);
    DateTime::from_timestamp(start, 0)
        .map(|t| t.with_timezone(&zone).format(format).to_string())
        .unwrap_or_default()
}

/// A name many bookings share (a definition's id, a user, a time zone, a definition's hash):
/// one allocation however many records hold it, cloned by reference count. See
/// [`crate::ledger::Ledger`], which makes the records it holds share them.
pub type Name = Arc<str>;

/// Identifies one occurrence of one definition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BookingKey {
    pub definition: Name,
    /// Occurrence start, unix seconds.
    pub start: i64,
}

impl BookingKey {
    /// The `definition@start` text [`fmt::Display`] writes, read back.
    pub fn parse(text: &str) -> Option<BookingKey> {
        let (definition, start) = text.trim().rsplit_once('@')?;
        Some(BookingKey {
            definition: definition.into(),
            start: start.parse().ok()?,
        })
        .filter(|k| !k.definition.is_empty())
    }
}

impl fmt::Display for BookingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.definition, self.start)
    }
}

/// Where a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The create is about to be sent, in flight, or its outcome is not known yet.
    Pending,
    /// The meeting exists; `meeting_id` says which.
    Booked,
    /// The API refused it for good; retried only when the definition changes.
    Failed,
    /// Its start passed before it could be booked.
    Missed,
    /// The daemon cancelled it.
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Booked => "booked",
            Status::Failed => "failed",
            Status::Missed => "missed",
            Status::Cancelled => "cancelled",
        }
    }
}
