//! What the daemon exposes for monitoring, through `prometheus-client`: the metrics, and a
//! small HTTP server for them (`[metrics] listen`), with `/metrics` (Prometheus text),
//! `/healthz` (the main loop is alive), `/readyz` (the first pass is done and the state was
//! written, and the last config reload did not fail) and, when `[metrics] calendar` asks for
//! it, `/calendar.ics` (the booked meetings, to subscribe to). Off unless configured.
//!
//! Every name the daemon exposes is noted as it is registered ([`Metrics::names`]): the
//! README's list of metrics is tested against it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};
use tokio::net::TcpListener;

mod process;

/// How long the main loop may go without a heartbeat before `/healthz` says it is stuck.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `create`, `list`, `get`, `modify`, `cancel`: the API client's `Endpoint::as_str`.
    pub endpoint: String,
    /// `ok`, the vendor's error code, `http_502`, `transport` or `held_back`.
    pub code: String,
}

/// The label of the per-endpoint histograms: the endpoint alone (an outcome is known only
/// once the answer is in, and a wait has none).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    /// As in [`RequestLabels`].
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// The `[[notify]]` target's name.
    pub target: String,
    /// `sent`, `failed` (after every retry) or `dropped` (the queue was full).
    pub outcome: String,
}

/// The prefix of the daemon's own metrics (the process metrics have none, as everywhere).
const PREFIX: &str = "wemeet";

/// A per-endpoint histogram.
type ByEndpoint = Family<EndpointLabel, Histogram, fn() -> Histogram>;

/// Every metric the daemon keeps. Cheap to share: the handles are atomics.
pub struct Metrics {
    registry: Registry,
    /// Every name the registry exposes, as a scraper sees it (counters with `_total`).
    names: Vec<String>,
    pub bookings: Family<StatusLabel, Gauge>,
    /// Bookings that need a person, as `status` counts them ([`crate::state::Attention`]).
    pub attention: Gauge,
    pub api_requests: Family<RequestLabels, Counter>,
    /// From the moment a request is sent (its pacing turn come, the gate passed) to its answer.
    pub api_seconds: ByEndpoint,
    /// How long requests waited for their pacing turn and a place among `api.concurrency`.
    pub pacing_seconds: ByEndpoint,
    pub requests_waiting: Gauge,
    pub last_pass: Gauge,
    pub held_removals: Gauge,
    pub invalid_definitions: Gauge,
    pub waiting_for_quota: Gauge,
    /// Creates sent this month (China time), against `api.creates_per_month`.
    pub creates_this_month: Gauge,
    /// 1 while the service's monthly create quota (500168) holds every create.
    pub month_quota_refused: Gauge,
    pub store_write_seconds: Histogram,
    pub notifications: Family<NotifyLabels, Counter>,
    /// SIGHUPs whose config could not be read: the running one was kept.
    pub reload_failures: Counter,
    /// 1 unless the last reload failed.
    pub last_reload_success: Gauge,
    /// When the config was last read well (at start, or a good reload), unix seconds.
    pub last_reload_success_time: Gauge,
    /// Unix seconds of the main loop's last heartbeat.
    alive: AtomicI64,
    ready: AtomicBool,
    /// Why the last reload failed, while it did: `/readyz` says so.
    reload_failure: Mutex<Option<String>>,
}

/// The daemon's part of the registry, noting each name as a scrape shows it.
struct Named<'r> {
    registry: &'r mut Registry,
    names: Vec<String>,
}

impl Named<'_> {
    /// Registers `metric` as `wemeet_<name>`.
    fn add(&mut self, name: &str, help: &str, metric: impl Metric) {
        // OpenMetrics names a counter's sample `<name>_total`.
        let total = matches!(metric.metric_type(), MetricType::Counter);
        let suffix = if total { "_total" } else { "" };
        self.names.push(format!("{PREFIX}_{name}{suffix}"));
        self.registry.register(name, help, metric);
    }
}

