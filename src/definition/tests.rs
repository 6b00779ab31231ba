//! Definition parsing: every error class with its line and column, the time formats, and
//! what is inherited from the config's `[defaults]`.

use super::*;
use crate::config::Config;
use chrono::TimeZone;
use std::io::Write;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn defaults() -> Defaults {
    let mut d = Config::default().defaults;
    d.userid = Some("ops-bot".into());
    d.timezone = chrono_tz::Asia::Shanghai;
    d.settings
        .insert("mute_enable_join".into(), serde_json::Value::Bool(true));
    d.settings
        .insert("mute_all".into(), serde_json::Value::Bool(true));
    d
}

fn ok(text: &str) -> Definition {
    parse(Path::new("m.toml"), "m", text, &defaults(), now())
        .unwrap_or_else(|e| panic!("expected valid, got {e:#?}"))
}

/// The problems of an invalid definition, as `line:column: message; hint` strings.
fn errors(text: &str) -> Vec<String> {
    match parse(Path::new("m.toml"), "m", text, &defaults(), now()) {
        Ok(d) => panic!("expected problems, got {d:#?}"),
        Err(found) => found
            .iter()
            .map(|d| d.to_string().trim_start_matches("m.toml:").to_string())
            .collect(),
    }
}

fn only_error(text: &str) -> String {
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.into_iter().next().unwrap()
}

const ONE_OFF: &str = "subject = \"Review\"\nstart_time = 2026-12-01T10:00:00+08:00\nend_time = 2026-12-01T11:00:00+08:00\n";

