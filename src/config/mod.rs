//! The daemon config (`/etc/wemeet-scheduler/config.toml`): API credentials and limits, retry
//! policy, the watch directory, the state file and the defaults every definition inherits.
//!
//! Read in two stages like every file here: [`crate::toml_reader`] checks keys and types, then
//! [`Config::parse`] builds typed values (URL, durations, time zone) and reports every problem
//! with its line and column. Relative paths are taken from the config file's directory.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use url::Url;

use crate::diagnostic::{Collector, Diagnostic, did_you_mean};
use crate::meeting::{Instance, Settings, read_settings};
use crate::toml_reader::{self, DurationBounds, Table};

/// Where the daemon looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/wemeet-scheduler/config.toml";
/// The environment variable that may hold the API secret key.
pub const SECRET_KEY_ENV: &str = "WEMEET_SECRET_KEY";
/// Largest config file read; a config is a few dozen lines.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from, `None` for the built-in defaults.
    pub path: Option<PathBuf>,
    /// `[metrics] listen`: where to serve `/metrics`, `/healthz` and `/readyz` (off: `None`).
    pub metrics_listen: Option<std::net::SocketAddr>,
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
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 6] = [
        NotifyEvent::Booked,
        NotifyEvent::Changed,
        NotifyEvent::Cancelled,
        NotifyEvent::Failed,
        NotifyEvent::Missed,
        NotifyEvent::Held,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::Booked => "booked",
            NotifyEvent::Changed => "changed",
            NotifyEvent::Cancelled => "cancelled",
            NotifyEvent::Failed => "failed",
            NotifyEvent::Missed => "missed",
            NotifyEvent::Held => "held",
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

/// Where the API secret key comes from. It is read only when the daemon starts talking to the
/// API, so `validate` and `plan` work without it.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `api.secret_key_file`, e.g. a systemd credential.
    File(PathBuf),
    /// `api.secret_key` inline (the config must then be readable by its owner only).
    Inline(SecretKey),
    /// Neither is set: the `WEMEET_SECRET_KEY` environment variable.
    Env,
    /// This environment variable (a notify target's `url_env`).
    Var(String),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => f.debug_tuple("File").field(p).finish(),
            SecretSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            SecretSource::Env => f.write_str("Env"),
            SecretSource::Var(v) => f.debug_tuple("Var").field(v).finish(),
        }
    }
}

/// The API secret key. Its `Debug` and `Display` never show it; only [`SecretKey::expose`]
/// does, for the signer.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> Self {
        SecretKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Why the secret key could not be had. No variant carries any part of the key.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the secret from {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the secret file {path} is empty")]
    Empty { path: PathBuf },
    #[error("the secret file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("the secret file {path} is larger than {MAX_SECRET_KEY_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error(
        "the secret file {path} is readable by group or others (mode {mode:o}); run `chmod 600` on it"
    )]
    Readable { path: PathBuf, mode: u32 },
    #[error(
        "no API secret key: set api.secret_key_file (or api.secret_key) in the config, or the WEMEET_SECRET_KEY environment variable"
    )]
    Missing,
    #[error("the environment variable {var} is not set, or empty")]
    MissingVar { var: String },
}

