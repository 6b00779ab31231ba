//! The daemon config (`/etc/wemeet-scheduler/config.toml`): API credentials and limits, retry
//! policy, the watch directory, the state file and the defaults every definition inherits.
//!
//! Read in two stages like every file here: [`crate::toml_reader`] checks keys and types, then
//! [`Config::parse`] builds typed values (URL, durations, time zone) and reports every problem
//! with its line and column. Relative paths are taken from the config file's directory.

use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use url::Url;

use crate::meeting::{Instance, Settings};
use crate::toml_reader::DurationBounds;

mod file;
mod read;
mod secret;

pub use read::{ConfigError, parse_timezone};
pub use secret::{
    CREDENTIAL_PREFIX, CREDENTIALS_DIRECTORY, MAX_SECRET_KEY_BYTES, SECRET_KEY_ENV, SecretError,
    SecretKey, SecretSource,
};

/// Where the daemon looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/wemeet-scheduler/config.toml";

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from, `None` for the built-in defaults.
    pub path: Option<PathBuf>,
    /// `[metrics] listen`: where to serve `/metrics`, `/healthz` and `/readyz` (off: `None`).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `[metrics] calendar`: whether `/calendar.ics` (the join links) is served there too.
    pub metrics_calendar: bool,
    pub api: ApiConfig,
    pub retry: RetryConfig,
    pub watch: WatchConfig,
    pub state: StateConfig,
    pub lifecycle: LifecycleConfig,
    pub guard: GuardConfig,
    pub defaults: Defaults,
    /// `[[notify]]`: where booked, changed, cancelled, failed, missed and held meetings are
    /// announced.
    pub notify: Vec<NotifyTarget>,
    /// The files the daemon reads when it starts, as the config names them: `validate`
    /// reads each one.
    pub files: Vec<NamedFile>,
}

/// A file the daemon reads when it starts (the API secret key, a notify target's URL), with
/// the place in the config that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    /// A path (resolved against the config file's directory) or a systemd credential.
    pub source: SecretSource,
    pub holds: FileHolds,
    pub place: crate::diagnostic::Place,
}

/// What a [`NamedFile`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileHolds {
    /// `api.secret_key_file`.
    SecretKey,
    /// A `[[notify]]` block's `url_file`.
    NotifyUrl,
}

/// The most dates a `skip` list (or a shared holiday file) may hold.
pub const MAX_SKIP_DATES: usize = 1000;

/// The most `[[notify]]` blocks a config may have (and names a definition may list).
pub const MAX_NOTIFY_TARGETS: usize = 64;

/// One `[[notify]]` block: a chat robot or webhook and what it hears about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyTarget {
    /// How definitions name it (`notify = ["team-a"]`) and how logs and metrics call it.
    pub name: String,
    pub kind: NotifyKind,
    /// The URL: a secret (a robot's URL is its key), never shown.
    pub url: SecretSource,
    /// What it hears about.
    pub events: std::collections::BTreeSet<NotifyEvent>,
    /// Only definitions whose ids match one of these globs (`team/*`); empty: all.
    pub definitions: Vec<String>,
}

/// The message format a target takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    /// A WeCom (WeChat Work) group robot: `{"msgtype": "markdown", ...}`.
    Wecom,
    /// A Slack incoming webhook: `{"text": ...}`.
    Slack,
    /// Any HTTP endpoint: the documented JSON body.
    Webhook,
}

/// What happened to a booking (or to the definitions) that a target can hear about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    Booked,
    Changed,
    Cancelled,
    Failed,
    Missed,
    Held,
    /// A SIGHUP found the config broken: the daemon runs on the one it had.
    #[serde(rename = "reload_failed")]
    ReloadFailed,
    /// The account's monthly create budget is used up (or the service refused with 500168):
    /// creates wait for the month to turn.
    Quota,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 8] = [
        NotifyEvent::Booked,
        NotifyEvent::Changed,
        NotifyEvent::Cancelled,
        NotifyEvent::Failed,
        NotifyEvent::Missed,
        NotifyEvent::Held,
        NotifyEvent::ReloadFailed,
        NotifyEvent::Quota,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Booked => "booked",
            NotifyEvent::Changed => "changed",
            NotifyEvent::Cancelled => "cancelled",
            NotifyEvent::Failed => "failed",
            NotifyEvent::Missed => "missed",
            NotifyEvent::Held => "held",
            NotifyEvent::ReloadFailed => "reload_failed",
            NotifyEvent::Quota => "quota",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub base_url: Url,
    pub app_id: String,
    pub secret_id: String,
    pub secret_key: SecretSource,
    /// Sent as the `SdkId` header only when set.
    pub sdk_id: Option<String>,
    pub timeout: Duration,
    /// Client-side pacing; `0` turns pacing off (for the fake API and benchmarks only).
    pub requests_per_minute: u32,
    /// The vendor's 2,000 creates an hour per user, kept before sending (`0`: not kept).
    pub creates_per_hour_per_user: u32,
    /// The account's monthly create budget (`api.creates_per_month`, or `premium_accounts` ×
    /// 10 from 50 accounts, × 2 below), kept before sending (`0`: not kept).
    pub creates_per_month: u32,
    /// The vendor's 200,000 requests a day per app, kept before sending (`0`: not kept).
    pub requests_per_day: u32,
    pub concurrency: usize,
    pub user_format: UserFormat,
}

