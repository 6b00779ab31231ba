//! `wemeet-scheduler ack [DEFINITION|GLOB|KEY ...] [--all]`: tells that failed or missed
//! bookings, or live meetings whose cancel the service refused, need no one any more. They
//! stay on record as they are (`status` shows them, marked), and no longer make `status` and
//! `once` exit 1 or count in `wemeet_attention`. It reaches the daemon as `retry` does
//! ([`super::retry::reach`]).

use std::io::Write;
use std::path::Path;

use chrono::Utc;

use super::retry::{change_here, reach, selects, who_acts};
use crate::booking::BookingKey;
use crate::commands::{Outcome, load_config};
use crate::store::{self, RequestKind};

pub fn run(
    config_path: Option<&Path>,
    selectors: &[String],
    all: bool,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    if selectors.is_empty() && !all {
        anyhow::bail!(
            "name the bookings to acknowledge (a definition id or glob, or DEFINITION@START as `status` shows it), or give --all"
        );
    }
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    let now = Utc::now().timestamp();
    let keys: Vec<BookingKey> = st
        .bookings
        .iter()
        .filter(|r| r.needs_a_person(now))
        .filter(|r| all || selects(selectors, r))
        .map(|r| r.key())
        .collect();
    if keys.is_empty() {
        writeln!(
            out,
            "no failed or missed booking, or live meeting whose cancel was refused, that needs a person matches; nothing to acknowledge"
        )?;
        return Ok(Outcome::Clean);
    }
    match reach(&config)? {
        Some((store, st)) => {
            let done = change_here(store, st, |ledger| ledger.acknowledge(&keys, now))?;
            writeln!(
                out,
                "{} booking(s) acknowledged; they stay on record and need no one any more:",
                done.len()
            )?;
            for k in &done {
                writeln!(out, "  {k}")?;
            }
        }
        None => {
            let items: Vec<String> = keys.iter().map(ToString::to_string).collect();
            store::ask(&config.state, RequestKind::Ack, &items)?;
            writeln!(
                out,
                "asked {} to acknowledge {} booking(s) at its next pass (within watch.rescan_interval, or at once after `systemctl reload wemeet-scheduler`):",
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
