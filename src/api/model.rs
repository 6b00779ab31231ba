//! Wire models: the JSON bodies of API requests, field for field as the create-meeting spec
//! (`shared/api/create-meeting.md`) has them: times as strings of unix seconds, `instanceid`
//! and `type` as integers, settings as booleans, and a definition's `[extra]` merged in.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::UserFormat;
use crate::definition::Definition;
use crate::meeting::{Field, Fields, MeetingType, Settings, User};
use crate::schedule::native::Repeat;

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
    pub settings: std::sync::Arc<Settings>,
    /// Newer fields (`time_zone`, `location`, ...) from the definition's `[extra]`.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// A series of occurrences (the service's recurring meeting) instead of one meeting.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
}

/// What makes a create a series (doc 1095/42417): `meeting_type` 1, the rule, and the zone the
/// service expands it in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Always 1 (a recurring meeting).
    pub meeting_type: u8,
    pub recurring_rule: RecurringRule,
    /// The rule's zone (IANA), so the service expands it there.
    pub time_zone: String,
}

// Defined with the meeting's vocabulary (a modify on record holds users too); built here.
pub use crate::meeting::WireUser;

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
            series: None,
        }
    }

    /// The request that books `count` occurrences of `repeat` as one series, from the one at
    /// `start`..`end`, expanded in `zone` (which replaces a `time_zone` of the definition's
    /// `[extra]`: the rule's zone decides).
    #[allow(clippy::too_many_arguments)]
    pub fn for_series(
        def: &Definition,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        format: UserFormat,
        repeat: Repeat,
        count: u32,
        zone: chrono_tz::Tz,
    ) -> CreateMeeting {
        let mut req = CreateMeeting::for_occurrence(def, start, end, format);
        req.extra.remove("time_zone");
        req.series = Some(Series {
            meeting_type: 1,
            recurring_rule: RecurringRule::new(repeat, count),
            time_zone: zone.name().to_string(),
        });
        req
    }
}

impl CreateMeeting {
    /// The fields a modify can change (all but the caller, `userid` and `instanceid`) as this
    /// request sends them: hosts, invitees and a password only when it has them.
    pub fn fields(&self) -> Vec<Field> {
        let mut out = vec![
            Field::Subject(self.subject.clone()),
            Field::Type(self.meeting_type),
            Field::StartTime(self.start_time.clone()),
            Field::EndTime(self.end_time.clone()),
            Field::Settings(self.settings.clone()),
        ];
        if !self.hosts.is_empty() {
            out.push(Field::Hosts(self.hosts.clone()));
        }
        if !self.invitees.is_empty() {
            out.push(Field::Invitees(self.invitees.clone()));
        }
        if let Some(p) = &self.password {
            out.push(Field::Password(Some(p.clone()).filter(|p| !p.is_empty())));
        }
        out.extend(self.extra.iter().map(|(name, value)| Field::Other {
            name: name.clone(),
            value: value.clone(),
        }));
        out
    }
}

/// A create's `recurring_rule` (doc 1095/42417; the custom forms in doc 1095/81181): always
/// ended by a count (`until_type` 1), so the service's reading of `until_date` never matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RecurringRule {
    /// 0 daily, 1 Monday to Friday, 2 weekly, 3 every two weeks, 4 monthly, 5 custom.
    pub recurring_type: u8,
    /// 1: ends after `until_count` occurrences.
    pub until_type: u8,
    pub until_count: u32,
    /// Custom only: 1 weekly on weekdays, 2 monthly on the nth weekday, 3 monthly on days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customized_recurring_type: Option<u8>,
    /// Custom only: every 1 week or month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customized_recurring_step: Option<u32>,
    /// Custom only: the docs' bitmask (weekday bit 0 Sunday; week bits from 2^7 for the first
    /// week; month-day bit `d - 1` for day `d`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customized_recurring_days: Option<u32>,
}

