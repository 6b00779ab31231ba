//! The identity and standing of one booking, shared by the plan (which wants bookings) and the
//! state (which records them).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies one occurrence of one definition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BookingKey {
    pub definition: String,
    /// Occurrence start, unix seconds.
    pub start: i64,
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
