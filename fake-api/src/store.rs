//! The fake's meetings, the checks it applies to request bodies (as the real service does),
//! and its journal of everything it did.

use std::collections::BTreeMap;
use std::io::Write;

use rand::{Rng, RngExt};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::readings::Readings;
use super::recurring::{Dst, Series};
use super::vendor;

/// An error answer: vendor code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: i64,
    pub message: String,
}

impl Refusal {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Refusal::new(vendor::INVALID_PARAMS, message)
    }
}

/// One meeting the fake holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    pub meeting_id: String,
    pub meeting_code: String,
    pub userid: String,
    pub instanceid: i64,
    pub subject: String,
    pub meeting_type: i64,
    pub hosts: Vec<Value>,
    pub invitees: Vec<Value>,
    pub start_time: i64,
    pub end_time: i64,
    pub password: Option<String>,
    pub settings: Map<String, Value>,
    /// Fields the fake does not interpret, kept as sent.
    pub extra: Map<String, Value>,
    pub cancelled: bool,
    /// Last created or modified, unix ms; distinct for every meeting (the list's `cursory`).
    pub updated_ms: i64,
    /// A recurring meeting's rule and occurrences (`meeting_type` 1).
    pub series: Option<Series>,
}

impl Meeting {
    pub fn join_url(&self) -> String {
        format!("https://meeting.tencent.com/dm/{}", self.meeting_code)
    }

    /// The start and end a list or get answer shows: a series' current occurrence's.
    pub fn shown_times(&self, now_s: i64) -> Option<(i64, i64)> {
        match &self.series {
            None => Some((self.start_time, self.end_time)),
            Some(series) => series.current(now_s).map(|c| (c.start, c.end)),
        }
    }

    /// The meeting as a get or list answer describes it at `now_s`: [`Meeting::info`], and a
    /// series' rule and occurrences.
    pub fn info_at(&self, readings: &Readings, now_s: i64) -> Value {
        let mut v = self.info(readings);
        if let (Some(series), Value::Object(info)) = (&self.series, &mut v) {
            series.show(info, readings, now_s);
        }
        v
    }

    /// The meeting as the API describes it, in the spec's shape, with users and times as
    /// `readings` show them. A create's answer: a series' says only `meeting_type` 1 (the
    /// docs' create answer has no occurrences, doc 1095/81181).
    pub fn info(&self, readings: &Readings) -> Value {
        let mut v = json!({
            "subject": self.subject,
            "meeting_id": self.meeting_id,
            "meeting_code": self.meeting_code,
            "type": self.meeting_type,
            "join_url": self.join_url(),
            "settings": self.settings,
            "status": if self.cancelled { "MEETING_STATE_CANCELLED" } else { "MEETING_STATE_INIT" },
        });
        if let Some(p) = &self.password {
            v["password"] = json!(p);
        }
        if self.series.is_some() {
            v["meeting_type"] = json!(1);
        }
        if let Value::Object(info) = &mut v {
            readings.show(
                info,
                &self.userid,
                &user_ids(&self.hosts),
                &user_ids(&self.invitees),
                (self.start_time, self.end_time),
            );
        }
        v
    }
}

/// The user ids of a list as sent (strings or `{"userid": ...}` objects).
fn user_ids(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .filter_map(|u| match u {
            Value::String(s) => Some(s.clone()),
            other => other.get("userid")?.as_str().map(str::to_string),
        })
        .collect()
}

/// One line of the journal: something the fake did to its meetings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    /// `create`, `modify` or `cancel`.
    pub op: &'static str,
    pub meeting_id: String,
    pub userid: String,
    pub subject: String,
    pub start_time: i64,
    pub end_time: i64,
    /// For `modify`: the fields sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Map<String, Value>>,
    /// For a series: the occurrence a `modify` or `cancel` was about, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_meeting_id: Option<String>,
    /// For a series: its live occurrences `(id, start, end)` after the operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub occurrences: Option<Vec<(String, i64, i64)>>,
    /// Server time, unix milliseconds.
    pub at_ms: i64,
}

