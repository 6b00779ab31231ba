//! The booked meetings as an RFC 5545 calendar (through `icalendar`), so the people in them
//! can subscribe: `export ics`, and `/calendar.ics` on the metrics server.
//!
//! One event per booking that has not ended: its UID is the meeting's id (stable when the
//! meeting is moved), `URL` and `DESCRIPTION` carry the join link, `SEQUENCE` counts the
//! modifications, and a cancelled meeting stays in as `STATUS:CANCELLED` so subscribed
//! calendars drop it. The calendar names this product and version as its `PRODID`.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

use crate::state::{Record, Status};

/// The calendar of `records` that have not ended at `now`: booked and cancelled meetings.
pub fn ics<'r>(records: impl IntoIterator<Item = &'r Record>, now: DateTime<Utc>) -> String {
    // `Calendar::new` would say `PRODID:ICALENDAR-RS`, the library's name; RFC 5545 §3.7.3
    // wants the product that made the calendar ("-//ABC Corporation//NONSGML My Product//EN").
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", PRODID))
        .append_property(("CALSCALE", "GREGORIAN"))
        .name("wemeet-scheduler");
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
            .sequence(sequence(r))
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

/// The calendar's `PRODID`: this product and its version.
pub const PRODID: &str = concat!("-//wemeet-scheduler//", env!("CARGO_PKG_VERSION"), "//EN");

/// An event's `SEQUENCE`: the modifications made to the meeting, and one more once it is
/// cancelled. RFC 5545 §3.8.7.4: the sequence is incremented "each time the Organizer makes a
/// significant revision", and a calendar keeps the copy with the highest; a cancellation
/// published at the sequence of the last booked copy could be taken as that copy. A cancelled
/// meeting is modified no more, so the cancelled copy stays above every copy before it.
fn sequence(r: &Record) -> u32 {
    match r.status {
        Status::Cancelled => r.sequence.saturating_add(1),
        _ => r.sequence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status, sequence: u32) -> Record {
        let start = 1_893_664_800;
        serde_json::from_value(serde_json::json!({
            "definition": "team/planning", "occurrence_start": start, "occurrence_end": start + 3600,
            "status": status, "userid": "u", "instanceid": 1, "subject": "Planning",
            "definition_hash": "h", "attempts": 1, "meeting_id": "m1",
            "updated_at": start - 86_400, "sequence": sequence,
        }))
        .expect("a record")
    }

    fn line<'a>(ics: &'a str, name: &str) -> Vec<&'a str> {
        ics.lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .collect()
    }

    #[test]
    fn the_calendar_names_this_product_and_version() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let ics = ics(&[record(Status::Booked, 0)], now);
        assert_eq!(
            line(&ics, "PRODID"),
            [format!(
                "-//wemeet-scheduler//{}//EN",
                env!("CARGO_PKG_VERSION")
            )]
        );
        assert_eq!(line(&ics, "VERSION"), ["2.0"]);
        assert_eq!(line(&ics, "CALSCALE"), ["GREGORIAN"]);
    }

    #[test]
    fn a_cancellation_is_published_above_every_copy_before_it() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        for modifications in [0, 1, 5] {
            let booked = ics(&[record(Status::Booked, modifications)], now);
            let cancelled = ics(&[record(Status::Cancelled, modifications)], now);
            assert_eq!(line(&booked, "SEQUENCE"), [modifications.to_string()]);
            assert_eq!(line(&booked, "STATUS"), ["CONFIRMED"]);
            assert_eq!(
                line(&cancelled, "SEQUENCE"),
                [(modifications + 1).to_string()]
            );
            assert_eq!(line(&cancelled, "STATUS"), ["CANCELLED"]);
        }
    }
}
