//! What is on record about bookings: one [`Record`] per occurrence, and the daemon's values
//! beside them ([`State`]), in the shape `status --json` and the version 1 JSON state file
//! share. The [`crate::store`] keeps them; this module reads the JSON state file that earlier
//! versions wrote (the store imports it once).
//!
//! A booking is recorded as `pending` (the intent) durably before its create is sent, and as
//! `booked` with the meeting's id after. A `pending` record found at start-up may or may not
//! have been sent: the daemon looks it up before it creates anything. A state that does not
//! parse, or has a newer version, stops the daemon and is never overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::booking::{BookingKey, Name, Status};
use crate::diagnostic::Diagnostic;
use crate::meeting::Fields;

/// The state format this build reads and writes.
pub const VERSION: u32 = 1;

/// One occurrence of one definition, and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub definition: Name,
    /// Unix seconds; with `definition`, the booking's key.
    pub occurrence_start: i64,
    pub occurrence_end: i64,
    pub status: Status,
    /// Whom it is booked for and under what subject: what `find` matches on.
    pub userid: Name,
    pub instanceid: u8,
    pub subject: String,
    /// The meeting's time zone (IANA name), for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Name>,
    /// Hash of the definition file this record was made from.
    pub definition_hash: Name,
    /// The create request body recorded with the intent (pending) and kept after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RecordedRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_code: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_url: Option<Box<str>>,
    /// Create calls made (each may have had several HTTP attempts).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<Box<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// Unix seconds of the last change.
    pub updated_at: i64,
    /// A modify or cancel recorded before it is sent; cleared when it is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Box<Change>>,
    /// The last change the API refused for good: not tried again until the definition
    /// changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Box<Refused>>,
    /// Modifications made to the meeting (the calendar's `SEQUENCE`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sequence: u32,
    /// Notifications done for this booking, as `target/event-id` (the latest few): each event
    /// is announced once per target, across restarts too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notified: Vec<String>,
    /// Unix seconds when the failure, miss or refused cancel this record shows was
    /// acknowledged: by an operator (`ack`), or by the daemon when the definition is gone.
    /// It then needs no one any more ([`Record::needs_a_person`]); a new failure or refusal
    /// clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<i64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Interned [`Name`]s: a record put in the ledger (or loaded by the store) holds the one copy of its definition, user,
/// time zone and hash, whatever copy it came with (with 100,000 records on record, a copy
/// each was about a fifth of the daemon's memory). Names no record holds any more are dropped
/// by [`Names::sweep`].
#[derive(Debug, Default, Clone)]
pub struct Names {
    set: std::collections::HashSet<Name>,
    /// How many were left at the last sweep: the next comes when the set has doubled.
    swept: usize,
}

impl Names {
    /// The shared copy of `name`.
    pub fn get(&mut self, name: &Name) -> Name {
        if let Some(n) = self.set.get(name) {
            return n.clone();
        }
        if self.set.len() >= 2 * self.swept.max(1024) {
            self.sweep();
        }
        self.set.insert(name.clone());
        name.clone()
    }

    /// Makes `r` hold the shared copies.
    pub fn share(&mut self, r: &mut Record) {
        r.definition = self.get(&r.definition);
        r.userid = self.get(&r.userid);
        r.definition_hash = self.get(&r.definition_hash);
        if let Some(z) = &r.timezone {
            r.timezone = Some(self.get(z));
        }
    }

    /// Forgets the names only this set holds.
    pub fn sweep(&mut self) {
        self.set.retain(|n| std::sync::Arc::strong_count(n) > 1);
        self.swept = self.set.len();
    }
}

/// A modify or cancel the API refused for good (meeting started, no permission, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    pub kind: ChangeKind,
    /// The hash of the definition the change was made for; `None` when it was removed. While
    /// the definition is still this, the change is not sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// Unix seconds of the refusal.
    pub at: i64,
}

/// A change to a booked meeting, recorded before it is sent (the intent). Both are
/// idempotent on the API (the same fields again; 9007 for a second cancel), so one found
/// after a crash is simply sent again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Change {
    /// `PUT /v1/meetings/{id}` with these fields; the occurrence then starts and ends here.
    Modify {
        fields: Fields,
        start: i64,
        end: i64,
        /// The create request as it will stand: the booking's request on record once the
        /// modify is done. Read through a plain JSON value: a tagged enum cannot read raw JSON.
        #[serde(deserialize_with = "RecordedRequest::read_plain")]
        request: RecordedRequest,
        definition_hash: String,
    },
    /// `POST /v1/meetings/{id}/cancel`.
    Cancel { reason: String },
}

