//! The adoption rule: which of a user's listed meetings is the one an unclear create made.
//!
//! A create that timed out, lost its connection or got an internal error may have happened.
//! Before it is sent again, the user's meetings are listed (the owner is fixed by listing that
//! user's meetings only) and one is *adopted* only when it is certainly ours.
//!
//! Every field is compared as the service stores and shows it, under every reading the
//! vendor's docs allow (the sources are in the README's "What the service shows" table):
//!
//! | field | what the docs say | compared |
//! |---|---|---|
//! | `status` | `MEETING_STATE_INIT`, `_STARTED`, `_ENDED`, `_CANCELLED`, `_RECYCLED`, `_NULL` (doc 1095/42422) | a cancelled or recycled meeting is never ours; any other or no status is no veto |
//! | `subject` | plain UTF-8, at most 512 bytes (doc 1095/42417); `validate` refuses longer | equal once trimmed (a server that trims must not make us book twice) |
//! | `start_time`, `end_time` | unix seconds, as strings in the docs' examples, as integers in some SDK models | equal as numbers (strings or numbers both parse) |
//! | `hosts` | "if left out, the caller (`userid`) is the host" (doc 1095/42417); answers show `{userid}` objects, strings, or leave the list out | never vetoes; breaks a tie |
//! | `participants` | the invitees, possibly left out, possibly filtered (only some shown) | never vetoes; breaks a tie |
//!
//! The rule:
//!
//! - A *candidate* is a meeting that is not cancelled, whose id is not taken (recorded for any
//!   other booking, or adopted by another booking earlier in the same lookup), and whose
//!   subject, start and end are what the request fixed.
//! - One candidate is adopted. None means the create did not happen.
//! - Several: the users break the tie. A candidate whose listed hosts or participants cannot
//!   be this request's under *any* reading above is set aside (hosts that are neither those
//!   sent nor the caller; a participant who was not invited). If exactly one is left, it is
//!   adopted.
//! - Otherwise the rule cannot tell which is ours (two definitions booking the same meeting,
//!   or one a person booked by hand): nothing is adopted, and the booking fails with an error
//!   naming them all, so that nobody's meeting is taken over and later cancelled.
//!
//! Hosts and participants never veto a lone candidate: the one reading we did not foresee
//! would turn every unclear create into a duplicate, as the hosts reading once did.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::api::model::{CreateMeeting, MeetingInfo};

/// What a create request fixed, as far as a meeting list can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub subject: String,
    pub start: i64,
    pub end: i64,
    /// The users the request fixed; `None` when the request is not known (only the subject
    /// and times are on record), so users cannot break a tie.
    pub users: Option<Users>,
}

/// The users of a create request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Users {
    /// The caller (`userid`): the owner, and the host when the request names none.
    pub caller: String,
    /// Host user ids as sent (empty: none named).
    pub hosts: BTreeSet<String>,
    /// Invitee user ids as sent.
    pub invitees: BTreeSet<String>,
}

impl Users {
    /// The hosts the service stores: those named, or the caller when none are (doc 1095/42417).
    pub fn stored_hosts(&self) -> BTreeSet<String> {
        if self.hosts.is_empty() {
            BTreeSet::from([self.caller.clone()])
        } else {
            self.hosts.clone()
        }
    }

    /// Whether a meeting listing these hosts and participants can be this request's under
    /// some reading of the docs: hosts left out, as sent, or the caller (when none were sent);
    /// participants left out, all of the invitees, or some of them.
    pub fn could_be(&self, m: &MeetingInfo) -> bool {
        let listed_hosts: BTreeSet<String> = m.hosts.iter().cloned().collect();
        let hosts_fit = listed_hosts.is_empty()
            || listed_hosts == self.hosts
            || listed_hosts == self.stored_hosts();
        let participants_fit = m.participants.iter().all(|p| self.invitees.contains(p));
        hosts_fit && participants_fit
    }
}

