//! `wemeet-scheduler validate [PATH...]`: checks the config and the definitions (the watch
//! dir, or the paths given) and prints one line per problem and a summary.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::commands::{Outcome, load_config};
use crate::config::{Config, ConfigError, SecretSource};
use crate::scan::{self, Scan};

/// Runs `validate`. Problems go to `out` as `path:line:column: message` lines.
pub fn run(
    config_path: Option<&Path>,
    paths: &[PathBuf],
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let (config, config_ok) = match load_config(config_path) {
        Ok(config) => (config, true),
        Err(e) => match e.downcast::<ConfigError>() {
            Ok(ConfigError::Invalid { problems, .. }) => {
                for p in &problems {
                    writeln!(out, "{p}")?;
                }
                if paths.is_empty() {
                    writeln!(
                        out,
                        "config has {} problem(s); definitions not checked (the watch dir is unknown)",
                        problems.len()
                    )?;
                    return Ok(Outcome::Problems);
                }
                (Config::default(), false)
            }
            Ok(other) => return Err(other.into()),
            Err(other) => return Err(other),
        },
    };
    // A key file that is there must be usable; one that is not there yet (validating on a
    // machine other than the server, or a systemd credential outside the service) is fine.
    let key_ok = match &config.api.secret_key {
        SecretSource::File(_) if config_ok => match config.api.secret_key.load() {
            Err(e) if !e.is_missing_file() => {
                writeln!(out, "{e}")?;
                false
            }
            _ => true,
        },
        _ => true,
    };
    let scan = scan_for(&config, paths, now)?;
    report(&scan, out)?;
    if config_ok && key_ok && scan.invalid.is_empty() {
        Ok(Outcome::Clean)
    } else {
        Ok(Outcome::Problems)
    }
}

/// The definitions a command works on: the paths given, else the config's watch dir.
pub fn scan_for(config: &Config, paths: &[PathBuf], now: DateTime<Utc>) -> anyhow::Result<Scan> {
    if paths.is_empty() {
        scan::scan_dir(&config.watch.dir, &config.defaults, now).with_context(|| {
            format!(
                "cannot read the watch dir {} (set watch.dir in the config, or name files to check)",
                config.watch.dir.display()
            )
        })
    } else {
        Ok(scan::scan_paths(paths, &config.defaults, now))
    }
}

/// Prints every problem of a scan, then a one-line summary.
pub fn report(scan: &Scan, out: &mut dyn Write) -> std::io::Result<()> {
    for invalid in &scan.invalid {
        for p in &invalid.problems {
            writeln!(out, "{p}")?;
        }
    }
    writeln!(
        out,
        "{} file(s) checked: {} valid, {} invalid ({} problem(s))",
        scan.files(),
        scan.definitions.len(),
        scan.invalid.len(),
        scan.problem_count()
    )
}