/// Which of the two changes a [`Change`] is (as recorded: `"modify"`, `"cancel"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Modify,
    Cancel,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Modify => "modify",
            ChangeKind::Cancel => "cancel",
        }
    }
}

impl Change {
    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::Modify { .. } => ChangeKind::Modify,
            Change::Cancel { .. } => ChangeKind::Cancel,
        }
    }
}

impl Record {
    pub fn key(&self) -> BookingKey {
        BookingKey {
            definition: self.definition.clone(),
            start: self.occurrence_start,
        }
    }

    /// A meeting that should have been cancelled and was not: the service refused the cancel
    /// for good (it is not sent again while the definition stays as it is), and the meeting
    /// has not ended at `now` (unix seconds). It needs a person ([`Attention`]).
    pub fn live_after_a_refused_cancel(&self, now: i64) -> bool {
        self.status == Status::Booked
            && self.occurrence_end > now
            && self
                .refused
                .as_ref()
                .is_some_and(|x| x.kind == ChangeKind::Cancel)
    }

    /// Whether `retry` can send it back to be booked at `now` (unix seconds): a failed
    /// booking, or a missed one whose meeting has not started (a missed meeting that has
    /// started cannot be booked any more).
    pub fn retryable(&self, now: i64) -> bool {
        self.status == Status::Failed
            || (self.status == Status::Missed && self.occurrence_start > now)
    }

    /// Whether this record needs a person at `now` (unix seconds) for what it shows: a failed
    /// or missed booking, or a meeting [`Record::live_after_a_refused_cancel`], that nobody
    /// has acknowledged yet (see [`Record::acknowledged`]). Pending ones are judged by time
    /// instead ([`Attention::of`]).
    pub fn needs_a_person(&self, now: i64) -> bool {
        self.acknowledged.is_none()
            && (matches!(self.status, Status::Failed | Status::Missed)
                || self.live_after_a_refused_cancel(now))
    }
}

/// What to do about a meeting [`Record::live_after_a_refused_cancel`], as `status` and `once`
/// say it.
pub const REFUSED_CANCEL_TODO: &str = "cancel it in Tencent Meeting as its user (then `wemeet-scheduler ack` it), or restore its definition; it counts until the meeting ends or is acknowledged";

/// A request body as recorded: kept as the JSON text it was serialized to, so rewriting the
/// state does not rebuild it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RecordedRequest(pub Box<serde_json::value::RawValue>);

impl RecordedRequest {
    /// `request` as JSON text.
    pub fn of(request: &impl Serialize) -> Result<RecordedRequest, serde_json::Error> {
        serde_json::value::to_raw_value(request).map(RecordedRequest)
    }

    /// Reads a request where raw JSON cannot be read directly (inside a tagged enum): as a
    /// plain value, written out again.
    fn read_plain<'de, D: serde::Deserializer<'de>>(d: D) -> Result<RecordedRequest, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        RecordedRequest::of(&value).map_err(serde::de::Error::custom)
    }
}

impl PartialEq for RecordedRequest {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

/// A definition file the daemon could not use, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvalidFile {
    pub path: PathBuf,
    pub problems: Vec<String>,
}

impl InvalidFile {
    pub fn new(path: &Path, problems: &[Diagnostic]) -> Self {
        InvalidFile {
            // Lossy: JSON cannot hold a path that is not UTF-8, and the state must be
            // writable whatever names the watch directory holds.
            path: PathBuf::from(path.to_string_lossy().into_owned()),
            problems: problems.iter().map(ToString::to_string).collect(),
        }
    }
}

