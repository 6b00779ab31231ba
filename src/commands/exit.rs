//! How a command's end becomes its exit code. [`Ending::code`] is the one place the codes are
//! decided; [`Exit::of`] sorts a command's result (or its error) into an [`Ending`]; and the
//! README's table is generated from [`TABLE`] and `code()`, and checked against them.
//!
//! Two conventions: every command's (0 clean, 1 a person is needed, 2 could not run, 3 worth
//! a restart), and `plan --detailed-exitcode`'s, which is `terraform plan`'s (0 no changes,
//! 1 any error, 2 changes), so that 2 there means changes and nothing else.

use std::fmt::Write as _;

use super::Outcome;
use crate::daemon::DaemonError;
use crate::state::StateError;

/// Which exit codes a command uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codes {
    /// Every command: an error is "could not run" (or "worth a restart").
    Standard,
    /// `plan --detailed-exitcode`: every error is 1, so that 2 means changes only.
    Detailed,
}

/// How a command ended, as far as its exit code goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It ran to the end and nothing needs anyone.
    Clean,
    /// The reader of its output went away (`status --json | head`): nothing more to say.
    ReaderGone,
    /// It ran to the end and found what needs a person (invalid files, failed bookings).
    Problems,
    /// `plan --detailed-exitcode`: it could not plan.
    Failed,
    /// `plan --detailed-exitcode`: no problems, and the next run would change something.
    Changes,
    /// It could not run: a person must fix something first (the systemd unit does not
    /// restart on it: `RestartPreventExitStatus=2`).
    CouldNotRun,
    /// It could not go on, and a restart may help: the store cannot be read or written (a
    /// database that is down), or a PostgreSQL leader lost its lock.
    Restart,
}

impl Ending {
    /// The exit code. The only place exit codes are decided.
    pub fn code(self) -> u8 {
        match self {
            Ending::Clean | Ending::ReaderGone => 0,
            Ending::Problems | Ending::Failed => 1,
            Ending::Changes => 2,
            Ending::CouldNotRun => 2,
            Ending::Restart => 3,
        }
    }
}

/// A command's end: how it ended, and the error when there was one.
#[derive(Debug)]
pub struct Exit {
    pub ending: Ending,
    pub error: Option<anyhow::Error>,
}

impl Exit {
    /// Sorts a command's result into an [`Ending`], by the command's convention.
    pub fn of(result: anyhow::Result<Outcome>, codes: Codes) -> Exit {
        let error = match result {
            Ok(outcome) => {
                let ending = match outcome {
                    Outcome::Clean => Ending::Clean,
                    Outcome::Problems => Ending::Problems,
                    Outcome::Changes => Ending::Changes,
                };
                return Exit {
                    ending,
                    error: None,
                };
            }
            Err(e) => e,
        };
        let ending = match codes {
            // Not even a closed pipe: the plan may not have been read to its end, and 0
            // would say "no changes".
            Codes::Detailed => Ending::Failed,
            Codes::Standard if reader_gone(&error) => {
                return Exit {
                    ending: Ending::ReaderGone,
                    error: None,
                };
            }
            Codes::Standard if worth_a_restart(&error) => Ending::Restart,
            Codes::Standard => Ending::CouldNotRun,
        };
        Exit {
            ending,
            error: Some(error),
        }
    }

    pub fn code(&self) -> u8 {
        self.ending.code()
    }

    /// The error, and its causes each once, for stderr.
    pub fn message(&self) -> Option<String> {
        self.error.as_ref().map(chain_text)
    }
}

/// A write to a reader that went away.
fn reader_gone(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let io = c.downcast_ref::<std::io::Error>().map(std::io::Error::kind);
        let json = c
            .downcast_ref::<serde_json::Error>()
            .and_then(serde_json::Error::io_error_kind);
        io.or(json) == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Lost the lead, or the database went away: worth a restart (as a standby), unlike the
/// errors a person must fix.
fn worth_a_restart(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<DaemonError>(),
            Some(DaemonError::LostLead { .. } | DaemonError::State(StateError::Db { .. }))
        ) || matches!(c.downcast_ref::<StateError>(), Some(StateError::Db { .. }))
    })
}