impl SecretError {
    /// The key file does not exist (yet): `validate` on a machine other than the server.
    pub fn is_missing_file(&self) -> bool {
        matches!(self, SecretError::File { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A key file larger than this is not a key (`/dev/zero`, a log file named by mistake).
pub const MAX_SECRET_KEY_BYTES: u64 = 4096;

impl SecretSource {
    /// Reads the key. A key file must be a regular file of at most 4 KiB, readable by its
    /// owner only; its trailing newline is not part of the key.
    pub fn load(&self) -> Result<SecretKey, SecretError> {
        match self {
            SecretSource::Inline(key) => Ok(key.clone()),
            SecretSource::File(path) => read_key_file(path),
            SecretSource::Env => match std::env::var(SECRET_KEY_ENV) {
                Ok(key) if !key.is_empty() => Ok(SecretKey::new(key)),
                _ => Err(SecretError::Missing),
            },
            SecretSource::Var(var) => match std::env::var(var) {
                Ok(key) if !key.is_empty() => Ok(SecretKey::new(key)),
                _ => Err(SecretError::MissingVar { var: var.clone() }),
            },
        }
    }
}

fn read_key_file(path: &Path) -> Result<SecretKey, SecretError> {
    use std::io::Read as _;
    let io = |source| SecretError::File {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(SecretError::NotAFile { path: path.into() });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretError::Readable {
                path: path.into(),
                mode,
            });
        }
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_KEY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SECRET_KEY_BYTES {
        return Err(SecretError::TooLarge { path: path.into() });
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })?;
    let key = text.trim_end_matches(['\n', '\r']);
    if key.is_empty() {
        return Err(SecretError::Empty { path: path.into() });
    }
    Ok(SecretKey::new(key))
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
            notify: Vec::new(),
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

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("config {path} is larger than 1 MiB")]
    TooLarge { path: PathBuf },
    #[error("config {path} is not valid UTF-8")]
    NotUtf8 { path: PathBuf },
    #[error("config {path} has {count} problem(s):\n{list}", count = .problems.len(), list = list(.problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Diagnostic>,
    },
}

fn list(problems: &[Diagnostic]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads and validates the config at `path`, including the check that an inline secret
    /// key is not readable by group or others.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let read_err = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 {
            path: path.to_path_buf(),
        })?;
        let mode = mode_of(&meta);
        Config::parse(path, &text, mode)
    }

    /// Validates config text. `mode` is the file's permission bits when known: an inline
    /// `secret_key` in a file readable by group or others is refused.
    pub fn parse(path: &Path, text: &str, mode: Option<u32>) -> Result<Config, ConfigError> {
        let mut c = Collector::new(path, text);
        let config = toml_reader::parse(text, &mut c).and_then(|doc| {
            let root = Table::root(&doc);
            read_config(path, &root, mode, &mut c)
        });
        match config {
            Some(config) if c.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: c.finish(),
            }),
        }
    }
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode())
}

#[cfg(not(unix))]
fn mode_of(_meta: &std::fs::Metadata) -> Option<u32> {
    None
}