fn once(d: &Definition) -> (DateTime<Utc>, DateTime<Utc>) {
    match &d.when {
        When::Once { start, end } => (*start, *end),
        When::Recurring(_) => panic!("expected a one-off"),
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

#[test]
fn the_full_documented_one_off_definition_validates() {
    let d = ok(r#"
subject    = "Quarterly review"
userid     = "tester"
instanceid = 2
type       = 0
hosts      = ["tester", { userid = "boss", nick_name = "Boss", is_anonymous = false }]
invitees   = ["test1", "guest1"]
password   = "1111"
start_time = 2026-12-01T10:00:00+08:00
end_time   = 2026-12-01T11:00:00+08:00
timezone   = "Asia/Shanghai"

[settings]
allow_unmute_self = true
allow_in_before_host = true

[extra]
location = "Room 4"
media_set_type = 1
"#);
    assert_eq!(d.subject, "Quarterly review");
    assert_eq!(d.userid, "tester");
    assert_eq!(d.instanceid.id(), 2);
    assert_eq!(d.meeting_type, MeetingType::Scheduled);
    assert_eq!(d.hosts.len(), 2);
    assert_eq!(d.hosts[1].nick_name.as_deref(), Some("Boss"));
    assert_eq!(d.invitees.len(), 2);
    assert_eq!(d.password.as_deref(), Some("1111"));
    assert_eq!(once(&d), (utc(2026, 12, 1, 2, 0), utc(2026, 12, 1, 3, 0)));
    assert_eq!(d.extra["location"], "Room 4");
    assert_eq!(d.extra["media_set_type"], 1);
    assert_eq!(d.settings["allow_in_before_host"], true);
}

#[test]
fn defaults_fill_what_the_file_leaves_out() {
    let d = ok(ONE_OFF);
    assert_eq!(d.userid, "ops-bot");
    assert_eq!(d.instanceid, Instance::PC);
    assert_eq!(d.timezone, chrono_tz::Asia::Shanghai);
    // From defaults.settings:
    assert_eq!(d.settings["mute_enable_join"], true);
    assert_eq!(d.settings["mute_all"], true);
    // Required by the seed spec, given nowhere: the service's default, which lets
    // participants unmute themselves and leaves the rest off.
    assert_eq!(d.settings["allow_unmute_self"], true);
    for key in [
        "participant_video",
        "enable_record",
        "play_ivr_on_leave",
        "live_url",
    ] {
        assert_eq!(d.settings[key], false, "{key}");
    }
    // Optional and given nowhere: left out of the request.
    assert!(!d.settings.contains_key("host_video"));
}

#[test]
fn the_file_overrides_the_defaults() {
    let d = ok(&format!(
        "{ONE_OFF}userid = \"alice\"\ninstanceid = 5\n[settings]\nmute_enable_join = false\n"
    ));
    assert_eq!(d.userid, "alice");
    assert_eq!(d.instanceid.id(), 5);
    assert_eq!(d.settings["mute_enable_join"], false);
}

#[test]
fn time_formats() {
    let expect = (utc(2026, 12, 1, 2, 0), utc(2026, 12, 1, 3, 0));
    for (start, end) in [
        ("2026-12-01T10:00:00+08:00", "2026-12-01T11:00:00+08:00"),
        ("2026-12-01T02:00:00Z", "2026-12-01 03:00:00Z"),
        // Local datetimes are in the definition's zone (here the default, Asia/Shanghai).
        ("2026-12-01T10:00:00", "2026-12-01T11:00"),
        ("1796090400", "1796094000"),
        ("\"1796090400\"", "\"1796094000\""),
        ("\"2026-12-01T10:00:00+08:00\"", "\"2026-12-01T03:00:00Z\""),
    ] {
        let d = ok(&format!(
            "subject = \"x\"\nstart_time = {start}\nend_time = {end}\n"
        ));
        assert_eq!(once(&d), expect, "{start} .. {end}");
    }
    let d = ok("subject = \"x\"\nstart_time = 2026-12-01T10:00:00\nduration = \"90m\"\n");
    assert_eq!(once(&d).1, utc(2026, 12, 1, 3, 30));
}

#[test]
fn local_times_use_the_definitions_timezone() {
    let d = ok(
        "subject = \"x\"\ntimezone = \"Europe/Berlin\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    assert_eq!(once(&d).0, utc(2026, 12, 1, 9, 0));
}

#[test]
fn local_times_in_a_dst_gap_or_overlap_are_refused_with_the_choices() {
    let gap = only_error(
        "subject = \"x\"\ntimezone = \"America/New_York\"\nstart_time = 2027-03-14T02:30:00\nduration = \"1h\"\n",
    );
    assert!(
        gap.starts_with(
            "3:14: `start_time` 2027-03-14 02:30:00 does not exist in America/New_York"
        ),
        "{gap}"
    );
    let overlap = only_error(
        "subject = \"x\"\ntimezone = \"America/New_York\"\nstart_time = 2027-11-07T01:30:00\nduration = \"1h\"\n",
    );
    assert!(
        overlap.starts_with("3:14: `start_time` 2027-11-07 01:30:00 happens twice"),
        "{overlap}"
    );
    assert!(
        overlap.contains("2027-11-07T01:30:00-04:00 or 2027-11-07T01:30:00-05:00"),
        "{overlap}"
    );
}

#[test]
fn toml_syntax_error() {
    let e = only_error("subject = \"x\nstart_time = 1\n");
    // The parser notices at the end of the line that the string never closes.
    assert!(
        e.starts_with("1:13: invalid TOML: invalid basic string"),
        "{e}"
    );
}

#[test]
fn duplicate_key() {
    let e = only_error("subject = \"a\"\nsubject = \"b\"\n");
    assert!(e.starts_with("2:1: invalid TOML"), "{e}");
}

#[test]
fn wrong_types() {
    let found = errors(
        "subject = 5\nstart_time = true\nduration = 60\ninstanceid = \"1\"\nhosts = \"me\"\n",
    );
    assert_eq!(
        found,
        vec![
            "1:11: `subject` must be a string, found an integer",
            "2:14: `start_time` must be a datetime or unix seconds, found a boolean; hint: write 2026-12-01T10:00:00+08:00, a local 2026-12-01T10:00:00 (in `timezone`), or unix seconds",
            "3:12: `duration` must be a duration string, found an integer; hint: write it with a unit and quotes, like \"15m\", \"1h 30m\" or \"14d\"",
            "4:14: `instanceid` must be an integer, found a string",
            "5:9: `hosts` must be an array, found a string",
        ]
    );
}

#[test]
fn unknown_keys_suggest_the_closest() {
    let found = errors(&format!(
        "{ONE_OFF}invitess = []\n[settings]\nmute_all_ = true\n[schedul]\n"
    ));
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(
        found[0],
        "4:1: unknown key `invitess`; hint: did you mean `invitees`?"
    );
    assert_eq!(
        found[1],
        "6:1: unknown key `mute_all_` in [settings]; hint: did you mean `settings.mute_all`?"
    );
    assert!(
        found[2].starts_with("7:2: unknown key `schedul`; hint: did you mean `schedule`?"),
        "{found:#?}"
    );
}

#[test]
fn missing_subject_and_userid() {
    let mut d = defaults();
    d.userid = None;
    let found = parse(
        Path::new("m.toml"),
        "m",
        "start_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
        &d,
        now(),
    )
    .unwrap_err();
    let shown: Vec<String> = found.iter().map(|d| d.to_string()).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("m.toml:1:1: missing `subject`"))
    );
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("m.toml:1:1: missing `userid`")
                && s.contains("defaults.userid in the daemon config"))
    );
}

