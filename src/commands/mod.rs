//! The subcommands' work, one module each, printing to the writers they are given. The CLI in
//! `main.rs` only parses arguments; [`exit`] turns how a command ended into its exit code.

pub mod ack;
pub mod approve;
pub mod demo;
pub mod exit;
pub mod export;
pub mod fake_api;
pub mod plan;
pub mod recover;
pub mod retry;
pub mod run;
pub mod state;
pub mod status;
mod table;
pub mod validate;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::{Config, DEFAULT_CONFIG_PATH};

/// How a command ended when it ran to the end (its exit code: [`exit::Ending::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything checked out.
    Clean,
    /// The command ran but found problems (invalid files, failed bookings).
    Problems,
    /// `plan --detailed-exitcode`: no problems, but the next run would change things.
    Changes,
}

/// The config to use: the file given with `--config`, else the default path, else (when the
/// default file does not exist) the built-in defaults, so `validate some/file.toml` works on
/// a machine without a config.
pub fn load_config(explicit: Option<&Path>) -> anyhow::Result<Config> {
    match explicit {
        Some(path) => Ok(Config::load(path)?),
        None => {
            let path = PathBuf::from(DEFAULT_CONFIG_PATH);
            if path.exists() {
                Config::load(&path)
                    .with_context(|| "loading the default config (use --config to pick another)")
            } else {
                tracing::info!(
                    "no config at {DEFAULT_CONFIG_PATH}; using built-in defaults (see config/config.toml)"
                );
                Ok(Config::default())
            }
        }
    }
}