fn read_config(
    path: &Path,
    root: &Table<'_, '_>,
    mode: Option<u32>,
    c: &mut Collector<'_>,
) -> Option<Config> {
    root.deny_unknown(
        &[
            "api",
            "retry",
            "watch",
            "state",
            "lifecycle",
            "guard",
            "metrics",
            "defaults",
            "notify",
        ],
        c,
    );
    let base = path.parent().unwrap_or(Path::new("."));
    let mut config = Config {
        path: Some(path.to_path_buf()),
        ..Config::default()
    };
    if let Some(api) = root.table("api", c) {
        read_api(&api, mode, &mut config.api, c);
    }
    if let Some(retry) = root.table("retry", c) {
        read_retry(&retry, &mut config.retry, c);
    }
    if let Some(watch) = root.table("watch", c) {
        watch.deny_unknown(&["dir", "rescan_interval"], c);
        if let Some(dir) = non_empty(&watch, "dir", c) {
            config.watch.dir = base.join(dir.get_ref());
        }
        if let Some(every) = watch.bounded_duration("rescan_interval", &RESCAN_INTERVAL, c) {
            config.watch.rescan_interval = *every.get_ref();
        }
    }
    if let Some(state) = root.table("state", c) {
        state.deny_unknown(&["file", "import", "url", "takeover", "retention"], c);
        if let Some(file) = non_empty(&state, "file", c) {
            config.state.file = base.join(file.get_ref());
        }
        if let Some(file) = non_empty(&state, "import", c) {
            config.state.import = Some(base.join(file.get_ref()));
        }
        if let Some(url) = non_empty(&state, "url", c) {
            let has_password = url::Url::parse(url.get_ref()).is_ok_and(|u| u.password().is_some());
            if let Some(mode) = mode.filter(|m| has_password && m & 0o077 != 0) {
                c.error_hint(
                    url.span(),
                    format!(
                        "`state.url` holds a password but the config file is readable by group or others (mode {:o})",
                        mode & 0o777
                    ),
                    "run `chmod 600` on the config (owned by the daemon's user)",
                );
            }
            if url.get_ref().starts_with("postgres://")
                || url.get_ref().starts_with("postgresql://")
            {
                config.state.url = Some(SecretKey::new(url.into_inner()));
            } else {
                // The value is not quoted: it may hold a password.
                c.error_hint(
                    url.span(),
                    "`state.url` is not a PostgreSQL URL",
                    "write postgres://USER:PASSWORD@HOST/DATABASE, or leave it out for the SQLite file",
                );
            }
        }
        if let Some(t) = state.bounded_duration("takeover", &TAKEOVER, c) {
            config.state.takeover = *t.get_ref();
        }
        if let Some(r) = state.bounded_duration("retention", &RETENTION, c) {
            config.state.retention = *r.get_ref();
        }
    }
    if let Some(lifecycle) = root.table("lifecycle", c) {
        read_lifecycle(&lifecycle, &mut config.lifecycle, c);
    }
    if let Some(guard) = root.table("guard", c) {
        guard.deny_unknown(&["max_changes"], c);
        if let Some(n) = guard.integer("max_changes", c) {
            match usize::try_from(*n.get_ref()) {
                Ok(m) if *n.get_ref() <= MAX_GUARD_CHANGES => config.guard.max_changes = m,
                _ => c.error_hint(
                    n.span(),
                    format!("`guard.max_changes` must be from 0 to {MAX_GUARD_CHANGES}"),
                    "10 holds a change no definition made once it would touch more than 10 booked meetings; 0 holds every one",
                ),
            }
        }
    }
    if let Some((blocks, span)) = root.array("notify", c) {
        if blocks.len() > MAX_NOTIFY_TARGETS {
            c.error_hint(
                span.clone(),
                format!(
                    "{} [[notify]] blocks; at most {MAX_NOTIFY_TARGETS}",
                    blocks.len()
                ),
                "send to a webhook that fans out, or use fewer targets",
            );
        }
        for (i, block) in blocks.iter().enumerate().take(MAX_NOTIFY_TARGETS) {
            match block.get_ref() {
                toml::de::DeValue::Table(t) => {
                    let table = Table::nested(t, block.span(), format!("notify[{i}]"));
                    if let Some(target) = read_notify(&table, mode, c) {
                        if config.notify.iter().any(|n| n.name == target.name) {
                            c.error_hint(
                                table.key_span("name").unwrap_or(table.span()),
                                format!("a second [[notify]] is named `{}`", target.name),
                                "give each target its own name",
                            );
                        }
                        config.notify.push(target);
                    }
                }
                _ => c.error_hint(
                    span.clone(),
                    "`notify` must be tables: write [[notify]] blocks",
                    "see the README's Notifications section",
                ),
            }
        }
    }
    if let Some(metrics) = root.table("metrics", c) {
        metrics.deny_unknown(&["listen"], c);
        if let Some(listen) = metrics.string("listen", c) {
            match listen.get_ref().parse() {
                Ok(addr) => config.metrics_listen = Some(addr),
                Err(_) => c.error_hint(
                    listen.span(),
                    "`metrics.listen` is not an address",
                    "give an IP address and a port, e.g. \"127.0.0.1:9464\"",
                ),
            }
        }
    }
    if let Some(defaults) = root.table("defaults", c) {
        read_defaults(&defaults, base, &mut config.defaults, c);
    }
    Some(config)
}

