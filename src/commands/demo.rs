//! `wemeet-scheduler demo`: the embedded fake API on a free loopback port, the daemon against
//! it with `config/demo.toml`, and each booking printed as it lands. Runs until Ctrl-C, so a
//! newcomer can drop another file into `config/meetings/` and watch it get booked.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::booking::show_start;
use crate::clock::SystemClock;
use crate::commands::Outcome;
use crate::commands::run::DRAIN_TIMEOUT;
use crate::config::{Config, SecretKey, SecretSource};
use crate::daemon::{self, Event, Mode, Options};
use crate::state;
use crate::store;
use wemeet_fake_api::{DEMO_SECRET_KEY, FakeApi, FakeConfig};

/// The demo's config when `--config` is not given.
pub const DEMO_CONFIG: &str = "config/demo.toml";
/// Where the demo keeps its state, below the current directory.
pub const DEMO_STATE_DIR: &str = "target/wemeet-demo";
/// The file that marks a directory as the demo's own.
const MARKER: &str = "made-by-wemeet-scheduler-demo";

/// An empty state in `dir`, made by the demo. The old demo state is replaced, under the lock a
/// running demo holds; a directory the demo did not make is never touched.
fn fresh_state(dir: &Path) -> anyhow::Result<PathBuf> {
    let marker = dir.join(MARKER);
    let has_files = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
    if has_files && !marker.exists() {
        anyhow::bail!(
            "{} holds files the demo did not make; move them away, or run the demo from another directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(&marker, "wemeet-scheduler demo state; safe to delete\n")?;
    let state = dir.join("state.db");
    // Taking the lock refuses while another demo runs on this state; it is let go before the
    // daemon takes it again.
    // An empty store, not a new one: with a new one, the daemon would first look up what a
    // lost state may have booked, and the fresh fake holds nothing.
    store::create_empty(&state).or_else(|e| match e {
        state::StateError::Corrupt { .. } | state::StateError::Newer { .. } => {
            std::fs::remove_file(&state)?;
            Ok(store::create_empty(&state)?)
        }
        other => Err(anyhow::Error::from(other)),
    })?;
    Ok(state)
}

pub async fn run(
    config_path: Option<&Path>,
    out: &mut (dyn Write + Send),
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    let path = config_path.unwrap_or(Path::new(DEMO_CONFIG));
    let mut config = Config::load(path).map_err(|e| {
        anyhow::anyhow!("{e}\n(run the demo from the repository root, or pass --config)")
    })?;
    // The demo talks to its own fake: a config that points anywhere else is not a demo
    // config, and its state is not the demo's to touch.
    let host = config.api.base_url.host();
    let loopback = match host {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback {
        anyhow::bail!(
            "{} is not a demo config: its api.base_url ({}) is not on this machine; the demo runs against its embedded fake API (use config/demo.toml)",
            path.display(),
            config.api.base_url
        );
    }
    let fake = FakeApi::start(
        FakeConfig {
            app_id: config.api.app_id.clone(),
            secret_id: config.api.secret_id.clone(),
            ..FakeConfig::default()
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    config.api.base_url = fake.base_url().parse()?;
    config.api.secret_key = SecretSource::Inline(SecretKey::new(DEMO_SECRET_KEY));
    // The fake forgets its meetings when it stops, so the demo's state starts afresh too, in
    // a directory of its own that only the demo writes to (whatever the config says).
    config.state.file = fresh_state(Path::new(DEMO_STATE_DIR))?;
    writeln!(
        out,
        "wemeet-scheduler demo\n  fake WeMeet API: {}\n  definitions:     {}  (drop a .toml file there to book it)\n  state:           {}\n  stop with Ctrl-C\n",
        fake.base_url(),
        config.watch.dir.display(),
        config.state.file.display()
    )?;
    out.flush()?;
    let tz = config.defaults.timezone;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let options = Options {
        mode: Mode::Run,
        config_path: None,
        clock: Arc::new(SystemClock),
        events: Some(tx),
        reloads: None,
        systemd: false,
        watch: true,
        drain_timeout: DRAIN_TIMEOUT,
        stop_now: None,
        check_incremental: false,
    };
    let daemon = daemon::run(config, options, shutdown);
    tokio::pin!(daemon);
    let summary = loop {
        tokio::select! {
            result = &mut daemon => break result?,
            Some(event) = rx.recv() => {
                let when_in = |start: i64, zone: Option<&str>| show_start(start, zone, tz, "%a %F %H:%M %Z");
                let when = |start: i64| when_in(start, None);
                let line = match event {
                    Event::Ready { definitions, invalid } => format!(
                        "read {definitions} definition(s){}",
                        if invalid > 0 { format!(", {invalid} invalid (see the log above)") } else { String::new() }
                    ),
                    Event::Booked { key, timezone, subject, meeting_code, join_url, adopted, .. } => format!(
                        "booked  {:<22} {}  {subject:<36} code {meeting_code}  {join_url}{}",
                        key.definition,
                        when_in(key.start, timezone.as_deref()),
                        if adopted { "  (found after an unclear answer)" } else { "" }
                    ),
                    Event::Failed { key, error } => format!("FAILED  {:<22} {}  {error}", key.definition, when(key.start)),
                    Event::Missed { key, reason } => format!("missed  {:<22} {}  {reason}", key.definition, when(key.start)),
                    Event::Changed { key, what } => format!("changed {:<22} {}  {what}", key.definition, when(key.start)),
                    Event::RemovalsHeld { definitions } => format!("HELD    {} definition(s) vanished at once; nothing cancelled until `approve-removals`", definitions.len()),
                    Event::NotFound { key, subject } => format!("looked up {:<20} {}  {subject}: not booked yet", key.definition, when(key.start)),
                    Event::Scanned { changed, removed } => format!("definitions changed: {changed} read, {removed} removed"),
                    Event::Reloaded { failed: None } => "config reloaded".to_string(),
                    Event::Reloaded { failed: Some(why) } => format!("config NOT reloaded, the previous one runs: {why}"),
                    Event::Standby { leader } => format!("standby: {} leads", leader.as_deref().unwrap_or("another daemon")),
                    Event::CreatesPaused { why, until, waiting } => format!("PAUSED  {waiting} booking(s) wait for {why} until {}", until.format("%F %H:%M UTC")),
                    Event::Leading => "leading".to_string(),
                };
                writeln!(out, "{line}")?;
                out.flush()?;
            }
        }
    };
    // Print what arrived after the daemon's last event was sent.
    while let Ok(Event::Booked {
        key, meeting_code, ..
    }) = rx.try_recv()
    {
        writeln!(out, "booked  {:<22} code {meeting_code}", key.definition)?;
    }
    let journal = fake.journal();
    fake.shutdown().await;
    writeln!(
        out,
        "\nstopped: {} booked, {} pending, {} failed, {} missed; the fake API saw {} create(s)",
        summary.booked,
        summary.pending,
        summary.failed,
        summary.missed,
        journal.iter().filter(|e| e.op == "create").count()
    )?;
    Ok(Outcome::Clean)
}