/// An error and its causes, each once: a cause whose text the message before it already
/// carries (`cannot read x: No such file or directory`) is not repeated.
fn chain_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The README's exit-code table: each command, and what ends it how. Its columns come from
/// [`Ending::code`].
pub const TABLE: &[(&str, &[(Ending, &str)])] = &[
    (
        "`validate`",
        &[
            (
                Ending::Clean,
                "config and definitions valid (a meeting that has ended or is under way is a note, not a problem)",
            ),
            (
                Ending::Problems,
                "a problem in the config, a definition, the key file or a URL file (each printed)",
            ),
            (
                Ending::CouldNotRun,
                "could not run (the config file cannot be read, the watch dir cannot be read)",
            ),
        ],
    ),
    (
        "`plan`",
        &[
            (
                Ending::Clean,
                "no invalid definition (a meeting that has ended or is under way is a note on stderr)",
            ),
            (Ending::Problems, "an invalid definition"),
            (
                Ending::CouldNotRun,
                "could not run (the config cannot be read, or is invalid or readable by others with a secret in it; the state cannot be read)",
            ),
            (
                Ending::Restart,
                "the store cannot be read (a database that is down)",
            ),
        ],
    ),
    (
        "`plan --detailed-exitcode`",
        &[
            (
                Ending::Clean,
                "no invalid definition, and the next run would change nothing",
            ),
            (Ending::Problems, "an invalid definition"),
            (
                Ending::Failed,
                "could not run (any error, the config's included)",
            ),
            (
                Ending::Changes,
                "the next run would change something (create, modify, cancel, look up, record a miss, held removals)",
            ),
        ],
    ),
    (
        "`run`",
        &[
            (Ending::Clean, "stopped cleanly (SIGTERM, SIGINT)"),
            (
                Ending::CouldNotRun,
                "refused to start: bad config, unusable key file, locked, corrupt or newer state, unreadable watch dir (the systemd unit does not restart on it)",
            ),
            (
                Ending::Restart,
                "worth a restart: the store cannot be read or written (a database that is down), or a PostgreSQL leader lost its lock",
            ),
        ],
    ),
    (
        "`once`, `status`",
        &[
            (Ending::Clean, "nothing needs a person"),
            (
                Ending::Problems,
                "a person is needed: a booking failed or was missed (until it is acknowledged with `ack`, retried, or its definition is gone), or is pending for longer than `retry.alert_after` (default 15m); removals are held; a definition file is invalid; a meeting whose cancel the service refused for good has not ended and is not acknowledged (`once` also when something is still pending at its end)",
            ),
            (
                Ending::CouldNotRun,
                "could not run (as `run`; `status`: unreadable state)",
            ),
            (
                Ending::Restart,
                "the store cannot be read or written (a database that is down)",
            ),
        ],
    ),
    (
        "`recover`",
        &[
            (Ending::Clean, "everything found or left to book"),
            (
                Ending::Problems,
                "a booking is ambiguous, or its lookups kept failing",
            ),
            (Ending::CouldNotRun, "could not run (as `run`)"),
            (
                Ending::Restart,
                "the store cannot be read or written (a database that is down)",
            ),
        ],
    ),
    (
        "`approve-removals`, `approve-changes`, `approve`, `retry`, `ack`, `export ics`, `state backup`, `state restore`, `demo`",
        &[
            (Ending::Clean, "done"),
            (
                Ending::CouldNotRun,
                "could not run (`state restore`: the daemon runs, or the backup is not a store)",
            ),
            (
                Ending::Restart,
                "the store cannot be read or written (a database that is down)",
            ),
        ],
    ),
    (
        "`fake-api`, `completions`, `man`",
        &[
            (Ending::Clean, "done"),
            (Ending::CouldNotRun, "could not run"),
        ],
    ),
];

/// Every command ends 0 too when the reader of its output goes away (`status --json | head`),
/// except `plan --detailed-exitcode`, where 0 would say "no changes".
pub const READER_GONE: &str = "Every command but `plan --detailed-exitcode` also exits 0 when the reader of its output goes\naway (`status --json | head`).";