impl RecurringRule {
    /// `count` occurrences of `repeat`, from the create's `start_time` on.
    pub fn new(repeat: Repeat, count: u32) -> RecurringRule {
        let plain = |recurring_type| RecurringRule {
            recurring_type,
            until_type: 1,
            until_count: count,
            customized_recurring_type: None,
            customized_recurring_step: None,
            customized_recurring_days: None,
        };
        let custom = |kind, days| RecurringRule {
            customized_recurring_type: Some(kind),
            customized_recurring_step: Some(1),
            customized_recurring_days: Some(days),
            ..plain(5)
        };
        match repeat {
            Repeat::Daily => plain(0),
            Repeat::Workdays => plain(1),
            Repeat::Weekly => plain(2),
            Repeat::Monthly => plain(4),
            Repeat::Weekdays(mask) => custom(1, u32::from(mask)),
            Repeat::MonthDays(mask) => custom(3, mask),
            Repeat::NthWeekday { weekday, nth } => custom(
                2,
                1 << weekday.num_days_from_sunday() | 1 << (6 + u32::from(nth)),
            ),
        }
    }
}

/// The body of `PUT /v1/meetings/{id}`: the caller, then only the fields that change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModifyMeeting {
    pub userid: String,
    pub instanceid: u8,
    /// Changed fields only, named as in [`CreateMeeting`], in name order.
    #[serde(flatten)]
    pub changes: Fields,
}

/// The body of `POST /v1/meetings/{id}/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelMeeting {
    pub userid: String,
    pub instanceid: u8,
    pub reason_code: i64,
    /// A whole series: 1 (the official CLI's reading of doc 1095/42422; the docs' own says the
    /// absent `sub_meeting_id` alone decides, and both hold with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meeting_type: Option<u8>,
    /// One occurrence of a series, and no `meeting_type` (which the CLI reads as "the whole
    /// series").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_meeting_id: Option<String>,
}

impl CancelMeeting {
    /// Cancels a one-off meeting.
    pub fn meeting(userid: String, instanceid: u8, reason_code: i64) -> CancelMeeting {
        CancelMeeting {
            userid,
            instanceid,
            reason_code,
            meeting_type: None,
            sub_meeting_id: None,
        }
    }

    /// Cancels a whole series.
    pub fn series(userid: String, instanceid: u8, reason_code: i64) -> CancelMeeting {
        CancelMeeting {
            meeting_type: Some(1),
            ..CancelMeeting::meeting(userid, instanceid, reason_code)
        }
    }

    /// Cancels one occurrence of a series.
    pub fn occurrence(
        userid: String,
        instanceid: u8,
        reason_code: i64,
        sub_meeting_id: String,
    ) -> CancelMeeting {
        CancelMeeting {
            sub_meeting_id: Some(sub_meeting_id),
            ..CancelMeeting::meeting(userid, instanceid, reason_code)
        }
    }
}

/// The body of `PUT /v1/meetings/{id}` that moves one occurrence of a series (doc 1095/42424:
/// `sub_meeting_id` inside `recurring_rule`, with no rule field beside it; only the time
/// changes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoveOccurrence {
    pub userid: String,
    pub instanceid: u8,
    /// 1: it is a series.
    pub meeting_type: u8,
    pub recurring_rule: OccurrenceRef,
    pub start_time: String,
    pub end_time: String,
}

/// `recurring_rule` naming one occurrence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OccurrenceRef {
    pub sub_meeting_id: String,
}

/// The answer to create, get and modify: `{meeting_number, meeting_info_list}`; list adds
/// `remaining`, `next_pos` and `next_cursory`. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct MeetingList {
    #[serde(default, deserialize_with = "lenient::int")]
    pub meeting_number: i64,
    #[serde(default)]
    pub meeting_info_list: Vec<MeetingInfo>,
    /// Meetings left after this page (list only).
    #[serde(default, deserialize_with = "lenient::int")]
    pub remaining: i64,
    /// The `pos` of the next page (list only): a start-time floor in unix seconds, which can
    /// equal the one sent when many meetings share a start.
    #[serde(default, deserialize_with = "lenient::int")]
    pub next_pos: i64,
    /// The `cursory` of the next page (list only): the last-modified time (unix ms) of the
    /// meetings already seen.
    #[serde(default, deserialize_with = "lenient::int")]
    pub next_cursory: i64,
}

