//! `wemeet-scheduler retry [DEFINITION|KEY ...] [--all-failed]`: failed bookings back to
//! pending (attempts reset), to be looked up and booked again, without editing their files.
//! With the daemon running, it writes a request beside the state that the daemon acts on at its
//! next pass; with the daemon stopped, it changes the state itself, and the next `run` or
//! `once` books them.

use std::io::Write;
use std::path::Path;

use chrono::Utc;

use crate::booking::BookingKey;
use crate::commands::{Outcome, load_config};
use crate::ledger::Ledger;
use crate::state::{self, StateError, Status};
use crate::store::{self, Store};

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
    match Store::open(&config.state.file, config.state.import.as_deref()) {
        // The daemon is stopped: change the state here.
        Ok((mut store, st)) => {
            let mut ledger = Ledger::new(st.bookings);
            let done = ledger.retry(&keys, Utc::now().timestamp());
            let (rows, _) = ledger.take_changes();
            store.commit(&store::Batch {
                rows,
                meta: None,
                // Writing these does not make a fresh store whole.
                looked_up: !store.fresh(),
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
        // The daemon runs: ask it.
        Err(StateError::Locked { .. }) => {
            let request = state::retry_path(&config.state.file);
            let text: String = keys.iter().map(|k| format!("{k}\n")).collect();
            std::fs::write(&request, text)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", request.display()))?;
            writeln!(
                out,
                "asked the running daemon to retry {} booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):",
                keys.len()
            )?;
            for k in &keys {
                writeln!(out, "  {k}")?;
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Outcome::Clean)
}
