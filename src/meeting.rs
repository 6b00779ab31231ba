//! The vocabulary of a meeting as the create-meeting API knows it: device types, meeting
//! types, users and settings, shared by the daemon config (its `[defaults]`), the definitions
//! and the API's wire model; and the fields a modify changes ([`Fields`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use toml::de::DeValue;

use crate::diagnostic::Collector;
use crate::toml_reader::{Table, describe};

mod fields;

pub use fields::{Field, Fields};

/// The caller's device type, `instanceid` in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Instance(u8);

impl Instance {
    pub const PC: Instance = Instance(1);
    /// The device types the vendor documents today (`shared/api/NOTES.md`); the seed spec
    /// named 1 to 8.
    const DOCUMENTED: [u8; 17] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 30, 32, 33];
    const NAMES: [(u8, &'static str); 8] = [
        (1, "PC"),
        (2, "Mac"),
        (3, "Android"),
        (4, "iOS"),
        (5, "Web"),
        (6, "iPad"),
        (7, "Android Pad"),
        (8, "mini program"),
    ];

    pub fn new(id: i64) -> Option<Instance> {
        u8::try_from(id)
            .ok()
            .filter(|id| Self::DOCUMENTED.contains(id))
            .map(Instance)
    }

    pub fn id(self) -> u8 {
        self.0
    }

    /// `1 (PC), 2 (Mac), ...` for hints.
    pub fn all_described() -> String {
        let named = Self::NAMES
            .iter()
            .map(|(id, name)| format!("{id} ({name})"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{named}; also 0, 9, 10, 20-22, 30, 32 and 33 (newer device types)")
    }
}

/// `type` in the API: a scheduled meeting or a quick one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingType {
    Scheduled,
    Quick,
}

impl MeetingType {
    pub fn from_code(code: i64) -> Option<MeetingType> {
        match code {
            0 => Some(MeetingType::Scheduled),
            1 => Some(MeetingType::Quick),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            MeetingType::Scheduled => 0,
            MeetingType::Quick => 1,
        }
    }
}

impl Serialize for MeetingType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

/// A host or invitee: a bare user id, or a user object with the optional fields of `UserObj`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub userid: String,
    pub is_anonymous: Option<bool>,
    pub nick_name: Option<String>,
    pub profile_photo: Option<String>,
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.userid)
    }
}

/// A host or invitee on the wire: `"alice"` or `{"userid": "alice", ...}`
/// (`crate::api::model::WireUser::from_user` builds one per `users.format`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireUser {
    Id(String),
    Object {
        userid: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_anonymous: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nick_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        profile_photo: Option<String>,
    },
}

/// The settings the seed spec marks required: absent ones fall back to `defaults.settings`,
/// then to the service's own default ([`service_default`]), so every request carries them
/// without overriding what the service would do anyway.
pub const REQUIRED_SETTINGS: [&str; 6] = [
    "mute_enable_join",
    "allow_unmute_self",
    "participant_video",
    "enable_record",
    "play_ivr_on_leave",
    "live_url",
];

/// The spec's optional settings: sent only when a definition or the defaults give them.
pub const OPTIONAL_SETTINGS: [&str; 3] = ["mute_all", "host_video", "play_ivr_on_join"];

/// Settings keys of the newer vendor API, passed through unchanged (any TOML type).
pub const NEWER_SETTINGS: [&str; 10] = [
    "allow_in_before_host",
    "auto_in_waiting_room",
    "allow_screen_shared_watermark",
    "water_mark_type",
    "only_enterprise_user_allowed",
    "auto_record_type",
    "participant_join_auto_record",
    "enable_host_pause_auto_record",
    "allow_multi_device",
    "change_nickname",
];

/// The `settings` object of a request: key -> JSON value, in key order.
pub type Settings = BTreeMap<String, serde_json::Value>;

/// Reads a `[settings]` table: the spec's keys must be booleans, the newer keys are copied.
pub fn read_settings(table: &Table<'_, '_>, c: &mut Collector<'_>) -> Settings {
    let known: Vec<&str> = REQUIRED_SETTINGS
        .iter()
        .chain(OPTIONAL_SETTINGS.iter())
        .chain(NEWER_SETTINGS.iter())
        .copied()
        .collect();
    table.deny_unknown(&known, c);
    let mut settings = Settings::new();
    for key in REQUIRED_SETTINGS.iter().chain(OPTIONAL_SETTINGS.iter()) {
        if let Some(b) = table.bool(key, c) {
            settings.insert((*key).to_string(), serde_json::Value::Bool(*b.get_ref()));
        }
    }
    for key in NEWER_SETTINGS {
        if let Some(value) = table.get(key) {
            match to_json(value.get_ref()) {
                Ok(json) => {
                    settings.insert(key.to_string(), json);
                }
                Err(why) => c.error(value.span(), format!("`{}` {why}", table.path_of(key))),
            }
        }
    }
    settings
}

