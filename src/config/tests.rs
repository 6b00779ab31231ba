//! Reading configs: the documented example, every problem at its place, secrets never
//! shown, and the bounds of every duration.

use super::*;
use std::path::Path;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/ws/config.toml"), text, Some(0o600))
}

fn problems(text: &str) -> Vec<String> {
    match parse(text) {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(|p| p.to_string()).collect()
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

const FULL: &str = r#"
[api]
base_url = "https://api.meeting.qq.com"
app_id = "200000001"
secret_id = "AKIDexample"
secret_key_file = "/run/credentials/wemeet-scheduler.service/secret-key"
sdk_id = ""
timeout = "10s"
requests_per_minute = 300
concurrency = 4

[retry]
max_attempts = 8
base_delay = "1s"
max_delay = "5m"

[watch]
dir = "meetings.d"
rescan_interval = "60s"

[state]
file = "/var/lib/wemeet-scheduler/state.db"
import = "/var/lib/wemeet-scheduler/state.json"

[defaults]
userid = "ops-bot"
instanceid = 1
timezone = "Asia/Shanghai"
book_ahead = "14d"
[defaults.settings]
mute_enable_join = true
"#;

#[test]
fn guard_max_changes_is_bounded_and_defaults_to_ten() {
    assert_eq!(parse("").unwrap().guard.max_changes, 10);
    assert_eq!(
        parse("[guard]\nmax_changes = 0\n")
            .unwrap()
            .guard
            .max_changes,
        0
    );
    for bad in ["-1", "1000001"] {
        let p = problems(&format!("[guard]\nmax_changes = {bad}\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("2:15: `guard.max_changes` must be from 0 to 1000000"),
            "{p:?}"
        );
    }
}

#[test]
fn the_calendar_is_served_only_when_asked_for() {
    let listen = "[metrics]\nlisten = \"127.0.0.1:9464\"\n";
    let off = parse(listen).unwrap();
    assert!(off.metrics_listen.is_some() && !off.metrics_calendar);
    assert!(
        parse(&format!("{listen}calendar = true\n"))
            .unwrap()
            .metrics_calendar
    );
    assert!(
        !parse(&format!("{listen}calendar = false\n"))
            .unwrap()
            .metrics_calendar
    );
    let p = problems(&format!("{listen}calendar = \"yes\"\n"));
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("/etc/ws/config.toml:3:12: "), "{p:?}");
}

#[test]
fn the_documented_example_reads_into_typed_values() {
    let config = parse(FULL).unwrap();
    assert_eq!(config.api.app_id, "200000001");
    assert_eq!(config.api.sdk_id, None, "empty sdk_id means none");
    assert_eq!(
        config.api.secret_key,
        SecretSource::File("/run/credentials/wemeet-scheduler.service/secret-key".into())
    );
    assert_eq!(config.api.timeout, Duration::from_secs(10));
    assert_eq!(config.retry.max_delay, Duration::from_secs(300));
    assert_eq!(config.watch.dir, PathBuf::from("/etc/ws/meetings.d"));
    assert_eq!(
        config.state.file,
        PathBuf::from("/var/lib/wemeet-scheduler/state.db")
    );
    assert_eq!(
        config.state.import,
        Some(PathBuf::from("/var/lib/wemeet-scheduler/state.json"))
    );
    assert_eq!(config.defaults.userid.as_deref(), Some("ops-bot"));
    assert_eq!(config.defaults.timezone, chrono_tz::Asia::Shanghai);
    assert_eq!(config.defaults.book_ahead, Duration::from_secs(14 * 86400));
    assert_eq!(
        config.defaults.settings.get("mute_enable_join"),
        Some(&serde_json::Value::Bool(true))
    );
}

#[test]
fn relative_key_and_url_files_are_taken_from_the_configs_directory() {
    let config = parse(
        "[api]\nsecret_key_file = \"keys/secret-key\"\n[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_file = \"a.url\"\n[[notify]]\nname = \"b\"\nkind = \"slack\"\nurl_file = \"/run/credentials/x/b.url\"\n",
    )
    .unwrap();
    let key = PathBuf::from("/etc/ws/keys/secret-key");
    assert_eq!(config.api.secret_key, SecretSource::File(key.clone()));
    let urls: Vec<_> = config.notify.iter().map(|t| t.url.clone()).collect();
    assert_eq!(
        urls,
        [
            SecretSource::File("/etc/ws/a.url".into()),
            SecretSource::File("/run/credentials/x/b.url".into())
        ]
    );
    // Each is a file the daemon reads at its start, named at its place for `validate`.
    let files: Vec<_> = config
        .files
        .iter()
        .map(|f| (f.source.clone(), f.holds, f.place.line, f.place.column))
        .collect();
    assert_eq!(
        files,
        [
            (SecretSource::File(key), FileHolds::SecretKey, 2, 19),
            (urls[0].clone(), FileHolds::NotifyUrl, 6, 12),
            (urls[1].clone(), FileHolds::NotifyUrl, 10, 12),
        ]
    );
}

#[test]
fn a_systemd_credential_is_named_by_its_name_alone() {
    let config = parse(
        "[api]\nsecret_key_file = \"${CREDENTIALS_DIRECTORY}/secret-key\"\n[[notify]]\nname = \"a\"\nkind = \"slack\"\nurl_file = \"${CREDENTIALS_DIRECTORY}/a.url\"\n",
    )
    .unwrap();
    assert_eq!(
        config.api.secret_key,
        SecretSource::Credential("secret-key".into())
    );
    assert_eq!(
        config.notify[0].url,
        SecretSource::Credential("a.url".into())
    );
    for bad in ["", "a/b", "..", "../etc/shadow"] {
        let found = problems(&format!(
            "[api]\nsecret_key_file = \"${{CREDENTIALS_DIRECTORY}}/{bad}\"\n"
        ));
        assert_eq!(
            found,
            [
                "/etc/ws/config.toml:2:19: `api.secret_key_file` names no credential; hint: write ${CREDENTIALS_DIRECTORY}/NAME, NAME as in LoadCredential=NAME:PATH"
            ],
            "{bad}"
        );
    }
}

#[test]
fn an_empty_file_means_the_built_in_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.retry, Config::default().retry);
    assert_eq!(config.api.secret_key, SecretSource::Env);
}