#[test]
fn empty_file() {
    let found = errors("");
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("1:1: missing `subject`")),
        "{found:#?}"
    );
    assert!(
        found
            .iter()
            .any(|e| e.starts_with("1:1: missing `start_time`")),
        "{found:#?}"
    );
}

#[test]
fn bad_cron() {
    let e = only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"61 9 * * *\"\n");
    // The field, the value and what the field takes (not the parser's words).
    assert_eq!(
        e,
        "4:8: 61 in the minute field is out of range (0 to 59); hint: e.g. \"30 9 * * MON-FRI\" for 09:30 on weekdays"
    );
    let e =
        only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * MOM-5\"\n");
    assert_eq!(
        e,
        "4:8: `MOM` in the day-of-week field is not a value it takes; hint: did you mean `MON`? The day-of-week field takes 0 to 7 or SUN to SAT"
    );
    let e = only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"30 9 * *\"\n");
    assert!(e.starts_with("4:8: a cron rule has 5 fields"), "{e}");
}

#[test]
fn a_cron_rule_that_never_fires() {
    let e = only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 30 2 *\"\n");
    assert!(e.starts_with("4:8: the cron rule never fires"), "{e}");
}

#[test]
fn unknown_timezone() {
    let e = only_error(&format!("{ONE_OFF}timezone = \"Asia/Shangai\"\n"));
    assert_eq!(
        e,
        "4:12: unknown time zone `Asia/Shangai`; hint: did you mean `Asia/Shanghai`?"
    );
    let e = only_error(
        "subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\ntimezone = \"Mars/Olympus\"\n",
    );
    assert!(
        e.starts_with("5:12: unknown time zone `Mars/Olympus`"),
        "{e}"
    );
}

#[test]
fn end_before_start() {
    let e = only_error(
        "subject = \"x\"\nstart_time = 2026-12-01T10:00:00\nend_time = 2026-12-01T09:00:00\n",
    );
    assert_eq!(
        e,
        "3:12: `end_time` is not after `start_time`; hint: a meeting must end after it starts"
    );
}