/// The meetings, by id, and the journal.
#[derive(Default)]
pub struct Store {
    meetings: BTreeMap<String, Meeting>,
    next_id: u64,
    /// The last modification time handed out.
    last_stamp: i64,
    strict_spec: bool,
    readings: Readings,
    dst: Dst,
    pub journal: Vec<JournalEntry>,
    journal_file: Option<std::io::BufWriter<std::fs::File>>,
}

const PAGE: usize = 20;

impl Store {
    /// `strict_spec`: settings sent must carry the seed spec's required keys.
    pub fn new(
        journal_file: Option<std::fs::File>,
        strict_spec: bool,
        readings: Readings,
        dst: Dst,
    ) -> Store {
        Store {
            journal_file: journal_file.map(std::io::BufWriter::new),
            next_id: 0,
            strict_spec,
            readings,
            dst,
            ..Store::default()
        }
    }

    /// A meeting as this fake's create answer shows it.
    pub fn info(&self, m: &Meeting) -> Value {
        m.info(&self.readings)
    }

    /// A meeting as this fake's get answer shows it at `now_s`.
    pub fn info_at(&self, m: &Meeting, now_s: i64) -> Value {
        m.info_at(&self.readings, now_s)
    }

    pub fn meetings(&self) -> impl Iterator<Item = &Meeting> {
        self.meetings.values()
    }

