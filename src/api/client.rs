//! The API client the daemon uses: `create`, `find`, `get`, `modify`, `cancel`, each signed
//! afresh on every attempt, paced, and retried by the error table in [`super::error`].
//!
//! A create that ends ambiguously (timeout, broken connection, internal error) is *not*
//! retried here: the meeting may exist. It comes back as an error whose
//! [`ApiError::is_ambiguous`] is true, so the caller can record that, [`Client::find`] the
//! meeting, and create again only if it is not there. Every other call is idempotent and is
//! retried in place.

use crate::lease::Lease;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::RngExt;
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use super::backoff::Backoff;
use super::error::{ApiError, ErrorBody, StatusError, TransportKind, Treatment, codes};
use super::lookup::{self, Found};
use super::model::{
    CancelMeeting, CreateMeeting, MeetingInfo, MeetingList, ModifyMeeting, MoveOccurrence,
};
use super::pace::Pacer;
use super::sign::{Signed, header, signature};
use crate::config::{ApiConfig, RetryConfig, SecretKey};
use crate::metrics::Metrics;

/// The credentials every request carries. `Debug` does not show the key.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub app_id: String,
    pub secret_id: String,
    pub secret_key: SecretKey,
    pub sdk_id: Option<String>,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct BuildError(#[from] reqwest::Error);

/// How a cancel ended: both count as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancelled {
    Now,
    /// The server said 9007: it was cancelled before.
    Already,
}

/// The paced, retrying API client. Cheap to clone; clones share the pacer and the
/// connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    creds: Arc<Credentials>,
    pacer: Arc<Pacer>,
    backoff: Backoff,
    /// Counts each request by endpoint and outcome, when metrics are on.
    metrics: Option<Arc<Metrics>>,
    /// With a shared store: the leader's lease, checked immediately before each request is
    /// sent ([`crate::lease`]).
    lease: Option<Arc<Lease>>,
}

/// The endpoint a request is for, stated by the method that builds it: the `endpoint` label
/// of `wemeet_api_requests_total`. Dashboards and alerts depend on these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/meetings`.
    Create,
    /// `GET /v1/meetings?userid=...`: a user's upcoming meetings, a page at a time.
    List,
    /// `GET /v1/meetings/{id}`.
    Get,
    /// `PUT /v1/meetings/{id}`.
    Modify,
    /// `POST /v1/meetings/{id}/cancel`.
    Cancel,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [
        Endpoint::Create,
        Endpoint::List,
        Endpoint::Get,
        Endpoint::Modify,
        Endpoint::Cancel,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Create => "create",
            Endpoint::List => "list",
            Endpoint::Get => "get",
            Endpoint::Modify => "modify",
            Endpoint::Cancel => "cancel",
        }
    }
}

/// A request's outcome, as metrics count it: `ok`, the error code, `http_STATUS`,
/// `transport` or `held_back`.
fn outcome<T>(result: &Result<T, ApiError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(ApiError::Status(s)) => match s.error_code {
            Some(code) => code.to_string(),
            None => format!("http_{}", s.status),
        },
        Err(ApiError::Decode { status, .. }) => format!("http_{status}"),
        Err(ApiError::Transport { .. }) => "transport".into(),
        Err(ApiError::HeldBack { .. }) => "held_back".into(),
        Err(ApiError::Fenced { .. }) => "fenced".into(),
    }
}

/// Asked before a gated request is sent, and told of a quota refusal before the next request
/// may pass it.
pub trait Gate: Send + Sync {
    /// `Err(reason)` holds the request back.
    fn check(&self) -> Result<(), String>;
    /// The service refused the request for a quota. Told while the request still holds its
    /// place among `api.concurrency`: a request waiting for that place finds the gate closed,
    /// instead of being sent to be refused too.
    fn refused(&self, error: &ApiError);
}