/// How hosts and invitees go out: bare user id strings (the spec) or `{ "userid": .. }` objects
/// (the current vendor API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserFormat {
    #[default]
    String,
    Object,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryConfig {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A booking pending longer than this needs a person: `status` and `once` exit 1.
    pub alert_after: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    pub dir: PathBuf,
    pub rescan_interval: Duration,
}

/// `state.retention` when the config does not say.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    /// The SQLite store.
    pub file: PathBuf,
    /// A version 1 JSON state file to import when the store does not exist yet.
    pub import: Option<PathBuf>,
    /// A PostgreSQL database instead of the file (`postgres://...`). It may hold a password:
    /// its `Debug` is redacted, and messages show it through
    /// [`crate::store::postgres::redact`].
    pub url: Option<SecretKey>,
    /// How soon a standby takes over from a leader that died or was cut off.
    pub takeover: Duration,
    /// Records of meetings that ended longer ago than this are pruned.
    pub retention: Duration,
}

impl StateConfig {
    /// Records of meetings that ended before this are forgotten.
    pub fn forget_before(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> chrono::DateTime<chrono::Utc> {
        retention_cutoff(now, self.retention)
    }
}

/// `now - retention`, checked: what ended before it is forgotten.
pub fn retention_cutoff(
    now: chrono::DateTime<chrono::Utc>,
    retention: Duration,
) -> chrono::DateTime<chrono::Utc> {
    chrono::TimeDelta::from_std(retention)
        .ok()
        .and_then(|r| now.checked_sub_signed(r))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC)
}

/// What happens to booked meetings when their definitions change or go.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleConfig {
    pub on_removed: OnRemoved,
    /// The `reason_code` sent with every cancel.
    pub reason_code: i64,
    /// A scan in which more than this fraction of the definitions with booked meetings
    /// vanished cancels nothing until an operator approves (`approve-removals`).
    pub max_cancel_fraction: f64,
}

/// Changes to booked meetings that no definition made (a new default in a new build, a fix
/// in how a field is sent), held for an operator when there are many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// A pass that would modify or cancel more than this many booked meetings of definitions
    /// whose files were not seen to change (at start, after an upgrade, after a reload) sends
    /// none of those until an operator approves (`approve-changes`).
    pub max_changes: usize,
}

/// The most `guard.max_changes` can be.
pub const MAX_GUARD_CHANGES: i64 = 1_000_000;

/// `lifecycle.on_removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRemoved {
    /// Cancel the future meetings of a removed definition.
    Cancel,
    /// Leave them booked.
    Keep,
}

/// What a definition inherits when it leaves a field out.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub userid: Option<String>,
    pub instanceid: Instance,
    pub timezone: Tz,
    pub book_ahead: Duration,
    pub settings: Settings,
    /// Dates with no occurrence of any series, from `skip_file` (holidays).
    pub skip: std::collections::BTreeSet<chrono::NaiveDate>,
}

impl Default for Config {
    /// The built-in defaults: what a config file that sets nothing means.
    fn default() -> Self {
        Config {
            path: None,
            metrics_listen: None,
            metrics_calendar: false,
            notify: Vec::new(),
            files: Vec::new(),
            api: ApiConfig {
                // Safe: a constant, valid URL.
                base_url: Url::parse("https://api.meeting.qq.com").expect("constant URL parses"),
                app_id: String::new(),
                secret_id: String::new(),
                secret_key: SecretSource::Env,
                sdk_id: None,
                timeout: Duration::from_secs(10),
                requests_per_minute: 300,
                creates_per_hour_per_user: 2000,
                creates_per_month: 0,
                requests_per_day: 200_000,
                concurrency: 4,
                user_format: UserFormat::Object,
            },
            retry: RetryConfig {
                max_attempts: 8,
                base_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(300),
                alert_after: Duration::from_secs(15 * 60),
            },
            watch: WatchConfig {
                dir: PathBuf::from("/etc/wemeet-scheduler/meetings.d"),
                rescan_interval: Duration::from_secs(60),
            },
            state: StateConfig {
                file: PathBuf::from("/var/lib/wemeet-scheduler/state.db"),
                import: None,
                url: None,
                takeover: Duration::from_secs(30),
                retention: DEFAULT_RETENTION,
            },
            lifecycle: LifecycleConfig {
                on_removed: OnRemoved::Cancel,
                reason_code: 1,
                max_cancel_fraction: 0.5,
            },
            guard: GuardConfig { max_changes: 10 },
            defaults: Defaults {
                userid: None,
                instanceid: Instance::PC,
                timezone: Tz::UTC,
                book_ahead: Duration::from_secs(14 * 24 * 3600),
                settings: Settings::new(),
                skip: std::collections::BTreeSet::new(),
            },
        }
    }
}