/// A meeting that has passed is no problem with its file, for `validate`, `plan` and the
/// daemon alike: a note says so. An ended one-off once failed `validate` (and CI) as "in the
/// past" while the daemon counted it valid.
#[test]
fn a_started_or_ended_one_off_is_valid_with_a_note() {
    let note = |text: &str| ok(text).note(now()).map(|n| n.to_string());
    // now() is 2026-11-25 20:00 CST.
    assert_eq!(
        note("subject = \"x\"\nstart_time = 2026-11-25T10:00:00\nduration = \"1h\"\n"),
        Some("m.toml: note: the meeting ended 2026-11-25 11:00 CST; nothing to book".into())
    );
    assert_eq!(
        note("subject = \"x\"\nstart_time = 2020-01-01T10:00:00\nduration = \"1h\"\n"),
        Some("m.toml: note: the meeting ended 2020-01-01 11:00 CST; nothing to book".into()),
        "however long ago"
    );
    assert_eq!(
        note("subject = \"x\"\nstart_time = 2026-11-25T19:30:00\nduration = \"1h\"\n"),
        Some("m.toml: note: the meeting is under way (2026-11-25 19:30 to 20:30 CST); nothing new to book: if it was not booked before it started, the daemon records it as missed".into())
    );
    assert_eq!(note(ONE_OFF), None);
    // Broken times are errors whenever they are.
    let e = only_error(
        "subject = \"x\"\nstart_time = 2020-01-01T10:00:00\nend_time = 2020-01-01T09:00:00\n",
    );
    assert_eq!(
        e,
        "3:12: `end_time` is not after `start_time`; hint: a meeting must end after it starts"
    );
}

#[test]
fn password_must_be_4_to_6_digits_and_is_not_echoed() {
    for bad in ["\"123\"", "\"1234567\"", "\"12a4\"", "\"１２３４\""] {
        let e = only_error(&format!("{ONE_OFF}password = {bad}\n"));
        assert!(
            e.starts_with("4:12: `password` must be 4 to 6 digits"),
            "{bad}: {e}"
        );
        assert!(!e.contains(bad.trim_matches('"')), "{e}");
    }
    let e = only_error(&format!("{ONE_OFF}password = 1234\n"));
    assert!(e.contains("quote it, so leading zeros are kept"), "{e}");
    assert_eq!(
        ok(&format!("{ONE_OFF}password = \"012345\"\n"))
            .password
            .as_deref(),
        Some("012345")
    );
}

#[test]
fn subject_too_long() {
    let long = "会".repeat(171); // 513 bytes
    let e = only_error(&format!(
        "subject = \"{long}\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n"
    ));
    assert!(
        e.starts_with("1:11: `subject` is 513 bytes; the API takes at most 512"),
        "{e}"
    );
    ok(&format!(
        "subject = \"{}\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
        "会".repeat(170)
    ));
}

#[test]
fn more_than_300_invitees() {
    let list: Vec<String> = (0..301).map(|i| format!("\"u{i}\"")).collect();
    let e = only_error(&format!("{ONE_OFF}invitees = [{}]\n", list.join(",")));
    assert!(
        e.starts_with("4:12: 301 invitees; the API takes at most 300"),
        "{e}"
    );
}

#[test]
fn user_tables_need_a_userid() {
    let found = errors(&format!("{ONE_OFF}hosts = [{{ nick_name = \"x\" }}, 3]\n"));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found[0].starts_with("4:10: `hosts[0]` has no `userid`"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("4:31: `hosts[1]` must be a user id string or a user table"),
        "{found:?}"
    );
}

#[test]
fn instanceids_the_vendor_documents_today_are_accepted() {
    for id in [0, 9, 10, 20, 33] {
        let d = ok(&format!("{ONE_OFF}instanceid = {id}\n"));
        assert_eq!(d.instanceid.id(), id, "{id}");
    }
}

#[test]
fn unknown_instanceid_and_type() {
    let found = errors(&format!("{ONE_OFF}instanceid = 11\ntype = 2\n"));
    assert_eq!(found.len(), 2);
    assert!(
        found[0].starts_with("4:14: unknown `instanceid` 11; hint: use one of 1 (PC), 2 (Mac)"),
        "{found:?}"
    );
    assert!(
        found[1].starts_with("5:8: unknown meeting `type` 2; hint: use 0 (scheduled) or 1 (quick)"),
        "{found:?}"
    );
}

