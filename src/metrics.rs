//! What the daemon exposes for monitoring, through `prometheus-client`: the metrics, and a
//! small HTTP server for them (`[metrics] listen`), with `/metrics` (Prometheus text),
//! `/healthz` (the main loop is alive), `/readyz` (the first pass is done and the state was
//! written) and `/calendar.ics` (the booked meetings, to subscribe to). Off unless configured.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// How long the main loop may go without a heartbeat before `/healthz` says it is stuck.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `create`, `list`, `get`, `modify`, `cancel`.
    pub endpoint: String,
    /// `ok`, the vendor's error code, `http_502`, `transport` or `held_back`.
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// The `[[notify]]` target's name.
    pub target: String,
    /// `sent`, `failed` (after every retry) or `dropped` (the queue was full).
    pub outcome: String,
}

/// Every metric the daemon keeps. Cheap to share: the handles are atomics.
pub struct Metrics {
    registry: Registry,
    pub bookings: Family<StatusLabel, Gauge>,
    pub api_requests: Family<RequestLabels, Counter>,
    pub api_seconds: Histogram,
    pub requests_waiting: Gauge,
    pub last_pass: Gauge,
    pub held_removals: Gauge,
    pub invalid_definitions: Gauge,
    pub waiting_for_quota: Gauge,
    pub store_write_seconds: Histogram,
    pub notifications: Family<NotifyLabels, Counter>,
    /// Unix seconds of the main loop's last heartbeat.
    alive: AtomicI64,
    ready: AtomicBool,
}

/// Makes the calendar `/calendar.ics` serves, when it is asked for: the daemon's reads the
/// store (a calendar rebuilt at every write cost a pass over every record per booking).
pub type CalendarSource = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wemeet");
        let bookings = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "bookings",
            "Bookings on record, by status",
            bookings.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests sent, by endpoint and outcome (error code)",
            api_requests.clone(),
        );
        let api_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register(
            "api_request_seconds",
            "API request latency",
            api_seconds.clone(),
        );
        let requests_waiting = Gauge::default();
        registry.register(
            "requests_waiting",
            "Requests waiting for their pacing turn or in flight",
            requests_waiting.clone(),
        );
        let last_pass = Gauge::default();
        registry.register(
            "last_pass_timestamp_seconds",
            "When the daemon last reconciled (unix seconds)",
            last_pass.clone(),
        );
        let held_removals = Gauge::default();
        registry.register(
            "held_removals",
            "Definitions whose removal waits for approve-removals",
            held_removals.clone(),
        );
        let invalid_definitions = Gauge::default();
        registry.register(
            "invalid_definitions",
            "Definition files that do not validate",
            invalid_definitions.clone(),
        );
        let waiting_for_quota = Gauge::default();
        registry.register(
            "waiting_for_quota",
            "Creates held back by a quota",
            waiting_for_quota.clone(),
        );
        let store_write_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "state_write_seconds",
            "Time to write the state file",
            store_write_seconds.clone(),
        );
        let notifications = Family::<NotifyLabels, Counter>::default();
        registry.register(
            "notifications",
            "Notifications by target and outcome",
            notifications.clone(),
        );
        Metrics {
            registry,
            notifications,
            bookings,
            api_requests,
            api_seconds,
            requests_waiting,
            last_pass,
            held_removals,
            invalid_definitions,
            waiting_for_quota,
            store_write_seconds,
            alive: AtomicI64::new(0),
            ready: AtomicBool::new(false),
        }
    }

    /// One API request ended.
    pub fn request(&self, endpoint: &str, code: String, took: Duration) {
        self.api_requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                code,
            })
            .inc();
        self.api_seconds.observe(took.as_secs_f64());
    }

    pub fn heartbeat(&self, now_unix: i64) {
        self.alive.store(now_unix, Ordering::Relaxed);
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// The Prometheus text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn answer(&self, path: &str, now_unix: i64) -> (StatusCode, String) {
        match path {
            "/metrics" => (StatusCode::OK, self.text()),
            "/healthz" => {
                let since = now_unix - self.alive.load(Ordering::Relaxed);
                if since <= 3 * HEARTBEAT.as_secs() as i64 {
                    (StatusCode::OK, "ok\n".into())
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("no heartbeat from the main loop for {since} s\n"),
                    )
                }
            }
            "/readyz" if self.ready.load(Ordering::Relaxed) => (StatusCode::OK, "ready\n".into()),
            "/readyz" => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the first pass has not finished\n".into(),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                "try /metrics, /healthz, /readyz or /calendar.ics\n".into(),
            ),
        }
    }
}

/// The calendar, made off the async threads (it reads the store).
async fn calendar(source: CalendarSource) -> (StatusCode, String) {
    match tokio::task::spawn_blocking(move || source()).await {
        Ok(Ok(ics)) => (StatusCode::OK, ics),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the bookings: {e}\n"),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the calendar could not be made: {e}\n"),
        ),
    }
}

/// Serves `/metrics`, `/healthz`, `/readyz` and `/calendar.ics` on `listener` until the task
/// is aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, source: CalendarSource) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (metrics, source) = (metrics.clone(), source.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (metrics, source) = (metrics.clone(), source.clone());
                async move {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs() as i64);
                    let (status, body) = match req.uri().path() {
                        "/calendar.ics" => calendar(source).await,
                        path => metrics.answer(path, now),
                    };
                    let mut resp = Response::new(Full::new(Bytes::from(body)));
                    *resp.status_mut() = status;
                    let content_type = match req.uri().path() {
                        "/metrics" => "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        "/calendar.ics" => "text/calendar; charset=utf-8",
                        _ => "text/plain; charset=utf-8",
                    };
                    resp.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(content_type),
                    );
                    Ok::<_, Infallible>(resp)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
