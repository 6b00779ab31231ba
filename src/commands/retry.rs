//! `wemeet-scheduler retry [DEFINITION|KEY ...] [--all-failed]`: failed bookings back to
//! pending (attempts reset), to be looked up and booked again, without editing their files.
//! With the daemon running (and always on PostgreSQL), it leaves a request in the store that
//! the daemon acts on at its next pass; with the daemon stopped (SQLite), it changes the state
//! itself, and the next `run` or `once` books them.

use std::io::Write;
use std::path::Path;

use chrono::Utc;

use crate::booking::BookingKey;
use crate::commands::{Outcome, load_config};
use crate::ledger::Ledger;
use crate::state::{StateError, Status};
use crate::store::{self, RequestKind, Store};

pub fn run(
    config_path: Option<&Path>,
    selectors: &[String],
    all_failed: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    if selectors.is_empty() && !all_failed {
        anyhow::bail!(
            "name the bookings to retry (a definition id, or DEFINITION@START as `status` shows it), or give --all-failed"
        );
    }
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    let keys: Vec<BookingKey> = st
        .bookings
        .iter()
        .filter(|r| r.status == Status::Failed)
        .filter(|r| {
            all_failed
                || selectors
                    .iter()
                    .any(|s| **s == *r.definition || BookingKey::parse(s) == Some(r.key()))
        })
        .map(|r| r.key())
        .collect();
    if keys.is_empty() {
        writeln!(out, "no failed booking matches; nothing to retry")?;
        return Ok(Outcome::Clean);
    }
    // On PostgreSQL the leader (or the next daemon to lead) acts on the request; on SQLite a
    // stopped daemon's state is changed here, and a running one is asked.
    let stopped = match &config.state.url {
        Some(_) => None,
        None => match Store::open(&config.state.file, config.state.import.as_deref()) {
            Ok(opened) => Some(opened),
            Err(StateError::Locked { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    match stopped {
        Some((mut store, st)) => {
            let mut ledger = Ledger::new(st.bookings);
            let done = ledger.retry(&keys, Utc::now().timestamp());
            let (rows, _) = ledger.take_changes();
            store.commit(&store::Batch {
                rows,
                meta: None,
                // Writing these does not make a fresh store whole.
                looked_up: !store.fresh(),
                requests_done: &[],
            })?;
            writeln!(
                out,
                "{} booking(s) back to pending; the next `run` or `once` looks each up and books it:",
                done.len()
            )?;
            for k in &done {
                writeln!(out, "  {k}")?;
            }
        }
        None => {
            let items: Vec<String> = keys.iter().map(ToString::to_string).collect();
            store::ask(&config.state, RequestKind::Retry, &items)?;
            let who = match config.state.url {
                Some(_) => "the daemon that leads (or the next to start)",
                None => "the running daemon",
            };
            writeln!(
                out,
                "asked {who} to retry {} booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):",
                keys.len()
            )?;
            for k in &keys {
                writeln!(out, "  {k}")?;
            }
        }
    }
    Ok(Outcome::Clean)
}