#[test]
fn every_problem_is_reported_with_its_line() {
    let found = problems(
        "[api]\ntimeout = 10\nconcurrency = 0\nsecret_kye = \"x\"\n[watch]\ndir = 3\n[defaults]\ntimezone = \"Asia/Shanghia\"\n",
    );
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(
        found[0].starts_with("/etc/ws/config.toml:2:11: `api.timeout` must be a duration string")
    );
    assert!(
        found[1].starts_with("/etc/ws/config.toml:3:15: `api.concurrency` must be from 1 to 256")
    );
    assert!(
        found[2].contains(
            ":4:1: unknown key `secret_kye` in [api]; hint: did you mean `api.secret_key`?"
        )
    );
    assert!(found[3].contains(":6:7: `watch.dir` must be a string, found an integer"));
    assert!(
        found[4].contains(
            ":8:12: unknown time zone `Asia/Shanghia`; hint: did you mean `Asia/Shanghai`?"
        )
    );
}

#[test]
fn syntax_errors_point_at_the_place() {
    let found = problems("[api]\napp_id = \"unterminated\n");
    assert!(found[0].starts_with("/etc/ws/config.toml:2:"), "{found:?}");
    assert!(found[0].contains("invalid TOML"), "{found:?}");
}

#[test]
fn duplicate_keys_are_an_error() {
    let found = problems("[api]\napp_id = \"a\"\napp_id = \"b\"\n");
    assert!(found[0].contains(":3:"), "{found:?}");
}

#[test]
fn inline_secret_in_a_readable_file_is_refused_without_showing_it() {
    let text = "[api]\nsecret_key = \"s3cr3t-value\"\n";
    let err = Config::parse(Path::new("c.toml"), text, Some(0o644)).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("readable by group or others (mode 644)"),
        "{shown}"
    );
    assert!(shown.contains("chmod 600"), "{shown}");
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
    let ok = Config::parse(Path::new("c.toml"), text, Some(0o600)).unwrap();
    assert_eq!(
        ok.api.secret_key,
        SecretSource::Inline(SecretKey::new("s3cr3t-value"))
    );
    assert!(!format!("{ok:?}").contains("s3cr3t-value"));
}

#[test]
fn a_syntax_error_on_the_secret_line_does_not_quote_it() {
    let text = "[api]\nsecret_key = \"s3cr3t-value\" junk\n";
    let shown = parse(text).unwrap_err().to_string();
    assert!(!shown.contains("s3cr3t-value"), "{shown}");
}

#[test]
fn both_secret_sources_is_an_error() {
    let found = problems("[api]\nsecret_key = \"a\"\nsecret_key_file = \"/k\"\n");
    assert!(found[0].contains("both set"), "{found:?}");
}