    fn record(
        &mut self,
        op: &'static str,
        m: &Meeting,
        changes: Option<Map<String, Value>>,
        sub_meeting_id: Option<String>,
        now_ms: i64,
    ) {
        let entry = JournalEntry {
            op,
            meeting_id: m.meeting_id.clone(),
            userid: m.userid.clone(),
            subject: m.subject.clone(),
            start_time: m.start_time,
            end_time: m.end_time,
            changes,
            sub_meeting_id,
            occurrences: m.series.as_ref().map(|s| {
                s.subs
                    .iter()
                    .filter(|o| !o.cancelled)
                    .map(|o| (o.id.clone(), o.start, o.end))
                    .collect()
            }),
            at_ms: now_ms,
        };
        if let Some(f) = &mut self.journal_file {
            // The journal is a test aid: a failed write is reported, not fatal.
            let line = serde_json::to_string(&entry).unwrap_or_default();
            if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                tracing::warn!("fake API: cannot write the journal: {e}");
            }
        }
        self.journal.push(entry);
    }

    /// `POST /v1/meetings`.
    pub fn create(
        &mut self,
        body: &Value,
        now_ms: i64,
        rng: &mut impl Rng,
    ) -> Result<Meeting, Refusal> {
        let obj = body
            .as_object()
            .ok_or_else(|| Refusal::invalid("body must be a JSON object"))?;
        let userid = req_str(obj, "userid")?;
        let instanceid = instance(obj)?;
        let subject = subject(obj.get("subject"))?;
        let meeting_type = match obj.get("type") {
            Some(Value::Number(n)) if matches!(n.as_i64(), Some(0 | 1)) => n.as_i64().unwrap_or(0),
            Some(_) => return Err(Refusal::invalid("type must be 0 or 1")),
            None => return Err(Refusal::invalid("type is required")),
        };
        let mut start_time = seconds(obj, "start_time")?;
        let mut end_time = seconds(obj, "end_time")?;
        if end_time <= start_time {
            return Err(Refusal::invalid("end_time must be after start_time"));
        }
        let series = match obj.get("meeting_type").map(Value::as_i64) {
            None | Some(Some(0)) => None,
            Some(Some(1)) if meeting_type == 1 => {
                return Err(Refusal::invalid(
                    "a recurring meeting cannot be a quick meeting",
                ));
            }
            Some(Some(1)) => {
                let rule = obj.get("recurring_rule").ok_or_else(|| {
                    Refusal::invalid("recurring_rule is required when meeting_type is 1")
                })?;
                let zone = obj.get("time_zone").and_then(Value::as_str);
                let series = Series::new(rule, zone, (start_time, end_time), self.dst)
                    .map_err(Refusal::invalid)?;
                if let Some(first) = series.subs.first() {
                    (start_time, end_time) = (first.start, first.end);
                }
                Some(series)
            }
            Some(_) => return Err(Refusal::invalid("meeting_type must be 0 or 1")),
        };
        let password = password(obj.get("password"))?;
        let settings = match obj.get("settings") {
            // The vendor SDK's own minimal create sends none: accepted even when strict.
            None => Map::new(),
            given => settings(given, self.strict_spec)?,
        };
        let hosts = users(obj.get("hosts"), "hosts")?;
        let invitees = users(obj.get("invitees"), "invitees")?;
        if invitees.len() > 300 {
            return Err(Refusal::invalid("at most 300 invitees"));
        }
        const KNOWN: [&str; 13] = [
            "meeting_type",
            "recurring_rule",
            "userid",
            "instanceid",
            "subject",
            "type",
            "start_time",
            "end_time",
            "password",
            "settings",
            "hosts",
            "invitees",
            "meeting_id",
        ];
        let extra: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.next_id += 1;
        let meeting = Meeting {
            meeting_id: format!("{}", 7_000_000_000_000_000_000u64 + self.next_id),
            meeting_code: format!("{:09}", rng.random_range(100_000_000..1_000_000_000u32)),
            userid,
            instanceid,
            subject,
            meeting_type,
            hosts,
            invitees,
            start_time,
            end_time,
            password,
            settings,
            extra,
            cancelled: false,
            updated_ms: self.stamp(now_ms),
            series,
        };
        self.meetings
            .insert(meeting.meeting_id.clone(), meeting.clone());
        self.record("create", &meeting, None, None, now_ms);
        Ok(meeting)
    }

    fn owned(&mut self, id: &str, userid: &str) -> Result<&mut Meeting, Refusal> {
        let m = self
            .meetings
            .get_mut(id)
            .ok_or_else(|| Refusal::new(vendor::NOT_FOUND, format!("meeting {id} not found")))?;
        if m.userid != userid {
            return Err(Refusal::new(
                vendor::NO_PERMISSION,
                "no permission for this meeting",
            ));
        }
        Ok(m)
    }

    /// `GET /v1/meetings/{id}`.
    pub fn get(&mut self, id: &str, userid: &str) -> Result<Meeting, Refusal> {
        self.owned(id, userid).map(|m| m.clone())
    }

    /// A modification time no other meeting has: the list pages by it.
    fn stamp(&mut self, now_ms: i64) -> i64 {
        self.last_stamp = now_ms.max(self.last_stamp + 1);
        self.last_stamp
    }

    /// `GET /v1/meetings`: the user's upcoming and ongoing meetings (doc 1095/42421), 20 a
    /// page, in order of start time then modification time. `pos` is a start-time floor in
    /// unix seconds (0: from today 00:00 Beijing time), `cursory` the modification time (ms)
    /// of the last meeting already seen at that start. A page goes on from the last one
    /// *including* it, so meetings that share a start repeat across pages as the docs warn;
    /// `next_pos` is the start of the page's last meeting, often the `pos` sent.
    pub fn list(&self, userid: &str, pos: i64, cursory: i64, now_s: i64) -> Value {
        let floor = if pos > 0 {
            pos
        } else {
            // 00:00 today in Beijing (UTC+8).
            (now_s + 8 * 3600).div_euclid(86_400) * 86_400 - 8 * 3600
        };
        // A series is listed once, at its current occurrence (`is_show_all_sub_meetings` 0).
        let mut mine: Vec<(i64, &Meeting)> = self
            .meetings
            .values()
            .filter(|m| m.userid == userid && !m.cancelled)
            .filter_map(|m| m.shown_times(now_s).map(|(start, end)| (start, end, m)))
            .filter(|&(_, end, _)| end > now_s)
            .filter(|&(start, _, m)| start > floor || (start == floor && m.updated_ms >= cursory))
            .map(|(start, _, m)| (start, m))
            .collect();
        mine.sort_by_key(|&(start, m)| (start, m.updated_ms));
        let page: Vec<(i64, &Meeting)> = mine.iter().take(PAGE).copied().collect();
        let (next_pos, next_cursory) = page
            .last()
            .map_or((floor, cursory), |&(start, m)| (start, m.updated_ms));
        json!({
            "meeting_number": page.len(),
            "meeting_info_list": page.iter().map(|(_, m)| m.info_at(&self.readings, now_s)).collect::<Vec<_>>(),
            "remaining": mine.len() - page.len(),
            "next_pos": next_pos,
            "next_cursory": next_cursory,
        })
    }

    /// `PUT /v1/meetings/{id}`.
    pub fn modify(&mut self, id: &str, body: &Value, now_ms: i64) -> Result<Meeting, Refusal> {
        let obj = body
            .as_object()
            .ok_or_else(|| Refusal::invalid("body must be a JSON object"))?;
        let userid = req_str(obj, "userid")?;
        instance(obj)?;
        let dst = self.dst;
        let m = self.owned(id, &userid)?;
        if m.cancelled {
            return Err(Refusal::new(
                vendor::ALREADY_CANCELLED,
                "meeting was cancelled",
            ));
        }
        if m.meeting_type == 1 {
            return Err(Refusal::invalid("quick meetings cannot be modified"));
        }
        let mut next = m.clone();
        let mut changes = Map::new();
        for (key, value) in obj {
            match key.as_str() {
                "userid" | "instanceid" => continue,
                "subject" => next.subject = subject(Some(value))?,
                "start_time" => next.start_time = seconds(obj, "start_time")?,
                "end_time" => next.end_time = seconds(obj, "end_time")?,
                "password" => next.password = password(Some(value))?,
                "hosts" => next.hosts = users(Some(value), "hosts")?,
                "invitees" => next.invitees = users(Some(value), "invitees")?,
                "settings" => next.settings.extend(settings(Some(value), false)?),
                "type" => return Err(Refusal::invalid("type cannot be modified")),
                "meeting_type" if value.as_i64() == Some(i64::from(next.series.is_some())) => {}
                "meeting_type" => {
                    return Err(Refusal::invalid(
                        "meeting_type cannot turn a meeting into a series or back",
                    ));
                }
                // Taken below, with the times.
                "recurring_rule" => {}
                _ => {
                    next.extra.insert(key.clone(), value.clone());
                }
            }
            changes.insert(key.clone(), value.clone());
        }
        if next.end_time <= next.start_time {
            return Err(Refusal::invalid("end_time must be after start_time"));
        }
        let sub = match &m.series {
            Some(_) => modify_series(m, &mut next, obj, dst, now_ms.div_euclid(1000))?,
            None => None,
        };
        *m = next.clone();
        let stamp = self.stamp(now_ms);
        if let Some(m) = self.meetings.get_mut(id) {
            m.updated_ms = stamp;
        }
        next.updated_ms = stamp;
        self.record("modify", &next, Some(changes), sub, now_ms);
        Ok(next)
    }

    /// `POST /v1/meetings/{id}/cancel`.
    pub fn cancel(&mut self, id: &str, body: &Value, now_ms: i64) -> Result<(), Refusal> {
        let obj = body
            .as_object()
            .ok_or_else(|| Refusal::invalid("body must be a JSON object"))?;
        let userid = req_str(obj, "userid")?;
        instance(obj)?;
        if !obj.get("reason_code").is_some_and(Value::is_i64) {
            return Err(Refusal::invalid("reason_code must be an integer"));
        }
        let m = self.owned(id, &userid)?;
        if m.cancelled {
            return Err(Refusal::new(
                vendor::ALREADY_CANCELLED,
                "meeting already cancelled",
            ));
        }
        // One occurrence of a series when the body names one (doc 1095/42422: without
        // `sub_meeting_id` the whole series is cancelled; `meeting_type` decides nothing).
        let sub = match (&mut m.series, obj.get("sub_meeting_id")) {
            (Some(series), Some(sub)) => {
                let sub = sub
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| sub.to_string());
                let Some(o) = series.subs.iter_mut().find(|o| o.id == sub) else {
                    return Err(Refusal::new(vendor::NOT_FOUND, "no such sub-meeting"));
                };
                if o.cancelled {
                    return Err(Refusal::new(
                        vendor::ALREADY_CANCELLED,
                        "sub-meeting already cancelled",
                    ));
                }
                o.cancelled = true;
                m.cancelled = !series.live();
                Some(sub)
            }
            _ => {
                m.cancelled = true;
                None
            }
        };
        let m = m.clone();
        self.record("cancel", &m, None, sub, now_ms);
        Ok(())
    }
}

