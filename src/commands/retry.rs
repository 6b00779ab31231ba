//! `wemeet-scheduler retry [DEFINITION|GLOB|KEY ...] [--all-failed]`: failed bookings, and
//! missed ones whose meeting has not started, back to pending (attempts reset), to be looked
//! up and booked again, without editing their files. With the daemon running (and always on
//! PostgreSQL), it leaves a request in the store that the daemon acts on at its next pass;
//! with the daemon stopped (SQLite), it changes the state itself, and the next `run` or
//! `once` books them. [`Act`] is `ack`'s too.

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
fn selects(selectors: &[String], r: &Record) -> bool {
    selectors.iter().any(|s| {
        crate::definition::glob_match(s, &r.definition) || BookingKey::parse(s) == Some(r.key())
    })
}

/// How an operator's change to some bookings reaches them: `Some` with the store of a stopped
/// SQLite daemon, to change here; `None` when it is to be asked of the daemon through the
/// store ([`store::ask`]): on PostgreSQL always (the leader, or the next to lead, acts on
/// it), on SQLite while a daemon holds the store.
fn reach(config: &Config) -> anyhow::Result<Option<(Store, crate::state::State)>> {
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
fn change_here(
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
fn who_acts(config: &Config) -> &'static str {
    match config.state.url {
        Some(_) => "the daemon that leads (or the next to start)",
        None => "the running daemon",
    }
}

/// What an operator's command does to the bookings it names: which it takes, what it does
/// to their records, and how it says so. `retry` and `ack` are two of these.
pub(super) struct Act {
    /// "retry", "acknowledge".
    pub verb: &'static str,
    /// The flag that names every booking it can take.
    pub every: &'static str,
    pub kind: RequestKind,
    /// Whether it takes the booking `r` at `now` (unix seconds).
    pub takes: fn(&Record, i64) -> bool,
    /// Done to a stopped daemon's records: returns the keys it changed.
    pub apply: fn(&mut Ledger, &[BookingKey], i64) -> Vec<BookingKey>,
    /// Said when it takes none.
    pub none: &'static str,
    /// Said after "N booking(s) " when it changed them here.
    pub done: &'static str,
}

impl Act {
    /// Runs it on the bookings `selectors` name (or every one it can take, with `all`).
    pub(super) fn run(
        &self,
        config_path: Option<&Path>,
        selectors: &[String],
        all: bool,
        out: &mut dyn Write,
    ) -> anyhow::Result<Outcome> {
        if selectors.is_empty() && !all {
            anyhow::bail!(
                "name the bookings to {} (a definition id or glob, or DEFINITION@START as `status` shows it), or give {}",
                self.verb,
                self.every
            );
        }
        let config = load_config(config_path)?;
        let st = crate::store::read_for(&config.state)?;
        let now = Utc::now().timestamp();
        let keys: Vec<BookingKey> = st
            .bookings
            .iter()
            .filter(|r| (self.takes)(r, now))
            .filter(|r| all || selects(selectors, r))
            .map(|r| r.key())
            .collect();
        if keys.is_empty() {
            writeln!(out, "{}", self.none)?;
            return Ok(Outcome::Clean);
        }
        let listed = match reach(&config)? {
            Some((store, st)) => {
                let done = change_here(store, st, |ledger| (self.apply)(ledger, &keys, now))?;
                writeln!(out, "{} booking(s) {}:", done.len(), self.done)?;
                done
            }
            None => {
                let items: Vec<String> = keys.iter().map(ToString::to_string).collect();
                store::ask(&config.state, self.kind, &items)?;
                writeln!(
                    out,
                    "asked {} to {} {} booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):",
                    who_acts(&config),
                    self.verb,
                    keys.len()
                )?;
                keys
            }
        };
        for k in &listed {
            writeln!(out, "  {k}")?;
        }
        Ok(Outcome::Clean)
    }
}

pub fn run(
    config_path: Option<&Path>,
    selectors: &[String],
    all_failed: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    Act {
        verb: "retry",
        every: "--all-failed",
        kind: RequestKind::Retry,
        takes: Record::retryable,
        apply: Ledger::retry,
        none: "no failed booking (or missed one still to start) matches; nothing to retry (a missed meeting that has started cannot be booked: `ack` it)",
        done: "back to pending; the next `run` or `once` looks each up and books it",
    }
    .run(config_path, selectors, all_failed, out)
}