/// Unix seconds now (0 before 1970).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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
        let mut root = Registry::default();
        let mut r = Named {
            registry: root.sub_registry_with_prefix(PREFIX),
            names: Vec::new(),
        };
        let bookings = Family::<StatusLabel, Gauge>::default();
        r.add(
            "bookings",
            "Bookings on record, by status",
            bookings.clone(),
        );
        let attention = Gauge::default();
        r.add(
            "attention",
            "Bookings that need a person: failed, missed or pending too long, or live after a refused cancel, and not acknowledged",
            attention.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        r.add(
            "api_requests",
            "API requests sent, by endpoint and outcome (error code)",
            api_requests.clone(),
        );
        // 5 ms to 10 s.
        let api_seconds: ByEndpoint =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.005, 2.0, 12)));
        r.add(
            "api_request_seconds",
            "API request latency, from sending to the answer (the pacing wait not included), by endpoint",
            api_seconds.clone(),
        );
        // 1 ms to 70 min (the daily limit can hold a request for hours).
        let pacing_seconds: ByEndpoint =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 4.0, 12)));
        r.add(
            "api_pacing_wait_seconds",
            "Time a request waited for its pacing turn and a place among api.concurrency, by endpoint",
            pacing_seconds.clone(),
        );
        let requests_waiting = Gauge::default();
        r.add(
            "requests_waiting",
            "Requests waiting for their pacing turn or in flight",
            requests_waiting.clone(),
        );
        let last_pass = Gauge::default();
        r.add(
            "last_pass_timestamp_seconds",
            "When the daemon last reconciled (unix seconds)",
            last_pass.clone(),
        );
        let held_removals = Gauge::default();
        r.add(
            "held_removals",
            "Definitions whose removal waits for approve-removals",
            held_removals.clone(),
        );
        let invalid_definitions = Gauge::default();
        r.add(
            "invalid_definitions",
            "Definition files that do not validate",
            invalid_definitions.clone(),
        );
        let waiting_for_quota = Gauge::default();
        r.add(
            "waiting_for_quota",
            "Creates held back by a quota",
            waiting_for_quota.clone(),
        );
        let creates_this_month = Gauge::default();
        r.add(
            "creates_this_month",
            "Creates sent this month (China time), against api.creates_per_month",
            creates_this_month.clone(),
        );
        let month_quota_refused = Gauge::default();
        r.add(
            "month_quota_refused",
            "1 while the service's monthly create quota (500168) holds every create",
            month_quota_refused.clone(),
        );
        let store_write_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        r.add(
            "state_write_seconds",
            "Time to write the state file",
            store_write_seconds.clone(),
        );
        let notifications = Family::<NotifyLabels, Counter>::default();
        r.add(
            "notifications",
            "Notifications by target and outcome",
            notifications.clone(),
        );
        let reload_failures = Counter::default();
        r.add(
            "config_reload_failures",
            "Config reloads (SIGHUP) that failed: the running config was kept",
            reload_failures.clone(),
        );
        let last_reload_success = Gauge::default();
        last_reload_success.set(1);
        r.add(
            "config_last_reload_success",
            "1 unless the last config reload failed",
            last_reload_success.clone(),
        );
        let last_reload_success_time = Gauge::default();
        last_reload_success_time.set(unix_now());
        r.add(
            "config_last_reload_success_timestamp_seconds",
            "When the config was last read well, at start or by a reload (unix seconds)",
            last_reload_success_time.clone(),
        );
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        r.add(
            "build_info",
            "1, labelled with the daemon's version",
            build_info,
        );
        let mut names = r.names;
        if process::SUPPORTED {
            root.register_collector(Box::new(process::Process));
            names.extend(process::NAMES.map(String::from));
        }
        Metrics {
            registry: root,
            names,
            notifications,
            bookings,
            attention,
            api_requests,
            api_seconds,
            pacing_seconds,
            requests_waiting,
            last_pass,
            held_removals,
            invalid_definitions,
            waiting_for_quota,
            creates_this_month,
            month_quota_refused,
            store_write_seconds,
            reload_failures,
            last_reload_success,
            last_reload_success_time,
            alive: AtomicI64::new(0),
            ready: AtomicBool::new(false),
            reload_failure: Mutex::new(None),
        }
    }

    /// Every metric name a scrape can show, as it shows it: `wemeet_api_requests_total`,
    /// `wemeet_api_request_seconds` (a histogram's, without `_bucket`, `_sum`, `_count`),
    /// `process_open_fds`.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One API request ended. `endpoint`: the label the client's typed endpoint names
    /// (`create`, `list`, `get`, `modify`, `cancel`).
    pub fn request(&self, endpoint: &'static str, code: String) {
        self.api_requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                code,
            })
            .inc();
    }

    /// A request to `endpoint` was answered (or failed on the wire) `took` after it was sent.
    pub fn answered(&self, endpoint: &'static str, took: Duration) {
        let label = EndpointLabel {
            endpoint: endpoint.to_string(),
        };
        self.api_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
    }

    /// A request to `endpoint` waited `waited` for its turn.
    pub fn paced(&self, endpoint: &'static str, waited: Duration) {
        let label = EndpointLabel {
            endpoint: endpoint.to_string(),
        };
        self.pacing_seconds
            .get_or_create(&label)
            .observe(waited.as_secs_f64());
    }

    /// A reload (SIGHUP) read the config well, at `now_unix`: a failure before is cleared.
    pub fn reloaded(&self, now_unix: i64) {
        self.last_reload_success.set(1);
        self.last_reload_success_time.set(now_unix);
        *self.lock_reload_failure() = None;
    }

    /// A reload failed for `reason` (one line): `/readyz` says so until a reload succeeds.
    pub fn reload_failed(&self, reason: &str) {
        self.reload_failures.inc();
        self.last_reload_success.set(0);
        *self.lock_reload_failure() = Some(reason.to_string());
    }

    /// Only ever set or taken whole: a poisoned lock holds a whole value.
    fn lock_reload_failure(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.reload_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
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
            "/readyz" if !self.ready.load(Ordering::Relaxed) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the first pass has not finished\n".into(),
            ),
            "/readyz" => match &*self.lock_reload_failure() {
                Some(reason) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "degraded: the last config reload failed, the previous config runs: {reason}\n"
                    ),
                ),
                None => (StatusCode::OK, "ready\n".into()),
            },
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

