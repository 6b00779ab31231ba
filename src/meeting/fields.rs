//! The fields a modify changes, typed: each named and shaped as in the create request
//! (`crate::api::model::CreateMeeting`). They are sent, and recorded with the intent, as one
//! JSON object of the changed fields in name order, each value as the create request has it
//! (objects' keys in name order): the body earlier builds sent and the record they wrote.

use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{MeetingType, Settings, WireUser};

/// One field of a meeting that a modify changes, with the value it is sent with.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Subject(String),
    Type(MeetingType),
    /// Empty: the hosts are removed.
    Hosts(Vec<WireUser>),
    /// Empty: the invitees are removed.
    Invitees(Vec<WireUser>),
    /// Unix seconds, as the API takes them (a string).
    StartTime(String),
    EndTime(String),
    /// `None`: the password is removed (sent as `""`).
    Password(Option<String>),
    Settings(Arc<Settings>),
    /// A field the request model does not name: one of a definition's `[extra]`
    /// (`time_zone`, `location`, ...), or one only the recorded request had, sent empty (`""`
    /// or `[]`) so the server drops it. Sent as it is.
    Other {
        name: String,
        value: Value,
    },
}

impl Field {
    /// The field's name in the request.
    pub fn name(&self) -> &str {
        match self {
            Field::Subject(_) => "subject",
            Field::Type(_) => "type",
            Field::Hosts(_) => "hosts",
            Field::Invitees(_) => "invitees",
            Field::StartTime(_) => "start_time",
            Field::EndTime(_) => "end_time",
            Field::Password(_) => "password",
            Field::Settings(_) => "settings",
            Field::Other { name, .. } => name,
        }
    }

    /// The value as it is sent: as the create request has it, objects' keys in name order.
    pub fn value(&self) -> Value {
        let users = |list: &[WireUser]| Value::Array(list.iter().map(user_value).collect());
        match self {
            Field::Subject(s) | Field::StartTime(s) | Field::EndTime(s) => Value::String(s.clone()),
            Field::Type(t) => Value::from(t.code()),
            Field::Hosts(list) | Field::Invitees(list) => users(list),
            Field::Password(p) => Value::String(p.clone().unwrap_or_default()),
            Field::Settings(s) => Value::Object(
                s.iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect(),
            ),
            Field::Other { value, .. } => value.clone(),
        }
    }

    /// The field `name` with `value` as a modify on record has it: the fields of the request
    /// model in their types (times as strings or, as an earlier build may have written them,
    /// integers; an empty password is none), any other name as it is. `userid` and
    /// `instanceid` are the caller, never a change.
    pub fn read(name: &str, value: Value) -> Result<Field, String> {
        let wrong = |what: &str| format!("`{name}` is not {what}: {value}");
        let users = |value: &Value| {
            Vec::<WireUser>::deserialize(value).map_err(|_| wrong("a list of users"))
        };
        let seconds = |value: &Value| match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) if n.is_i64() => Ok(n.to_string()),
            _ => Err(wrong("a time in unix seconds")),
        };
        Ok(match name {
            "subject" => {
                Field::Subject(value.as_str().ok_or_else(|| wrong("a string"))?.to_string())
            }
            "type" => Field::Type(
                value
                    .as_i64()
                    .and_then(MeetingType::from_code)
                    .ok_or_else(|| wrong("a meeting type (0 or 1)"))?,
            ),
            "hosts" => Field::Hosts(users(&value)?),
            "invitees" => Field::Invitees(users(&value)?),
            "start_time" => Field::StartTime(seconds(&value)?),
            "end_time" => Field::EndTime(seconds(&value)?),
            "password" => Field::Password(
                Some(value.as_str().ok_or_else(|| wrong("a string"))?)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            ),
            "settings" => Field::Settings(Arc::new(
                Settings::deserialize(&value).map_err(|_| wrong("a settings object"))?,
            )),
            "userid" | "instanceid" => {
                return Err(format!(
                    "`{name}` is the caller, not a field a modify changes"
                ));
            }
            _ => Field::Other {
                name: name.to_string(),
                value,
            },
        })
    }
}