/// A modify of a series (doc 1095/42424): with `recurring_rule.sub_meeting_id`, only that
/// occurrence's times change (the rest of the body is ignored, and a rule field beside it is
/// refused: "不可与周期性会议规则同时修改"); with a new rule or new times, the series is
/// expanded anew from the new start (or its first live occurrence's), every occurrence
/// fresh. Returns the occurrence changed, if one was.
fn modify_series(
    before: &Meeting,
    next: &mut Meeting,
    obj: &Map<String, Value>,
    dst: Dst,
    now_s: i64,
) -> Result<Option<String>, Refusal> {
    let Some(series) = &before.series else {
        return Ok(None);
    };
    let rule = obj.get("recurring_rule");
    if let Some(sub) = rule.and_then(|r| r.get("sub_meeting_id")) {
        let sub = sub
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| sub.to_string());
        if rule
            .and_then(Value::as_object)
            .is_some_and(|r| r.keys().any(|k| k != "sub_meeting_id"))
        {
            return Err(Refusal::invalid(
                "a sub-meeting's time cannot be changed together with the recurring rule",
            ));
        }
        let (start, end) = (seconds(obj, "start_time")?, seconds(obj, "end_time")?);
        if end <= start {
            return Err(Refusal::invalid("end_time must be after start_time"));
        }
        *next = before.clone();
        let Some(o) = next.series.as_mut().and_then(|s| s.sub_mut(&sub)) else {
            return Err(Refusal::new(vendor::NOT_FOUND, "no such sub-meeting"));
        };
        (o.start, o.end) = (start, end);
        return Ok(Some(sub));
    }
    let moved = obj.contains_key("start_time") || obj.contains_key("end_time");
    if rule.is_some() || moved {
        let first = series.current(now_s).or(series.subs.first());
        let (start, end) = if moved {
            (next.start_time, next.end_time)
        } else {
            first.map_or((next.start_time, next.end_time), |o| (o.start, o.end))
        };
        let zone = obj
            .get("time_zone")
            .and_then(Value::as_str)
            .unwrap_or(&series.time_zone);
        let fresh = Series::new(rule.unwrap_or(&series.rule), Some(zone), (start, end), dst)
            .map_err(Refusal::invalid)?;
        next.series = Some(fresh);
    }
    if let Some(first) = next.series.as_ref().and_then(|s| s.subs.first()) {
        (next.start_time, next.end_time) = (first.start, first.end);
    }
    Ok(None)
}

