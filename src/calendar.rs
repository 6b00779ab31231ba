//! The booked meetings as an RFC 5545 calendar (through `icalendar`), so the people in them
//! can subscribe: `export ics`, and `/calendar.ics` on the metrics server.
//!
//! One event per booking that has not ended: its UID is the meeting's id (stable when the
//! meeting is moved), `URL` and `DESCRIPTION` carry the join link, `SEQUENCE` counts the
//! modifications, and a cancelled meeting stays in as `STATUS:CANCELLED` so subscribed
//! calendars drop it.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

use crate::state::{Record, Status};

/// The calendar of `records` that have not ended at `now`: booked and cancelled meetings.
pub fn ics<'r>(records: impl IntoIterator<Item = &'r Record>, now: DateTime<Utc>) -> String {
    let mut calendar = Calendar::new();
    calendar.name("wemeet-scheduler");
    let mut listed: Vec<&Record> = records
        .into_iter()
        .filter(|r| r.occurrence_end > now.timestamp())
        .filter(|r| matches!(r.status, Status::Booked | Status::Cancelled))
        .filter(|r| r.meeting_id.is_some())
        .collect();
    listed.sort_by_key(|r| (r.occurrence_start, r.definition.clone()));
    for r in listed {
        let (Some(start), Some(end), Some(stamp)) = (
            DateTime::from_timestamp(r.occurrence_start, 0),
            DateTime::from_timestamp(r.occurrence_end, 0),
            DateTime::from_timestamp(r.updated_at, 0),
        ) else {
            continue;
        };
        let id = r.meeting_id.as_deref().unwrap_or_default();
        let mut event = Event::new();
        event
            .uid(&format!("{id}@wemeet-scheduler"))
            .summary(&r.subject)
            .starts(start)
            .ends(end)
            .timestamp(stamp)
            .sequence(r.sequence)
            .status(if r.status == Status::Cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            });
        let mut description = format!("Booked by wemeet-scheduler from {}.", r.definition);
        if let Some(url) = &r.join_url {
            event.url(url);
            description.push_str(&format!("\nJoin: {url}"));
        }
        if let Some(code) = &r.meeting_code {
            description.push_str(&format!("\nMeeting code: {code}"));
        }
        event.description(&description);
        calendar.push(event.done());
    }
    calendar.done().to_string()
}
