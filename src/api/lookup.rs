//! The adoption rule: which of a user's listed meetings is the one an unclear create made.
//!
//! A create that timed out, lost its connection or got an internal error may have happened.
//! Before it is sent again, the user's meetings are listed and one is *adopted* only when it
//! is certainly ours:
//!
//! - it is not cancelled, and its id is not taken: not recorded for any other booking, nor
//!   adopted by another booking earlier in the same lookup;
//! - it matches everything the request fixed that the list answer shows: subject (trimmed),
//!   start and end, and hosts and invitees (as sets of user ids) where the answer carries them.
//!   The owner is fixed by listing that user's meetings only.
//!
//! One such meeting is adopted. None means the create did not happen. Two or more mean the rule
//! cannot tell which is ours (two definitions booking the same meeting, or one a person booked
//! by hand): nothing is adopted, and the booking fails with an error naming them all, so that
//! nobody's meeting is taken over and later cancelled.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::api::model::{CreateMeeting, MeetingInfo};

/// What a create request fixed, as far as a meeting list can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub subject: String,
    pub start: i64,
    pub end: i64,
    /// Host user ids.
    pub hosts: BTreeSet<String>,
    /// Invitee user ids.
    pub invitees: BTreeSet<String>,
}

impl Wanted {
    /// From a request as sent.
    pub fn of_request(req: &CreateMeeting) -> Wanted {
        // Serializing a request cannot fail: it is plain strings, numbers and maps.
        let value = serde_json::to_value(req).unwrap_or(Value::Null);
        Wanted::of_json(&value)
    }

    /// From a request as recorded (JSON): users as strings or `{"userid": ...}` objects,
    /// times as unix seconds in strings or numbers.
    pub fn of_json(req: &Value) -> Wanted {
        let text = |key: &str| req.get(key).and_then(Value::as_str).unwrap_or_default();
        let seconds = |key: &str| match req.get(key) {
            Some(Value::String(s)) => s.trim().parse().unwrap_or_default(),
            Some(Value::Number(n)) => n.as_i64().unwrap_or_default(),
            _ => 0,
        };
        Wanted {
            subject: text("subject").to_string(),
            start: seconds("start_time"),
            end: seconds("end_time"),
            hosts: user_ids(req.get("hosts")),
            invitees: user_ids(req.get("invitees")),
        }
    }

    /// Whether `m` is this meeting, as far as its list entry shows.
    pub fn matches(&self, m: &MeetingInfo) -> bool {
        let same_users = |listed: &[String], wanted: &BTreeSet<String>| {
            // An answer that leaves the list out (or empty) says nothing either way.
            listed.is_empty() || listed.iter().cloned().collect::<BTreeSet<_>>() == *wanted
        };
        m.status != "MEETING_STATE_CANCELLED"
            // Compared trimmed: a server that trims the subject must not make us book twice.
            && m.subject.trim() == self.subject.trim()
            && m.start_time == self.start
            && m.end_time == self.end
            && same_users(&m.hosts, &self.hosts)
            && same_users(&m.participants, &self.invitees)
    }
}