/// [`TABLE`] as Markdown, one column per exit code.
pub fn table() -> String {
    let codes = 0..=3u8;
    let mut out = String::from("| command |");
    for code in codes.clone() {
        let _ = write!(out, " {code} |");
    }
    out.push_str("\n|---|");
    for _ in codes.clone() {
        out.push_str("---|");
    }
    for (command, endings) in TABLE {
        let _ = write!(out, "\n| {command} |");
        for code in codes.clone() {
            let cell: Vec<&str> = endings
                .iter()
                .filter(|(ending, _)| ending.code() == code)
                .map(|(_, what)| *what)
                .collect();
            let cell = if cell.is_empty() {
                "never".to_string()
            } else {
                cell.join("; ")
            };
            let _ = write!(out, " {cell} |");
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::PathBuf;

    fn io(kind: std::io::ErrorKind) -> anyhow::Error {
        anyhow::Error::from(std::io::Error::from(kind))
    }

    fn db_error() -> StateError {
        StateError::Db {
            path: PathBuf::from("postgres://db/wemeet"),
            source: "connection refused".into(),
        }
    }

    fn db() -> anyhow::Error {
        anyhow::Error::from(db_error())
    }

    fn lost_lead() -> anyhow::Error {
        anyhow::Error::from(DaemonError::LostLead {
            store: PathBuf::from("postgres://db/wemeet"),
        })
    }

    fn config_error() -> anyhow::Error {
        anyhow::Error::from(crate::config::ConfigError::Read {
            path: PathBuf::from("/etc/wemeet-scheduler/config.toml"),
            source: std::io::ErrorKind::NotFound.into(),
        })
    }

    #[test]
    fn the_readme_table_is_the_one_the_codes_make() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md is readable");
        let table = table();
        assert!(
            readme.contains(&table),
            "the README's exit-code table is not what `Ending::code` makes; put this in its place:\n\n{table}"
        );
        assert!(readme.contains(READER_GONE), "{READER_GONE}");
    }

    #[test]
    fn the_table_lists_every_ending_but_the_closed_pipe() {
        for ending in [
            Ending::Clean,
            Ending::Problems,
            Ending::Failed,
            Ending::Changes,
            Ending::CouldNotRun,
            Ending::Restart,
        ] {
            assert!(
                TABLE
                    .iter()
                    .any(|(_, e)| e.iter().any(|(x, _)| *x == ending)),
                "{ending:?}"
            );
        }
    }

    #[test]
    fn under_detailed_exitcode_2_means_changes_and_every_error_is_1() {
        let changes = Exit::of(Ok(Outcome::Changes), Codes::Detailed).code();
        assert_eq!(changes, 2);
        assert_eq!(Exit::of(Ok(Outcome::Clean), Codes::Detailed).code(), 0);
        assert_eq!(Exit::of(Ok(Outcome::Problems), Codes::Detailed).code(), 1);
        for error in [
            config_error(),
            db(),
            lost_lead(),
            io(std::io::ErrorKind::BrokenPipe),
            io(std::io::ErrorKind::PermissionDenied),
        ] {
            let shown = error.to_string();
            let exit = Exit::of(Err(error), Codes::Detailed);
            assert_eq!(exit.code(), 1, "{shown}");
            assert!(exit.message().is_some(), "{shown}");
        }
    }

    #[test]
    fn every_other_command_tells_could_not_run_from_worth_a_restart() {
        let code = |r| Exit::of(r, Codes::Standard).code();
        assert_eq!(code(Ok(Outcome::Clean)), 0);
        assert_eq!(code(Ok(Outcome::Problems)), 1);
        assert_eq!(code(Err(config_error())), 2);
        assert_eq!(code(Err(db())), 3);
        assert_eq!(code(Err(lost_lead())), 3);
        let from_the_daemon = anyhow::Error::from(DaemonError::State(db_error()));
        assert_eq!(
            code(Err(from_the_daemon)),
            3,
            "the store's error, as the daemon's"
        );
        let gone = Exit::of(
            Err(io(std::io::ErrorKind::BrokenPipe).context("writing the status")),
            Codes::Standard,
        );
        assert_eq!((gone.code(), gone.message()), (0, None));
    }

    #[test]
    fn an_error_is_shown_with_each_cause_once() {
        let exit = Exit::of(Err(config_error()), Codes::Standard);
        assert_eq!(
            exit.message().as_deref(),
            Some("cannot read config /etc/wemeet-scheduler/config.toml: entity not found")
        );
    }
}