/// One `[[notify]]` block.
fn read_notify(
    t: &Table<'_, '_>,
    mode: Option<u32>,
    c: &mut Collector<'_>,
) -> Option<NotifyTarget> {
    t.deny_unknown(
        &[
            "name",
            "kind",
            "url",
            "url_file",
            "url_env",
            "events",
            "definitions",
        ],
        c,
    );
    let name = non_empty(t, "name", c);
    if name.is_none() && t.get("name").is_none() {
        c.error_hint(
            t.span(),
            format!("[{}] has no `name`", t.name()),
            "name it, e.g. name = \"team-a\": definitions pick targets by name",
        );
    }
    let kind = match t.string("kind", c) {
        Some(k) => match k.get_ref().as_str() {
            "wecom" => Some(NotifyKind::Wecom),
            "slack" => Some(NotifyKind::Slack),
            "webhook" => Some(NotifyKind::Webhook),
            other => {
                c.error_hint(
                    k.span(),
                    format!("unknown notify kind `{other}`"),
                    "use \"wecom\", \"slack\" or \"webhook\"",
                );
                None
            }
        },
        None => {
            c.error_hint(
                t.span(),
                format!("[{}] has no `kind`", t.name()),
                "add kind = \"wecom\", \"slack\" or \"webhook\"",
            );
            None
        }
    };
    let inline = t.string("url", c);
    let file = t.string("url_file", c);
    let env = t.string("url_env", c);
    let url = match (inline, file, env) {
        (Some(u), None, None) => {
            // The value is never quoted back: a robot's URL is its key.
            if let Some(mode) = mode.filter(|m| m & 0o077 != 0) {
                c.error_hint(
                    u.span(),
                    format!(
                        "`{}` is inline but the config file is readable by group or others (mode {:o})",
                        t.path_of("url"),
                        mode & 0o777
                    ),
                    "run `chmod 600` on the config, or use url_file or url_env",
                );
            }
            Some(SecretSource::Inline(SecretKey::new(u.into_inner())))
        }
        (None, Some(f), None) if !f.get_ref().is_empty() => {
            Some(SecretSource::File(PathBuf::from(f.into_inner())))
        }
        (None, None, Some(e)) if !e.get_ref().is_empty() => Some(SecretSource::Var(e.into_inner())),
        (None, None, None) => {
            c.error_hint(
                t.span(),
                format!("[{}] has no URL", t.name()),
                "set url_file (a file readable by the daemon only) or url_env (an environment variable)",
            );
            None
        }
        _ => {
            c.error_hint(
                t.span(),
                format!("[{}] sets its URL more than once, or empty", t.name()),
                "keep one of url, url_file and url_env",
            );
            None
        }
    };
    let mut events = std::collections::BTreeSet::new();
    match t.array("events", c) {
        Some((values, _)) => {
            for v in values {
                match v.get_ref().as_str() {
                    Some(e) => match NotifyEvent::ALL.iter().find(|x| x.as_str() == e) {
                        Some(x) => {
                            events.insert(*x);
                        }
                        None => c.error_hint(
                            v.span(),
                            format!("unknown event `{e}`"),
                            "use booked, changed, cancelled, failed, missed or held",
                        ),
                    },
                    None => c.error(v.span(), "events are strings"),
                }
            }
        }
        None => events.extend(NotifyEvent::ALL),
    }
    let mut definitions = Vec::new();
    if let Some((values, _)) = t.array("definitions", c) {
        for v in values {
            match v.get_ref().as_str() {
                Some(d) => definitions.push(d.to_string()),
                None => c.error(v.span(), "definitions are ids or globs, as strings"),
            }
        }
    }
    Some(NotifyTarget {
        name: name?.into_inner(),
        kind: kind?,
        url: url?,
        events,
        definitions,
    })
}

