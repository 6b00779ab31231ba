//! Why the daemon could not start, or had to stop.

use std::path::PathBuf;

use crate::config::{ConfigError, SecretError};
use crate::state::StateError;

/// Why the daemon could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot set up the API client: {0}")]
    Client(#[from] crate::api::client::BuildError),
    #[error("cannot read the watch dir {dir}: {source}; create it or fix watch.dir in the config")]
    WatchDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serve metrics on {addr}: {source}; fix metrics.listen in the config")]
    Metrics {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Notify(#[from] crate::notifications::NotifyError),
    #[error(
        "this daemon no longer holds the leader lock on {store}: it stopped sending, and a standby may lead now; restart it to stand by"
    )]
    LostLead { store: PathBuf },
}