/// One meeting as the API describes it. Parsed leniently: ids as numbers or strings, users as
/// strings or `{userid, ...}` objects, `participants` or the spec example's `ParticipantsList`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct MeetingInfo {
    #[serde(default, deserialize_with = "lenient::string")]
    pub meeting_id: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub meeting_code: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub subject: String,
    #[serde(default, deserialize_with = "lenient::int")]
    pub start_time: i64,
    #[serde(default, deserialize_with = "lenient::int")]
    pub end_time: i64,
    #[serde(default, deserialize_with = "lenient::string")]
    pub join_url: String,
    #[serde(default, deserialize_with = "lenient::string")]
    pub password: String,
    #[serde(default, deserialize_with = "lenient::users")]
    pub hosts: Vec<String>,
    #[serde(
        default,
        alias = "ParticipantsList",
        deserialize_with = "lenient::users"
    )]
    pub participants: Vec<String>,
    /// `MEETING_STATE_INIT`, `MEETING_STATE_CANCELLED`, ... when the server says.
    #[serde(default, deserialize_with = "lenient::string")]
    pub status: String,
    #[serde(default)]
    pub settings: Option<serde_json::Value>,
    /// 0 a one-off, 1 a series (get and list answers, doc 1095/42418).
    #[serde(default, deserialize_with = "lenient::int")]
    pub meeting_type: i64,
    /// A series' occurrences, as far as the answer lists them.
    #[serde(default)]
    pub sub_meetings: SubMeetings,
    /// 1 when the series has more occurrences than `sub_meetings` shows. The page's table
    /// spells it `has_more_sub_meeting`, its example `has_more_sub_meetings`.
    #[serde(
        default,
        alias = "has_more_sub_meetings",
        deserialize_with = "lenient::int"
    )]
    pub has_more_sub_meeting: i64,
    /// The occurrence in progress or next to start.
    #[serde(default, deserialize_with = "lenient::string")]
    pub current_sub_meeting_id: String,
}

/// One occurrence of a series (the docs' 子会议对象).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubMeeting {
    pub sub_meeting_id: String,
    /// Cancelled (`status` 1, "已删除").
    pub cancelled: bool,
    pub start_time: i64,
    pub end_time: i64,
}

/// A series' `sub_meetings`: those that parse, and how many did not (an occurrence the client
/// cannot read must not pass for one the service did not make).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubMeetings {
    pub items: Vec<SubMeeting>,
    pub unreadable: usize,
}

impl<'de> Deserialize<'de> for SubMeetings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(default, deserialize_with = "lenient::string")]
            sub_meeting_id: String,
            #[serde(default, deserialize_with = "lenient::int")]
            status: i64,
            #[serde(default, deserialize_with = "lenient::int")]
            start_time: i64,
            #[serde(default, deserialize_with = "lenient::int")]
            end_time: i64,
        }
        let mut out = SubMeetings::default();
        let values = match serde_json::Value::deserialize(d)? {
            serde_json::Value::Array(values) => values,
            serde_json::Value::Null => Vec::new(),
            _ => {
                out.unreadable = 1;
                Vec::new()
            }
        };
        for v in values {
            match Raw::deserialize(v) {
                Ok(r)
                    if !r.sub_meeting_id.is_empty()
                        && r.start_time > 0
                        && r.end_time > r.start_time =>
                {
                    out.items.push(SubMeeting {
                        sub_meeting_id: r.sub_meeting_id,
                        cancelled: r.status != 0,
                        start_time: r.start_time,
                        end_time: r.end_time,
                    })
                }
                _ => out.unreadable += 1,
            }
        }
        Ok(out)
    }
}

