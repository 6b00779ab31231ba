//! Log output: `tracing` events to stderr, human-readable or JSON lines for log shippers.
//!
//! Under systemd, when stderr is the journal, each line starts with its syslog priority
//! (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug and trace), so `journalctl -p warning`
//! shows warnings and errors; text lines then carry no timestamp, since journald adds its own.

use std::io::IsTerminal as _;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber: `default_level` (moved by `-q`/`-v`), with `RUST_LOG`'s
/// directives on top. Colour only when stderr is a terminal and `NO_COLOR` is not set.
pub fn init(format: LogFormat, default_level: &str) {
    let mut filter = EnvFilter::new(default_level);
    if let Ok(directives) = std::env::var("RUST_LOG") {
        for directive in directives.split(',').filter(|d| !d.trim().is_empty()) {
            // A directive that does not parse is left out, not fatal.
            if let Ok(d) = directive.trim().parse() {
                filter = filter.add_directive(d);
            }
        }
    }
    let journal = stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref());
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi && !journal)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set (tests): keep that one.
    let _ = match (format, journal) {
        (LogFormat::Text, false) => builder.try_init(),
        (LogFormat::Text, true) => builder.without_time().map_event_format(Journal).try_init(),
        (LogFormat::Json, false) => builder.json().try_init(),
        (LogFormat::Json, true) => builder.json().map_event_format(Journal).try_init(),
    };
}

/// Whether stderr is the journal stream systemd names in `JOURNAL_STREAM` (`DEVICE:INODE`).
/// systemd.exec(5) sets the variable to the device and inode numbers of the stream it
/// connected stdout or stderr to, for the process to compare with its own stderr (fstat(2)):
/// a child may inherit the variable while its stderr goes to a pipe, a file or a terminal.
fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        use std::os::unix::fs::MetadataExt as _;
        let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
            return false;
        };
        let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
            return false;
        };
        // A duplicate of fd 2, so that dropping it leaves stderr open.
        let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
            return false;
        };
        std::fs::File::from(fd)
            .metadata()
            .is_ok_and(|m| m.dev() == dev && m.ino() == ino)
    }
    #[cfg(not(unix))]
    {
        let _ = journal_stream;
        false
    }
}

/// The sd-daemon(3) prefix for an event's level: "To use these prefixes simply prefix every
/// line with one of these strings. A line that is not prefixed will be logged at the default
/// log level SD_INFO." (`SD_ERR` `<3>`, `SD_WARNING` `<4>`, `SD_INFO` `<6>`, `SD_DEBUG` `<7>`).
fn priority(level: Level) -> &'static str {
    match level {
        Level::ERROR => "<3>",
        Level::WARN => "<4>",
        Level::INFO => "<6>",
        Level::DEBUG | Level::TRACE => "<7>",
    }
}

/// An event format that prefixes every line the inner format writes (a message may span
/// lines) with the event's priority.
struct Journal<F>(F);

impl<S, N, F> FormatEvent<S, N> for Journal<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let prefix = priority(*event.metadata().level());
        for part in line.lines() {
            writer.write_str(prefix)?;
            writer.write_str(part)?;
            writer.write_char('\n')?;
        }
        Ok(())
    }
}

/// The level `-q` and `-v` make of a command's usual one.
pub fn level(usual: &'static str, quiet: bool, verbose: u8) -> &'static str {
    match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => usual,
        (false, 1) => "debug",
        (false, _) => "trace",
    }
}
