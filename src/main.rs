//! The command line: parse arguments, set up logging, run a command, map its end to an exit
//! code (0 clean, 1 problems found, 2 could not run).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use wemeet_scheduler::commands::{self, Outcome};
use wemeet_scheduler::logging::{self, LogFormat};

#[derive(Parser)]
#[command(
    version,
    about = "Books Tencent Meeting (WeMeet) meetings from TOML files"
)]
struct Cli {
    /// The daemon config [default: /etc/wemeet-scheduler/config.toml, or built-in defaults
    /// when that file does not exist]
    #[arg(long, global = true, env = "WEMEET_SCHEDULER_CONFIG")]
    config: Option<PathBuf>,

    /// Log format on stderr
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the config and the meeting definitions; exit 1 when any has a problem
    Validate {
        /// Files or directories to check instead of the config's watch dir
        paths: Vec<PathBuf>,
        /// Check as if it were this time (RFC 3339), e.g. 2026-12-01T09:00:00+08:00
        #[arg(long, value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
    },
    /// Show the next bookings the daemon would make, in the order it makes them
    Plan {
        /// Files or directories to plan for instead of the config's watch dir
        paths: Vec<PathBuf>,
        /// How many occurrences to show
        #[arg(long, default_value_t = 20)]
        count: usize,
        /// Print JSON, with the exact create-meeting request body of each booking
        #[arg(long)]
        json: bool,
        /// Plan as if it were this time (RFC 3339)
        #[arg(long, value_parser = parse_time)]
        now: Option<DateTime<Utc>>,
    },
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}; use RFC 3339, e.g. 2026-12-01T09:00:00+08:00"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let config = cli.config.as_deref();
    let mut out = std::io::stdout().lock();
    let result = match &cli.command {
        Command::Validate { paths, now } => {
            commands::validate::run(config, paths, now.unwrap_or_else(Utc::now), &mut out)
        }
        Command::Plan {
            paths,
            count,
            json,
            now,
        } => commands::plan::run(
            commands::plan::Options {
                config,
                paths,
                count: *count,
                json: *json,
                now: now.unwrap_or_else(Utc::now),
            },
            &mut out,
            &mut std::io::stderr(),
        ),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Problems) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