/// The most connections the metrics server serves at once; more wait for a slot before they
/// are accepted (in the kernel's backlog), so idle clients cannot use up the daemon's file
/// descriptors.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's header (the first one, and each next one
/// on a kept-alive connection); then its connection is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The first wait after a failed accept; each failure in a row doubles it.
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait after failed accepts: the server never gives up (the daemon's other work
/// goes on without it), it tries again at least this often.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(64);

/// Where the metrics server's connections come from: a [`TcpListener`], or a test's source.
pub trait Accept: Send + 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;

    /// The next connection.
    fn accept(&mut self)
    -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&mut self) -> std::io::Result<Self::Stream> {
        TcpListener::accept(self).await.map(|(stream, _)| stream)
    }
}

/// The metrics server (after mini-redis's `Listener`): accepts connections while fewer than
/// [`MAX_CONNECTIONS`] are open, serves each on its own task, and backs off when accepting
/// fails.
pub struct Listener<A = TcpListener> {
    accept: A,
    /// One permit per open connection.
    slots: Arc<tokio::sync::Semaphore>,
    header_read_timeout: Duration,
    metrics: Arc<Metrics>,
    /// `None`: `/calendar.ics` is not served (`[metrics] calendar` is off).
    calendar: Option<CalendarSource>,
}

impl<A: Accept> Listener<A> {
    /// A server with the default limits ([`MAX_CONNECTIONS`], [`HEADER_READ_TIMEOUT`]).
    pub fn new(accept: A, metrics: Arc<Metrics>, calendar: Option<CalendarSource>) -> Self {
        Listener {
            accept,
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            header_read_timeout: HEADER_READ_TIMEOUT,
            metrics,
            calendar,
        }
    }

    /// The same with other limits (for tests).
    pub fn with_limits(mut self, max_connections: usize, header_read_timeout: Duration) -> Self {
        self.slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
        self.header_read_timeout = header_read_timeout;
        self
    }

