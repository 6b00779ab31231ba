//! `wemeet-scheduler export ics [DEFINITION|GLOB ...]`: the booked meetings that have not
//! ended, as an RFC 5545 calendar on stdout (see [`crate::calendar`]).

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::commands::status::glob_match;
use crate::commands::{Outcome, load_config};

pub fn ics(
    config_path: Option<&Path>,
    definitions: &[String],
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let st = crate::store::read_for(&config.state)?;
    let records = st.bookings.iter().filter(|r| {
        definitions.is_empty() || definitions.iter().any(|d| glob_match(d, &r.definition))
    });
    out.write_all(crate::calendar::ics(records, now).as_bytes())?;
    Ok(Outcome::Clean)
}