fn req_str(obj: &Map<String, Value>, key: &str) -> Result<String, Refusal> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(Refusal::invalid(format!(
            "{key} must be a non-empty string"
        ))),
    }
}

fn instance(obj: &Map<String, Value>) -> Result<i64, Refusal> {
    // The device types the vendor documents today (0-10, 20-22, 30, 32, 33).
    match obj.get("instanceid").and_then(Value::as_i64) {
        Some(i) if matches!(i, 0..=10 | 20..=22 | 30 | 32 | 33) => Ok(i),
        _ => Err(Refusal::invalid(
            "instanceid must be a documented device type (0-10, 20-22, 30, 32, 33)",
        )),
    }
}

fn subject(v: Option<&Value>) -> Result<String, Refusal> {
    match v {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 512 => Ok(s.clone()),
        Some(Value::String(_)) => Err(Refusal::invalid("subject must be 1 to 512 bytes")),
        _ => Err(Refusal::invalid("subject must be a string")),
    }
}

/// The spec sends times as strings of unix seconds.
fn seconds(obj: &Map<String, Value>, key: &str) -> Result<i64, Refusal> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse()
            .map_err(|_| Refusal::invalid(format!("{key} is out of range"))),
        _ => Err(Refusal::invalid(format!(
            "{key} must be a string of unix seconds"
        ))),
    }
}