    /// Serves `/metrics`, `/healthz`, `/readyz` (and `/calendar.ics`) until the task is
    /// aborted.
    ///
    /// Each turn first waits for a free slot (at most [`MAX_CONNECTIONS`] connections are
    /// open; more wait, unaccepted), then accepts one connection and serves it on its own
    /// task, which gives the slot back when the connection ends. A client that does not send
    /// a request's header within [`HEADER_READ_TIMEOUT`] is disconnected. When accepting
    /// fails (out of file descriptors, say), the server waits 1 s, then 2, 4, ... up to
    /// [`MAX_ACCEPT_BACKOFF`], and tries again: it never spins and never gives up.
    pub async fn run(mut self) {
        loop {
            // The semaphore is never closed; were it, there would be nothing left to serve.
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let stream = self.next_connection().await;
            let (metrics, calendar) = (self.metrics.clone(), self.calendar.clone());
            let header_read_timeout = self.header_read_timeout;
            tokio::spawn(async move {
                serve_connection(stream, metrics, calendar, header_read_timeout).await;
                drop(slot);
            });
        }
    }

    /// Accepts the next connection, waiting longer after each failure in a row. A failure
    /// that concerns one connection only (it was reset before it was accepted) is no reason
    /// to wait.
    async fn next_connection(&mut self) -> A::Stream {
        let mut backoff = FIRST_ACCEPT_BACKOFF;
        loop {
            match self.accept.accept().await {
                Ok(stream) => return stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    tracing::debug!("metrics: a connection went away before it was accepted: {e}");
                }
                Err(e) => {
                    tracing::warn!(
                        "metrics: cannot accept a connection ({e}); trying again in {}",
                        humantime::format_duration(backoff)
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                }
            }
        }
    }
}