/// Everything in the state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Unix seconds of the last reconcile pass: occurrences that started between it and the
    /// next pass without being booked are recorded as missed.
    #[serde(default)]
    pub last_pass: Option<i64>,
    #[serde(default)]
    pub bookings: Vec<Record>,
    /// The definition files that did not validate at the last scan.
    #[serde(default)]
    pub invalid: Vec<InvalidFile>,
    /// Definitions whose files vanished in a scan that removed too many at once: their
    /// meetings are not cancelled until an operator approves (`approve-removals`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_removals: Vec<String>,
    /// Creates held back by a quota at the last pass, per user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<QuotaWait>,
    /// Definitions with `paused = true`: nothing new is booked for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paused: Vec<String>,
    /// Definitions whose meetings' changes no definition made are held for an operator
    /// (`approve-changes`): more than `guard.max_changes` at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_changes: Vec<String>,
    /// Unix seconds: until then, a booking made for the first time is looked up before it is
    /// created, because a state this one replaced (lost, or newer than a restored backup) may
    /// have booked it. Set when the daemon starts on a new or restored store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_up_until: Option<i64>,
    /// This month's creates, against `api.creates_per_month`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<MonthCount>,
    /// As loaded from a store: its invalid files were in the daemon's values, where a build
    /// from before they were rows of their own kept them. The daemon's first write moves them
    /// (see [`crate::store::Meta::invalid_in_meta`]).
    #[serde(skip)]
    pub invalid_in_meta: bool,
}

/// The creates of one month, as the store keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCount {
    /// "2026-12", in the service's zone.
    pub month: String,
    /// Creates sent this month (each counted when it is sent: one the server did not count
    /// still counts here, so the budget errs on the side of waiting).
    pub creates: u32,
    /// The service answered 500168 this month: nothing more is sent until then (unix
    /// seconds; the month's turn, or an hour on when the refusal came on its first day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_until: Option<i64>,
}

/// Creates of one user that wait for a quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaWait {
    pub userid: String,
    pub bookings: usize,
    /// Unix seconds: when the first of them can go.
    pub until: i64,
    /// "ops-bot's hourly create quota".
    pub reason: String,
}

/// What in a state needs a person: the reasons `status` and `once` exit 1. A failed or missed
/// booking, or a live meeting whose cancel was refused, counts until it is acknowledged
/// (`ack`), retried, or its definition is gone ([`Record::needs_a_person`]), not for as long
/// as its record is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attention {
    pub failed: usize,
    pub missed: usize,
    /// Pending for longer than `retry.alert_after`.
    pub stuck: usize,
    pub held_removals: usize,
    pub invalid_files: usize,
    /// Meetings still live whose cancel the service refused for good
    /// ([`Record::live_after_a_refused_cancel`]).
    pub refused_cancels: usize,
}

impl Attention {
    /// Counts what needs a person in `state` at `now`.
    pub fn of(
        state: &State,
        now: chrono::DateTime<chrono::Utc>,
        alert_after: std::time::Duration,
    ) -> Attention {
        Attention {
            held_removals: state.held_removals.len(),
            invalid_files: state.invalid.len(),
            ..Attention::of_bookings(&state.bookings, now, alert_after)
        }
    }

    /// The bookings' part of [`Attention::of`] (the daemon's `wemeet_attention` gauge).
    pub fn of_bookings<'r>(
        bookings: impl IntoIterator<Item = &'r Record>,
        now: chrono::DateTime<chrono::Utc>,
        alert_after: std::time::Duration,
    ) -> Attention {
        let stuck_before =
            now.timestamp() - i64::try_from(alert_after.as_secs()).unwrap_or(i64::MAX);
        let mut a = Attention::default();
        for r in bookings {
            if r.status == Status::Pending && r.updated_at < stuck_before {
                a.stuck += 1;
            }
            if !r.needs_a_person(now.timestamp()) {
                continue;
            }
            match r.status {
                Status::Failed => a.failed += 1,
                Status::Missed => a.missed += 1,
                _ => a.refused_cancels += 1,
            }
        }
        a
    }

    /// The bookings that need a person (failed, missed, pending too long, live after a
    /// refused cancel): what `wemeet_attention` shows.
    pub fn bookings(&self) -> usize {
        self.failed + self.missed + self.stuck + self.refused_cancels
    }

    pub fn needs_a_person(&self) -> bool {
        *self != Attention::default()
    }
}

/// Why the state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state file {path} is corrupt ({reason}); it was left untouched: move it aside to start afresh (the daemon then looks up what it booked before), or restore a backup"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "state file {path} has version {found}, newer than this build's {VERSION}; it was left untouched: run a newer wemeet-scheduler"
    )]
    Newer { path: PathBuf, found: u32 },
    #[error("another wemeet-scheduler is running on state file {path} (lock {lock} is held)")]
    Locked { path: PathBuf, lock: PathBuf },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state store {path}: {source}")]
    Db {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Reads a state file without taking the lock (for `status`: the daemon replaces the file
/// atomically, so a reader sees the old or the new version, never half of one). A missing
/// file is an empty state.
pub fn read(path: &Path) -> Result<State, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(State {
                version: VERSION,
                ..State::default()
            });
        }
        Err(source) => {
            return Err(StateError::Read {
                path: path.into(),
                source,
            });
        }
    };
    parse(path, &text)
}

