//! The metrics server beside the loop: `/metrics`, `/healthz`, `/readyz`, and (with
//! `[metrics] calendar = true`) the calendar of what is booked, read from the store.

use std::sync::Arc;

use super::error::DaemonError;
use super::options::Options;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store;

/// Serves `metrics` (and the calendar, read from the store) beside the loop, until the
/// returned server drops.
pub(super) async fn metrics(
    addr: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    config: &Config,
    options: &Options,
) -> Result<crate::metrics::Server, DaemonError> {
    let (state, clock) = (config.state.clone(), options.clock.clone());
    // The join links are for those who may join: served only when asked for.
    let calendar = config.metrics_calendar.then(|| {
        let calendar: crate::metrics::CalendarSource = Arc::new(move || {
            store::read_for(&state)
                .map(|s| crate::calendar::ics(&s.bookings, clock.now()))
                .map_err(|e| e.to_string())
        });
        calendar
    });
    crate::metrics::start(addr, metrics, calendar)
        .await
        .map_err(|source| DaemonError::Metrics { addr, source })
}