/// Deserializers that accept the shapes the real service has been seen to answer with.
mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    fn scalar_to_string(v: Value) -> String {
        match v {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(scalar_to_string(Value::deserialize(d)?))
    }

    pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an integer"))),
            Value::String(s) if s.is_empty() => Ok(0),
            Value::String(s) => s
                .trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an integer"))),
            Value::Null => Ok(0),
            other => Err(serde::de::Error::custom(format!(
                "{other} is not an integer"
            ))),
        }
    }

    pub fn users<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(mut o) => o.remove("userid").map(scalar_to_string),
                    Value::Null => None,
                    other => Some(scalar_to_string(other)),
                })
                .collect(),
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{Definition, When};
    use crate::meeting::Instance;
    use chrono::TimeZone;

    /// The spec's example request, built from a definition with the same fields.
    #[test]
    fn the_spec_example_request_round_trips() {
        let spec: serde_json::Value = serde_json::from_str(
            r#"{
                "userid" : "tester",
                "instanceid" : 1,
                "subject" : "tester's meeting",
                "type" : 0,
                "hosts" : ["tester"],
                "invitees" : ["test1", "guest1", "guest2"],
                "start_time" : "1572172200",
                "end_time" : "1572175800",
                "password" : "1111",
                "settings" : {
                    "mute_enable_join":true, "allow_unmute_self":false, "mute_all": false,
                    "host_video":true, "participant_video": false, "enable_record": false,
                    "play_ivr_on_leave": false, "play_ivr_on_join": false, "live_url": false
                }
            }"#,
        )
        .unwrap();
        let user = |id: &str| User {
            userid: id.into(),
            ..User::default()
        };
        let start = Utc.timestamp_opt(1_572_172_200, 0).unwrap();
        let end = Utc.timestamp_opt(1_572_175_800, 0).unwrap();
        let def = Definition {
            id: "spec".into(),
            path: "spec.toml".into(),
            subject: "tester's meeting".into(),
            userid: "tester".into(),
            instanceid: Instance::PC,
            meeting_type: MeetingType::Scheduled,
            hosts: vec![user("tester")],
            invitees: vec![user("test1"), user("guest1"), user("guest2")],
            password: Some("1111".into()),
            timezone: chrono_tz::Asia::Shanghai,
            when: When::Once { start, end },
            settings: serde_json::from_value(spec["settings"].clone()).unwrap(),
            extra: serde_json::Map::new(),
            paused: false,
            notify: Vec::new(),
        };
        let ours = CreateMeeting::for_occurrence(&def, start, end, UserFormat::String);
        assert_eq!(serde_json::to_value(&ours).unwrap(), spec);

        let objects = CreateMeeting::for_occurrence(&def, start, end, UserFormat::Object);
        let v = serde_json::to_value(&objects).unwrap();
        assert_eq!(v["hosts"], serde_json::json!([{ "userid": "tester" }]));

        // The same as a series of ten working days in Tokyo: the spec's body with
        // `meeting_type`, the rule, and the rule's zone over the definition's own.
        let mut in_tokyo = def.clone();
        in_tokyo
            .extra
            .insert("time_zone".into(), serde_json::json!("Asia/Shanghai"));
        let series = CreateMeeting::for_series(
            &in_tokyo,
            (start, end),
            UserFormat::String,
            Repeat::Workdays,
            10,
            chrono_tz::Asia::Tokyo,
        );
        let mut want = spec.clone();
        want["meeting_type"] = serde_json::json!(1);
        want["recurring_rule"] =
            serde_json::json!({"recurring_type": 1, "until_type": 1, "until_count": 10});
        want["time_zone"] = serde_json::json!("Asia/Tokyo");
        assert_eq!(serde_json::to_value(&series).unwrap(), want);
    }

    #[test]
    fn the_spec_example_response_parses() {
        let answer: MeetingList = serde_json::from_str(
            r#"{
                "meeting_number": 1,
                "meeting_info_list":[{
                    "subject": "tester's meeting",
                    "meeting_id": "433471464134410364",
                    "meeting_code": "637228110",
                    "password": "1111",
                    "start_time" : "1572172200",
                    "end_time" : "1572175800",
                    "hosts":["test1"],
                    "ParticipantsList":[],
                    "join_url": "https://wemeet.qq.com/w/5oxCqAc",
                    "settings":{ "mute_enable_join": true, "allow_unmute_self": false }
                }]
            }"#,
        )
        .unwrap();
        assert_eq!(answer.meeting_number, 1);
        let m = &answer.meeting_info_list[0];
        assert_eq!(m.meeting_id, "433471464134410364");
        assert_eq!(m.meeting_code, "637228110");
        assert_eq!(m.start_time, 1_572_172_200);
        assert_eq!(m.end_time, 1_572_175_800);
        assert_eq!(m.hosts, vec!["test1"]);
        assert_eq!(m.join_url, "https://wemeet.qq.com/w/5oxCqAc");
    }

    #[test]
    fn responses_are_parsed_leniently() {
        let answer: MeetingList = serde_json::from_str(
            r#"{
                "meeting_number": "1", "remaining": 3, "next_pos": "20", "unknown": {"x": 1},
                "meeting_info_list":[{
                    "meeting_id": 7567173273889276131,
                    "meeting_code": 637228110,
                    "start_time": 1572172200,
                    "end_time": "1572175800",
                    "hosts": [{"userid": "alice", "is_anonymous": false}, "bob"],
                    "participants": [{"userid": "carol"}],
                    "status": "MEETING_STATE_INIT"
                }]
            }"#,
        )
        .unwrap();
        assert_eq!(
            (answer.meeting_number, answer.remaining, answer.next_pos),
            (1, 3, 20)
        );
        let m = &answer.meeting_info_list[0];
        assert_eq!(m.meeting_id, "7567173273889276131");
        assert_eq!(m.meeting_code, "637228110");
        assert_eq!(m.hosts, vec!["alice", "bob"]);
        assert_eq!(m.participants, vec!["carol"]);
        assert_eq!(m.start_time, 1_572_172_200);
    }

    /// The docs' own custom-rule examples (doc 1095/81181) and the plain types.
    #[test]
    fn recurring_rules_are_the_docs_forms() {
        use chrono::Weekday;
        let json = |repeat, count| serde_json::to_value(RecurringRule::new(repeat, count)).unwrap();
        assert_eq!(
            json(Repeat::Daily, 7),
            serde_json::json!({"recurring_type": 0, "until_type": 1, "until_count": 7})
        );
        assert_eq!(json(Repeat::Workdays, 50)["recurring_type"], 1);
        assert_eq!(json(Repeat::Weekly, 50)["recurring_type"], 2);
        assert_eq!(json(Repeat::Monthly, 50)["recurring_type"], 4);
        // "每周一、周二": 6 = 2^1 + 2^2.
        assert_eq!(
            json(Repeat::Weekdays(0b110), 3),
            serde_json::json!({"recurring_type": 5, "until_type": 1, "until_count": 3,
                "customized_recurring_type": 1, "customized_recurring_step": 1,
                "customized_recurring_days": 6})
        );
        // "每月的1号和26号": 33554433 = 2^0 + 2^25.
        assert_eq!(
            json(Repeat::MonthDays(1 | 1 << 25), 3)["customized_recurring_days"],
            33_554_433
        );
        // "第四周的周一": 1026 = 2^1 (Monday) + 2^10 (the fourth week).
        let fourth_monday = json(
            Repeat::NthWeekday {
                weekday: Weekday::Mon,
                nth: 4,
            },
            3,
        );
        assert_eq!(fourth_monday["customized_recurring_type"], 2);
        assert_eq!(fourth_monday["customized_recurring_days"], 1026);
    }

    /// The docs' own recurring example (doc 1095/42418), as recorded in
    /// `tests/fixtures/vendor-docs/`: integer times inside string ones, the flag's other
    /// spelling.
    #[test]
    fn the_docs_recurring_get_answer_parses() {
        let text = include_str!("../../tests/fixtures/vendor-docs/get-recurring.json");
        let list: MeetingList = serde_json::from_str(text).unwrap();
        let m = &list.meeting_info_list[0];
        assert_eq!((m.meeting_type, m.has_more_sub_meeting), (1, 0));
        assert_eq!(m.current_sub_meeting_id, "1599622242");
        assert_eq!(m.start_time, 1_599_622_242);
        assert_eq!(m.sub_meetings.unreadable, 0);
        let starts: Vec<(&str, i64, i64, bool)> = m
            .sub_meetings
            .items
            .iter()
            .map(|s| (&*s.sub_meeting_id, s.start_time, s.end_time, s.cancelled))
            .collect();
        assert_eq!(starts.len(), 5);
        assert_eq!(
            starts[1],
            ("1599708642", 1_599_708_642, 1_599_712_242, false)
        );
        // The table's spelling, string times, a cancelled one, and what cannot be read.
        let other: MeetingInfo = serde_json::from_str(
            r#"{"meeting_type": "1", "has_more_sub_meeting": 1, "sub_meetings": [
                {"sub_meeting_id": 7, "status": 1, "start_time": "100", "end_time": "200"},
                {"sub_meeting_id": "8", "start_time": "x"},
                {"status": 0}]}"#,
        )
        .unwrap();
        assert_eq!(other.has_more_sub_meeting, 1);
        assert_eq!(
            other.sub_meetings.items,
            [SubMeeting {
                sub_meeting_id: "7".into(),
                cancelled: true,
                start_time: 100,
                end_time: 200
            }]
        );
        assert_eq!(other.sub_meetings.unreadable, 2);
        // A one-off's answer has none.
        let one_off: MeetingInfo = serde_json::from_str(r#"{"meeting_id": "1"}"#).unwrap();
        assert_eq!(one_off.sub_meetings, SubMeetings::default());
    }
}