/// The largest answer read: a page of 20 meetings is a few KiB; anything this large is not an
/// answer from the service, and must not grow the daemon.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The answer's body, or `None` when it is longer than `cap`.
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    match resp.content_length() {
        Some(n) if n > cap as u64 => Ok(None),
        // The length is announced and within the cap; the HTTP layer holds the body to it.
        Some(_) => resp.bytes().await.map(Some),
        None => {
            let mut body = bytes::BytesMut::new();
            while let Some(chunk) = resp.chunk().await? {
                if body.len() + chunk.len() > cap {
                    return Ok(None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Some(body.freeze()))
        }
    }
}

/// The most list pages a lookup reads (20 meetings each, 2 million meetings): only a guard
/// against a server that pages for ever, since a lookup stops as soon as the pages are past
/// the starts it looks for, and a page that does not move on is an error at once. Only the
/// meetings that start in the window looked up are kept.
const MAX_LIST_PAGES: usize = 100_000;

/// An HTTP client builder as this program's clients start from (the API client, the
/// notification sender): its User-Agent, `timeout` for a request and for a connection.
///
/// reqwest is built without a default crypto provider (ring builds faster and smaller than
/// aws-lc); this installs ring's. Err means one is installed already, which is fine.
pub fn http_builder(timeout: std::time::Duration) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(timeout)
        .connect_timeout(timeout)
}

impl Client {
    pub fn new(
        api: &ApiConfig,
        retry: &RetryConfig,
        secret_key: SecretKey,
    ) -> Result<Client, BuildError> {
        let http = http_builder(api.timeout)
            .pool_max_idle_per_host(api.concurrency)
            .build()?;
        Ok(Client {
            http,
            base: api.base_url.clone(),
            creds: Arc::new(Credentials {
                app_id: api.app_id.clone(),
                secret_id: api.secret_id.clone(),
                secret_key,
                sdk_id: api.sdk_id.clone(),
            }),
            pacer: Arc::new(Pacer::new(
                api.requests_per_minute,
                api.concurrency,
                api.requests_per_day,
            )),
            backoff: Backoff::from(retry),
            metrics: None,
            lease: None,
        })
    }

    /// The client for a reloaded config: new credentials, timeouts and retries, the same
    /// pacing clock (a reload must not let a burst above `requests_per_minute` through).
    pub fn reload(
        &self,
        api: &ApiConfig,
        retry: &RetryConfig,
        secret_key: SecretKey,
    ) -> Result<Client, BuildError> {
        let mut client = Client::new(api, retry, secret_key)?;
        client.metrics = self.metrics.clone();
        client.lease = self.lease.clone();
        let limits = (
            api.requests_per_minute,
            api.concurrency,
            api.requests_per_day,
        );
        client.pacer = if self.pacer.limits() == limits {
            self.pacer.clone()
        } else {
            Arc::new(Pacer::continuing(&self.pacer, limits.0, limits.1, limits.2))
        };
        Ok(client)
    }

    /// The client that sends a request only while `lease` is valid.
    pub fn with_lease(mut self, lease: Arc<Lease>) -> Client {
        self.lease = Some(lease);
        self
    }