/// The service's documented default for a required setting (`shared/api/NOTES.md`): joining
/// muted, and unmuting oneself, are allowed unless a meeting says otherwise; the rest are off.
pub fn service_default(key: &str) -> bool {
    matches!(key, "mute_enable_join" | "allow_unmute_self")
}

/// Completes a definition's settings: its own, then the defaults', then the service's default
/// for each required key.
pub fn resolve_settings(own: &Settings, defaults: &Settings) -> Settings {
    let mut out = defaults.clone();
    out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    for key in REQUIRED_SETTINGS {
        out.entry(key.to_string())
            .or_insert(serde_json::Value::Bool(service_default(key)));
    }
    out
}

/// A TOML value as JSON, for fields copied into a request unchanged. Datetimes become their
/// RFC 3339 text; a float that JSON cannot hold (NaN, infinity) is refused.
pub fn to_json(value: &DeValue<'_>) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(_) => match crate::toml_reader::integer_of(value) {
            Some(Ok(n)) => J::from(n),
            _ => return Err("is too large for a 64-bit integer".into()),
        },
        DeValue::Float(f) => {
            let parsed: f64 = f
                .as_str()
                .replace('_', "")
                .parse()
                .map_err(|_| "is not a number JSON can hold".to_string())?;
            serde_json::Number::from_f64(parsed)
                .map(J::Number)
                .ok_or_else(|| "is not a number JSON can hold (nan or inf)".to_string())?
        }
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(items) => J::Array(
            items
                .iter()
                .map(|v| to_json(v.get_ref()))
                .collect::<Result<_, _>>()?,
        ),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| Ok((k.get_ref().to_string(), to_json(v.get_ref())?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Reads `hosts`/`invitees`: strings, or tables `{ userid, nick_name, is_anonymous,
/// profile_photo }`.
pub fn read_users(table: &Table<'_, '_>, key: &str, c: &mut Collector<'_>) -> Vec<User> {
    let Some((items, _)) = table.array(key, c) else {
        return Vec::new();
    };
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{}[{i}]", table.path_of(key));
        match item.get_ref() {
            DeValue::String(s) if !s.trim().is_empty() => users.push(User {
                userid: s.to_string(),
                ..User::default()
            }),
            DeValue::String(_) => c.error(item.span(), format!("`{at}` is an empty user id")),
            DeValue::Table(_) => {
                if let Some(user) = read_user_table(table, key, i, item, c) {
                    users.push(user);
                }
            }
            other => c.error_hint(
                item.span(),
                format!(
                    "`{at}` must be a user id string or a user table, found {}",
                    describe(other)
                ),
                "write \"alice\" or { userid = \"alice\", nick_name = \"Alice\" }",
            ),
        }
    }
    users
}

fn read_user_table(
    parent: &Table<'_, '_>,
    key: &str,
    index: usize,
    item: &crate::toml_reader::Value<'_>,
    c: &mut Collector<'_>,
) -> Option<User> {
    let DeValue::Table(t) = item.get_ref() else {
        return None;
    };
    let name = format!("{}[{index}]", parent.path_of(key));
    let user = Table::nested(t, item.span(), name);
    user.deny_unknown(&["userid", "is_anonymous", "nick_name", "profile_photo"], c);
    let userid = user.string("userid", c);
    let is_anonymous = user.bool("is_anonymous", c).map(|b| *b.get_ref());
    let nick_name = user.string("nick_name", c).map(|s| s.into_inner());
    let profile_photo = user.string("profile_photo", c).map(|s| s.into_inner());
    match userid {
        Some(id) if !id.get_ref().trim().is_empty() => Some(User {
            userid: id.into_inner(),
            is_anonymous,
            nick_name,
            profile_photo,
        }),
        Some(id) => {
            c.error(id.span(), format!("`{}.userid` is empty", user.name()));
            None
        }
        None if user.get("userid").is_none() => {
            c.error_hint(
                item.span(),
                format!("`{}` has no `userid`", user.name()),
                "every user table needs userid = \"...\"",
            );
            None
        }
        None => None,
    }
}
