//! `wemeet-scheduler retry [DEFINITION|GLOB|KEY ...] [--all-failed]`: failed bookings, and
//! missed ones whose meeting has not started, back to pending (attempts reset), to be looked
//! up and booked again, without editing their files. With the daemon running (and always on
//! PostgreSQL), it leaves a request in the store that the daemon acts on at its next pass;
//! with the daemon stopped (SQLite), it changes the state itself, and the next `run` or
//! `once` books them. [`reach`] and [`selects`] serve `ack` too.

use std::io::Write;
use std::path::Path;

use chrono::Utc;

use crate::booking::BookingKey;
use crate::commands::{Outcome, load_config};
use crate::config::Config;
use crate::ledger::Ledger;
use crate::state::{Record, StateError};
use crate::store::{self, RequestKind, Store};

/// Whether `selectors` (definition ids, globs such as `team/*`, or booking keys as `status
/// --json` shows them, `definition@start`) name the booking `r`.
pub(super) fn selects(selectors: &[String], r: &Record) -> bool {
    selectors.iter().any(|s| {
        crate::definition::glob_match(s, &r.definition) || BookingKey::parse(s) == Some(r.key())
    })
}

/// How an operator's change to some bookings reaches them: `Some` with the store of a stopped
/// SQLite daemon, to change here; `None` when it is to be asked of the daemon through the
/// store ([`store::ask`]): on PostgreSQL always (the leader, or the next to lead, acts on
/// it), on SQLite while a daemon holds the store.
pub(super) fn reach(config: &Config) -> anyhow::Result<Option<(Store, crate::state::State)>> {
    if config.state.url.is_some() {
        return Ok(None);
    }
    match Store::open(&config.state.file, config.state.import.as_deref()) {
        Ok(opened) => Ok(Some(opened)),
        Err(StateError::Locked { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Does `change` to the records of a stopped daemon's `store` and commits what it changed;
/// returns the keys it changed.
pub(super) fn change_here(
    mut store: Store,
    st: crate::state::State,
    change: impl FnOnce(&mut Ledger) -> Vec<BookingKey>,
) -> anyhow::Result<Vec<BookingKey>> {
    let mut ledger = Ledger::new(st.bookings);
    let done = change(&mut ledger);
    let (rows, _) = ledger.take_changes();
    store.commit(&store::Batch {
        rows,
        meta: None,
        // Writing these does not make a fresh store whole.
        looked_up: !store.fresh(),
        requests_done: &[],
    })?;
    Ok(done)
}

/// Who acts on a request left in the store, as the commands say it.
pub(super) fn who_acts(config: &Config) -> &'static str {
    match config.state.url {
        Some(_) => "the daemon that leads (or the next to start)",
        None => "the running daemon",
    }
}

pub fn run(
    config_path: Option<&Path>,
    selectors: &[String],
    all_failed: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    if selectors.is_empty() && !all_failed {
        anyhow::bail!(
            "name the bookings to retry (a definition id or glob, or DEFINITION@START as `status` shows it), or give --all-failed"
        );
    }
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    let now = Utc::now().timestamp();
    let keys: Vec<BookingKey> = st
        .bookings
        .iter()
        .filter(|r| r.retryable(now))
        .filter(|r| all_failed || selects(selectors, r))
        .map(|r| r.key())
        .collect();
    if keys.is_empty() {
        writeln!(
            out,
            "no failed booking (or missed one still to start) matches; nothing to retry (a missed meeting that has started cannot be booked: `ack` it)"
        )?;
        return Ok(Outcome::Clean);
    }
    match reach(&config)? {
        Some((store, st)) => {
            let done = change_here(store, st, |ledger| ledger.retry(&keys, now))?;
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
            writeln!(
                out,
                "asked {} to retry {} booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):",
                who_acts(&config),
                keys.len()
            )?;
            for k in &keys {
                writeln!(out, "  {k}")?;
            }
        }
    }
    Ok(Outcome::Clean)
}
