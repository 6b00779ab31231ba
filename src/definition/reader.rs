//! The reader of one definition file: every key checked and turned into a field of a
//! [`Definition`], with the config's `[defaults]` for what the file leaves out.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::instant::{Bound, read_bound, read_instant};
use super::{Definition, MAX_DURATION, MAX_INVITEES, MAX_SKIP_DATES, MAX_SUBJECT_BYTES, When};
use crate::config::{self, Defaults, parse_timezone};
use crate::diagnostic::Collector;
use crate::meeting::{Instance, MeetingType, read_settings, read_users, resolve_settings, to_json};
use crate::schedule::native::{Form, Mode, native};
use crate::schedule::{Density, MAX_OCCURRENCES_PER_WINDOW, Schedule, parse_rule};

/// `schedule.mode` when a file leaves it out. `each` until the daemon books every part of a
/// native series' life (issue 21); then `auto`.
pub const DEFAULT_MODE: Mode = Mode::Each;
use crate::toml_reader::{Span, Table, integer_of};

const TOP_KEYS: [&str; 17] = [
    "paused",
    "notify",
    "skip",
    "subject",
    "userid",
    "instanceid",
    "type",
    "hosts",
    "invitees",
    "password",
    "start_time",
    "end_time",
    "duration",
    "timezone",
    "settings",
    "extra",
    "schedule",
];

/// Request fields the definition sets itself; `[extra]` may not override them.
const OWN_REQUEST_FIELDS: [&str; 11] = [
    "userid",
    "instanceid",
    "subject",
    "type",
    "hosts",
    "invitees",
    "start_time",
    "end_time",
    "password",
    "settings",
    "meeting_id",
];

pub(super) struct Reader<'r, 'a, 'i> {
    pub(super) root: &'r Table<'a, 'i>,
    pub(super) defaults: &'r Defaults,
    pub(super) now: DateTime<Utc>,
}

