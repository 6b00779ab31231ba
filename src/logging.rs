//! Log output: `tracing` events to stderr, human-readable or JSON lines for log shippers.
//! Under systemd (stderr is the journal, `JOURNAL_STREAM` is set) lines carry no timestamp:
//! journald adds its own.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

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
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already set (tests): keep that one.
    let _ = match (format, journal) {
        (LogFormat::Text, false) => builder.try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Json, _) => builder.json().try_init(),
    };
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