#[test]
fn duration_of_zero_or_over_a_day() {
    let e = only_error("subject = \"x\"\nstart_time = 2026-12-01T10:00:00\nduration = \"0s\"\n");
    assert_eq!(e, "3:12: a meeting must last more than zero");
    let e = only_error("subject = \"x\"\nstart_time = 2026-12-01T10:00:00\nduration = \"25h\"\n");
    assert!(
        e.starts_with("3:12: a meeting may last at most 24h; this one lasts 1day 1h"),
        "{e}"
    );
    let e = only_error(
        "subject = \"x\"\nstart_time = 2026-12-01T10:00:00\nend_time = 2026-12-03T10:00:00\n",
    );
    assert!(e.starts_with("3:12: a meeting may last at most 24h"), "{e}");
    let e = only_error("subject = \"x\"\nduration = \"2d\"\n[schedule]\ncron = \"0 9 * * *\"\n");
    assert!(e.starts_with("2:12: a meeting may last at most 24h"), "{e}");
}

#[test]
fn every_problem_of_a_file_is_reported_in_file_order() {
    let found = errors(
        "subject = \"\"\nuserid = \"\"\npassword = \"12\"\nstart_time = 2026-12-01T10:00:00\nend_time = 2026-12-01T09:00:00\ninstanceid = 11\ncolour = \"red\"\n",
    );
    let places: Vec<&str> = found
        .iter()
        .map(|e| e.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        places,
        ["1:11", "2:10", "3:12", "5:12", "6:14", "7:1"],
        "{found:#?}"
    );
}

#[test]
fn recurring_definition() {
    let d = ok(r#"
subject  = "Daily standup"
duration = "15m"
[schedule]
cron       = "30 9 * * MON-FRI"
timezone   = "Europe/Berlin"
book_ahead = "7d"
from       = 2026-12-01
until      = 2027-06-30
"#);
    let When::Recurring(s) = &d.when else {
        panic!("expected a series")
    };
    assert_eq!(s.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(s.duration, TimeDelta::minutes(15));
    assert_eq!(s.book_ahead, TimeDelta::days(7));
    assert_eq!(s.from, Some(utc(2026, 11, 30, 23, 0)));
    assert_eq!(
        s.until,
        Some(Utc.with_ymd_and_hms(2027, 6, 30, 21, 59, 59).unwrap())
    );
    let first: Vec<_> = s.starts_after(now()).take(2).collect();
    // 09:30 CET on Tue 1 and Wed 2 December.
    assert_eq!(
        first,
        vec![utc(2026, 12, 1, 8, 30), utc(2026, 12, 2, 8, 30)]
    );
}

#[test]
fn recurring_inherits_zone_and_book_ahead() {
    let d = ok(
        "subject = \"x\"\nduration = \"15m\"\ntimezone = \"Asia/Tokyo\"\n[schedule]\ncron = \"0 9 * * *\"\n",
    );
    let When::Recurring(s) = &d.when else {
        panic!("expected a series")
    };
    assert_eq!(s.timezone, chrono_tz::Asia::Tokyo);
    assert_eq!(s.book_ahead, TimeDelta::days(14));
    let d = ok("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\n");
    let When::Recurring(s) = &d.when else {
        panic!("expected a series")
    };
    assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
}

#[test]
fn recurring_misuse() {
    let found = errors(
        "subject = \"x\"\ntype = 1\nstart_time = 2026-12-01T10:00:00\n[schedule]\ncron = \"0 9 * *\"\n",
    );
    assert_eq!(found.len(), 4, "{found:#?}");
    assert!(found[0].starts_with("2:8: a quick meeting (type = 1) cannot recur"));
    assert!(found[1].starts_with("3:1: `start_time` cannot be used with [schedule]"));
    assert!(found[2].starts_with("4:1: a recurring meeting needs `duration`"));
    // The rule is checked even though the meeting has no duration.
    assert!(
        found[3].starts_with("5:8: a cron rule has 5 fields"),
        "{found:#?}"
    );
}

#[test]
fn schedule_window_problems() {
    let e = only_error(
        "subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nfrom = 2027-02-01\nuntil = 2027-01-01\n",
    );
    assert_eq!(e, "6:9: `schedule.until` is before `schedule.from`");
    // An ended series is valid, with nothing to book (it was an error for `validate`).
    let ended = ok(
        "subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nuntil = 2026-01-01\n",
    );
    assert_eq!(
        ended.note(now()).map(|n| n.to_string()),
        Some("m.toml: note: the series has no occurrence left before `schedule.until`; nothing to book".into())
    );
    // On its last day, after its last occurrence, too (it was "never fires between now and
    // `schedule.until`" for a few hours).
    let last_day = ok(
        "subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nuntil = 2026-11-25\n",
    );
    assert!(last_day.note(now()).is_some());
    let e = only_error(
        "subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 30 2 *\"\nuntil = 2027-01-01\n",
    );
    assert!(
        e.starts_with("4:8: the cron rule never fires before `schedule.until`"),
        "{e}"
    );
    let e = only_error(
        "subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nbook_ahead = \"0s\"\n",
    );
    assert!(
        e.starts_with("5:14: `schedule.book_ahead` must be at least 1m"),
        "{e}"
    );
    let e = only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\n");
    assert!(e.starts_with("3:1: [schedule] needs `cron`"), "{e}");
}

#[test]
fn extra_may_not_override_own_fields() {
    let e = only_error(&format!(
        "{ONE_OFF}[extra]\nsubject = \"sneaky\"\ntime_zone = \"Asia/Shanghai\"\n"
    ));
    assert!(
        e.starts_with("5:1: `extra.subject` would override a field"),
        "{e}"
    );
}

#[test]
fn both_end_time_and_duration() {
    let e = only_error(&format!("{ONE_OFF}duration = \"1h\"\n"));
    assert!(
        e.starts_with("3:12: `end_time` and `duration` are both set"),
        "{e}"
    );
}

#[test]
fn unix_milliseconds_are_refused() {
    let e = only_error("subject = \"x\"\nstart_time = 1796090400000\nduration = \"1h\"\n");
    assert!(
        e.contains("milliseconds (13 digits) are not accepted"),
        "{e}"
    );
}

#[test]
fn file_over_one_mib() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(ONE_OFF.as_bytes()).unwrap();
    f.write_all(&vec![b'#'; 1024 * 1024]).unwrap();
    let found = load(f.path(), "big", &defaults(), now()).unwrap_err();
    assert_eq!(found.len(), 1);
    assert!(found[0].message.contains("at most 1 MiB"), "{found:?}");
    assert_eq!(found[0].line, None);
}

#[test]
fn not_utf8_points_at_the_first_bad_byte() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"subject = \"caf\xe9\"\n").unwrap();
    let found = load(f.path(), "latin1", &defaults(), now()).unwrap_err();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].column), (Some(1), Some(15)));
    assert!(found[0].message.contains("not valid UTF-8"));
}