impl Reader<'_, '_, '_> {
    pub(super) fn read(&self, path: &Path, id: &str, c: &mut Collector<'_>) -> Option<Definition> {
        let root = self.root;
        root.deny_unknown(&TOP_KEYS, c);

        let subject = self.subject(c);
        let userid = match root.string("userid", c) {
            Some(u) if u.get_ref().trim().is_empty() => {
                c.error(u.span(), "`userid` is empty");
                None
            }
            Some(u) => Some(u.into_inner()),
            None if root.get("userid").is_some() => None,
            None => match &self.defaults.userid {
                Some(u) => Some(u.clone()),
                None => {
                    c.error_hint(
                        0..0,
                        "missing `userid`: no one to book the meeting as",
                        "set userid = \"...\" in this file, or defaults.userid in the daemon config",
                    );
                    None
                }
            },
        };
        let instanceid = match root.integer("instanceid", c) {
            None => Some(self.defaults.instanceid),
            Some(n) => {
                let instance = Instance::new(*n.get_ref());
                if instance.is_none() {
                    c.error_hint(
                        n.span(),
                        format!("unknown `instanceid` {}", n.get_ref()),
                        format!("use one of {}", Instance::all_described()),
                    );
                }
                instance
            }
        };
        let meeting_type = match root.integer("type", c) {
            None => Some(MeetingType::Scheduled),
            Some(n) => {
                let t = MeetingType::from_code(*n.get_ref());
                if t.is_none() {
                    c.error_hint(
                        n.span(),
                        format!("unknown meeting `type` {}", n.get_ref()),
                        "use 0 (scheduled) or 1 (quick)",
                    );
                }
                t
            }
        };
        let hosts = read_users(root, "hosts", c);
        let invitees = read_users(root, "invitees", c);
        if invitees.len() > MAX_INVITEES {
            let span = root.get("invitees").map_or(0..0, |v| v.span());
            c.error_hint(
                span,
                format!(
                    "{} invitees; the API takes at most {MAX_INVITEES}",
                    invitees.len()
                ),
                "split the list or invite a group instead",
            );
        }
        let password = self.password(c);
        let timezone = self
            .timezone(root, "timezone", c)
            .unwrap_or(self.defaults.timezone);
        let mut when = self.when(timezone, meeting_type, c);
        let paused = root.bool("paused", c).is_some_and(|p| *p.get_ref());
        let mut notify = Vec::new();
        if let Some((values, span)) = root.array("notify", c) {
            if values.len() > crate::config::MAX_NOTIFY_TARGETS {
                c.error_hint(
                    span,
                    format!(
                        "`notify` names {} targets; at most {}",
                        values.len(),
                        crate::config::MAX_NOTIFY_TARGETS
                    ),
                    "name fewer targets",
                );
            }
            for v in values.iter().take(crate::config::MAX_NOTIFY_TARGETS) {
                match v.get_ref().as_str() {
                    Some(n) if !n.is_empty() => notify.push(n.to_string()),
                    _ => c.error_hint(
                        v.span(),
                        "`notify` lists names of [[notify]] targets, as strings",
                        "e.g. notify = [\"team-a\"]",
                    ),
                }
            }
        }
        if let Some(skip) = root.dates("skip", MAX_SKIP_DATES, c) {
            match &mut when {
                Some(When::Recurring(s)) => s.skip.extend(skip),
                Some(When::Once { .. }) => c.error_hint(
                    root.key_span("skip").unwrap_or(0..0),
                    "`skip` is for a series: a one-off meeting has a single date",
                    "remove `skip`, or move the meeting",
                ),
                None => {}
            }
        }
        if let Some(When::Recurring(s)) = &mut when {
            s.skip.extend(self.defaults.skip.iter().copied());
        }
        let own_settings = root
            .table("settings", c)
            .map(|t| read_settings(&t, c))
            .unwrap_or_default();
        let extra = self.extra(c);

        Some(Definition {
            id: id.into(),
            path: path.to_path_buf(),
            subject: subject?,
            userid: userid?,
            instanceid: instanceid?,
            meeting_type: meeting_type?,
            hosts,
            invitees,
            password,
            timezone,
            when: when?,
            settings: std::sync::Arc::new(resolve_settings(&own_settings, &self.defaults.settings)),
            extra,
            paused,
            notify,
        })
    }

    fn subject(&self, c: &mut Collector<'_>) -> Option<String> {
        let Some(subject) = self.root.string("subject", c) else {
            if self.root.get("subject").is_none() {
                c.error_hint(
                    0..0,
                    "missing `subject`",
                    "every meeting needs a title: subject = \"Weekly sync\"",
                );
            }
            return None;
        };
        let s = subject.get_ref();
        if s.trim().is_empty() {
            c.error(subject.span(), "`subject` is empty");
            return None;
        }
        if s.len() > MAX_SUBJECT_BYTES {
            c.error_hint(
                subject.span(),
                format!(
                    "`subject` is {} bytes; the API takes at most {MAX_SUBJECT_BYTES} bytes of UTF-8",
                    s.len()
                ),
                "shorten it (a CJK character takes 3 bytes)",
            );
            return None;
        }
        if let Some(ch) = s.chars().find(|c| c.is_control()) {
            c.error_hint(
                subject.span(),
                format!("`subject` holds a control character (U+{:04X})", u32::from(ch)),
                "a meeting title is one line of plain text: remove tabs, newlines and escapes such as \\u0000",
            );
            return None;
        }
        Some(subject.into_inner())
    }

    fn password(&self, c: &mut Collector<'_>) -> Option<String> {
        let value = self.root.get("password")?;
        if integer_of(value.get_ref()).is_some() {
            c.error_hint(
                value.span(),
                "`password` must be a string",
                "quote it, so leading zeros are kept: password = \"0123\"",
            );
            return None;
        }
        let p = self.root.string("password", c)?;
        let ok =
            (4..=6).contains(&p.get_ref().len()) && p.get_ref().bytes().all(|b| b.is_ascii_digit());
        if !ok {
            // The value itself is not echoed: it is a credential of sorts.
            c.error_hint(
                p.span(),
                "`password` must be 4 to 6 digits",
                "for example password = \"482913\"; leave it out for no password",
            );
            return None;
        }
        Some(p.into_inner())
    }

    fn timezone(&self, table: &Table<'_, '_>, key: &str, c: &mut Collector<'_>) -> Option<Tz> {
        let name = table.string(key, c)?;
        match parse_timezone(name.get_ref()) {
            Ok(tz) => Some(tz),
            Err(hint) => {
                c.error_hint(
                    name.span(),
                    format!("unknown time zone `{}`", name.get_ref()),
                    hint,
                );
                None
            }
        }
    }

    fn when(
        &self,
        timezone: Tz,
        meeting_type: Option<MeetingType>,
        c: &mut Collector<'_>,
    ) -> Option<When> {
        let root = self.root;
        let duration = self.duration(root, c);
        match root.table("schedule", c) {
            Some(schedule) => {
                for key in ["start_time", "end_time"] {
                    if let Some(span) = root.key_span(key) {
                        c.error_hint(
                            span,
                            format!("`{key}` cannot be used with [schedule]"),
                            "a recurring meeting starts when its cron rule fires; give its length as duration = \"30m\"",
                        );
                    }
                }
                if meeting_type == Some(MeetingType::Quick) {
                    let span = root.get("type").map_or(schedule.span(), |v| v.span());
                    c.error_hint(
                        span,
                        "a quick meeting (type = 1) cannot recur",
                        "use type = 0 for a recurring meeting",
                    );
                }
                let duration = match duration {
                    Some(d) => Some(d),
                    None if root.get("duration").is_none() => {
                        c.error_hint(
                            schedule.span(),
                            "a recurring meeting needs `duration`",
                            "add duration = \"30m\" above [schedule]",
                        );
                        None
                    }
                    None => None,
                };
                let schedule = self.schedule(&schedule, timezone, duration, c)?;
                Some(When::Recurring(Box::new(schedule)))
            }
            None if root.get("schedule").is_some() => None,
            None => self.once(timezone, duration, c),
        }
    }

    /// `duration`, checked to be more than zero and at most [`MAX_DURATION`].
    fn duration(&self, table: &Table<'_, '_>, c: &mut Collector<'_>) -> Option<TimeDelta> {
        let d = table.duration("duration", c)?;
        let delta = TimeDelta::from_std(*d.get_ref()).unwrap_or(TimeDelta::MAX);
        check_length(delta, d.span(), c)
    }

    fn once(
        &self,
        timezone: Tz,
        duration: Option<TimeDelta>,
        c: &mut Collector<'_>,
    ) -> Option<When> {
        let root = self.root;
        let start = match root.get("start_time") {
            Some(v) => read_instant(v, "start_time", timezone, c),
            None => {
                c.error_hint(
                    0..0,
                    "missing `start_time`",
                    "give start_time (and end_time or duration), or a [schedule] table for a recurring meeting",
                );
                None
            }
        };
        let end = root
            .get("end_time")
            .map(|v| (v.span(), read_instant(v, "end_time", timezone, c)));
        let end = match (end, duration) {
            (Some((span, _)), Some(_)) => {
                c.error_hint(
                    span,
                    "`end_time` and `duration` are both set",
                    "keep one of them",
                );
                None
            }
            (Some((span, end)), None) => {
                let (start, end) = (start?, end?);
                if end <= start {
                    c.error_hint(
                        span,
                        "`end_time` is not after `start_time`",
                        "a meeting must end after it starts",
                    );
                    None
                } else {
                    check_length(end - start, span, c).map(|_| end)
                }
            }
            (None, Some(d)) => start.map(|s| s + d),
            (None, None) if root.get("duration").is_some() => None,
            (None, None) => {
                c.error_hint(
                    root.key_span("start_time").unwrap_or(0..0),
                    "missing `end_time` or `duration`",
                    "add end_time = ... or duration = \"1h\"",
                );
                None
            }
        };
        // A start that has passed is no problem with the file: the meeting was booked, is
        // under way or has ended (see `Definition::note`).
        let (start, end) = (start?, end?);
        Some(When::Once { start, end })
    }

    fn schedule(
        &self,
        table: &Table<'_, '_>,
        default_tz: Tz,
        duration: Option<TimeDelta>,
        c: &mut Collector<'_>,
    ) -> Option<Schedule> {
        table.deny_unknown(
            &["cron", "timezone", "book_ahead", "from", "until", "mode"],
            c,
        );
        let mode = match table.string("mode", c) {
            None => Some(DEFAULT_MODE),
            Some(m) => match Mode::parse(m.get_ref()) {
                Some(mode) => Some(mode),
                None => {
                    c.error_hint(
                        m.span(),
                        format!("unknown `schedule.mode` \"{}\"", m.get_ref()),
                        format!(
                            "one of {}",
                            Mode::NAMES.map(|n| format!("\"{n}\"")).join(", ")
                        ),
                    );
                    None
                }
            },
        };
        let timezone = match table.get("timezone") {
            Some(_) => self.timezone(table, "timezone", c),
            None => Some(default_tz),
        };
        let book_ahead = match table.bounded_duration("book_ahead", &config::BOOK_AHEAD, c) {
            Some(d) => Some(TimeDelta::from_std(*d.get_ref()).unwrap_or(TimeDelta::MAX)),
            None if table.get("book_ahead").is_some() => None,
            None => Some(TimeDelta::from_std(self.defaults.book_ahead).unwrap_or(TimeDelta::MAX)),
        };
        let cron = match table.string("cron", c) {
            Some(rule) => match parse_rule(rule.get_ref()) {
                Ok(cron) => Some((cron, rule)),
                Err(e) => {
                    c.error_hint(rule.span(), e.message, e.hint);
                    None
                }
            },
            None => {
                if table.get("cron").is_none() {
                    c.error_hint(
                        table.span(),
                        "[schedule] needs `cron`",
                        "e.g. cron = \"30 9 * * MON-FRI\"",
                    );
                }
                None
            }
        };
        let tz = timezone?;
        let from = table
            .get("from")
            .and_then(|v| read_bound(v, "schedule.from", tz, Bound::Start, c));
        let until = table
            .get("until")
            .and_then(|v| read_bound(v, "schedule.until", tz, Bound::End, c));
        if let (Some(f), Some(u)) = (from, until)
            && u < f
        {
            let span = table.get("until").map_or(table.span(), |v| v.span());
            c.error(span, "`schedule.until` is before `schedule.from`");
            return None;
        }
        let (cron, rule) = cron?;
        let mut schedule = Schedule::new(cron, rule.get_ref().clone(), tz, duration?, book_ahead?);
        schedule.from = from;
        schedule.until = until;
        // A series with an end fires at some time in its own window (eight years back from
        // `until` catches even a 29 February rule), whether or not any of it is left: one
        // that has ended, or has only its last day's past occurrences, is valid with nothing
        // to book (`Definition::note`), as a file that stays after its meeting.
        let fires = match until {
            Some(u) => {
                let since = from.unwrap_or_else(|| u.min(self.now) - TimeDelta::days(8 * 366));
                schedule.starts_after(since).next().is_some()
            }
            None => schedule.starts_after(self.now).next().is_some(),
        };
        if !fires {
            let message = match (from, until) {
                (Some(_), Some(_)) => {
                    "the cron rule never fires between `schedule.from` and `schedule.until`"
                }
                (None, Some(_)) => "the cron rule never fires before `schedule.until`",
                _ => "the cron rule never fires",
            };
            c.error_hint(
                rule.span(),
                message,
                "check the rule's day and month fields, and the window",
            );
            return None;
        }
        schedule.mode = mode?;
        let today = self.now.with_timezone(&tz).date_naive();
        schedule.form = match (schedule.mode, native(schedule.parsed_rule(), tz, today)) {
            (Mode::Each, _) => Form::Each(None),
            (_, Ok(n)) => Form::Native(n),
            (Mode::Auto, Err(why)) => Form::Each(Some(why)),
            (Mode::Native, Err(why)) => {
                c.error_hint(
                    table.get("mode").map_or(rule.span(), |v| v.span()),
                    format!(
                        "this rule cannot be booked as the service's recurring meetings: {why}"
                    ),
                    "use mode = \"auto\" to book it one occurrence at a time, or change the rule",
                );
                return None;
            }
        };
        let (message, hint) = match schedule.check_density(self.now) {
            Ok(()) => return Some(schedule),
            Err(Density::TooFrequent) => (
                "the cron rule fires more than once a minute".to_string(),
                "give the seconds field one value, e.g. \"0 */15 9-17 * * MON-FRI\"".to_string(),
            ),
            Err(Density::Overlaps { gap }) => (
                format!(
                    "the series overlaps itself: occurrences start {} apart, and each lasts {}",
                    show(gap),
                    show(schedule.duration)
                ),
                "shorten `duration`, or space the rule's times further apart".to_string(),
            ),
            Err(Density::TooMany { count }) => (
                format!(
                    "{count} occurrences fall within one `book_ahead` ({}); at most {MAX_OCCURRENCES_PER_WINDOW} may",
                    show(schedule.book_ahead)
                ),
                "shorten `schedule.book_ahead`, or make the rule fire less often".to_string(),
            ),
        };
        c.error_hint(rule.span(), message, hint);
        None
    }

    fn extra(&self, c: &mut Collector<'_>) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        let Some(extra) = self.root.table("extra", c) else {
            return out;
        };
        for (key, span, value) in extra.entries() {
            if OWN_REQUEST_FIELDS.contains(&key) {
                c.error_hint(
                    span,
                    format!("`extra.{key}` would override a field this file sets itself"),
                    format!("set `{key}` at the top of the file instead"),
                );
                continue;
            }
            if VENDOR_SERIES_FIELDS.contains(&key) {
                c.error_hint(
                    span,
                    format!("`extra.{key}` would make each booking a whole recurring series of the service"),
                    "each occurrence of a [schedule] is booked as its own meeting: recur with [schedule] and cron, and leave meeting_type, recurring_rule and sub_meeting_id out",
                );
                continue;
            }
            match to_json(value.get_ref()) {
                Ok(json) => {
                    out.insert(key.to_string(), json);
                }
                Err(why) => c.error(value.span(), format!("`extra.{key}` {why}")),
            }
        }
        out
    }
}

/// Create fields that turn a meeting into the service's own recurring series: one create
/// per cron occurrence would make a series each, and one cancel would end a whole series.
const VENDOR_SERIES_FIELDS: [&str; 3] = ["meeting_type", "recurring_rule", "sub_meeting_id"];

fn check_length(length: TimeDelta, span: Span, c: &mut Collector<'_>) -> Option<TimeDelta> {
    if length <= TimeDelta::zero() {
        c.error(span, "a meeting must last more than zero");
        return None;
    }
    if length > MAX_DURATION {
        c.error_hint(
            span,
            format!(
                "a meeting may last at most 24h; this one lasts {}",
                show(length)
            ),
            "split it into several meetings",
        );
        return None;
    }
    Some(length)
}

fn show(d: TimeDelta) -> String {
    humantime::format_duration(d.to_std().unwrap_or_default()).to_string()
}
