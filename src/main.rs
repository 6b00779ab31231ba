//! The command line: parse arguments, set up logging, run a command, and exit with the code
//! [`commands::exit`] decides for how it ended.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use wemeet_fake_api::{
    self as fake_api, ErrorFault, FakeConfig, FaultSpec, Faults, Readings, SecretKey, readings,
};
use wemeet_scheduler::commands::exit::{Codes, Exit};
use wemeet_scheduler::commands::{self, Outcome};
use wemeet_scheduler::daemon::Mode;
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

    /// Log errors only (RUST_LOG directives still apply on top)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Log more: -v debug, -vv trace (RUST_LOG directives still apply on top)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

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
        /// Require every file the config names (secret key, notify URLs) to be there and
        /// readable, as for the daemon: run it as the service's user
        #[arg(long)]
        as_service: bool,
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
        /// Exit 0 when the next run changes nothing, 2 when it would, 1 on problems or errors
        /// (for CI, like `terraform plan -detailed-exitcode`)
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Run the daemon: watch the definitions, book each meeting once, record it
    Run,
    /// One reconcile pass: book what is due, wait for the answers, exit (0 when nothing failed)
    Once,
    /// Show what the state file records (safe while the daemon runs)
    Status {
        /// Only these definitions: ids or globs (`team/*`)
        definitions: Vec<String>,
        /// Print a JSON array (see the README for its keys)
        #[arg(long)]
        json: bool,
        /// Also show meetings that have ended (everything the state file keeps)
        #[arg(long)]
        all: bool,
        /// Only failed bookings (with --pending: failed or pending)
        #[arg(long)]
        failed: bool,
        /// Only pending bookings
        #[arg(long)]
        pending: bool,
        /// Only bookings that changed within this long (e.g. 1h, 2d)
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<Duration>,
    },
    /// Let the daemon cancel the meetings of definitions that vanished all at once
    ApproveRemovals,
    /// Let the daemon make the changes to booked meetings that no definition made (a new
    /// build's default, a config reload) and that it holds because there are many
    ApproveChanges,
    /// approve-removals and approve-changes at once
    Approve,
    /// Send failed bookings (and missed ones still to start) back to pending, to be looked up
    /// and booked again (without editing their files): by definition id or glob, by
    /// DEFINITION@START, or all failed
    Retry {
        /// Definition ids or globs (`team/*`), or booking keys as `status --json` shows them
        /// (definition@start)
        bookings: Vec<String>,
        /// Every failed booking
        #[arg(long)]
        all_failed: bool,
    },
    /// Tell that failed or missed bookings, or live meetings whose cancel was refused, need no
    /// one any more: they stay on record, and `status` and `once` no longer exit 1 for them
    Ack {
        /// Definition ids or globs (`team/*`), or booking keys as `status --json` shows them
        /// (definition@start)
        bookings: Vec<String>,
        /// Every booking that needs a person
        #[arg(long)]
        all: bool,
    },
    /// After a lost or new state file: find the meetings already booked for what is due now
    /// (in each user's meeting list) and record them; creates nothing. The daemon must be
    /// stopped
    Recover {
        /// Show what would be recorded; write nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Book the example definitions against the embedded fake API and print each booking;
    /// runs until Ctrl-C [default config: config/demo.toml]
    Demo,
    /// Run the fake WeMeet API: checks signatures, answers like the real service, injects
    /// faults. A fault is a rate ("20%") or a count of requests ("3")
    FakeApi(Box<FakeApiArgs>),
    /// Back up or restore the state store
    State {
        #[command(subcommand)]
        what: StateCommand,
    },
    /// Write the booked meetings elsewhere
    Export {
        #[command(subcommand)]
        what: Export,
    },
    /// Print a shell completion script (install it where your shell looks for one)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `wemeet-scheduler man > wemeet-scheduler.1`
    Man {
        /// Write the page and the one of each subcommand it names (wemeet-scheduler-status.1,
        /// ...) into DIR instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum StateCommand {
    /// Copy the store to a new FILE while the daemon runs (a consistent snapshot)
    Backup { file: PathBuf },
    /// Put the backup FILE in place of the store; the daemon must be stopped. The next start
    /// looks up what is due before creating it
    Restore { file: PathBuf },
}

#[derive(Subcommand)]
enum Export {
    /// The booked meetings that have not ended, as an iCalendar (RFC 5545) file on stdout
    Ics {
        /// Only these definitions: ids or globs (`team/*`)
        definitions: Vec<String>,
    },
}

#[derive(clap::Args)]
struct FakeApiArgs {
    /// Address to listen on (port 0 picks a free port)
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    #[arg(long, default_value = fake_api::DEMO_APP_ID)]
    app_id: String,
    #[arg(long, default_value = fake_api::DEMO_SECRET_ID)]
    secret_id: String,
    /// The secret key requests must be signed with
    #[arg(long, env = "WEMEET_FAKE_SECRET_KEY", default_value = fake_api::DEMO_SECRET_KEY, hide_env_values = true)]
    secret_key: String,
    /// Require this SdkId header (else requests must send none)
    #[arg(long)]
    sdk_id: Option<String>,
    /// Append every create, modify and cancel to this file as JSON lines
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Answer 190310 past this many requests in any 60 s, like the real service (0: no limit)
    #[arg(long, default_value_t = 0)]
    requests_per_minute: u32,
    /// Answer 500029 to a user's creates past this many in any hour (the real service: 2000;
    /// 0: no limit)
    #[arg(long, default_value_t = 0)]
    creates_per_hour_per_user: u32,
    /// Answer 500168 to creates past this many in a month, China time (the real service:
    /// premium accounts x 10 from 50 accounts, x 2 below; 0: no limit)
    #[arg(long, default_value_t = 0)]
    creates_per_month: u32,
    /// Answer 190311 past this many requests in any 24 h (the real service: 200000 per app;
    /// 0: no limit)
    #[arg(long, default_value_t = 0)]
    requests_per_day: u32,
    /// Accept reused nonces (for load tools replaying one signed request)
    #[arg(long)]
    allow_replay: bool,
    /// Require what the seed spec requires of a create (settings with its six keys); the
    /// real service does not
    #[arg(long)]
    strict_spec: bool,
    /// Which hosts answers list (a reading of the docs)
    #[arg(long, value_enum, default_value_t)]
    hosts_reading: readings::Hosts,
    /// Which invitees answers list as participants
    #[arg(long, value_enum, default_value_t)]
    participants_reading: readings::Participants,
    /// How answers write users
    #[arg(long, value_enum, default_value_t)]
    users_reading: readings::Users,
    /// How answers write start and end times
    #[arg(long, value_enum, default_value_t)]
    times_reading: readings::Times,
    /// How a recurring meeting's occurrences fall across daylight-saving changes: at the
    /// first start's wall-clock time in its zone, or at its UTC offset
    #[arg(long, value_enum, default_value_t)]
    recurring_dst: fake_api::recurring::Dst,
    /// Seed for meeting codes and fault draws
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// HTTP 500 with error 5108, before acting
    #[arg(long, default_value = "off")]
    fault_500: FaultSpec,
    /// HTTP 500 with error 190310 (rate limited), before acting
    #[arg(long, default_value = "off")]
    fault_rate_limit: FaultSpec,
    /// Wait --latency before handling
    #[arg(long, default_value = "off")]
    fault_slow: FaultSpec,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    latency: Duration,
    /// Create the meeting, then hold the answer for --hang-for
    #[arg(long, default_value = "off")]
    fault_hang: FaultSpec,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    hang_for: Duration,
    /// Create the meeting, then reset the connection instead of answering
    #[arg(long, default_value = "off")]
    fault_reset: FaultSpec,
    /// Answer creates with an error, CODE:STATUS:RATE (e.g. 9100:500:100%), without acting
    #[arg(long)]
    fault_create_error: Option<ErrorFault>,
    /// Answer modifies with an error, CODE:STATUS:RATE, without acting
    #[arg(long)]
    fault_modify_error: Option<ErrorFault>,
    /// Answer cancels with an error, CODE:STATUS:RATE (e.g. 13602:500:100%), without acting
    #[arg(long)]
    fault_cancel_error: Option<ErrorFault>,
}

impl FakeApiArgs {
    fn into_config(self) -> (FakeConfig, SocketAddr) {
        let config = FakeConfig {
            app_id: self.app_id,
            secret_id: self.secret_id,
            secret_key: SecretKey::new(self.secret_key),
            sdk_id: self.sdk_id,
            requests_per_minute: self.requests_per_minute,
            creates_per_hour_per_user: self.creates_per_hour_per_user,
            creates_per_month: self.creates_per_month,
            requests_per_day: self.requests_per_day,
            quota_clock: None,
            allow_replay: self.allow_replay,
            strict_spec: self.strict_spec,
            readings: Readings {
                hosts: self.hosts_reading,
                participants: self.participants_reading,
                users: self.users_reading,
                times: self.times_reading,
            },
            recurring_dst: self.recurring_dst,
            faults: Faults {
                internal_error: self.fault_500,
                rate_limited: self.fault_rate_limit,
                slow: self.fault_slow,
                latency: self.latency,
                create_then_hang: self.fault_hang,
                hang_for: self.hang_for,
                create_then_reset: self.fault_reset,
                create_error: self.fault_create_error,
                modify_error: self.fault_modify_error,
                cancel_error: self.fault_cancel_error,
            },
            journal: self.journal,
            seed: self.seed,
        };
        (config, self.listen)
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}; use RFC 3339, e.g. 2026-12-01T09:00:00+08:00"))
}

/// Runs an async command on a multi-threaded runtime.
fn run_async<T>(fut: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(fut)
}

/// Each SIGHUP becomes a message (a config reload). Must be called inside the runtime.
fn sighup_channel() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        if tx.send(()).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("cannot listen for SIGHUP: {e}; reload by restarting"),
        }
    }
    rx
}

