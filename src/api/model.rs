//! Wire models: the JSON bodies of API requests, field for field as the create-meeting spec
//! (`shared/api/create-meeting.md`) has them: times as strings of unix seconds, `instanceid`
//! and `type` as integers, settings as booleans, and a definition's `[extra]` merged in.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::UserFormat;
use crate::definition::Definition;
use crate::meeting::{MeetingType, Settings, User};

/// The body of `POST /v1/meetings`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateMeeting {
    pub userid: String,
    pub instanceid: u8,
    pub subject: String,
    #[serde(rename = "type")]
    pub meeting_type: MeetingType,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<WireUser>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub invitees: Vec<WireUser>,
    pub start_time: String,
    pub end_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub settings: Settings,
    /// Newer fields (`time_zone`, `location`, ...) from the definition's `[extra]`.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A host or invitee on the wire: `"alice"` or `{"userid": "alice", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum WireUser {
    Id(String),
    Object {
        userid: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        is_anonymous: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        nick_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        profile_photo: Option<String>,
    },
}

impl WireUser {
    pub fn from_user(user: &User, format: UserFormat) -> WireUser {
        match format {
            UserFormat::String => WireUser::Id(user.userid.clone()),
            UserFormat::Object => WireUser::Object {
                userid: user.userid.clone(),
                is_anonymous: user.is_anonymous,
                nick_name: user.nick_name.clone(),
                profile_photo: user.profile_photo.clone(),
            },
        }
    }
}

impl CreateMeeting {
    /// The request that books one occurrence of a definition.
    pub fn for_occurrence(
        def: &Definition,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        format: UserFormat,
    ) -> CreateMeeting {
        let users = |list: &[User]| {
            list.iter()
                .map(|u| WireUser::from_user(u, format))
                .collect()
        };
        CreateMeeting {
            userid: def.userid.clone(),
            instanceid: def.instanceid.id(),
            subject: def.subject.clone(),
            meeting_type: def.meeting_type,
            hosts: users(&def.hosts),
            invitees: users(&def.invitees),
            start_time: start.timestamp().to_string(),
            end_time: end.timestamp().to_string(),
            password: def.password.clone(),
            settings: def.settings.clone(),
            extra: def.extra.clone(),
        }
    }
}
