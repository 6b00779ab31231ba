//! The fake WeMeet API: a real HTTP server that checks signatures and answers like the real
//! service, for the demo, the tests and the benchmarks (there is no network here, and users
//! want a sandbox before pointing the daemon at their company account).
//!
//! It serves create, list, get, modify and cancel over HTTP/1.1, recurring meetings and their
//! occurrences included ([`recurring`]), checks every request's
//! headers and signature with its own code ([`sign`], pinned by the vendor's vectors), validates
//! bodies against the spec ([`store`]), keeps meetings in memory, injects faults on demand
//! ([`faults`]), and can append every create, modify and cancel to a JSONL journal. Start it
//! in-process with [`FakeApi::start`] (port 0 gives a free port) or as
//! `wemeet-scheduler fake-api`.

pub mod faults;
pub mod readings;
pub mod recurring;
pub mod sign;
pub mod store;
pub mod vendor;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

pub use faults::{ErrorFault, FaultSpec, Faults};
pub use readings::Readings;
use sign::{Signed, header, signature, signatures_match};
use store::{JournalEntry, Refusal, Store};

/// The quota clock's source of "now": the test's clock, so the fake's hourly and daily
/// quotas move with the daemon's time.
pub trait Clock: Send + Sync {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// The secret key the fake checks signatures with; never shown (`Debug` says `***`).
#[derive(Clone)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(key: impl Into<String>) -> SecretKey {
        SecretKey(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Credentials the fake accepts when none are given: those of `config/demo.toml`.
pub const DEMO_APP_ID: &str = "demo-app";
pub const DEMO_SECRET_ID: &str = "demo-secret-id";
pub const DEMO_SECRET_KEY: &str = "demo-secret-key";

/// How the fake behaves.
#[derive(Clone)]
pub struct FakeConfig {
    pub app_id: String,
    pub secret_id: String,
    pub secret_key: SecretKey,
    /// When set, requests must carry this `SdkId`; when not, they must carry none.
    pub sdk_id: Option<String>,
    /// Answer 190310 past this many requests in any 60 s (0: no limit), like the real one.
    pub requests_per_minute: u32,
    /// Answer 500029 to a user's creates past this many in any hour (0: no limit); the real
    /// service allows 2,000.
    pub creates_per_hour_per_user: u32,
    /// Answer 500168 to creates past this many in a month (China time, UTC+8), across all
    /// users (0: no limit): the account's monthly create quota (doc 1095/105276).
    pub creates_per_month: u32,
    /// Answer 190311 past this many requests in any 24 h (0: no limit); the real service
    /// allows 200,000 per app.
    pub requests_per_day: u32,
    /// The clock of the hourly and daily quotas (the system clock when `None`), so tests can
    /// move time on for the fake and the daemon alike.
    pub quota_clock: Option<Arc<dyn Clock>>,
    /// Accept a reused nonce (for load tools that replay one signed request).
    pub allow_replay: bool,
    /// Require what the seed spec requires of a create (`settings` with its six keys); today's
    /// service does not. The project's own tests run strict, so the client keeps sending
    /// them.
    pub strict_spec: bool,
    /// How answers show hosts, participants, users and times: each a reading of the docs.
    pub readings: Readings,
    /// How a series is expanded across daylight-saving changes: in its zone (the default), or
    /// at its first start's offset (a reading the client's checks must repair).
    pub recurring_dst: recurring::Dst,
    pub faults: Faults,
    /// Append every create, modify and cancel here, one JSON object per line.
    pub journal: Option<PathBuf>,
    /// Seed for meeting codes and fault draws.
    pub seed: u64,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            app_id: DEMO_APP_ID.into(),
            secret_id: DEMO_SECRET_ID.into(),
            secret_key: SecretKey::new(DEMO_SECRET_KEY),
            sdk_id: None,
            requests_per_minute: 0,
            creates_per_hour_per_user: 0,
            creates_per_month: 0,
            requests_per_day: 0,
            quota_clock: None,
            allow_replay: false,
            strict_spec: false,
            readings: Readings::default(),
            recurring_dst: recurring::Dst::default(),
            faults: Faults::default(),
            journal: None,
            seed: 1,
        }
    }
}

