//! A booked meeting against what its definition wants now: whether to modify it (and which
//! fields), cancel it, or only note its file's new hash; requests compared by meaning.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::reconcile::{Action, Tracked};
use super::{BookingKey, Occurrence, occurrence_at, wanted_of};
use crate::api::model::CreateMeeting;
use crate::config::UserFormat;
use crate::definition::{Definition, When};
use crate::meeting::{Field, Fields, MeetingType};
use crate::state::Record;

/// A booked meeting whose definition file changed: modify, cancel, or just note the hash.
#[allow(clippy::too_many_arguments)]
pub(super) fn follow(
    key: &BookingKey,
    r: &Record,
    def: &Definition,
    tracked: &BTreeMap<BookingKey, Tracked<'_>>,
    claimed: &mut std::collections::BTreeSet<BookingKey>,
    format: UserFormat,
    now: DateTime<Utc>,
    actions: &mut Vec<Action>,
) {
    let cancel = |reason: &str| Action::Cancel {
        key: key.clone(),
        reason: reason.to_string(),
    };
    let target = match &def.when {
        When::Once { start, end } => {
            if *start <= now {
                actions.push(cancel("the definition moved it into the past"));
                return;
            }
            let w = wanted_of(
                def,
                format,
                Occurrence {
                    start: *start,
                    end: *end,
                    book_at: None,
                },
            );
            if w.key != *key && (tracked.contains_key(&w.key) || claimed.contains(&w.key)) {
                actions.push(cancel("the definition moved it onto another booking"));
                return;
            }
            w
        }
        When::Recurring(_) => match occurrence_at(def, key.start, format) {
            Some(w) => w,
            None => {
                actions.push(cancel("it is no longer an occurrence of its schedule"));
                return;
            }
        },
    };
    let old: Value = r
        .request
        .as_ref()
        .and_then(|q| serde_json::from_str(q.0.get()).ok())
        .unwrap_or_default();
    let new = &target.request;
    if old.get("userid").and_then(Value::as_str) != Some(new.userid.as_str()) {
        // A new owner: the meeting is someone else's now. Cancel; the create follows once the
        // cancel is done.
        claimed.insert(target.key.clone());
        actions.push(cancel("its owner (userid) changed"));
        return;
    }
    let fields = changed_fields(&old, new);
    if fields.is_empty() {
        actions.push(Action::Rehash(key.clone()));
        return;
    }
    let was = old
        .get("type")
        .and_then(Value::as_i64)
        .and_then(MeetingType::from_code);
    if new.meeting_type == MeetingType::Quick || was == Some(MeetingType::Quick) {
        // Quick meetings cannot be modified.
        actions.push(cancel(
            "a quick meeting changed (quick meetings cannot be modified)",
        ));
        return;
    }
    claimed.insert(target.key.clone());
    actions.push(Action::Modify {
        key: key.clone(),
        wanted: target,
        fields,
    });
}

/// A field's value, as a request recorded it or as `field` is sent now, in the one form in
/// which two encodings of the same meaning are equal: users as `{"userid": ...}` objects (a
/// bare id is an object with no other field), in id order; settings with the service's
/// default filled in for each required key the request left out (`meeting::service_default`);
/// times as strings of seconds. So a build that encodes a request differently, but means the
/// same, changes no meeting.
fn canonical(field: &Field, value: &Value) -> Value {
    match (field, value) {
        (Field::Hosts(_) | Field::Invitees(_), Value::Array(users)) => {
            let mut users: Vec<Value> = users
                .iter()
                .map(|u| match u {
                    Value::String(id) => serde_json::json!({ "userid": id }),
                    other => other.clone(),
                })
                .collect();
            users.sort_by_key(|u| u.to_string());
            Value::Array(users)
        }
        (Field::Settings(_), Value::Object(given)) => {
            let mut all = given.clone();
            for key in crate::meeting::REQUIRED_SETTINGS {
                all.entry(key.to_string())
                    .or_insert(Value::Bool(crate::meeting::service_default(key)));
            }
            Value::Object(all)
        }
        (Field::StartTime(_) | Field::EndTime(_), Value::Number(n)) => Value::String(n.to_string()),
        _ => value.clone(),
    }
}