/// Answers the requests of one connection until it closes, or its client is too slow to send
/// a request's header.
async fn serve_connection<S>(
    stream: S,
    metrics: Arc<Metrics>,
    source: Option<CalendarSource>,
    header_read_timeout: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let (metrics, source) = (metrics.clone(), source.clone());
        async move {
            let now = unix_now();
            let (status, body) = match (req.uri().path(), source) {
                ("/calendar.ics", Some(source)) => calendar(source).await,
                ("/calendar.ics", None) => (
                    StatusCode::NOT_FOUND,
                    "the calendar is not served here; set `calendar = true` in [metrics] to serve it\n".into(),
                ),
                (path, _) => metrics.answer(path, now),
            };
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            let content_type = match req.uri().path() {
                "/metrics" => "application/openmetrics-text; version=1.0.0; charset=utf-8",
                "/calendar.ics" if status == StatusCode::OK => "text/calendar; charset=utf-8",
                _ => "text/plain; charset=utf-8",
            };
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(content_type),
            );
            Ok::<_, Infallible>(resp)
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Serves `/metrics`, `/healthz`, `/readyz` (and `/calendar.ics` with a `source`) on
/// `listener` until the task is aborted: a [`Listener`] with the default limits.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, source: Option<CalendarSource>) {
    Listener::new(listener, metrics, source).run().await;
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// The server, serving beside the daemon until this drops.
pub struct Server(tokio::task::JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Binds `addr` and serves `/metrics`, `/healthz`, `/readyz` (and `/calendar.ics` with a
/// `calendar`) there, in a task of its own, until the returned [`Server`] drops.
pub async fn start(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    calendar: Option<CalendarSource>,
) -> std::io::Result<Server> {
    let listener = bind(addr).await?;
    let what = match calendar {
        Some(_) => "serving /metrics, /healthz, /readyz and /calendar.ics",
        None => "serving /metrics, /healthz and /readyz",
    };
    let server = tokio::spawn(serve(listener, metrics, calendar));
    tracing::info!(%addr, "{what}");
    Ok(Server(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    /// Connections (or accept errors) handed over by the test, one per `accept`; each call's
    /// time is noted. With nothing left it waits for ever, like a quiet listener.
    struct Source {
        next: mpsc::UnboundedReceiver<std::io::Result<DuplexStream>>,
        calls: Arc<Mutex<Vec<Instant>>>,
    }

    impl Accept for Source {
        type Stream = DuplexStream;

        async fn accept(&mut self) -> std::io::Result<DuplexStream> {
            if let Ok(mut calls) = self.calls.lock() {
                calls.push(Instant::now());
            }
            match self.next.recv().await {
                Some(next) => next,
                None => std::future::pending().await,
            }
        }
    }

    type Feed = mpsc::UnboundedSender<std::io::Result<DuplexStream>>;

    /// A listener on a [`Source`], running on its own task.
    fn start(limits: Option<(usize, Duration)>) -> (Feed, Arc<Mutex<Vec<Instant>>>) {
        let (feed, next) = mpsc::unbounded_channel();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let source = Source {
            next,
            calls: calls.clone(),
        };
        let calendar: CalendarSource = Arc::new(|| Ok(String::new()));
        let mut listener = Listener::new(source, Arc::new(Metrics::new()), Some(calendar));
        if let Some((max, timeout)) = limits {
            listener = listener.with_limits(max, timeout);
        }
        tokio::spawn(listener.run());
        (feed, calls)
    }

    /// A new connection to the listener: the client's end.
    fn connect(feed: &Feed) -> DuplexStream {
        let (client, server) = tokio::io::duplex(64 * 1024);
        feed.send(Ok(server)).unwrap();
        client
    }

    async fn send_request(client: &mut DuplexStream) {
        client
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
    }

    async fn read_all(client: &mut DuplexStream) -> String {
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    fn calls(calls: &Mutex<Vec<Instant>>) -> Vec<Instant> {
        calls.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn connections_beyond_the_cap_wait_for_a_slot() {
        let (feed, accepted) = start(Some((2, Duration::from_secs(3600))));
        let first = connect(&feed);
        let _second = connect(&feed);
        let mut third = connect(&feed);
        send_request(&mut third).await;

        let waited = tokio::time::timeout(Duration::from_secs(5), read_all(&mut third)).await;
        assert!(waited.is_err(), "answered while two connections were open");
        assert_eq!(calls(&accepted).len(), 2, "the third is not even accepted");

        drop(first);
        let answer = read_all(&mut third).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.contains("wemeet_build_info"), "{answer}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_is_closed_after_the_header_timeout() {
        let (feed, _) = start(None);
        let mut idle = connect(&feed);
        let start = Instant::now();
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(
            HEADER_READ_TIMEOUT - Duration::from_secs(1),
            idle.read(&mut byte),
        )
        .await;
        assert!(early.is_err(), "closed before the timeout: {early:?}");
        let rest = tokio::time::timeout(Duration::from_secs(60), read_all(&mut idle)).await;
        assert_eq!(rest.ok().as_deref(), Some(""), "closed, without an answer");
        assert_eq!(start.elapsed(), HEADER_READ_TIMEOUT);

        // A client that sends its header in time is answered.
        let mut prompt = connect(&feed);
        send_request(&mut prompt).await;
        assert!(read_all(&mut prompt).await.starts_with("HTTP/1.1 200 OK"));
    }

    #[tokio::test(start_paused = true)]
    async fn failed_accepts_back_off_up_to_the_cap_and_serving_goes_on() {
        let (feed, accepted) = start(None);
        for _ in 0..9 {
            // Too many open files.
            feed.send(Err(std::io::Error::from_raw_os_error(libc::EMFILE)))
                .unwrap();
        }
        let mut client = connect(&feed);
        send_request(&mut client).await;
        let answer = read_all(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");

        let times = calls(&accepted);
        let waits: Vec<u64> = times
            .windows(2)
            .take(9)
            .map(|w| (w[1] - w[0]).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_calendar_is_not_served_unless_asked_for() {
        let (feed, next) = mpsc::unbounded_channel();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let source = Source { next, calls };
        tokio::spawn(Listener::new(source, Arc::new(Metrics::new()), None).run());
        let mut client = connect(&feed);
        client
            .write_all(b"GET /calendar.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_all(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert!(answer.contains("content-type: text/plain"), "{answer}");
        assert!(
            answer.ends_with("\r\n\r\nthe calendar is not served here; set `calendar = true` in [metrics] to serve it\n"),
            "{answer}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_reset_before_accept_is_no_reason_to_wait() {
        let (feed, accepted) = start(None);
        let start = Instant::now();
        feed.send(Err(std::io::ErrorKind::ConnectionAborted.into()))
            .unwrap();
        let mut client = connect(&feed);
        send_request(&mut client).await;
        assert!(read_all(&mut client).await.starts_with("HTTP/1.1 200 OK"));
        assert!(calls(&accepted).iter().all(|t| *t == start));
    }
}