/// Every duration setting, a value just below its floor, and the floor.
const FLOORS: [(&str, &str, &str, &str); 8] = [
    ("api", "timeout", "999ms", "1s"),
    ("retry", "base_delay", "0s", "1ms"),
    ("retry", "max_delay", "9ms", "10ms"),
    ("retry", "alert_after", "59s", "1m"),
    ("watch", "rescan_interval", "1ns", "1s"),
    ("state", "takeover", "2ns", "3s"),
    ("state", "retention", "59m", "1h"),
    ("defaults", "book_ahead", "59s", "1m"),
];

#[test]
fn every_duration_below_its_floor_is_refused_at_its_place_naming_the_floor() {
    for (section, key, small, floor) in FLOORS {
        // One line above the key, so the position is not the file's first line by chance.
        let found = problems(&format!("[{section}]\n\n{key} = \"{small}\"\n"));
        assert_eq!(found.len(), 1, "{section}.{key}: {found:?}");
        let col = key.len() + 4;
        let want = format!(
            "/etc/ws/config.toml:3:{col}: `{section}.{key}` must be at least {floor}; hint: "
        );
        assert!(
            found[0].starts_with(&want),
            "want {want}\ngot  {}",
            found[0]
        );
    }
}

#[test]
fn every_duration_at_its_floor_is_accepted() {
    for (section, key, _, floor) in FLOORS {
        let mut text = format!("[{section}]\n{key} = \"{floor}\"\n");
        if key == "max_delay" {
            // Not shorter than `base_delay`, which is 1s unless set.
            text.push_str("base_delay = \"1ms\"\n");
        }
        assert!(
            parse(&text).is_ok(),
            "{section}.{key} = {floor}: {:?}",
            parse(&text)
        );
    }
}

#[test]
fn the_built_in_durations_are_within_their_bounds() {
    let d = Config::default();
    for (value, bounds) in [
        (d.api.timeout, &TIMEOUT),
        (d.retry.base_delay, &RETRY_BASE_DELAY),
        (d.retry.max_delay, &RETRY_MAX_DELAY),
        (d.retry.alert_after, &ALERT_AFTER),
        (d.watch.rescan_interval, &RESCAN_INTERVAL),
        (d.state.takeover, &TAKEOVER),
        (d.state.retention, &RETENTION),
        (d.defaults.book_ahead, &BOOK_AHEAD),
    ] {
        assert!(bounds.min <= value && value <= bounds.max, "{value:?}");
        assert_eq!(
            humantime::parse_duration(bounds.min_text).ok(),
            Some(bounds.min)
        );
    }
}

#[test]
fn base_delay_longer_than_max_delay_is_an_error() {
    let found = problems("[retry]\nbase_delay = \"10m\"\nmax_delay = \"1m\"\n");
    assert!(
        found[0].contains(":3:13: `retry.base_delay` is longer"),
        "{found:?}"
    );
}

#[test]
fn the_monthly_budget_comes_from_the_cap_or_the_premium_accounts() {
    let budget = |api: &str| {
        parse(&format!("[api]\n{api}\n"))
            .unwrap()
            .api
            .creates_per_month
    };
    assert_eq!(parse("").unwrap().api.creates_per_month, 0, "unlimited");
    assert_eq!(budget("creates_per_month = 120"), 120);
    // The vendor's rule (doc 1095/105276): x 10 from 50 premium accounts, x 2 below.
    assert_eq!(budget("premium_accounts = 20"), 40);
    assert_eq!(budget("premium_accounts = 49"), 98);
    assert_eq!(budget("premium_accounts = 50"), 500);
    let both = problems("[api]\ncreates_per_month = 40\npremium_accounts = 20\n");
    assert_eq!(both.len(), 1, "{both:?}");
    assert!(
        both[0].starts_with(
            "/etc/ws/config.toml:3:20: `api.premium_accounts` and `api.creates_per_month` (= 40) both set the monthly create budget"
        ),
        "{both:?}"
    );
    for (bad, message) in [
        (
            "premium_accounts = 0",
            "3:20: `api.premium_accounts` must be from 1",
        ),
        (
            "creates_per_month = -1",
            "3:21: `api.creates_per_month` must be from 0",
        ),
    ] {
        let p = problems(&format!("[api]\n\n{bad}\n"));
        assert!(p.len() == 1 && p[0].contains(message), "{bad}: {p:?}");
    }
}