#[test]
fn a_byte_order_mark_is_ignored() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all("\u{feff}".as_bytes()).unwrap();
    f.write_all(ONE_OFF.as_bytes()).unwrap();
    assert!(load(f.path(), "bom", &defaults(), now()).is_ok());
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.toml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let found = load(&fifo, "pipe", &defaults(), now()).unwrap_err();
    assert!(found[0].message.contains("not a regular file"), "{found:?}");
}

#[test]
fn an_ended_series_whose_rule_never_fires_is_still_an_error() {
    let never = "subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 30 2 *\"\nuntil = 2026-01-01\n";
    assert!(
        only_error(never).starts_with("4:8: the cron rule never fires before `schedule.until`")
    );
}

#[test]
fn reversed_cron_ranges_are_errors_with_a_hint() {
    let e =
        only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * MON-SUN\"\n");
    assert_eq!(
        e,
        "4:8: the range `MON-SUN` in the day-of-week field runs backwards (1 to 0); hint: Sunday is day 0: write `MON-SAT,SUN`, `1-7`, or `*` for every day"
    );
    let e =
        only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"30-20 9 * * *\"\n");
    assert!(
        e.starts_with("4:8: the range `30-20` in the minute field runs backwards (30 to 20)"),
        "{e}"
    );
}

#[test]
fn cron_nicknames_midnight_and_reboot() {
    ok("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"@midnight\"\n");
    let e = only_error("subject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"@reboot\"\n");
    assert!(
        e.starts_with("4:8: `@reboot` runs when a cron daemon starts"),
        "{e}"
    );
}

