//! `wemeet-scheduler recover [--dry-run]`: after a lost, corrupt or new state file, finds the
//! meetings already booked for what is due now and records them, so that the daemon does not
//! book them again. It runs the daemon in [`Mode::Recover`]: every occurrence due now that has
//! no record is looked up in its user's meeting list (the adoption rule of
//! [`crate::api::lookup`]); nothing is created, modified or cancelled. The daemon must be
//! stopped (the state's lock refuses otherwise).

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::booking::show_start;
use crate::clock::SystemClock;
use crate::commands::run::DRAIN_TIMEOUT;
use crate::commands::{Outcome, load_config};
use crate::daemon::{self, Event, Mode, Options};

pub async fn run(
    config_path: Option<&Path>,
    dry_run: bool,
    out: &mut dyn Write,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let tz = config.defaults.timezone;
    let state_path = config.state.file.clone();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let options = Options {
        mode: Mode::Recover { dry_run },
        config_path: None,
        clock: Arc::new(SystemClock),
        events: Some(tx),
        reloads: None,
        systemd: false,
        watch: false,
        drain_timeout: DRAIN_TIMEOUT,
        stop_now: None,
        check_incremental: false,
    };
    let daemon = daemon::run(config, options, shutdown);
    tokio::pin!(daemon);
    let (mut found, mut absent, mut failed) = (0, 0, 0);
    let mut show = |event: Event, out: &mut dyn Write| -> std::io::Result<()> {
        let when = |start: i64, zone: Option<&str>| show_start(start, zone, tz, "%a %F %H:%M %Z");
        match event {
            Event::Booked {
                key,
                timezone,
                subject,
                meeting_id,
                meeting_code,
                ..
            } => {
                found += 1;
                writeln!(
                    out,
                    "found      {:<22} {}  {subject}  meeting {meeting_id} (code {meeting_code})",
                    key.definition,
                    when(key.start, timezone.as_deref())
                )
            }
            Event::NotFound { key, subject } => {
                absent += 1;
                writeln!(
                    out,
                    "not found  {:<22} {}  {subject}  (the daemon will book it)",
                    key.definition,
                    when(key.start, None)
                )
            }
            Event::Failed { key, error } => {
                failed += 1;
                writeln!(
                    out,
                    "FAILED     {:<22} {}  {error}",
                    key.definition,
                    when(key.start, None)
                )
            }
            _ => Ok(()),
        }
    };
    let summary = loop {
        tokio::select! {
            result = &mut daemon => break result?,
            Some(event) = rx.recv() => show(event, out)?,
        }
    };
    while let Ok(event) = rx.try_recv() {
        show(event, out)?;
    }
    writeln!(
        out,
        "{found} found and {}, {absent} not booked yet, {failed} failed{}",
        if dry_run {
            "would be recorded"
        } else {
            "recorded"
        },
        if dry_run {
            format!(" (dry run: {} was not written)", state_path.display())
        } else {
            String::new()
        }
    )?;
    Ok(if failed > 0 || summary.pending > 0 {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}
