//! A booked meeting against what its definition wants now: whether to modify it (and which
//! fields), cancel it, or only note its file's new hash; requests compared by meaning.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::reconcile::{Action, Tracked};
use super::{BookingKey, Occurrence, occurrence_at, wanted_of};
use crate::config::UserFormat;
use crate::definition::{Definition, When};
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
    let old: serde_json::Value = r
        .request
        .as_ref()
        .and_then(|q| serde_json::from_str(q.0.get()).ok())
        .unwrap_or_default();
    let new = serde_json::to_value(&target.request).unwrap_or_default();
    if old.get("userid") != new.get("userid") {
        // A new owner: the meeting is someone else's now. Cancel; the create follows once the
        // cancel is done.
        claimed.insert(target.key.clone());
        actions.push(cancel("its owner (userid) changed"));
        return;
    }
    let fields = changed_fields(&old, &new);
    if fields.is_empty() {
        actions.push(Action::Rehash(key.clone()));
        return;
    }
    if new.get("type").and_then(serde_json::Value::as_u64) == Some(1)
        || old.get("type").and_then(serde_json::Value::as_u64) == Some(1)
    {
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

/// A request field in the one form in which two encodings of the same meaning are equal:
/// users as `{"userid": ...}` objects (a bare id is an object with no other field), in id
/// order; settings with the service's default filled in for each required key the request
/// left out (`meeting::service_default`); times as strings of seconds. So a build that
/// encodes a request differently, but means the same, changes no meeting.
fn canonical(field: &str, value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (field, value) {
        ("hosts" | "invitees", Value::Array(users)) => {
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
        ("settings", Value::Object(given)) => {
            let mut all = given.clone();
            for key in crate::meeting::REQUIRED_SETTINGS {
                all.entry(key.to_string())
                    .or_insert(Value::Bool(crate::meeting::service_default(key)));
            }
            Value::Object(all)
        }
        ("start_time" | "end_time", Value::Number(n)) => Value::String(n.to_string()),
        _ => value.clone(),
    }
}

/// The request fields that differ in meaning ([`canonical`]), with their new values as the
/// new request has them; a field that is gone is sent empty (`""` or `[]`) so the server
/// drops it. `userid` and `instanceid` are not changes.
pub fn changed_fields(
    old: &serde_json::Value,
    new: &serde_json::Value,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    let empty = serde_json::Map::new();
    let (o, n) = (
        old.as_object().unwrap_or(&empty),
        new.as_object().unwrap_or(&empty),
    );
    let mut out = serde_json::Map::new();
    for (k, v) in n {
        if matches!(k.as_str(), "userid" | "instanceid") {
            continue;
        }
        // No settings sent at all: the service's defaults.
        let was = match o.get(k) {
            Some(was) => Some(canonical(k, was)),
            None if k == "settings" => Some(canonical(k, &Value::Object(empty.clone()))),
            None => None,
        };
        if was != Some(canonical(k, v)) {
            out.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in o {
        if !n.contains_key(k) {
            if k == "settings" && canonical(k, v) == canonical(k, &Value::Object(empty.clone())) {
                continue; // Only the service's defaults: as good as none.
            }
            match v {
                Value::String(_) => {
                    out.insert(k.clone(), Value::String(String::new()));
                }
                Value::Array(_) => {
                    out.insert(k.clone(), Value::Array(Vec::new()));
                }
                _ => {} // A newer field that cannot be unset; left as it is.
            }
        }
    }
    out
}
