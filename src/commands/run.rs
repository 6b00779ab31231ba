//! `wemeet-scheduler run` (the daemon) and `once` (one reconcile pass, for timers, cron and CI).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::clock::SystemClock;
use crate::commands::{Outcome, load_config};
use crate::daemon::{self, Mode, Options};

/// How long shutdown waits for requests in flight before leaving them pending.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the daemon (or one pass) until `shutdown`. Each message on `reloads` re-reads the
/// config and rescans (SIGHUP); a message on `stop_now` during the drain stops at once.
pub async fn run(
    config_path: Option<&Path>,
    mode: Mode,
    reloads: mpsc::UnboundedReceiver<()>,
    shutdown: impl Future<Output = ()>,
    stop_now: mpsc::UnboundedReceiver<()>,
) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let options = Options {
        mode,
        config_path: config.path.clone(),
        clock: Arc::new(SystemClock),
        events: None,
        reloads: Some(reloads),
        systemd: true,
        watch: mode == Mode::Run,
        drain_timeout: DRAIN_TIMEOUT,
        stop_now: Some(stop_now),
        check_incremental: false,
    };
    let (state_config, alert_after) = (config.state.clone(), config.retry.alert_after);
    let summary = daemon::run(config, options, shutdown).await?;
    if mode != Mode::Once {
        return Ok(Outcome::Clean);
    }
    // Whenever a person is needed, as `status` says: not just what failed in this run.
    let (state, now) = (crate::store::read_for(&state_config)?, chrono::Utc::now());
    let attention = crate::state::Attention::of(&state, now, alert_after);
    let refused = |r: &&crate::state::Record| {
        r.live_after_a_refused_cancel(now.timestamp()) && r.needs_a_person(now.timestamp())
    };
    for r in state.bookings.iter().filter(refused) {
        tracing::error!(
            booking = %r.key(),
            meeting_id = r.meeting_id.as_deref().unwrap_or("-"),
            userid = %r.userid,
            "this meeting should be cancelled and stays live: the service refused the cancel for good ({}), and it is not sent again; {}",
            r.last_error.as_deref().unwrap_or("refused"),
            crate::state::REFUSED_CANCEL_TODO
        );
    }
    Ok(
        if summary.pending > 0 || summary.new_problems > 0 || attention.needs_a_person() {
            Outcome::Problems
        } else {
            Outcome::Clean
        },
    )
}