/// Whether a listed status says the meeting is gone (cancelled, or deleted: doc 1095/42422).
/// Any other status, known or not, leaves it a candidate.
fn gone(status: &str) -> bool {
    matches!(status, "MEETING_STATE_CANCELLED" | "MEETING_STATE_RECYCLED")
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
            users: Some(Users {
                caller: text("userid").to_string(),
                hosts: user_ids(req.get("hosts")),
                invitees: user_ids(req.get("invitees")),
            }),
        }
    }

    /// Only what every record keeps: subject and times (the request is not on record).
    pub fn of_times(subject: &str, start: i64, end: i64) -> Wanted {
        Wanted {
            subject: subject.to_string(),
            start,
            end,
            users: None,
        }
    }

    /// Whether `m` is a candidate: not gone, and the subject, start and end this request
    /// fixed. Users are not compared here (see [`find`]).
    pub fn matches(&self, m: &MeetingInfo) -> bool {
        !gone(&m.status)
            // Compared trimmed: a server that trims the subject must not make us book twice.
            && m.subject.trim() == self.subject.trim()
            && m.start_time == self.start
            && m.end_time == self.end
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
    // Pages overlap where meetings share a start: the same meeting listed twice is one.
    let mut seen = HashSet::new();
    let candidates: Vec<&MeetingInfo> = meetings
        .iter()
        .filter(|m| !taken.contains(&m.meeting_id) && wanted.matches(m))
        .filter(|m| seen.insert(m.meeting_id.as_str()))
        .collect();
    match candidates.as_slice() {
        [] => return Found::None,
        [one] => return Found::One(Box::new((*one).clone())),
        _ => {}
    }
    // A tie: set aside the candidates whose users cannot be this request's.
    if let Some(users) = &wanted.users {
        let mut fit = candidates.iter().filter(|m| users.could_be(m));
        if let (Some(one), None) = (fit.next(), fit.next()) {
            return Found::One(Box::new((*one).clone()));
        }
    }
    let mut ids: Vec<String> = candidates.iter().map(|m| m.meeting_id.clone()).collect();
    ids.sort();
    Found::Several(ids)
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

    fn hosted(id: &str, hosts: &[&str]) -> MeetingInfo {
        MeetingInfo {
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            ..meeting(id, "Sync", 100, &[])
        }
    }

    #[test]
    fn a_meeting_made_without_hosts_is_found_with_the_caller_as_host() {
        // Doc 1095/42417: with no hosts, the caller is the host, and answers may list it.
        let list = [hosted("1", &["bot"])];
        assert_eq!(
            find(&wanted("Sync", 100, &[]), &list, &HashSet::new()),
            Found::One(Box::new(list[0].clone()))
        );
        // Or the list leaves hosts out, or echoes the empty list sent.
        let bare = [hosted("1", &[])];
        assert_eq!(
            find(&wanted("Sync", 100, &[]), &bare, &HashSet::new()),
            Found::One(Box::new(bare[0].clone()))
        );
    }

    #[test]
    fn users_never_veto_a_lone_candidate() {
        // A reading nobody foresaw (other hosts, participants the docs do not explain) must
        // not turn an unclear create into a second meeting.
        let list = [MeetingInfo {
            participants: vec!["mallory".into()],
            ..hosted("1", &["someone-else"])
        }];
        assert_eq!(
            find(&wanted("Sync", 100, &["alice"]), &list, &HashSet::new()),
            Found::One(Box::new(list[0].clone()))
        );
    }

    #[test]
    fn hosts_break_a_tie_under_each_reading() {
        let sent_hosts = |hosts: &[&str]| {
            Wanted::of_json(&json!({
                "userid": "bot",
                "subject": "Sync",
                "start_time": "100",
                "end_time": 3700,
                "hosts": hosts,
            }))
        };
        // None sent: the caller (or nothing) is listed for ours; another host is not ours.
        for ours in [hosted("1", &["bot"]), hosted("1", &[])] {
            let list = [hosted("2", &["carol"]), ours.clone()];
            assert_eq!(
                find(&sent_hosts(&[]), &list, &HashSet::new()),
                Found::One(Box::new(ours))
            );
        }
        // Hosts sent, as strings or objects: those hosts are listed for ours.
        let list = [hosted("2", &["bot"]), hosted("1", &["alice", "dave"])];
        for wanted in [
            sent_hosts(&["dave", "alice"]),
            Wanted::of_json(&json!({
                "userid": "bot", "subject": "Sync", "start_time": 100, "end_time": "3700",
                "hosts": [{"userid": "alice"}, {"userid": "dave"}],
            })),
        ] {
            assert_eq!(
                find(&wanted, &list, &HashSet::new()),
                Found::One(Box::new(list[1].clone()))
            );
        }
        // Both could be ours: none is adopted.
        let list = [hosted("2", &["bot"]), hosted("1", &[])];
        assert_eq!(
            find(&sent_hosts(&[]), &list, &HashSet::new()),
            Found::Several(vec!["1".into(), "2".into()])
        );
    }

    #[test]
    fn participants_shown_in_part_break_a_tie() {
        // A filtered list shows some invitees: still ours. One who was not invited: not ours.
        let list = [
            meeting("1", "Sync", 100, &["bob"]),
            meeting("2", "Sync", 100, &["erin"]),
        ];
        assert_eq!(
            find(
                &wanted("Sync", 100, &["bob", "carol"]),
                &list,
                &HashSet::new()
            ),
            Found::One(Box::new(list[0].clone()))
        );
    }

    #[test]
    fn without_the_request_on_record_users_cannot_break_a_tie() {
        let list = [hosted("1", &["bot"]), hosted("2", &["carol"])];
        assert_eq!(
            find(&Wanted::of_times("Sync", 100, 3700), &list, &HashSet::new()),
            Found::Several(vec!["1".into(), "2".into()])
        );
        assert_eq!(
            find(
                &Wanted::of_times("Sync", 100, 3700),
                &list[1..],
                &HashSet::new()
            ),
            Found::One(Box::new(list[1].clone()))
        );
    }

    #[test]
    fn recycled_meetings_and_unknown_statuses() {
        let mut recycled = meeting("1", "Sync", 100, &[]);
        recycled.status = "MEETING_STATE_RECYCLED".into();
        assert_eq!(
            find(&wanted("Sync", 100, &[]), &[recycled], &HashSet::new()),
            Found::None
        );
        // Started early, or a status this build does not know: still a candidate.
        for status in ["MEETING_STATE_STARTED", "", "SOMETHING_NEW"] {
            let mut m = meeting("1", "Sync", 100, &[]);
            m.status = status.into();
            assert_eq!(
                find(
                    &wanted("Sync", 100, &[]),
                    std::slice::from_ref(&m),
                    &HashSet::new()
                ),
                Found::One(Box::new(m.clone()))
            );
        }
    }
}