fn user_ids(list: Option<&Value>) -> BTreeSet<String> {
    list.and_then(Value::as_array)
        .map(|users| {
            users
                .iter()
                .filter_map(|u| match u {
                    Value::String(id) => Some(id.clone()),
                    other => other.get("userid")?.as_str().map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// What a lookup concluded for one booking.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// Exactly one meeting matches and is free: the create did happen; adopt it.
    One(Box<MeetingInfo>),
    /// None matches: the create did not happen.
    None,
    /// Several match (their ids): adopt none.
    Several(Vec<String>),
}

impl Found {
    /// The adopted meeting, if exactly one matched.
    pub fn one(self) -> Option<MeetingInfo> {
        match self {
            Found::One(m) => Some(*m),
            _ => None,
        }
    }
}

/// Applies the adoption rule to a user's meetings; `taken` holds the ids that belong to other
/// bookings (recorded, or adopted earlier in this lookup).
pub fn find(wanted: &Wanted, meetings: &[MeetingInfo], taken: &HashSet<String>) -> Found {
    let mut candidates = meetings
        .iter()
        .filter(|m| !taken.contains(&m.meeting_id) && wanted.matches(m));
    match (candidates.next(), candidates.next()) {
        (None, _) => Found::None,
        (Some(m), None) => Found::One(Box::new(m.clone())),
        (Some(a), Some(b)) => {
            let mut ids: Vec<String> = [a, b]
                .into_iter()
                .chain(candidates)
                .map(|m| m.meeting_id.clone())
                .collect();
            ids.sort();
            ids.dedup();
            if ids.len() == 1 {
                // The same meeting listed twice (pages overlap): one meeting.
                Found::One(Box::new(a.clone()))
            } else {
                Found::Several(ids)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meeting(id: &str, subject: &str, start: i64, invitees: &[&str]) -> MeetingInfo {
        MeetingInfo {
            meeting_id: id.into(),
            subject: subject.into(),
            start_time: start,
            end_time: start + 3600,
            participants: invitees.iter().map(|s| s.to_string()).collect(),
            status: "MEETING_STATE_INIT".into(),
            ..MeetingInfo::default()
        }
    }

    fn wanted(subject: &str, start: i64, invitees: &[&str]) -> Wanted {
        Wanted::of_json(&json!({
            "userid": "bot",
            "subject": subject,
            "start_time": start.to_string(),
            "end_time": (start + 3600).to_string(),
            "invitees": invitees.iter().map(|u| json!({"userid": u})).collect::<Vec<_>>(),
        }))
    }

    #[test]
    fn one_free_match_is_adopted() {
        let list = [
            meeting("1", "Sync", 100, &[]),
            meeting("2", "Other", 100, &[]),
        ];
        assert_eq!(
            find(&wanted("Sync ", 100, &[]), &list, &HashSet::new()),
            Found::One(Box::new(list[0].clone()))
        );
    }

    #[test]
    fn a_meeting_recorded_for_another_booking_is_never_adopted() {
        let list = [meeting("1", "Weekly sync", 100, &[])];
        let taken = HashSet::from(["1".to_string()]);
        assert_eq!(
            find(&wanted("Weekly sync", 100, &[]), &list, &taken),
            Found::None
        );
    }

    #[test]
    fn two_candidates_adopt_none_and_name_both() {
        let list = [
            meeting("7", "Weekly sync", 100, &[]),
            meeting("3", "Weekly sync", 100, &[]),
        ];
        assert_eq!(
            find(&wanted("Weekly sync", 100, &[]), &list, &HashSet::new()),
            Found::Several(vec!["3".into(), "7".into()])
        );
        // The same meeting on two pages is one candidate.
        let twice = [list[0].clone(), list[0].clone()];
        assert_eq!(
            find(&wanted("Weekly sync", 100, &[]), &twice, &HashSet::new()),
            Found::One(Box::new(list[0].clone()))
        );
    }

    #[test]
    fn invitees_decide_where_the_list_shows_them() {
        let list = [
            meeting("1", "Weekly sync", 100, &["alice"]),
            meeting("2", "Weekly sync", 100, &["bob", "carol"]),
        ];
        assert_eq!(
            find(
                &wanted("Weekly sync", 100, &["carol", "bob"]),
                &list,
                &HashSet::new()
            ),
            Found::One(Box::new(list[1].clone()))
        );
        // Not shown: no help, both match.
        let bare = [
            meeting("1", "Weekly sync", 100, &[]),
            meeting("2", "Weekly sync", 100, &[]),
        ];
        assert!(matches!(
            find(
                &wanted("Weekly sync", 100, &["bob"]),
                &bare,
                &HashSet::new()
            ),
            Found::Several(_)
        ));
    }

    #[test]
    fn cancelled_and_other_times_do_not_match() {
        let mut cancelled = meeting("1", "Sync", 100, &[]);
        cancelled.status = "MEETING_STATE_CANCELLED".into();
        let list = [cancelled, meeting("2", "Sync", 200, &[])];
        assert_eq!(
            find(&wanted("Sync", 100, &[]), &list, &HashSet::new()),
            Found::None
        );
    }
}
