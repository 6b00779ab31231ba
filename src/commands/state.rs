//! `wemeet-scheduler state backup FILE` and `state restore FILE`: a consistent copy of the
//! store while the daemon runs, and putting one back while it is stopped (see
//! [`crate::store::backup`] and [`crate::store::restore`]).

use std::io::Write;
use std::path::Path;

use crate::commands::{Outcome, load_config};

pub fn backup(
    config_path: Option<&Path>,
    to: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    crate::store::backup(&config.state.file, to)?;
    let bookings = crate::store::read(to)?.bookings.len();
    writeln!(
        out,
        "backed up {} to {} ({bookings} booking(s) on record)",
        config.state.file.display(),
        to.display()
    )?;
    Ok(Outcome::Clean)
}

pub fn restore(
    config_path: Option<&Path>,
    from: &Path,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let bookings = crate::store::restore(from, &config.state.file)?;
    writeln!(
        out,
        "restored {} from {} ({bookings} booking(s) on record); the next start looks up whatever is due before creating it, so meetings booked after the backup are found, not booked twice",
        config.state.file.display(),
        from.display()
    )?;
    Ok(Outcome::Clean)
}