fn password(v: Option<&Value>) -> Result<Option<String>, Refusal> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s))
            if (4..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(Some(s.clone()))
        }
        _ => Err(Refusal::invalid("password must be 4 to 6 digits")),
    }
}

/// A `settings` object; with `seed_keys`, the seed spec's required keys must be in it.
fn settings(v: Option<&Value>, seed_keys: bool) -> Result<Map<String, Value>, Refusal> {
    let Some(Value::Object(s)) = v else {
        return Err(Refusal::invalid("settings must be an object"));
    };
    const BOOLEANS: [&str; 9] = [
        "mute_enable_join",
        "allow_unmute_self",
        "mute_all",
        "host_video",
        "participant_video",
        "enable_record",
        "play_ivr_on_leave",
        "play_ivr_on_join",
        "live_url",
    ];
    for key in BOOLEANS {
        if s.get(key).is_some_and(|v| !v.is_boolean()) {
            return Err(Refusal::invalid(format!(
                "settings.{key} must be a boolean"
            )));
        }
    }
    if seed_keys
        && let Some(missing) = vendor::SEED_REQUIRED_SETTINGS
            .iter()
            .find(|k| !s.contains_key(**k))
    {
        return Err(Refusal::invalid(format!("settings.{missing} is required")));
    }
    Ok(s.clone())
}