    /// The client that counts its requests in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Client {
        self.metrics = Some(metrics);
        self
    }

    /// Books a meeting. Retries only failures after which the meeting certainly does not
    /// exist; an ambiguous failure is returned for the caller to resolve with [`Client::find`].
    pub async fn create(&self, req: &CreateMeeting) -> Result<MeetingInfo, ApiError> {
        self.create_gated(req, None).await
    }

    /// [`Client::create`], asking `gate` once the request's turn has come (after pacing)
    /// whether it may still go: a quota may have paused the user's queue while it waited.
    /// When the gate says no, nothing is sent and the answer is [`ApiError::HeldBack`].
    pub async fn create_gated(
        &self,
        req: &CreateMeeting,
        gate: Option<&dyn Gate>,
    ) -> Result<MeetingInfo, ApiError> {
        let body =
            serde_json::to_vec(req).map_err(|e| ApiError::unsent("POST", "/v1/meetings", e))?;
        self.create_body_gated(body, gate).await
    }

    /// [`Client::create_gated`] with the request body as written already (the daemon sends
    /// the body it recorded with the intent, byte for byte).
    pub async fn create_body_gated(
        &self,
        body: Vec<u8>,
        gate: Option<&dyn Gate>,
    ) -> Result<MeetingInfo, ApiError> {
        let list: MeetingList = self
            .call_gated(
                Endpoint::Create,
                Method::POST,
                "/v1/meetings",
                Some(body),
                Idempotent::No,
                gate,
            )
            .await?;
        first_meeting(list, "POST", "/v1/meetings")
    }

    /// Looks for the meeting an ambiguous create may have made, by the adoption rule
    /// ([`lookup`]), among the user's meetings that start at or after its start.
    pub async fn find(&self, req: &CreateMeeting) -> Result<Found, ApiError> {
        let wanted = lookup::Wanted::of_request(req);
        let all = self
            .list_upcoming(&req.userid, req.instanceid, wanted.start, wanted.start)
            .await?;
        Ok(lookup::find(&wanted, &all, &HashSet::new()))
    }

    /// Every upcoming or ongoing meeting of a user that starts from `from` to `until` (unix
    /// seconds), each meeting once. Pages are read until none is left or the next page would
    /// start after `until` (`next_pos` is a floor on the starts still to come).
    ///
    /// Paging as the vendor documents it (doc 1095/42421): `pos` is a start-time floor, not
    /// an offset, and `cursory` the last-modified time of what was already seen; both are
    /// sent and followed (`next_pos`, `next_cursory`) until `remaining` is 0. Meetings that
    /// share a start can straddle pages and repeat, so the list is de-duplicated by id; a
    /// `next_pos` equal to the `pos` sent is normal.
    pub async fn list_upcoming(
        &self,
        userid: &str,
        instanceid: u8,
        from: i64,
        until: i64,
    ) -> Result<Vec<MeetingInfo>, ApiError> {
        let mut all: Vec<MeetingInfo> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let (mut pos, mut cursory) = (from.max(0), 0i64);
        for _ in 0..MAX_LIST_PAGES {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("userid", userid)
                .append_pair("instanceid", &instanceid.to_string())
                .append_pair("pos", &pos.to_string())
                .append_pair("cursory", &cursory.to_string())
                .finish();
            let page: MeetingList = self
                .call(
                    Endpoint::List,
                    Method::GET,
                    &format!("/v1/meetings?{query}"),
                    None,
                    Idempotent::Yes,
                )
                .await?;
            let empty = page.meeting_info_list.is_empty();
            for m in page.meeting_info_list {
                if (from..=until).contains(&m.start_time) && seen.insert(m.meeting_id.clone()) {
                    all.push(m);
                }
            }
            if page.remaining <= 0 || empty || page.next_pos > until {
                return Ok(all);
            }
            if (page.next_pos, page.next_cursory) <= (pos, cursory) {
                // A partial list must not read as "not there": that would book twice.
                return Err(incomplete_list(&format!(
                    "the server's next page (pos {}, cursory {}) does not move past (pos {pos}, cursory {cursory})",
                    page.next_pos, page.next_cursory
                )));
            }
            (pos, cursory) = (page.next_pos, page.next_cursory);
        }
        Err(incomplete_list(&format!(
            "more than {MAX_LIST_PAGES} pages of meetings"
        )))
    }

    /// One meeting by id.
    pub async fn get(
        &self,
        meeting_id: &str,
        userid: &str,
        instanceid: u8,
    ) -> Result<MeetingInfo, ApiError> {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("userid", userid)
            .append_pair("instanceid", &instanceid.to_string())
            .finish();
        let path = format!("/v1/meetings/{}?{query}", segment(meeting_id));
        let list: MeetingList = self
            .call(Endpoint::Get, Method::GET, &path, None, Idempotent::Yes)
            .await?;
        first_meeting(list, "GET", &path)
    }

    /// Changes fields of a meeting. Sending the same change twice is harmless, so ambiguous
    /// failures are retried here.
    pub async fn modify(&self, meeting_id: &str, req: &ModifyMeeting) -> Result<(), ApiError> {
        self.put(meeting_id, req).await
    }

    /// Moves one occurrence of a series to another time; harmless twice, like
    /// [`Client::modify`].
    pub async fn move_occurrence(
        &self,
        meeting_id: &str,
        req: &MoveOccurrence,
    ) -> Result<(), ApiError> {
        self.put(meeting_id, req).await
    }

    async fn put(&self, meeting_id: &str, req: &impl serde::Serialize) -> Result<(), ApiError> {
        let path = format!("/v1/meetings/{}", segment(meeting_id));
        let body = serde_json::to_vec(req).map_err(|e| ApiError::unsent("PUT", &path, e))?;
        let _: serde_json::Value = self
            .call(
                Endpoint::Modify,
                Method::PUT,
                &path,
                Some(body),
                Idempotent::Yes,
            )
            .await?;
        Ok(())
    }

    /// Cancels a meeting; "already cancelled" (9007) counts as done.
    pub async fn cancel(
        &self,
        meeting_id: &str,
        req: &CancelMeeting,
    ) -> Result<Cancelled, ApiError> {
        let path = format!("/v1/meetings/{}/cancel", segment(meeting_id));
        let body = serde_json::to_vec(req).map_err(|e| ApiError::unsent("POST", &path, e))?;
        match self
            .call::<serde_json::Value>(
                Endpoint::Cancel,
                Method::POST,
                &path,
                Some(body),
                Idempotent::Yes,
            )
            .await
        {
            Ok(_) => Ok(Cancelled::Now),
            Err(e) if e.code() == Some(codes::ALREADY_CANCELLED) => Ok(Cancelled::Already),
            Err(e) => Err(e),
        }
    }

    /// Sends a request until it succeeds, fails for good, or runs out of attempts. Each
    /// attempt is counted under `endpoint`.
    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        idempotent: Idempotent,
    ) -> Result<T, ApiError> {
        self.call_gated(endpoint, method, path_and_query, body, idempotent, None)
            .await
    }

    /// [`Client::call`], asking `gate` before each attempt is sent (after its pacing turn).
    async fn call_gated<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        idempotent: Idempotent,
        gate: Option<&dyn Gate>,
    ) -> Result<T, ApiError> {
        let mut attempt = 0;
        loop {
            let result = self
                .attempt(endpoint, &method, path_and_query, body.as_deref(), gate)
                .await;
            if let Some(m) = &self.metrics {
                m.request(endpoint.as_str(), outcome(&result));
            }
            let err = match result {
                Ok(answer) => return Ok(answer),
                Err(err) => err,
            };
            attempt += 1;
            let treatment = err.treatment();
            let give_up = match treatment {
                Treatment::Permanent | Treatment::Quota => true,
                Treatment::Retry | Treatment::Resign => {
                    attempt >= self.backoff.max_attempts
                        || (idempotent == Idempotent::No && err.is_ambiguous())
                }
            };
            if give_up {
                return Err(err);
            }
            let delay = match treatment {
                Treatment::Resign => {
                    if err.code() == Some(codes::TIMESTAMP_SKEW) {
                        tracing::warn!(
                            error = %err,
                            "the server says our clock is more than 5 minutes off; check NTP on this host"
                        );
                    }
                    Duration::ZERO
                }
                _ => self
                    .backoff
                    .delay(attempt - 1, err.retry_after(), &mut rand::rng()),
            };
            tracing::debug!(error = %err, attempt, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// One signed request and its answer. Its wait for a pacing turn and its time on the wire
    /// are measured apart: the first tells the limits are tight, the second the service slow.
    async fn attempt<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        method: &Method,
        path_and_query: &str,
        body: Option<&[u8]>,
        gate: Option<&dyn Gate>,
    ) -> Result<T, ApiError> {
        let url = self.url(path_and_query);
        let path = url.path().to_string();
        let uri = match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let body = body.unwrap_or_default();
        let asked = std::time::Instant::now();
        let _slot = self.pacer.acquire().await;
        if let Some(m) = &self.metrics {
            m.paced(endpoint.as_str(), asked.elapsed());
        }
        if let Some(Err(reason)) = gate.map(|g| g.check()) {
            return Err(ApiError::HeldBack {
                method: method.to_string(),
                path,
                reason,
            });
        }
        let nonce = rand::rng().random_range(1..=i64::MAX as u64);
        let timestamp = unix_now();
        let sig = signature(
            &self.creds.secret_key,
            &Signed {
                method: method.as_str(),
                secret_id: &self.creds.secret_id,
                nonce,
                timestamp,
                uri: &uri,
                body,
            },
        );
        let mut req = self
            .http
            .request(method.clone(), url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(header::KEY, &self.creds.secret_id)
            .header(header::TIMESTAMP, timestamp.to_string())
            .header(header::NONCE, nonce.to_string())
            .header(header::SIGNATURE, sig)
            .header(header::APP_ID, &self.creds.app_id)
            .header(header::REGISTERED, "1");
        if let Some(sdk) = &self.creds.sdk_id {
            req = req.header(header::SDK_ID, sdk);
        }
        if !body.is_empty() {
            req = req.body(body.to_vec());
        }
        // The last moment this process decides: after pacing, queueing and signing.
        if self.lease.as_ref().is_some_and(|l| !l.valid()) {
            return Err(ApiError::Fenced {
                method: method.to_string(),
                path,
            });
        }
        let sent = std::time::Instant::now();
        let answer = self.exchange(req, method, path, gate).await;
        if let Some(m) = &self.metrics {
            m.answered(endpoint.as_str(), sent.elapsed());
        }
        answer
    }

    /// Sends `req` and reads its answer. `gate` is told of a quota refusal while the caller
    /// still holds the request's place.
    async fn exchange<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
        method: &Method,
        path: String,
        gate: Option<&dyn Gate>,
    ) -> Result<T, ApiError> {
        let transport = |e: reqwest::Error| ApiError::Transport {
            method: method.to_string(),
            path: path.clone(),
            kind: if e.is_connect() {
                TransportKind::Connect
            } else if e.is_timeout() {
                TransportKind::Timeout
            } else {
                TransportKind::Reset
            },
            message: error_chain(&e),
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let trace = headers
            .get(header::TRACE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_capped(resp, MAX_ANSWER_BYTES)
            .await
            .map_err(transport)?
            .ok_or_else(|| ApiError::Decode {
                method: method.to_string(),
                path: path.clone(),
                status,
                message: format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
                trace: trace.clone(),
            })?;
        let error_body = serde_json::from_slice::<ErrorBody>(&bytes).ok();
        if (200..300).contains(&status) && error_body.is_none() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
                method: method.to_string(),
                path,
                status,
                message: e.to_string(),
                trace,
            });
        }
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let (error_code, new_error_code, message) = match error_body {
            Some(b) => (
                b.error_info.error_code,
                b.error_info.new_error_code,
                b.error_info.message,
            ),
            None => (
                None,
                None,
                String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            ),
        };
        let error = ApiError::Status(Box::new(StatusError {
            method: method.to_string(),
            path,
            status,
            error_code,
            new_error_code,
            message,
            trace,
            retry_after,
        }));
        if let Some(gate) = gate
            && error.treatment() == crate::api::error::Treatment::Quota
        {
            gate.refused(&error); // The caller's `_slot` is still held.
        }
        Err(error)
    }

    fn url(&self, path_and_query: &str) -> Url {
        let base = self.base.as_str().trim_end_matches('/');
        // `base` is a valid URL and `path_and_query` starts with `/` and is built from
        // percent-encoded parts, so the joined text is a valid URL too.
        Url::parse(&format!("{base}{path_and_query}"))
            .expect("base URL plus an encoded path parses")
    }
}