/// Counts of what the fake answered, for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub requests: u64,
    /// Error answers by vendor code.
    pub errors: HashMap<i64, u64>,
    pub hangs: u64,
    pub resets: u64,
}

struct Shared {
    config: FakeConfig,
    state: Mutex<State>,
}

struct State {
    store: Store,
    faults: Faults,
    rng: StdRng,
    /// (timestamp, nonce) -> when it was seen (unix seconds), for the 5-minute reuse check:
    /// a nonce is reused only with the same timestamp.
    nonces: HashMap<(i64, u64), i64>,
    /// Request times (unix ms) in the last minute, for the per-minute limit.
    recent: VecDeque<i64>,
    /// Each user's create times (quota clock, unix ms) in the last hour.
    user_creates: HashMap<String, VecDeque<i64>>,
    /// The month (China time, as `year * 12 + month`) and its creates so far.
    month_creates: (i64, u32),
    /// Request times (quota clock, unix ms) in the last day.
    day_requests: VecDeque<i64>,
    stats: Stats,
}

/// A running fake. Dropping the handle does not stop the server; call [`FakeApi::shutdown`].
pub struct FakeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeApi {
    /// Binds `listen` (port 0 for a free port) and serves in the background.
    pub async fn start(config: FakeConfig, listen: SocketAddr) -> std::io::Result<FakeApi> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let journal = match &config.journal {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => None,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                store: Store::new(
                    journal,
                    config.strict_spec,
                    config.readings,
                    config.recurring_dst,
                ),
                faults: config.faults.clone(),
                rng: StdRng::seed_from_u64(config.seed),
                nonces: HashMap::new(),
                recent: VecDeque::new(),
                user_creates: HashMap::new(),
                month_creates: (0, 0),
                day_requests: VecDeque::new(),
                stats: Stats::default(),
            }),
            config,
        });
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stopped));
        Ok(FakeApi {
            addr,
            shared,
            stop,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `api.base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the fault settings from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }

    /// Everything the fake created, modified and cancelled, in order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.lock().store.journal.clone()
    }

    /// Live (not cancelled) meetings.
    pub fn live_meetings(&self) -> Vec<store::Meeting> {
        self.shared
            .lock()
            .store
            .meetings()
            .filter(|m| !m.cancelled)
            .cloned()
            .collect()
    }

    /// Meetings that exist before the client starts (another program's, or a person's):
    /// `count` of them for `userid` at `start`..`end`, each with `subject(i)`. Journalled as
    /// creates like any other.
    pub fn preload(
        &self,
        count: usize,
        userid: &str,
        (start, end): (i64, i64),
        subject: impl Fn(usize) -> String,
    ) -> Result<(), String> {
        let mut state = self.shared.lock();
        let State { store, rng, .. } = &mut *state;
        for i in 0..count {
            let body = json!({
                "userid": userid,
                "instanceid": 1,
                "subject": subject(i),
                "type": 0,
                "start_time": start.to_string(),
                "end_time": end.to_string(),
            });
            store
                .create(&body, now_ms(), rng)
                .map_err(|r| format!("{}: {}", r.code, r.message))?;
        }
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// Stops accepting, drops open connections (hanging answers included) and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::warn!("fake API: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Serves one connection. A request that draws the reset fault wakes `reset`; the connection
/// is then dropped with `SO_LINGER` 0, which sends a TCP RST instead of an answer.
async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // A second handle on the same socket, to set SO_LINGER after hyper has let go of its own.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let Ok(spare) = std_stream.try_clone() else {
        return;
    };
    let Ok(stream) = tokio::net::TcpStream::from_std(std_stream) else {
        return;
    };
    let reset = Arc::new(Notify::new());
    let service = {
        let reset = reset.clone();
        hyper::service::service_fn(move |req| {
            let (shared, reset) = (shared.clone(), reset.clone());
            async move { Ok::<_, Infallible>(handle(req, &shared, &reset).await) }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = reset.notified() => {
            let _ = socket2::SockRef::from(&spare).set_linger(Some(Duration::ZERO));
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn trace_id(rng: &mut StdRng) -> String {
    use rand::RngExt;
    format!("{:032x}", rng.random::<u128>())
}

fn answer(status: StatusCode, body: &Value, trace: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(trace) {
        h.insert(header::TRACE, v);
    }
    resp
}

fn refuse(r: &Refusal, state: &mut State, trace: &str) -> Response<Full<Bytes>> {
    error_answer(r.code, vendor::status_of(r.code), &r.message, state, trace)
}

/// An error answer as the service gives it: `error_info` with `error_code`, `new_error_code`
/// and `message`.
fn error_answer(
    code: i64,
    status: StatusCode,
    message: &str,
    state: &mut State,
    trace: &str,
) -> Response<Full<Bytes>> {
    *state.stats.errors.entry(code).or_default() += 1;
    answer(
        status,
        &json!({"error_info": {"error_code": code, "new_error_code": vendor::new_error_code(code), "message": message}}),
        trace,
    )
}

/// What the request asked for, once its headers check out.
enum Route {
    Create,
    List,
    Get(String),
    Modify(String),
    Cancel(String),
}

fn route(method: &Method, path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/v1/meetings")?;
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method, parts.as_slice()) {
        (&Method::POST, []) => Some(Route::Create),
        (&Method::GET, []) => Some(Route::List),
        (&Method::GET, [id]) => Some(Route::Get(id.to_string())),
        (&Method::PUT, [id]) => Some(Route::Modify(id.to_string())),
        (&Method::POST, [id, "cancel"]) => Some(Route::Cancel(id.to_string())),
        _ => None,
    }
}

fn query_param(query: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn handle(req: Request<Incoming>, shared: &Shared, reset: &Notify) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, 1024 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let mut state = shared.lock();
            let trace = trace_id(&mut state.rng);
            return refuse(
                &Refusal::new(vendor::INVALID_PARAMS, "body too large or unreadable"),
                &mut state,
                &trace,
            );
        }
    };
    let slow = {
        let mut state = shared.lock();
        state.stats.requests += 1;
        let State { faults, rng, .. } = &mut *state;
        faults.slow.fire(rng).then_some(faults.latency)
    };
    if let Some(latency) = slow {
        tokio::time::sleep(latency).await;
    }

    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let uri = match parts.uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    let now = now_ms();
    // Decide everything under the lock, then act (sleep, reset) without it.
    let (response, after) = {
        let mut state = shared.lock();
        let trace = trace_id(&mut state.rng);
        let state = &mut *state;
        if let Err(r) = check_headers(&shared.config, state, &parts, &uri, &body, now) {
            return refuse(&r, state, &trace);
        }
        if state.faults.internal_error.fire(&mut state.rng) {
            return refuse(
                &Refusal::new(vendor::INTERNAL_ERROR, "internal error (injected)"),
                state,
                &trace,
            );
        }
        if state.faults.rate_limited.fire(&mut state.rng) || over_limit(&shared.config, state, now)
        {
            return refuse(
                &Refusal::new(
                    vendor::RATE_LIMITED,
                    "requests too frequent, per-minute limit",
                ),
                state,
                &trace,
            );
        }
        let quota_now = shared
            .config
            .quota_clock
            .as_ref()
            .map_or(now, |c| c.now().timestamp_millis());
        if over_daily(&shared.config, state, quota_now) {
            return refuse(
                &Refusal::new(
                    vendor::DAILY_QUOTA,
                    "the app's daily request quota is used up",
                ),
                state,
                &trace,
            );
        }
        let Some(route) = route(&parts.method, &path) else {
            let body = json!({"error_info": {"error_code": 404, "message": "no such endpoint"}});
            return answer(StatusCode::NOT_FOUND, &body, &trace);
        };
        let injected = match route {
            Route::Create => state.faults.create_error.as_mut(),
            Route::Modify(_) => state.faults.modify_error.as_mut(),
            Route::Cancel(_) => state.faults.cancel_error.as_mut(),
            Route::List | Route::Get(_) => None,
        };
        if let Some(f) = injected
            && f.spec.fire(&mut state.rng)
        {
            let (code, status) = (f.code, f.status);
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return error_answer(code, status, "error (injected)", state, &trace);
        }
        let json_body = || -> Result<Value, Refusal> {
            serde_json::from_slice(&body)
                .map_err(|e| Refusal::new(vendor::INVALID_PARAMS, format!("body is not JSON: {e}")))
        };
        let userid = query_param(&query, "userid").unwrap_or_default();
        let result: Result<(Value, After), Refusal> = match route {
            Route::Create => json_body().and_then(|b| {
                let user = b.get("userid").and_then(Value::as_str).unwrap_or_default().to_string();
                if over_hourly(&shared.config, state, &user, quota_now) {
                    return Err(Refusal::new(
                        vendor::HOURLY_CREATE_QUOTA,
                        "more than the hourly create quota for this user",
                    ));
                }
                if over_monthly(&shared.config, state, quota_now) {
                    return Err(Refusal::new(
                        vendor::MONTHLY_CREATE_QUOTA,
                        "每月总接口调用次数超过限制",
                    ));
                }
                let m = state.store.create(&b, now, &mut state.rng)?;
                state.month_creates.1 += 1;
                if shared.config.creates_per_hour_per_user > 0 {
                    state.user_creates.entry(user).or_default().push_back(quota_now);
                }
                let after = if state.faults.create_then_reset.fire(&mut state.rng) {
                    state.stats.resets += 1;
                    After::Reset
                } else if state.faults.create_then_hang.fire(&mut state.rng) {
                    state.stats.hangs += 1;
                    After::Hang(state.faults.hang_for)
                } else {
                    After::Answer
                };
                Ok((json!({"meeting_number": 1, "meeting_info_list": [state.store.info(&m)]}), after))
            }),
            Route::List => {
                let number = |key: &str| {
                    query_param(&query, key).and_then(|p| p.parse::<i64>().ok()).unwrap_or(0)
                };
                if userid.is_empty() {
                    Err(Refusal::new(vendor::INVALID_PARAMS, "userid is required"))
                } else {
                    let page = state.store.list(&userid, number("pos"), number("cursory"), now / 1000);
                    Ok((page, After::Answer))
                }
            }
            // The current Python SDK asks by `operator_id` (with `operator_id_type=1`).
            Route::Get(id) => state
                .store
                .get(&id, &if userid.is_empty() {
                    query_param(&query, "operator_id").unwrap_or_default()
                } else {
                    userid.clone()
                })
                .map(|m| (json!({"meeting_number": 1, "meeting_info_list": [state.store.info_at(&m, now / 1000)]}), After::Answer)),
            Route::Modify(id) => json_body().and_then(|b| {
                let m = state.store.modify(&id, &b, now)?;
                Ok((
                    json!({"meeting_number": 1, "meeting_info_list": [{"meeting_id": m.meeting_id, "meeting_code": m.meeting_code}]}),
                    After::Answer,
                ))
            }),
            Route::Cancel(id) => json_body()
                .and_then(|b| state.store.cancel(&id, &b, now))
                .map(|()| (json!({}), After::Answer)),
        };
        match result {
            Ok((value, after)) => (answer(StatusCode::OK, &value, &trace), after),
            Err(r) => return refuse(&r, state, &trace),
        }
    };
    match after {
        After::Answer => response,
        After::Hang(d) => {
            tokio::time::sleep(d).await;
            response
        }
        After::Reset => {
            reset.notify_one();
            std::future::pending().await
        }
    }
}

/// What happens after a request was acted on.
enum After {
    Answer,
    Hang(Duration),
    Reset,
}

/// The checks the real service makes on every request's headers, in its order.
fn check_headers(
    config: &FakeConfig,
    state: &mut State,
    parts: &hyper::http::request::Parts,
    uri: &str,
    body: &[u8],
    now_ms: i64,
) -> Result<(), Refusal> {
    let get = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let bad_creds = |what: &str| {
        Refusal::new(
            vendor::BAD_CREDENTIALS,
            format!("{what} is wrong or missing"),
        )
    };
    if get(header::APP_ID).as_deref() != Some(config.app_id.as_str()) {
        return Err(bad_creds("AppId"));
    }
    let key = get(header::KEY).ok_or_else(|| bad_creds("X-TC-Key"))?;
    if key != config.secret_id {
        return Err(bad_creds("X-TC-Key (SecretId)"));
    }
    // The vendor's SDKs send an empty SdkId when none was assigned: the same as none.
    if get(header::SDK_ID).filter(|s| !s.is_empty()) != config.sdk_id {
        return Err(bad_creds("SdkId"));
    }
    let sig_failed = |what: &str| {
        Refusal::new(
            vendor::SIGNATURE_FAILED,
            format!("signature check failed: {what}"),
        )
    };
    let timestamp: i64 = get(header::TIMESTAMP)
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| sig_failed("X-TC-Timestamp missing"))?;
    let nonce: u64 = get(header::NONCE)
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| sig_failed("X-TC-Nonce missing or not a positive integer"))?;
    let sent = get(header::SIGNATURE).ok_or_else(|| sig_failed("X-TC-Signature missing"))?;
    let expected = signature(
        config.secret_key.expose(),
        &Signed {
            method: parts.method.as_str(),
            secret_id: &key,
            nonce,
            timestamp,
            uri,
            body,
        },
    );
    if !signatures_match(&sent, &expected) {
        return Err(sig_failed("signature does not match"));
    }
    let now_s = now_ms / 1000;
    if (now_s - timestamp).abs() > 300 {
        return Err(Refusal::new(
            vendor::TIMESTAMP_SKEW,
            format!("timestamp {timestamp} is more than 5 minutes from server time {now_s}"),
        ));
    }
    if !config.allow_replay {
        if state.nonces.len() > 100_000 {
            state.nonces.retain(|_, seen| now_s - *seen <= 300);
        }
        match state.nonces.get(&(timestamp, nonce)) {
            Some(seen) if now_s - *seen <= 300 => {
                return Err(Refusal::new(
                    vendor::NONCE_REUSED,
                    "nonce reused within 5 minutes",
                ));
            }
            _ => {
                state.nonces.insert((timestamp, nonce), now_s);
            }
        }
    }
    if matches!(parts.method, Method::POST | Method::PUT)
        && !get("content-type").is_some_and(|c| c.starts_with("application/json"))
    {
        return Err(Refusal::new(
            vendor::INVALID_PARAMS,
            "Content-Type must be application/json",
        ));
    }
    Ok(())
}

/// The daily request quota, when configured: counts this request if it is under.
fn over_daily(config: &FakeConfig, state: &mut State, now_ms: i64) -> bool {
    if config.requests_per_day == 0 {
        return false;
    }
    while state
        .day_requests
        .front()
        .is_some_and(|t| now_ms - *t >= 86_400_000)
    {
        state.day_requests.pop_front();
    }
    if state.day_requests.len() >= config.requests_per_day as usize {
        return true;
    }
    state.day_requests.push_back(now_ms);
    false
}

/// The account's monthly create quota, when configured: the month is China time's (the
/// count of the month before is dropped when it turns).
fn over_monthly(config: &FakeConfig, state: &mut State, now_ms: i64) -> bool {
    use chrono::Datelike;
    if config.creates_per_month == 0 {
        return false;
    }
    let china = chrono::DateTime::from_timestamp_millis(now_ms + 8 * 3_600_000)
        .map_or(0, |t| i64::from(t.year()) * 12 + i64::from(t.month()));
    if state.month_creates.0 != china {
        state.month_creates = (china, 0);
    }
    state.month_creates.1 >= config.creates_per_month
}

/// The hourly create quota of `user`, when configured (the create is counted once made).
fn over_hourly(config: &FakeConfig, state: &mut State, user: &str, now_ms: i64) -> bool {
    if config.creates_per_hour_per_user == 0 {
        return false;
    }
    let Some(creates) = state.user_creates.get_mut(user) else {
        return false;
    };
    while creates.front().is_some_and(|t| now_ms - *t >= 3_600_000) {
        creates.pop_front();
    }
    creates.len() >= config.creates_per_hour_per_user as usize
}

/// The real service's per-minute limit, when configured.
fn over_limit(config: &FakeConfig, state: &mut State, now_ms: i64) -> bool {
    if config.requests_per_minute == 0 {
        return false;
    }
    while state.recent.front().is_some_and(|t| now_ms - *t >= 60_000) {
        state.recent.pop_front();
    }
    if state.recent.len() >= config.requests_per_minute as usize {
        return true;
    }
    state.recent.push_back(now_ms);
    false
}