/// How far ahead occurrences may be booked: `book_ahead`, in definitions and `[defaults]`.
/// At least a minute: an occurrence is booked when `book_ahead` before its start is reached,
/// and a create takes a moment; less would book meetings as they start, or miss them.
pub const BOOK_AHEAD: DurationBounds = DurationBounds {
    min: Duration::from_secs(60),
    min_text: "1m",
    max: Duration::from_secs(366 * DAY),
    max_text: "366d",
    hint: "book at least a few minutes and at most a year ahead, e.g. \"14d\"",
};
/// `state.retention`. At least an hour: records are pruned by the passes that look at
/// everything, so a shorter one would not be kept anyway. (A missed or failed meeting makes
/// `status` exit 1 only while its record is kept: under a day can hide it from a daily check.)
pub const RETENTION: DurationBounds = DurationBounds {
    min: Duration::from_secs(3600),
    min_text: "1h",
    max: Duration::from_secs(3653 * DAY),
    max_text: "10y",
    hint: "records of meetings that ended longer ago are pruned; e.g. \"30d\"",
};
/// `retry.base_delay`. At least a millisecond: zero would send every retry at once, with
/// nothing to double.
pub const RETRY_BASE_DELAY: DurationBounds = DurationBounds {
    min: Duration::from_millis(1),
    min_text: "1ms",
    max: Duration::from_secs(DAY),
    max_text: "1d",
    hint: "a failed request is retried within the day or not at all; e.g. \"1s\"",
};
/// `retry.max_delay`: the cap of each retry's delay (and of a server's `Retry-After`), and
/// the wait before a create or lookup that still fails after its retries is tried again. At
/// least 10 ms, so that loop cannot spin.
pub const RETRY_MAX_DELAY: DurationBounds = DurationBounds {
    min: Duration::from_millis(10),
    min_text: "10ms",
    max: Duration::from_secs(DAY),
    max_text: "1d",
    hint: "a failed request is retried within the day or not at all; e.g. \"5m\"",
};
/// `retry.alert_after`. At least a minute: `status` counts whole seconds, and a create that
/// is being retried is pending for seconds to minutes without needing anyone.
pub const ALERT_AFTER: DurationBounds = DurationBounds {
    min: Duration::from_secs(60),
    min_text: "1m",
    max: Duration::from_secs(7 * DAY),
    max_text: "7d",
    hint: "how long a booking may stay pending before `status` and `once` say so; e.g. \"15m\"",
};
/// `api.timeout`. At least a second: a request to the service (TLS included) takes a good
/// part of one, and less would time out requests the server then carries out.
pub const TIMEOUT: DurationBounds = DurationBounds {
    min: Duration::from_secs(1),
    min_text: "1s",
    max: Duration::from_secs(600),
    max_text: "10m",
    hint: "the service answers in seconds; e.g. \"10s\"",
};
/// `state.takeover`. At least 3 s: a standby tries for the lock every tenth of it and a
/// leader checks its lock every third, and the PostgreSQL session timeouts are set to it (a
/// tokio interval of zero panics).
pub const TAKEOVER: DurationBounds = DurationBounds {
    min: Duration::from_secs(3),
    min_text: "3s",
    max: Duration::from_secs(3600),
    max_text: "1h",
    hint: "how soon a standby takes over from a dead leader; e.g. \"30s\"",
};
/// `watch.rescan_interval`. At least a second: each rescan reads every definition, and a
/// shorter interval keeps a core busy (file events are seen at once anyway).
pub const RESCAN_INTERVAL: DurationBounds = DurationBounds {
    min: Duration::from_secs(1),
    min_text: "1s",
    max: Duration::from_secs(DAY),
    max_text: "1d",
    hint: "file events are hints, the rescan is the guarantee; e.g. \"5m\"",
};
const DAY: u64 = 86_400;

#[cfg(test)]
mod tests;