/// Whether a listed meeting is the one booked with this subject, start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotent {
    Yes,
    No,
}

fn first_meeting(list: MeetingList, method: &str, path: &str) -> Result<MeetingInfo, ApiError> {
    list.meeting_info_list
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::Decode {
            method: method.into(),
            path: path.into(),
            status: 200,
            message: "the answer lists no meeting".into(),
            trace: None,
        })
}

fn incomplete_list(why: &str) -> ApiError {
    ApiError::Decode {
        method: "GET".into(),
        path: "/v1/meetings".into(),
        status: 200,
        message: format!("cannot list all meetings: {why}"),
        trace: None,
    }
}

/// A meeting id as one path segment.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

fn unix_now() -> i64 {
    // A clock before 1970 is broken; signing with 0 then gets a clear 190300 from the server.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The error and its sources on one line: reqwest's own message alone says little.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_as_seconds_or_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let in_a_minute = SystemTime::now() + Duration::from_secs(61);
        let d = parse_retry_after(&httpdate::fmt_http_date(in_a_minute)).unwrap();
        assert!(
            d > Duration::from_secs(55) && d <= Duration::from_secs(61),
            "{d:?}"
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn the_endpoint_labels_stay_what_dashboards_know() {
        let labels = Endpoint::ALL.map(Endpoint::as_str);
        assert_eq!(labels, ["create", "list", "get", "modify", "cancel"]);
    }

    #[test]
    fn credentials_debug_hides_the_key() {
        let c = Credentials {
            app_id: "a".into(),
            secret_id: "id".into(),
            secret_key: SecretKey::new("super-secret"),
            sdk_id: None,
        };
        assert!(!format!("{c:?}").contains("super-secret"));
    }

    #[test]
    fn a_reloaded_client_keeps_the_pacing_clock() {
        let config = crate::config::Config::default();
        let key = || SecretKey::new("k");
        let client = Client::new(&config.api, &config.retry, key()).unwrap();
        let same = client.reload(&config.api, &config.retry, key()).unwrap();
        assert!(
            Arc::ptr_eq(&client.pacer, &same.pacer),
            "same limits: one pacer"
        );
        let mut faster = config.api.clone();
        faster.requests_per_minute = 600;
        let changed = client.reload(&faster, &config.retry, key()).unwrap();
        assert_eq!(
            changed.pacer.limits(),
            (600, config.api.concurrency, config.api.requests_per_day)
        );
    }
}
