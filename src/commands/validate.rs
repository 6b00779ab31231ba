//! `wemeet-scheduler validate [PATH...]`: checks the config, the files it names (the secret
//! key, notify URLs: read as the daemon reads them at its start) and the definitions (the
//! watch dir, or the paths given), and prints one line per problem and a summary.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use crate::commands::{Outcome, load_config};
use crate::config::{Config, ConfigError, FileHolds, NamedFile};
use crate::diagnostic::Diagnostic;
use crate::notifications::target_url;
use crate::scan::{self, Scan};

/// Runs `validate`. Problems go to `out` as `path:line:column: message` lines.
pub fn run(
    config_path: Option<&Path>,
    paths: &[PathBuf],
    files: Files,
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    // Every problem printed counts in the summary, the config's and its files' too.
    let (config, config_problems) = match load_config(config_path) {
        Ok(config) => (config, 0),
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
                (Config::default(), problems.len())
            }
            Ok(other) => return Err(other.into()),
            Err(other) => return Err(other),
        },
    };
    let mut file_problems = 0;
    for problem in config.files.iter().filter_map(|f| check_file(f, files)) {
        writeln!(out, "{problem}")?;
        file_problems += 1;
    }
    let scan = scan_for(&config, paths, now)?;
    let earlier = config_problems + file_problems;
    report(&scan, now, earlier, out)?;
    if earlier == 0 && scan.invalid.is_empty() {
        Ok(Outcome::Clean)
    } else {
        Ok(Outcome::Problems)
    }
}

/// How strictly `validate` takes the files the config names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    /// A file that is not there is fine: validating on a machine other than the server, or a
    /// systemd credential outside the service. One that is there must be usable.
    Present,
    /// Every file must be there and usable, as the daemon will read it (`--as-service`: run
    /// as the service's user, in its environment).
    All,
}

/// The problem with a file the config names, as the daemon would meet it at its start.
fn check_file(file: &NamedFile, files: Files) -> Option<Diagnostic> {
    let problem = match file.source.load() {
        Err(e) if e.is_missing_file() && files == Files::Present => return None,
        Err(e) => e.to_string(),
        Ok(secret) => match file.holds {
            FileHolds::SecretKey => return None,
            FileHolds::NotifyUrl => match target_url(&secret) {
                Some(_) => return None,
                None => match file.source.path() {
                    Some(path) => format!("{} holds no http or https URL", path.display()),
                    None => "the file holds no http or https URL".into(),
                },
            },
        },
    };
    Some(file.place.problem(problem, None))
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

/// Prints every problem of a scan, then its notes (a meeting that has ended: no problem, see
/// [`crate::definition::Definition::note`]), then a one-line summary that counts `earlier`
/// problems (the config's, printed before) with the scan's.
pub fn report(
    scan: &Scan,
    now: DateTime<Utc>,
    earlier: usize,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    for invalid in &scan.invalid {
        for p in &invalid.problems {
            writeln!(out, "{p}")?;
        }
    }
    let notes = write_notes(scan, now, out)?;
    let with_notes = match notes {
        0 => String::new(),
        n => format!(" ({n} with a note)"),
    };
    writeln!(
        out,
        "{} file(s) checked: {} valid{with_notes}, {} invalid ({} problem(s))",
        scan.files(),
        scan.definitions.len(),
        scan.invalid.len(),
        earlier + scan.problem_count()
    )
}

/// Prints the note of each valid definition that has one; returns how many.
pub fn write_notes(scan: &Scan, now: DateTime<Utc>, out: &mut dyn Write) -> std::io::Result<usize> {
    let mut count = 0;
    for note in scan.definitions.iter().filter_map(|d| d.note(now)) {
        writeln!(out, "{note}")?;
        count += 1;
    }
    Ok(count)
}