/// The first Ctrl-C or SIGTERM completes the future (shutdown: drain, flush, exit); each
/// later one is a message on the receiver (stop now). Must be called inside the runtime.
fn stop_signals() -> (
    impl std::future::Future<Output = ()>,
    tokio::sync::mpsc::UnboundedReceiver<()>,
) {
    let (first_tx, first_rx) = tokio::sync::oneshot::channel();
    let (again_tx, again_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        ctrl_c().await;
        let _ = first_tx.send(());
        loop {
            ctrl_c().await;
            if again_tx.send(()).is_err() {
                break;
            }
        }
    });
    (
        async move {
            let _ = first_rx.await;
        },
        again_rx,
    )
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
async fn ctrl_c() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // The demo never takes its config from the environment: WEMEET_SCHEDULER_CONFIG may name
    // a production config, whose state the demo must not touch.
    if matches!(cli.command, Command::Demo)
        && matches.value_source("config") == Some(ValueSource::EnvVariable)
    {
        cli.config = None;
    }
    // The demo prints its own lines; its log shows only what went wrong.
    let level = if matches!(cli.command, Command::Demo) {
        "warn"
    } else {
        "info"
    };
    logging::init(
        cli.log_format,
        logging::level(level, cli.quiet, cli.verbose),
    );
    let config = cli.config.as_deref();
    let codes = match cli.command {
        Command::Plan {
            detailed_exitcode: true,
            ..
        } => Codes::Detailed,
        _ => Codes::Standard,
    };
    let mut out = std::io::stdout().lock();
    let result = match cli.command {
        Command::Validate {
            paths,
            now,
            as_service,
        } => {
            let files = if as_service {
                commands::validate::Files::All
            } else {
                commands::validate::Files::Present
            };
            commands::validate::run(
                config,
                &paths,
                files,
                now.unwrap_or_else(Utc::now),
                &mut out,
            )
        }
        Command::Plan {
            paths,
            count,
            json,
            now,
            detailed_exitcode,
        } => commands::plan::run(
            commands::plan::Options {
                config,
                paths: &paths,
                count,
                json,
                now: now.unwrap_or_else(Utc::now),
                detailed_exitcode,
            },
            &mut out,
            &mut std::io::stderr(),
        ),
        Command::Run | Command::Once => {
            let mode = if matches!(cli.command, Command::Run) {
                Mode::Run
            } else {
                Mode::Once
            };
            run_async(async move {
                let reloads = sighup_channel();
                let (shutdown, stop_now) = stop_signals();
                commands::run::run(config, mode, reloads, shutdown, stop_now).await
            })
        }
        Command::Status {
            definitions,
            json,
            all,
            failed,
            pending,
            since,
        } => {
            let filter = commands::status::Filter {
                definitions,
                failed,
                pending,
                since,
            };
            commands::status::run(config, json, all, &filter, Utc::now(), &mut out)
        }
        Command::ApproveRemovals => commands::approve::run(config, &mut out),
        Command::ApproveChanges => commands::approve::changes(config, &mut out),
        Command::Approve => commands::approve::both(config, &mut out),
        Command::Retry {
            bookings,
            all_failed,
        } => commands::retry::run(config, &bookings, all_failed, &mut out),
        Command::Ack { bookings, all } => commands::ack::run(config, &bookings, all, &mut out),
        Command::Recover { dry_run } => {
            run_async(commands::recover::run(config, dry_run, &mut out, ctrl_c()))
        }
        Command::Demo => {
            drop(out);
            run_async(commands::demo::run(
                config,
                &mut std::io::stdout(),
                ctrl_c(),
            ))
        }
        Command::State {
            what: StateCommand::Backup { file },
        } => commands::state::backup(config, &file, &mut out),
        Command::State {
            what: StateCommand::Restore { file },
        } => commands::state::restore(config, &file, &mut out),
        Command::Export {
            what: Export::Ics { definitions },
        } => commands::export::ics(config, &definitions, Utc::now(), &mut out),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            cmd.set_bin_name("wemeet-scheduler");
            cmd.build();
            // `try_generate`, not `generate`: a closed pipe is an error to return, not a panic.
            clap_complete::Generator::try_generate(&shell, &cmd, &mut out)
                .map(|()| Outcome::Clean)
                .map_err(anyhow::Error::from)
        }
        Command::Man { dir } => {
            // The page lists a page per subcommand (`wemeet-scheduler-status(1)`): `--dir`
            // writes them all, as the package ships them. No `help` subcommand: it has no page.
            let cmd = Cli::command().disable_help_subcommand(true);
            match dir {
                None => clap_mangen::Man::new(cmd)
                    .render(&mut out)
                    .map_err(anyhow::Error::from),
                Some(dir) => clap_mangen::generate_to(cmd, &dir).map_err(|e| {
                    anyhow::anyhow!("cannot write the man pages into {}: {e}", dir.display())
                }),
            }
            .map(|()| Outcome::Clean)
        }
        Command::FakeApi(args) => {
            let (fake, listen) = (*args).into_config();
            drop(out);
            run_async(commands::fake_api::run(
                fake,
                listen,
                &mut std::io::stdout(),
                ctrl_c(),
            ))
            .map(|()| Outcome::Clean)
        }
    };
    let exit = Exit::of(result, codes);
    if let Some(message) = exit.message() {
        eprintln!("error: {message}");
    }
    ExitCode::from(exit.code())
}