/// A user as the bodies have always sent it in a modify: an id, or an object whose keys are in
/// name order.
fn user_value(user: &WireUser) -> Value {
    match user {
        WireUser::Id(id) => Value::String(id.clone()),
        WireUser::Object {
            userid,
            is_anonymous,
            nick_name,
            profile_photo,
        } => {
            let mut o = serde_json::Map::new();
            if let Some(b) = is_anonymous {
                o.insert("is_anonymous".into(), Value::Bool(*b));
            }
            if let Some(n) = nick_name {
                o.insert("nick_name".into(), Value::String(n.clone()));
            }
            if let Some(p) = profile_photo {
                o.insert("profile_photo".into(), Value::String(p.clone()));
            }
            o.insert("userid".into(), Value::String(userid.clone()));
            Value::Object(o)
        }
    }
}

/// The fields a modify changes: at most one of each name, in name order (the order in which
/// they are sent and recorded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Vec<Field>);

impl Fields {
    /// Adds `field`, in place of one of the same name.
    pub fn insert(&mut self, field: Field) {
        match self.0.binary_search_by(|f| f.name().cmp(field.name())) {
            Ok(i) => self.0[i] = field,
            Err(i) => self.0.insert(i, field),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Field> {
        self.0.iter()
    }

    /// The changed fields' names, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(Field::name)
    }

    /// The new subject, when the subject changes.
    pub fn subject(&self) -> Option<&str> {
        self.0.iter().find_map(|f| match f {
            Field::Subject(s) => Some(s.as_str()),
            _ => None,
        })
    }
}

impl FromIterator<Field> for Fields {
    fn from_iter<I: IntoIterator<Item = Field>>(fields: I) -> Fields {
        let mut out = Fields::default();
        for f in fields {
            out.insert(f);
        }
        out
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = &'a Field;
    type IntoIter = std::slice::Iter<'a, Field>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// `{"name": value, ...}` in name order.
impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for f in &self.0 {
            map.serialize_entry(f.name(), &f.value())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        serde_json::Map::<String, Value>::deserialize(d)?
            .into_iter()
            .map(|(name, value)| Field::read(&name, value))
            .collect::<Result<Fields, String>>()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_written_in_name_order_and_read_back_in_their_types() {
        let alice = WireUser::Object {
            userid: "alice".into(),
            is_anonymous: Some(false),
            nick_name: Some("Alice".into()),
            profile_photo: None,
        };
        let fields: Fields = [
            Field::Subject("New".into()),
            Field::Other {
                name: "location".into(),
                value: json!(""),
            },
            Field::Hosts(vec![alice]),
            Field::Invitees(vec![WireUser::Id("bob".into())]),
            Field::Type(MeetingType::Scheduled),
            Field::Password(None),
            Field::EndTime("1893684600".into()),
        ]
        .into_iter()
        .collect();
        let text = serde_json::to_string(&fields).unwrap();
        assert_eq!(
            text,
            r#"{"end_time":"1893684600","hosts":[{"is_anonymous":false,"nick_name":"Alice","userid":"alice"}],"invitees":["bob"],"location":"","password":"","subject":"New","type":0}"#
        );
        let back: Fields = serde_json::from_str(&text).unwrap();
        assert_eq!(back, fields);
        assert_eq!(back.subject(), Some("New"));
        assert_eq!(
            back.names().collect::<Vec<_>>(),
            [
                "end_time", "hosts", "invitees", "location", "password", "subject", "type"
            ]
        );
    }

    #[test]
    fn times_written_as_integers_are_read_and_the_caller_is_no_field() {
        let f: Fields = serde_json::from_value(json!({"start_time": 1893681000})).unwrap();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [&Field::StartTime("1893681000".into())]
        );
        for bad in [
            json!({"userid": "eve"}),
            json!({"hosts": "alice"}),
            json!({"type": 7}),
            json!({"subject": 1}),
        ] {
            assert!(
                serde_json::from_value::<Fields>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }
}
