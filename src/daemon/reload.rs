//! SIGHUP: the config read again, and what a running daemon takes of it.

use std::path::Path;

use super::error::DaemonError;
use crate::api::Client;
use crate::api::error::codes;
use crate::booking::{BookingKey, Status};
use crate::config::{ApiConfig, Config, SecretKey};
use crate::ledger::Ledger;
use crate::state::Record;

/// A config read again, with its client.
pub(super) struct Reloaded {
    pub(super) config: Config,
    pub(super) client: Client,
    /// [`fingerprint`] of its credentials.
    pub(super) credentials: String,
}

/// Reads the config at `path` and its secret key, and makes the client that signs with them
/// (sharing `client`'s connections).
pub(super) fn load(path: &Path, client: &Client) -> Result<Reloaded, DaemonError> {
    let config = Config::load(path)?;
    let key = config.api.secret_key.load()?;
    let credentials = fingerprint(&config.api, &key);
    let client = client.reload(&config.api, &config.retry, key)?;
    Ok(Reloaded {
        config,
        client,
        credentials,
    })
}

/// Takes into `running` what a running daemon can change (everything but the store), warning
/// about the rest. Returns whether the watch dir changed.
pub(super) fn take(running: &mut Config, new: Config) -> bool {
    if new.state.file != running.state.file {
        tracing::warn!("state.file changed in the config; it takes effect at the next restart");
    }
    let dir_changed = new.watch.dir != running.watch.dir;
    running.api = new.api;
    running.retry = new.retry;
    running.watch = new.watch;
    running.defaults = new.defaults;
    running.lifecycle = new.lifecycle;
    running.state.retention = new.state.retention;
    dir_changed
}

/// Bookings that failed because of the credentials: worth another try with new ones.
pub(super) fn failed_for_credentials(records: &Ledger) -> Vec<BookingKey> {
    records
        .values()
        .filter(|r| {
            r.status == Status::Failed
                && r.error_code
                    .is_some_and(|c| codes::CREDENTIALS.contains(&c))
        })
        .map(Record::key)
        .collect()
}

/// A hash of the credentials a client signs with (never the key itself).
pub(super) fn fingerprint(api: &ApiConfig, key: &SecretKey) -> String {
    crate::watch::content_hash(&format!(
        "{}\n{}\n{}\n{}",
        api.app_id,
        api.secret_id,
        api.sdk_id.as_deref().unwrap_or(""),
        key.expose()
    ))
}