fn read_api(api: &Table<'_, '_>, mode: Option<u32>, out: &mut ApiConfig, c: &mut Collector<'_>) {
    api.deny_unknown(
        &[
            "base_url",
            "app_id",
            "secret_id",
            "secret_key",
            "secret_key_file",
            "sdk_id",
            "timeout",
            "requests_per_minute",
            "creates_per_hour_per_user",
            "requests_per_day",
            "concurrency",
            "user_format",
        ],
        c,
    );
    if let Some(url) = api.string("base_url", c) {
        match Url::parse(url.get_ref()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                out.base_url = u;
            }
            Ok(_) => c.error_hint(
                url.span(),
                "`api.base_url` must be an http or https URL with a host",
                "e.g. \"https://api.meeting.qq.com\"",
            ),
            Err(e) => c.error_hint(
                url.span(),
                format!("`api.base_url` is not a URL: {e}"),
                "e.g. \"https://api.meeting.qq.com\"",
            ),
        }
    }
    if let Some(v) = api.string("app_id", c) {
        out.app_id = v.into_inner();
    }
    if let Some(v) = api.string("secret_id", c) {
        out.secret_id = v.into_inner();
    }
    if let Some(v) = api.string("sdk_id", c) {
        out.sdk_id = Some(v.into_inner()).filter(|s| !s.is_empty());
    }
    let inline = api.string("secret_key", c);
    let file = api.string("secret_key_file", c);
    match (inline, file) {
        (Some(_), Some(f)) => c.error_hint(
            f.span(),
            "`api.secret_key` and `api.secret_key_file` are both set",
            "keep one of them",
        ),
        (Some(key), None) => {
            if let Some(mode) = mode.filter(|m| m & 0o077 != 0) {
                c.error_hint(
                    api.key_span("secret_key").unwrap_or(key.span()),
                    format!(
                        "`api.secret_key` is inline but the config file is readable by group or others (mode {:o})",
                        mode & 0o777
                    ),
                    "run `chmod 600` on the config, or move the key to `api.secret_key_file` or the WEMEET_SECRET_KEY environment variable",
                );
            }
            out.secret_key = SecretSource::Inline(SecretKey::new(key.into_inner()));
        }
        (None, Some(f)) if f.get_ref().is_empty() => {
            c.error(f.span(), "`api.secret_key_file` is empty");
        }
        (None, Some(f)) => out.secret_key = SecretSource::File(PathBuf::from(f.into_inner())),
        (None, None) => out.secret_key = SecretSource::Env,
    }
    if let Some(t) = api.bounded_duration("timeout", &TIMEOUT, c) {
        out.timeout = *t.get_ref();
    }
    if let Some(n) = api.integer("requests_per_minute", c) {
        match u32::try_from(*n.get_ref()) {
            Ok(rpm) if rpm <= 100_000 => out.requests_per_minute = rpm,
            _ => c.error_hint(
                n.span(),
                "`api.requests_per_minute` must be from 0 (no pacing) to 100000",
                "the vendor allows 300 calls a minute per app",
            ),
        }
    }
    if let Some(n) = api.integer("creates_per_hour_per_user", c) {
        match u32::try_from(*n.get_ref()) {
            // Each user's last hour of creates is kept: the bound keeps that small.
            Ok(k) if k <= 100_000 => out.creates_per_hour_per_user = k,
            _ => c.error_hint(
                n.span(),
                "`api.creates_per_hour_per_user` must be from 0 (not kept) to 100000",
                "the vendor allows 2000 creates an hour per user",
            ),
        }
    }
    if let Some(n) = api.integer("requests_per_day", c) {
        match u32::try_from(*n.get_ref()) {
            // The day's request starts are kept (16 bytes each): at most 16 MB.
            Ok(k) if k <= 1_000_000 => out.requests_per_day = k,
            _ => c.error_hint(
                n.span(),
                "`api.requests_per_day` must be from 0 (not kept) to 1000000",
                "the vendor allows 200000 calls a day per app",
            ),
        }
    }
    if let Some(n) = api.integer("concurrency", c) {
        match usize::try_from(*n.get_ref()) {
            Ok(k) if (1..=256).contains(&k) => out.concurrency = k,
            _ => c.error(n.span(), "`api.concurrency` must be from 1 to 256"),
        }
    }
    if let Some(f) = api.string("user_format", c) {
        match f.get_ref().as_str() {
            "string" => out.user_format = UserFormat::String,
            "object" => out.user_format = UserFormat::Object,
            _ => c.error_hint(
                f.span(),
                "`api.user_format` must be \"string\" or \"object\"",
                "\"string\" sends hosts as [\"alice\"], \"object\" as [{\"userid\":\"alice\"}]",
            ),
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

fn read_retry(retry: &Table<'_, '_>, out: &mut RetryConfig, c: &mut Collector<'_>) {
    retry.deny_unknown(
        &["max_attempts", "base_delay", "max_delay", "alert_after"],
        c,
    );
    if let Some(d) = retry.bounded_duration("alert_after", &ALERT_AFTER, c) {
        out.alert_after = *d.get_ref();
    }
    if let Some(n) = retry.integer("max_attempts", c) {
        match u32::try_from(*n.get_ref()) {
            Ok(k) if (1..=100).contains(&k) => out.max_attempts = k,
            _ => c.error(n.span(), "`retry.max_attempts` must be from 1 to 100"),
        }
    }
    let base = retry.bounded_duration("base_delay", &RETRY_BASE_DELAY, c);
    let max = retry.bounded_duration("max_delay", &RETRY_MAX_DELAY, c);
    if let Some(b) = &base {
        out.base_delay = *b.get_ref();
    }
    if let Some(m) = &max {
        out.max_delay = *m.get_ref();
    }
    if out.base_delay > out.max_delay {
        let span = max
            .map(|m| m.span())
            .or(base.map(|b| b.span()))
            .unwrap_or(retry.span());
        c.error(span, "`retry.base_delay` is longer than `retry.max_delay`");
    }
}

fn read_lifecycle(table: &Table<'_, '_>, out: &mut LifecycleConfig, c: &mut Collector<'_>) {
    table.deny_unknown(&["on_removed", "reason_code", "max_cancel_fraction"], c);
    if let Some(v) = table.string("on_removed", c) {
        match v.get_ref().as_str() {
            "cancel" => out.on_removed = OnRemoved::Cancel,
            "keep" => out.on_removed = OnRemoved::Keep,
            _ => c.error_hint(
                v.span(),
                "`lifecycle.on_removed` must be \"cancel\" or \"keep\"",
                "\"cancel\" cancels the future meetings of a deleted definition; \"keep\" leaves them",
            ),
        }
    }
    if let Some(n) = table.integer("reason_code", c) {
        out.reason_code = *n.get_ref();
    }
    if let Some(v) = table.get("max_cancel_fraction") {
        let fraction = match v.get_ref() {
            toml::de::DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            other => crate::toml_reader::integer_of(other)
                .and_then(Result::ok)
                .map(|n| n as f64),
        };
        match fraction {
            Some(f) if (0.0..=1.0).contains(&f) => out.max_cancel_fraction = f,
            _ => c.error_hint(
                v.span(),
                "`lifecycle.max_cancel_fraction` must be a number from 0 to 1",
                "0.5 holds the cancels when more than half of the definitions vanish at once",
            ),
        }
    }
}

fn read_defaults(defaults: &Table<'_, '_>, base: &Path, out: &mut Defaults, c: &mut Collector<'_>) {
    defaults.deny_unknown(
        &[
            "userid",
            "instanceid",
            "timezone",
            "book_ahead",
            "settings",
            "skip_file",
        ],
        c,
    );
    if let Some(file) = non_empty(defaults, "skip_file", c) {
        let path = base.join(file.get_ref());
        match read_skip_file(&path) {
            Ok(dates) => out.skip = dates,
            Err(problems) => {
                // Each problem carries the holiday file's own position and hint.
                for p in problems {
                    c.error(file.span(), format!("`defaults.skip_file`: {p}"));
                }
            }
        }
    }
    if let Some(u) = non_empty(defaults, "userid", c) {
        out.userid = Some(u.into_inner());
    }
    if let Some(n) = defaults.integer("instanceid", c) {
        match Instance::new(*n.get_ref()) {
            Some(i) => out.instanceid = i,
            None => c.error_hint(
                n.span(),
                format!("unknown `defaults.instanceid` {}", n.get_ref()),
                format!("use one of {}", Instance::all_described()),
            ),
        }
    }
    if let Some(tz) = defaults.string("timezone", c) {
        match parse_timezone(tz.get_ref()) {
            Ok(z) => out.timezone = z,
            Err(hint) => c.error_hint(
                tz.span(),
                format!("unknown time zone `{}`", tz.get_ref()),
                hint,
            ),
        }
    }
    if let Some(d) = defaults.bounded_duration("book_ahead", &BOOK_AHEAD, c) {
        out.book_ahead = *d.get_ref();
    }
    if let Some(settings) = defaults.table("settings", c) {
        out.settings = read_settings(&settings, c);
    }
}

/// The shared holiday list: a small TOML file holding `skip = [dates]`. Its own problems come
/// back as text with the file's name, line and column.
fn read_skip_file(
    path: &Path,
) -> Result<std::collections::BTreeSet<chrono::NaiveDate>, Vec<String>> {
    use std::io::Read as _;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| vec![format!("cannot read {shown}: {e}")])?;
    let mut text = String::new();
    // A year of holidays is a few hundred bytes; a megabyte is not a holiday list.
    file.take(1024 * 1024 + 1)
        .read_to_string(&mut text)
        .map_err(|e| vec![format!("cannot read {shown}: {e}")])?;
    if text.len() > 1024 * 1024 {
        return Err(vec![format!("{shown} is larger than 1 MiB")]);
    }
    let mut c = Collector::new(path, &text);
    let dates = toml_reader::parse(&text, &mut c).and_then(|doc| {
        let root = Table::root(&doc);
        root.deny_unknown(&["skip"], &mut c);
        root.dates("skip", MAX_SKIP_DATES, &mut c)
    });
    let found = c.finish();
    match dates {
        Some(dates) if found.is_empty() => Ok(dates),
        _ if found.is_empty() => Err(vec![format!(
            "{shown} has no `skip` list; hint: write skip = [2026-12-25, 2027-01-01]"
        )]),
        _ => Err(found.iter().map(ToString::to_string).collect()),
    }
}

/// A required-if-present string that may not be empty.
fn non_empty(
    table: &Table<'_, '_>,
    key: &str,
    c: &mut Collector<'_>,
) -> Option<toml::Spanned<String>> {
    let s = table.string(key, c)?;
    if s.get_ref().trim().is_empty() {
        c.error(s.span(), format!("`{}` is empty", table.path_of(key)));
        return None;
    }
    Some(s)
}

/// An IANA time zone name, with a hint naming the closest known zone when it is a typo.
pub fn parse_timezone(name: &str) -> Result<Tz, String> {
    if let Ok(tz) = name.parse::<Tz>() {
        return Ok(tz);
    }
    Err(
        match did_you_mean(name, chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())) {
            Some(tz) => format!("did you mean `{tz}`?"),
            None => "use an IANA name such as \"Asia/Shanghai\" or \"UTC\"".to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
            found[0]
                .starts_with("/etc/ws/config.toml:2:11: `api.timeout` must be a duration string")
        );
        assert!(
            found[1]
                .starts_with("/etc/ws/config.toml:3:15: `api.concurrency` must be from 1 to 256")
        );
        assert!(found[2].contains(
            ":4:1: unknown key `secret_kye` in [api]; hint: did you mean `api.secret_key`?"
        ));
        assert!(found[3].contains(":6:7: `watch.dir` must be a string, found an integer"));
        assert!(found[4].contains(
            ":8:12: unknown time zone `Asia/Shanghia`; hint: did you mean `Asia/Shanghai`?"
        ));
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
}
