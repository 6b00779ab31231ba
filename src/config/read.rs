//! Reading the config file: its size and permissions, then every table checked key by key
//! into a [`Config`], each problem reported at its line and column.

use std::io;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use url::Url;

use super::file::{OpenError, open_regular};
use super::{
    ALERT_AFTER, BOOK_AHEAD, CREDENTIAL_PREFIX, Config, Defaults, FileHolds, LifecycleConfig,
    MAX_GUARD_CHANGES, MAX_NOTIFY_TARGETS, MAX_SKIP_DATES, NamedFile, NotifyEvent, NotifyKind,
    NotifyTarget, OnRemoved, RESCAN_INTERVAL, RETENTION, RETRY_BASE_DELAY, RETRY_MAX_DELAY,
    RetryConfig, SecretKey, SecretSource, TAKEOVER, TIMEOUT, UserFormat,
};
use crate::diagnostic::{Collector, Diagnostic, did_you_mean};
use crate::meeting::{Instance, read_settings};
use crate::toml_reader::{self, Table};

/// Largest config file read; a config is a few dozen lines.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

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
        read_api(&api, base, mode, &mut config, c);
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
                    if let Some(target) = read_notify(&table, base, mode, &mut config.files, c) {
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
        metrics.deny_unknown(&["listen", "calendar"], c);
        if let Some(calendar) = metrics.bool("calendar", c) {
            config.metrics_calendar = *calendar.get_ref();
        }
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

/// One `[[notify]]` block; a `url_file` goes into `files` too.
fn read_notify(
    t: &Table<'_, '_>,
    base: &Path,
    mode: Option<u32>,
    files: &mut Vec<NamedFile>,
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
            let source = named_file(base, &f, &t.path_of("url_file"), c)?;
            files.push(NamedFile {
                source: source.clone(),
                holds: FileHolds::NotifyUrl,
                place: c.place(f.span()),
            });
            Some(source)
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
                            "use booked, changed, cancelled, failed, missed, held, reload_failed or quota",
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

/// `[api]`; a `secret_key_file` goes into `config.files` too.
fn read_api(
    api: &Table<'_, '_>,
    base: &Path,
    mode: Option<u32>,
    config: &mut Config,
    c: &mut Collector<'_>,
) {
    let out = &mut config.api;
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
            "creates_per_month",
            "premium_accounts",
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
        (None, Some(f)) => {
            if let Some(source) = named_file(base, &f, "api.secret_key_file", c) {
                config.files.push(NamedFile {
                    source: source.clone(),
                    holds: FileHolds::SecretKey,
                    place: c.place(f.span()),
                });
                out.secret_key = source;
            }
        }
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
    let per_month = api.integer("creates_per_month", c);
    let accounts = api.integer("premium_accounts", c);
    match (per_month, accounts) {
        (Some(n), Some(a)) => c.error_hint(
            a.span(),
            format!(
                "`api.premium_accounts` and `api.creates_per_month` (= {}) both set the monthly create budget",
                n.get_ref()
            ),
            "keep one: premium_accounts = N gives N x 10 a month from 50 accounts, N x 2 below",
        ),
        (Some(n), None) => match u32::try_from(*n.get_ref()) {
            Ok(k) if k <= 10_000_000 => out.creates_per_month = k,
            _ => c.error_hint(
                n.span(),
                "`api.creates_per_month` must be from 0 (not kept) to 10000000",
                "the vendor allows premium accounts x 10 a month (x 2 below 50 accounts)",
            ),
        },
        (None, Some(a)) => match u32::try_from(*a.get_ref()) {
            Ok(k) if (1..=1_000_000).contains(&k) => {
                out.creates_per_month = if k >= 50 { k * 10 } else { k * 2 };
            }
            _ => c.error_hint(
                a.span(),
                "`api.premium_accounts` must be from 1 to 1000000",
                "the number of premium (paid) accounts of the enterprise",
            ),
        },
        (None, None) => {}
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

/// The file `key` names: a path from the config's directory, or a systemd credential.
fn named_file(
    base: &Path,
    named: &toml::Spanned<String>,
    key: &str,
    c: &mut Collector<'_>,
) -> Option<SecretSource> {
    let source = SecretSource::file(base, named.get_ref());
    if source.is_none() {
        c.error_hint(
            named.span(),
            format!("`{key}` names no credential"),
            format!("write {CREDENTIAL_PREFIX}NAME, NAME as in LoadCredential=NAME:PATH"),
        );
    }
    source
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
    let (file, _) = open_regular(path).map_err(|e| match e {
        OpenError::Io(e) => vec![format!("cannot read {shown}: {e}")],
        OpenError::NotAFile => vec![format!("{shown} is not a regular file")],
    })?;
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