fn users(v: Option<&Value>, key: &str) -> Result<Vec<Value>, Refusal> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            for item in items {
                let ok = match item {
                    Value::String(s) => !s.is_empty(),
                    Value::Object(o) => o
                        .get("userid")
                        .is_some_and(|u| u.as_str().is_some_and(|s| !s.is_empty())),
                    _ => false,
                };
                if !ok {
                    return Err(Refusal::invalid(format!(
                        "{key} must be user ids or {{\"userid\": ...}} objects"
                    )));
                }
            }
            Ok(items.clone())
        }
        _ => Err(Refusal::invalid(format!("{key} must be an array"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn body() -> Value {
        json!({
            "userid": "tester", "instanceid": 1, "subject": "s", "type": 0,
            "start_time": "1900000000", "end_time": "1900003600",
            "settings": {
                "mute_enable_join": true, "allow_unmute_self": false, "participant_video": false,
                "enable_record": false, "play_ivr_on_leave": false, "live_url": false
            },
            "location": "Room 1"
        })
    }

    fn refused(mutate: impl FnOnce(&mut Value)) -> Refusal {
        let mut b = body();
        mutate(&mut b);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        Store::new(None, true, Readings::default(), Dst::Zone)
            .create(&b, 0, &mut rng)
            .unwrap_err()
    }

    #[test]
    fn create_checks_the_body_like_the_real_service() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let m = Store::new(None, true, Readings::default(), Dst::Zone)
            .create(&body(), 0, &mut rng)
            .unwrap();
        assert_eq!(m.meeting_code.len(), 9);
        assert_eq!(m.extra["location"], "Room 1");
        for (why, r) in [
            ("instanceid", refused(|b| b["instanceid"] = json!(11))),
            ("type", refused(|b| b["type"] = json!("0"))),
            (
                "start_time must be a string",
                refused(|b| b["start_time"] = json!(1_900_000_000)),
            ),
            (
                "end_time must be after",
                refused(|b| b["end_time"] = json!("1900000000")),
            ),
            ("password", refused(|b| b["password"] = json!("12"))),
            (
                "subject",
                refused(|b| b["subject"] = json!("x".repeat(513))),
            ),
            (
                "settings.live_url is required",
                refused(|b| {
                    b["settings"].as_object_mut().unwrap().remove("live_url");
                }),
            ),
            (
                "settings.mute_all must be a boolean",
                refused(|b| b["settings"]["mute_all"] = json!(1)),
            ),
            ("hosts", refused(|b| b["hosts"] = json!([3]))),
        ] {
            assert_eq!(r.code, vendor::INVALID_PARAMS, "{why}");
            assert!(r.message.contains(why), "{why}: {}", r.message);
        }
    }

    #[test]
    fn list_pages_by_start_floor_and_cursor_and_skips_cancelled_and_past() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut s = Store::new(None, true, Readings::default(), Dst::Zone);
        let mut ids = Vec::new();
        for i in 0..45 {
            let mut b = body();
            b["subject"] = json!(format!("m{i}"));
            ids.push(s.create(&b, 0, &mut rng).unwrap().meeting_id);
        }
        s.cancel(
            &ids[0],
            &json!({"userid": "tester", "instanceid": 1, "reason_code": 1}),
            0,
        )
        .unwrap();
        // All 44 live meetings share one start: pages repeat their boundary meeting, and
        // `next_pos` stays at that start.
        let start = body()["start_time"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap();
        let (mut pos, mut cursory, mut seen, mut pages) = (0, 0, Vec::new(), 0);
        loop {
            let page = s.list("tester", pos, cursory, 1_800_000_000);
            pages += 1;
            for m in page["meeting_info_list"].as_array().unwrap() {
                seen.push(m["meeting_id"].as_str().unwrap().to_string());
            }
            if page["remaining"] == 0 {
                break;
            }
            assert_eq!(page["next_pos"], start);
            (pos, cursory) = (
                page["next_pos"].as_i64().unwrap(),
                page["next_cursory"].as_i64().unwrap(),
            );
        }
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), 44 + 2, "each page boundary repeats once");
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 44);
        assert!(!seen.contains(&ids[0]), "cancelled meetings are not listed");
        // A floor after the start lists nothing.
        assert_eq!(
            s.list("tester", start + 1, 0, 1_800_000_000)["meeting_number"],
            0
        );
        assert_eq!(
            s.list("tester", 0, 0, 1_900_003_600)["meeting_number"],
            0,
            "ended meetings are not listed"
        );
        assert_eq!(s.list("someone-else", 0, 0, 0)["meeting_number"], 0);
    }

    #[test]
    fn modify_and_cancel_follow_the_rules() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut s = Store::new(None, true, Readings::default(), Dst::Zone);
        let id = s.create(&body(), 0, &mut rng).unwrap().meeting_id;
        let m = s
            .modify(
                &id,
                &json!({"userid": "tester", "instanceid": 1, "subject": "new"}),
                0,
            )
            .unwrap();
        assert_eq!(m.subject, "new");
        let other = s
            .modify(&id, &json!({"userid": "mallory", "instanceid": 1}), 0)
            .unwrap_err();
        assert_eq!(other.code, 9042);
        let cancel = json!({"userid": "tester", "instanceid": 1, "reason_code": 1});
        s.cancel(&id, &cancel, 0).unwrap();
        assert_eq!(
            s.cancel(&id, &cancel, 0).unwrap_err().code,
            vendor::ALREADY_CANCELLED
        );
        assert_eq!(
            s.cancel("nope", &cancel, 0).unwrap_err().code,
            vendor::NOT_FOUND
        );
        let ops: Vec<&str> = s.journal.iter().map(|e| e.op).collect();
        assert_eq!(ops, ["create", "modify", "cancel"]);

        let mut quick = body();
        quick["type"] = json!(1);
        let qid = s.create(&quick, 0, &mut rng).unwrap().meeting_id;
        let r = s.modify(
            &qid,
            &json!({"userid": "tester", "instanceid": 1, "subject": "x"}),
            0,
        );
        assert!(
            r.unwrap_err()
                .message
                .contains("quick meetings cannot be modified")
        );
    }
}

#[cfg(test)]
mod series_tests;