/// The fields of `new` whose meaning ([`canonical`]) differs from what the recorded request
/// (`old`, as JSON: an earlier build may have written it) has, with their new values; a field
/// `old` has and `new` leaves out is sent empty (`""` or `[]`) so the server drops it. The
/// caller (`userid`, `instanceid`) is not a change.
pub fn changed_fields(old: &Value, new: &CreateMeeting) -> Fields {
    let empty = serde_json::Map::new();
    let recorded = old.as_object().unwrap_or(&empty);
    let sent = new.fields();
    let mut out = Fields::default();
    for (name, was) in recorded {
        if sent.iter().any(|f| f.name() == name) {
            continue;
        }
        let emptied = match was {
            Value::String(_) => Value::String(String::new()),
            Value::Array(_) => Value::Array(Vec::new()),
            _ => continue, // A newer field that cannot be unset; left as it is.
        };
        // The caller is no field (and is always sent).
        if let Ok(field) = Field::read(name, emptied) {
            out.insert(field);
        }
    }
    for field in sent {
        // No settings sent at all: the service's defaults.
        let was = match recorded.get(field.name()) {
            Some(was) => Some(canonical(&field, was)),
            None if matches!(field, Field::Settings(_)) => {
                Some(canonical(&field, &Value::Object(empty.clone())))
            }
            None => None,
        };
        if was != Some(canonical(&field, &field.value())) {
            out.insert(field);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::ModifyMeeting;
    use crate::meeting::WireUser;
    use serde_json::json;

    fn user(id: &str, nick_name: Option<&str>) -> WireUser {
        WireUser::Object {
            userid: id.into(),
            is_anonymous: None,
            nick_name: nick_name.map(str::to_string),
            profile_photo: None,
        }
    }

    /// A request as this build sends it, with the given settings (and no password or extras).
    fn request(subject: &str, start: i64, hosts: Vec<WireUser>, settings: Value) -> CreateMeeting {
        CreateMeeting {
            userid: "ops".into(),
            instanceid: 1,
            subject: subject.into(),
            meeting_type: MeetingType::Scheduled,
            hosts,
            invitees: vec![user("bob", None)],
            start_time: start.to_string(),
            end_time: (start + 3600).to_string(),
            password: None,
            settings: std::sync::Arc::new(serde_json::from_value(settings).unwrap()),
            extra: serde_json::Map::new(),
            series: None,
        }
    }

    #[test]
    fn requests_that_mean_the_same_have_no_changed_fields() {
        // What an earlier build recorded: users as strings, no settings left to defaults,
        // times as numbers.
        let old = json!({
            "userid": "ops", "instanceid": 1, "subject": "Sync", "type": 0,
            "start_time": 1800000000, "end_time": "1800003600",
            "hosts": ["dave", "alice"], "invitees": ["bob"],
            "settings": {"participant_video": false, "enable_record": false,
                         "play_ivr_on_leave": false, "live_url": false},
        });
        let settings = json!({"mute_enable_join": true, "allow_unmute_self": true,
                              "participant_video": false, "enable_record": false,
                              "play_ivr_on_leave": false, "live_url": false});
        let hosts = vec![user("alice", None), user("dave", None)];
        let same = request("Sync", 1_800_000_000, hosts, settings.clone());
        assert_eq!(
            serde_json::to_value(&same).unwrap(),
            json!({
                "userid": "ops", "instanceid": 1, "subject": "Sync", "type": 0,
                "start_time": "1800000000", "end_time": "1800003600",
                "hosts": [{"userid": "alice"}, {"userid": "dave"}], "invitees": [{"userid": "bob"}],
                "settings": settings,
            })
        );
        assert!(
            changed_fields(&old, &same).is_empty(),
            "{:?}",
            changed_fields(&old, &same)
        );
        // Real changes still are: another invitee, a setting off that the service has on, a
        // user object with a field of its own.
        let mut other = same.clone();
        other.invitees = vec![user("bob", None), user("carol", None)];
        let mut changed_settings = settings;
        changed_settings["mute_enable_join"] = json!(false);
        other.settings = std::sync::Arc::new(serde_json::from_value(changed_settings).unwrap());
        other.hosts = vec![user("alice", Some("A")), user("dave", None)];
        let changed = changed_fields(&old, &other);
        assert_eq!(
            changed.names().collect::<Vec<_>>(),
            ["hosts", "invitees", "settings"]
        );
    }

    /// The body of a modify, byte for byte as the build before typed fields sent it for the
    /// same two requests (its `changed_fields` over JSON values): fields in name order, user
    /// objects' keys in name order, removed fields empty.
    #[test]
    fn a_modify_body_is_what_earlier_builds_sent() {
        let old = json!({
            "userid": "ops-bot", "instanceid": 1, "subject": "Old", "type": 0,
            "hosts": ["alice"], "invitees": [{"userid": "bob"}],
            "start_time": "1893664800", "end_time": "1893668400", "password": "1234",
            "settings": {"mute_enable_join": true, "allow_unmute_self": true,
                         "participant_video": false, "enable_record": false,
                         "play_ivr_on_leave": false, "live_url": false},
            "location": "Room 1", "media_set_type": ["a"], "time_zone": "Asia/Shanghai"
        });
        let alice = WireUser::Object {
            userid: "alice".into(),
            is_anonymous: Some(false),
            nick_name: Some("Alice".into()),
            profile_photo: None,
        };
        let settings = json!({"mute_enable_join": false, "allow_unmute_self": true,
                              "participant_video": false, "enable_record": false,
                              "play_ivr_on_leave": false, "live_url": false,
                              "water_mark_type": 1});
        let new = CreateMeeting {
            userid: "ops-bot".into(),
            subject: "New".into(),
            invitees: vec![WireUser::Id("bob".into()), WireUser::Id("carol".into())],
            extra: serde_json::from_value(json!({"time_zone": "Asia/Tokyo", "enable_live": true}))
                .unwrap(),
            ..request("New", 1_893_681_000, vec![alice], settings.clone())
        };
        // The request the earlier build was given, as JSON.
        assert_eq!(
            serde_json::to_value(&new).unwrap(),
            json!({
                "userid": "ops-bot", "instanceid": 1, "subject": "New", "type": 0,
                "hosts": [{"userid": "alice", "nick_name": "Alice", "is_anonymous": false}],
                "invitees": ["bob", "carol"],
                "start_time": "1893681000", "end_time": "1893684600",
                "settings": settings, "time_zone": "Asia/Tokyo", "enable_live": true
            })
        );
        let body = ModifyMeeting {
            userid: "ops-bot".into(),
            instanceid: 1,
            changes: changed_fields(&old, &new),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"userid":"ops-bot","instanceid":1,"enable_live":true,"end_time":"1893684600","hosts":[{"is_anonymous":false,"nick_name":"Alice","userid":"alice"}],"invitees":["bob","carol"],"location":"","media_set_type":[],"password":"","settings":{"allow_unmute_self":true,"enable_record":false,"live_url":false,"mute_enable_join":false,"participant_video":false,"play_ivr_on_leave":false,"water_mark_type":1},"start_time":"1893681000","subject":"New","time_zone":"Asia/Tokyo"}"#
        );
    }
}
