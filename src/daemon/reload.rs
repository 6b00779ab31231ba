//! SIGHUP: the config read again, and what a running daemon takes of it. A config that does
//! not read is kept from the daemon and shown until a reload reads well: `/readyz` degraded,
//! the reload metrics, `STATUS=` and a `reload_failed` notification. The next restart would
//! fail on it (exit 2), so it must not go unseen.

use std::path::Path;

use super::error::DaemonError;
use super::report::Event;
use crate::api::Client;
use crate::api::error::codes;
use crate::booking::{BookingKey, Status};
use crate::config::{ApiConfig, Config, SecretKey};
use crate::ledger::Ledger;
use crate::lifecycle::Rules;
use crate::state::Record;
use crate::watch::Catalog;
use crate::watcher::Watching;

/// A config read again, with its client.
pub(super) struct Reloaded {
    pub(super) config: Config,
    pub(super) client: Client,
    /// [`fingerprint`] of its credentials.
    pub(super) credentials: String,
}

impl super::Daemon {
    /// Re-reads the config (SIGHUP). A broken config is reported and the old one kept.
    pub(super) fn reload(&mut self, watching: &mut Watching) {
        self.notifier.send(&[
            sd_notify::NotifyState::Reloading,
            sd_notify::NotifyState::monotonic_usec_now()
                .unwrap_or(sd_notify::NotifyState::MonotonicUsec(0)),
        ]);
        let failed = self.take_config(watching).err();
        match (&failed, &self.metrics) {
            (Some(reason), Some(m)) => m.reload_failed(reason),
            (None, Some(m)) => m.reloaded(self.options.clock.now().timestamp()),
            (_, None) => {}
        }
        self.reload_failure = failed.clone();
        let now = self.options.clock.now();
        let result = self.catalog.reparse_all(&self.config.defaults, now);
        self.after_scan(result);
        self.emit(Event::Reloaded { failed });
        self.tell_status();
        self.notifier.send(&[sd_notify::NotifyState::Ready]);
    }

    /// Reads the config again and takes what a running daemon can of it; the reason, on one
    /// line, when it cannot be read.
    fn take_config(&mut self, watching: &mut Watching) -> Result<(), String> {
        if let Some(path) = self.options.config_path.clone() {
            match load(&path, self.dispatch.client()) {
                Ok(new) => {
                    if new.credentials != self.credentials {
                        // Failures the old credentials caused are worth another try now.
                        let keys = failed_for_credentials(self.bookings.records());
                        let now = self.options.clock.now();
                        (self.bookings).retry(&keys, "the API credentials changed", now);
                        self.credentials = new.credentials;
                    }
                    super::planner::lock(&self.quotas).set_limit(
                        new.config.api.creates_per_hour_per_user,
                        new.config.api.creates_per_month,
                    );
                    (self.persist).set_exact_month(new.config.api.creates_per_month > 0);
                    let dir_changed = take(&mut self.config, new.config);
                    (self.bookings)
                        .set_rules(Rules::of(&self.config.retry, self.options.mode.recovers()));
                    self.dispatch.reload(new.client, &self.config);
                    if dir_changed {
                        self.catalog = Catalog::new(&self.config.watch.dir);
                        watching.restart(self.catalog.dir());
                    }
                    tracing::info!(config = %path.display(), "config reloaded");
                }
                Err(e) => {
                    tracing::error!("config not reloaded, keeping the running one: {e}");
                    return Err(one_line(&e.to_string()));
                }
            }
        }
        Ok(())
    }
}

/// The longest reason told (`STATUS=`, `/readyz`, a notification): the log has all of it.
const MAX_REASON: usize = 1000;

/// An error's text on one line (a config's problems are listed one a line), at most
/// [`MAX_REASON`] bytes.
fn one_line(text: &str) -> String {
    let mut line = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if line.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str("...");
    }
    line
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_one_bounded_line() {
        let error = "config /etc/c.toml has 2 problem(s):\n  /etc/c.toml:3:1: one\n  /etc/c.toml:9:5: two\n";
        assert_eq!(
            one_line(error),
            "config /etc/c.toml has 2 problem(s): /etc/c.toml:3:1: one /etc/c.toml:9:5: two"
        );
        // Cut on a character boundary: 999 bytes of ASCII, then two-byte characters.
        let long = format!("{}{}", "x".repeat(MAX_REASON - 1), "é".repeat(100));
        let cut = one_line(&long);
        assert_eq!(cut, format!("{}...", "x".repeat(MAX_REASON - 1)));
    }
}