#[test]
fn a_fixed_time_rule_whose_only_day_is_a_gap_still_fires() {
    // 02:00 and 02:30 on 14 March do not exist in New York in 2027: the meeting runs once, at
    // 03:00 (it was "never fires" before).
    let d = ok(
        "subject = \"x\"\nduration = \"15m\"\ntimezone = \"America/New_York\"\n[schedule]\ncron = \"0,30 2 14 3 *\"\nfrom = 2027-03-14\nuntil = 2027-03-14\n",
    );
    let When::Recurring(s) = &d.when else {
        panic!("expected a series")
    };
    let got: Vec<_> = s.starts_after(now()).collect();
    assert_eq!(got, vec![utc(2027, 3, 14, 7, 0)]);
}

#[test]
fn until_a_date_keeps_a_repeated_hour_at_the_end_of_the_day() {
    // America/Santiago falls back at midnight: 2027-04-03 23:00-23:59 happens twice.
    let d = ok(
        "subject = \"x\"\nduration = \"15m\"\ntimezone = \"America/Santiago\"\n[schedule]\ncron = \"*/30 23 * * *\"\nfrom = 2027-04-03\nuntil = 2027-04-03\n",
    );
    let When::Recurring(s) = &d.when else {
        panic!("expected a series")
    };
    let got: Vec<_> = s.starts_after(now()).collect();
    // 23:00 and 23:30 at -03, then again at -04.
    assert_eq!(
        got,
        vec![
            utc(2027, 4, 4, 2, 0),
            utc(2027, 4, 4, 2, 30),
            utc(2027, 4, 4, 3, 0),
            utc(2027, 4, 4, 3, 30)
        ]
    );
}

fn form(text: &str) -> crate::schedule::native::Form {
    match ok(text).when {
        When::Recurring(s) => s.form.clone(),
        When::Once { .. } => panic!("expected a series"),
    }
}

#[test]
fn schedule_mode_decides_how_a_rule_is_booked() {
    use crate::schedule::native::{Form, NotNative, Repeat};
    let series = |mode: &str, cron: &str| {
        format!("subject = \"Standup\"\nduration = \"15m\"\n[schedule]\ncron = \"{cron}\"\n{mode}")
    };
    let native = |repeat| match form(&series("mode = \"auto\"", "30 9 * * MON-FRI")) {
        Form::Native(n) if n.repeat == repeat => true,
        other => panic!("{other:?}"),
    };
    assert!(native(Repeat::Workdays));
    match form(&series("mode = \"native\"", "0 10 * * MON#2")) {
        Form::Native(n) => assert_eq!(
            n.repeat,
            Repeat::NthWeekday {
                weekday: chrono::Weekday::Mon,
                nth: 2
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        form(&series("mode = \"each\"", "30 9 * * MON-FRI")),
        Form::Each(None)
    );
    // `auto` with a rule that does not map: each occurrence on its own, and why.
    assert_eq!(
        form(&series("mode = \"auto\"", "0 */2 * * *")),
        Form::Each(Some(NotNative::Interval))
    );
    // Left out: the default.
    match ok(&series("", "30 9 * * MON-FRI")).when {
        When::Recurring(s) => assert_eq!(s.mode, DEFAULT_MODE),
        When::Once { .. } => panic!("expected a series"),
    }
}

#[test]
fn a_native_mode_the_rule_cannot_take_is_an_error_at_the_key() {
    let text = "subject = \"Standup\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 1-31/2 * *\"\nmode = \"native\"\n";
    assert_eq!(
        only_error(text),
        "5:8: this rule cannot be booked as the service's recurring meetings: days 29 to 31 are not in every month, and the service's docs do not say what it does in a month without them; hint: use mode = \"auto\" to book it one occurrence at a time, or change the rule"
    );
    let text = "subject = \"Standup\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nmode = \"sometimes\"\n";
    assert_eq!(
        only_error(text),
        "5:8: unknown `schedule.mode` \"sometimes\"; hint: one of \"auto\", \"native\", \"each\""
    );
}