fn parse(path: &Path, text: &str) -> Result<State, StateError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    let corrupt = |reason: String| StateError::Corrupt {
        path: path.into(),
        reason,
    };
    let v: VersionOnly = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    if v.version > VERSION {
        return Err(StateError::Newer {
            path: path.into(),
            found: v.version,
        });
    }
    if v.version == 0 {
        return Err(corrupt("version 0".into()));
    }
    serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))
}

/// The records by key (`plan` works with them so).
pub fn index(state: &State) -> BTreeMap<BookingKey, Record> {
    state
        .bookings
        .iter()
        .map(|r| (r.key(), r.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(definition: &str, hash: &str) -> Record {
        serde_json::from_value(serde_json::json!({
            "definition": definition, "occurrence_start": 1, "occurrence_end": 2,
            "status": "booked", "userid": "ops-bot", "instanceid": 1, "subject": "s",
            "timezone": "UTC", "definition_hash": hash, "attempts": 1, "updated_at": 0
        }))
        .unwrap()
    }

    #[test]
    fn records_share_their_names_and_names_no_record_holds_are_swept() {
        let mut names = Names::default();
        let (mut a, mut b) = (named("team/a", "h1"), named("team/a", "h1"));
        assert!(!std::sync::Arc::ptr_eq(&a.definition, &b.definition));
        names.share(&mut a);
        names.share(&mut b);
        for (x, y) in [
            (&a.definition, &b.definition),
            (&a.userid, &b.userid),
            (&a.definition_hash, &b.definition_hash),
        ] {
            assert!(std::sync::Arc::ptr_eq(x, y), "one copy of {x}");
        }
        assert!(std::sync::Arc::ptr_eq(
            a.timezone.as_ref().unwrap(),
            b.timezone.as_ref().unwrap()
        ));
        // A definition edited 10,000 times: each hash is held a while, then by no record.
        // The set does not keep them all.
        for i in 0..10_000 {
            let mut r = named("team/a", &format!("hash-{i}"));
            names.share(&mut r);
        }
        assert!(names.set.len() <= 2048, "{} names kept", names.set.len());
        names.sweep();
        let mut kept: Vec<&str> = names.set.iter().map(|n| &**n).collect();
        kept.sort_unstable();
        assert_eq!(
            kept,
            ["UTC", "h1", "ops-bot", "team/a"],
            "what a and b hold"
        );
    }

    #[test]
    fn corrupt_and_newer_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{\"version\": 1, \"bookings\": [").unwrap();
        let err = read(&path).err().unwrap();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        std::fs::write(&path, "{\"version\": 2, \"bookings\": []}").unwrap();
        let err = read(&path).err().unwrap();
        assert!(matches!(err, StateError::Newer { found: 2, .. }), "{err}");
        assert!(err.to_string().contains("run a newer wemeet-scheduler"));
    }

    #[test]
    fn reading_a_missing_file_is_an_empty_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = read(&dir.path().join("none.json")).unwrap();
        assert_eq!(s.version, VERSION);
        assert!(s.bookings.is_empty());
    }

    /// A record with a modify on record, exactly as the build before typed fields wrote it
    /// (fields and request as plain JSON, keys in name order).
    const MODIFY_AS_WRITTEN: &str = r#"{"definition":"team/planning","occurrence_start":1893664800,"occurrence_end":1893668400,"status":"booked","userid":"ops-bot","instanceid":1,"subject":"Old","timezone":"UTC","definition_hash":"h1","meeting_id":"m1","attempts":1,"updated_at":5,"change":{"kind":"modify","fields":{"enable_live":true,"end_time":"1893684600","hosts":[{"is_anonymous":false,"nick_name":"Alice","userid":"alice"}],"invitees":["bob","carol"],"location":"","media_set_type":[],"password":"","settings":{"allow_unmute_self":true,"enable_record":false,"live_url":false,"mute_enable_join":false,"participant_video":false,"play_ivr_on_leave":false,"water_mark_type":1},"start_time":"1893681000","subject":"New","time_zone":"Asia/Tokyo"},"start":1893681000,"end":1893684600,"request":{"enable_live":true,"end_time":"1893684600","hosts":[{"is_anonymous":false,"nick_name":"Alice","userid":"alice"}],"instanceid":1,"invitees":["bob","carol"],"settings":{"allow_unmute_self":true,"enable_record":false,"live_url":false,"mute_enable_join":false,"participant_video":false,"play_ivr_on_leave":false,"water_mark_type":1},"start_time":"1893681000","subject":"New","time_zone":"Asia/Tokyo","type":0,"userid":"ops-bot"},"definition_hash":"h2"}}"#;

    #[test]
    fn a_modify_recorded_by_the_earlier_build_loads_typed_and_is_written_the_same() {
        use crate::meeting::{Field, MeetingType, WireUser};
        let r: Record = serde_json::from_str(MODIFY_AS_WRITTEN).unwrap();
        let Some(Change::Modify {
            fields,
            start,
            end,
            request,
            definition_hash,
        }) = r.change.as_deref()
        else {
            panic!("not a modify: {:?}", r.change);
        };
        assert_eq!(
            (*start, *end, definition_hash.as_str()),
            (1893681000, 1893684600, "h2")
        );
        let alice = WireUser::Object {
            userid: "alice".into(),
            is_anonymous: Some(false),
            nick_name: Some("Alice".into()),
            profile_photo: None,
        };
        let other = |name: &str, value: serde_json::Value| Field::Other {
            name: name.into(),
            value,
        };
        let settings = serde_json::json!({
            "allow_unmute_self": true, "enable_record": false, "live_url": false,
            "mute_enable_join": false, "participant_video": false, "play_ivr_on_leave": false,
            "water_mark_type": 1
        });
        let expected: crate::meeting::Fields = [
            other("enable_live", true.into()),
            Field::EndTime("1893684600".into()),
            Field::Hosts(vec![alice]),
            Field::Invitees(vec![
                WireUser::Id("bob".into()),
                WireUser::Id("carol".into()),
            ]),
            other("location", "".into()),
            other("media_set_type", serde_json::json!([])),
            Field::Password(None),
            Field::Settings(std::sync::Arc::new(
                serde_json::from_value(settings).unwrap(),
            )),
            Field::StartTime("1893681000".into()),
            Field::Subject("New".into()),
            other("time_zone", "Asia/Tokyo".into()),
        ]
        .into_iter()
        .collect();
        assert_eq!(fields, &expected);
        assert_eq!(fields.subject(), Some("New"));
        assert_eq!(
            fields.names().collect::<Vec<_>>(),
            [
                "enable_live",
                "end_time",
                "hosts",
                "invitees",
                "location",
                "media_set_type",
                "password",
                "settings",
                "start_time",
                "subject",
                "time_zone"
            ]
        );
        let sent: serde_json::Value = serde_json::from_str(request.0.get()).unwrap();
        assert_eq!(sent["type"], MeetingType::Scheduled.code());
        // Written again, it is the same text: an earlier build reads what this one writes.
        assert_eq!(serde_json::to_string(&r).unwrap(), MODIFY_AS_WRITTEN);
    }

    #[test]
    fn what_this_build_writes_of_a_modify_the_earlier_build_reads() {
        /// `Change` as the build before typed fields declared it.
        #[derive(Deserialize)]
        #[serde(tag = "kind", rename_all = "lowercase")]
        #[allow(dead_code)]
        enum Earlier {
            Modify {
                fields: serde_json::Map<String, serde_json::Value>,
                start: i64,
                end: i64,
                request: serde_json::Value,
                definition_hash: String,
            },
            Cancel {
                reason: String,
            },
        }
        let fields = [
            crate::meeting::Field::Subject("New".into()),
            crate::meeting::Field::Password(None),
        ];
        let request = serde_json::json!({"userid": "ops-bot", "subject": "New"});
        let change = Change::Modify {
            fields: fields.into_iter().collect(),
            start: 3,
            end: 4,
            request: RecordedRequest::of(&request).unwrap(),
            definition_hash: "h2".into(),
        };
        let text = serde_json::to_string(&change).unwrap();
        let Earlier::Modify {
            fields, request: r, ..
        } = serde_json::from_str(&text).unwrap()
        else {
            panic!("{text}");
        };
        assert_eq!(
            serde_json::Value::Object(fields),
            serde_json::json!({"password": "", "subject": "New"})
        );
        assert_eq!(r, request);
        let back: Change = serde_json::from_str(&text).unwrap();
        assert_eq!(back, change);
    }
}
