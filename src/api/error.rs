//! What can go wrong talking to the API, and what to do about each: retry, re-sign and retry,
//! give up, or back off for long (quota).
//!
//! Errors are classified by the vendor's `error_code` first and the HTTP status second, since
//! the service answers its rate limit with HTTP 500, not 429 (`shared/api/NOTES.md`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// How the request failed on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// No connection was made: the request was certainly not received.
    Connect,
    /// No answer within `api.timeout`: the server may have acted on it.
    Timeout,
    /// The connection broke after the request went out (reset, closed early, truncated body).
    Reset,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect failed",
            TransportKind::Timeout => "timed out",
            TransportKind::Reset => "connection broke",
        })
    }
}

/// One failed API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{method} {path}: {kind}: {message}")]
    Transport {
        method: String,
        path: String,
        kind: TransportKind,
        message: String,
    },
    /// The server answered with an error (boxed: it is the largest variant by far).
    #[error("{}", .0)]
    Status(Box<StatusError>),
    /// Not sent: the caller's gate closed while the request waited for its turn (a quota
    /// paused the queue).
    #[error("{method} {path}: not sent: {reason}")]
    HeldBack {
        method: String,
        path: String,
        reason: String,
    },
    /// Not sent: this daemon's lead on the shared store may have lapsed (its lease ran out
    /// while the request waited, as when the process was paused); it goes out only once the
    /// server confirms the lead again.
    #[error("{method} {path}: not sent: this daemon's lead may have lapsed")]
    Fenced { method: String, path: String },
    #[error("{method} {path}: HTTP {status}: cannot read the answer: {message}{}", trace_part(.trace))]
    Decode {
        method: String,
        path: String,
        status: u16,
        message: String,
        trace: Option<String>,
    },
}

/// An error answer from the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{method} {path}: HTTP {status}{}{}", code_part(.error_code, .message), trace_part(.trace))]
pub struct StatusError {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub error_code: Option<i64>,
    pub new_error_code: Option<i64>,
    pub message: String,
    /// The `X-TC-Trace` response header, for support tickets.
    pub trace: Option<String>,
    /// A `Retry-After` the server sent, already capped.
    pub retry_after: Option<Duration>,
}

fn code_part(code: &Option<i64>, message: &str) -> String {
    match code {
        Some(c) => format!(", error {c}: {message}"),
        None if message.is_empty() => String::new(),
        None => format!(": {message}"),
    }
}

fn trace_part(trace: &Option<String>) -> String {
    trace
        .as_ref()
        .map(|t| format!(" (trace {t})"))
        .unwrap_or_default()
}

/// What to do after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Try again after a backoff delay.
    Retry,
    /// Try again at once with a fresh timestamp, nonce and signature.
    Resign,
    /// Trying again cannot help: record the error and stop.
    Permanent,
    /// A quota ran out: stop for now, try again much later.
    Quota,
}

/// The vendor's error body: `{"error_info": {...}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub error_info: ErrorInfo,
}

#[derive(Debug, Deserialize)]
pub struct ErrorInfo {
    #[serde(default)]
    pub error_code: Option<i64>,
    #[serde(default)]
    pub new_error_code: Option<i64>,
    #[serde(default)]
    pub message: String,
}

/// Error codes the program names, from the vendor's table in `shared/api/NOTES.md`.
pub mod codes {
    pub const INTERNAL: [i64; 3] = [41, 960_000, 5108];
    pub const RATE_LIMITED: [i64; 3] = [190_310, 190_313, 9061];
    pub const TIMESTAMP_SKEW: i64 = 190_300;
    pub const NONCE_REUSED: i64 = 190_301;
    pub const BAD_CREDENTIALS: i64 = 190_303;
    pub const SIGNATURE_FAILED: i64 = 200_003;
    pub const INVALID_PARAMS: i64 = 190_004;
    pub const SENSITIVE_WORDS: i64 = 9093;
    pub const UNREGISTERED_USER: i64 = 190_001;
    pub const NOT_FOUND: i64 = 9003;
    pub const ALREADY_CANCELLED: i64 = 9007;
    pub const NO_PERMISSION: [i64; 3] = [9042, 500_014, 9100];
    /// The meeting has started (13602) or ended (13603): it can no longer be changed.
    pub const STARTED_OR_ENDED: [i64; 2] = [13_602, 13_603];
    pub const QUOTA: [i64; 4] = [190_311, 500_029, 500_168, 9008];
    /// 2,000 creates an hour per user.
    pub const HOURLY_CREATES: i64 = 500_029;
    /// The account's monthly create quota (doc 1095/105276): refused until the month turns.
    pub const MONTHLY_CREATES: i64 = 500_168;
    /// Wrong AppId, SecretId or SdkId; a signature the key does not make.
    pub const CREDENTIALS: [i64; 2] = [BAD_CREDENTIALS, SIGNATURE_FAILED];
}

/// Every error code with a known treatment: the vendor's table (`shared/api/NOTES.md`), in
/// one place. A code not in it falls back to the HTTP status.
pub const TREATMENTS: &[(i64, Treatment)] = {
    use Treatment::*;
    &[
        // Internal errors and per-minute limits: retry with backoff.
        (41, Retry),
        (960_000, Retry),
        (5108, Retry),
        (190_310, Retry),
        (190_313, Retry),
        (9061, Retry),
        // Timestamp skew, nonce reused: sign afresh and retry.
        (190_300, Resign),
        (190_301, Resign),
        // Refused for good.
        (190_303, Permanent), // bad AppId, SecretId or SdkId
        (200_003, Permanent), // signature failed
        (190_004, Permanent), // invalid parameters
        (9093, Permanent),    // sensitive words in the subject
        (190_001, Permanent), // unregistered user
        (9003, Permanent),    // meeting not found
        (9007, Permanent),    // already cancelled (a cancel counts it as done)
        (9042, Permanent),    // no permission
        (500_014, Permanent), // no permission
        (9100, Permanent),    // no permission
        (9002, Permanent),
        (9098, Permanent),
        (9102, Permanent),
        (13_000, Permanent),
        (13_602, Permanent), // the meeting has started
        (13_603, Permanent), // the meeting has ended
        (20_006, Permanent),
        // Quotas: back off for long.
        (190_311, Quota), // daily total
        (500_029, Quota), // 2,000 creates an hour per user
        (500_168, Quota), // monthly create quota
        (9008, Quota),
    ]
};

impl ApiError {
    /// A request that could not be sent at all: its body could not be written (or, for a
    /// create the daemon sends from its record, read back).
    pub fn unsent(method: &str, path: &str, reason: impl std::fmt::Display) -> ApiError {
        ApiError::Decode {
            method: method.into(),
            path: path.into(),
            status: 0,
            message: format!("cannot send the request: {reason}"),
            trace: None,
        }
    }

    /// The vendor error code, when the server sent one.
    pub fn code(&self) -> Option<i64> {
        match self {
            ApiError::Status(s) => s.error_code,
            _ => None,
        }
    }

    pub fn trace(&self) -> Option<&str> {
        match self {
            ApiError::Status(s) => s.trace.as_deref(),
            ApiError::Decode { trace, .. } => trace.as_deref(),
            ApiError::Transport { .. } | ApiError::HeldBack { .. } | ApiError::Fenced { .. } => {
                None
            }
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status(s) => s.retry_after,
            _ => None,
        }
    }

    /// Retry, re-sign, give up or wait for quota: by `error_code` first, HTTP status second.
    pub fn treatment(&self) -> Treatment {
        match self {
            ApiError::Transport { .. } => Treatment::Retry,
            ApiError::HeldBack { .. } => Treatment::Quota,
            ApiError::Fenced { .. } => Treatment::Retry,
            ApiError::Decode { status, .. } => by_status(*status),
            ApiError::Status(s) => match s.error_code {
                Some(code) => by_code(code).unwrap_or_else(|| by_status(s.status)),
                None => by_status(s.status),
            },
        }
    }

    /// Whether the server may have acted on the request although it did not say so: a
    /// timeout or broken connection after sending, or an internal server error. A create that
    /// ends this way must be looked up (`find`) before it is sent again.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            ApiError::Transport { kind, .. } => *kind != TransportKind::Connect,
            ApiError::HeldBack { .. } | ApiError::Fenced { .. } => false,
            ApiError::Decode { status, .. } => *status < 400 || *status >= 500,
            // A code that says the request was refused before anything happened is clear;
            // any other server-side failure may have come after the meeting was written.
            ApiError::Status(s) => match s.error_code.and_then(by_code) {
                Some(Treatment::Permanent | Treatment::Resign | Treatment::Quota) => false,
                Some(Treatment::Retry) => s
                    .error_code
                    .is_some_and(|c| !codes::RATE_LIMITED.contains(&c)),
                None => s.status >= 500,
            },
        }
    }
}

/// The treatment the vendor's table gives `code`, if it lists it.
pub fn treatment_of(code: i64) -> Option<Treatment> {
    by_code(code)
}

fn by_code(code: i64) -> Option<Treatment> {
    TREATMENTS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, treatment)| *treatment)
}

fn by_status(status: u16) -> Treatment {
    match status {
        408 | 429 | 502 | 503 | 504 => Treatment::Retry,
        // Another 5xx without a code we know: the server's trouble, worth another try.
        500..=599 => Treatment::Retry,
        _ => Treatment::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: Option<i64>) -> ApiError {
        ApiError::Status(Box::new(StatusError {
            method: "POST".into(),
            path: "/v1/meetings".into(),
            status,
            error_code: code,
            new_error_code: None,
            message: "m".into(),
            trace: Some("trace-1".into()),
            retry_after: None,
        }))
    }

    fn transport(kind: TransportKind) -> ApiError {
        ApiError::Transport {
            method: "POST".into(),
            path: "/v1/meetings".into(),
            kind,
            message: "x".into(),
        }
    }

    #[test]
    fn each_row_of_the_vendor_table() {
        use Treatment::*;
        // Retry with backoff: network errors, HTTP 408/429/502/503/504, internal and rate codes.
        for kind in [
            TransportKind::Connect,
            TransportKind::Timeout,
            TransportKind::Reset,
        ] {
            assert_eq!(transport(kind).treatment(), Retry);
        }
        for s in [408, 429, 502, 503, 504] {
            assert_eq!(status(s, None).treatment(), Retry, "{s}");
        }
        for code in [41, 960_000, 5108, 190_310, 190_313, 9061] {
            // The rate limit comes back as HTTP 500: the code decides, not the status.
            assert_eq!(status(500, Some(code)).treatment(), Retry, "{code}");
            assert_eq!(status(400, Some(code)).treatment(), Retry, "{code}");
        }
        // Re-sign and retry.
        for code in [190_300, 190_301] {
            assert_eq!(status(403, Some(code)).treatment(), Resign, "{code}");
        }
        // Permanent.
        for code in [
            190_303, 200_003, 190_004, 9093, 190_001, 9003, 9042, 500_014, 9100, 9002, 9098, 9102,
            13_000, 13_602, 13_603, 20_006,
        ] {
            assert_eq!(status(400, Some(code)).treatment(), Permanent, "{code}");
            assert_eq!(status(500, Some(code)).treatment(), Permanent, "{code}");
        }
        // Quota.
        for code in [190_311, 500_029, 500_168, 9008] {
            assert_eq!(status(500, Some(code)).treatment(), Quota, "{code}");
        }
        // No code: by status.
        assert_eq!(status(400, None).treatment(), Permanent);
        assert_eq!(status(403, None).treatment(), Permanent);
        assert_eq!(status(500, None).treatment(), Retry);
        // An unknown code falls back to the status.
        assert_eq!(status(400, Some(123_456)).treatment(), Permanent);
        assert_eq!(status(503, Some(123_456)).treatment(), Retry);
    }

    #[test]
    fn ambiguity() {
        assert!(!transport(TransportKind::Connect).is_ambiguous());
        assert!(transport(TransportKind::Timeout).is_ambiguous());
        assert!(transport(TransportKind::Reset).is_ambiguous());
        assert!(status(500, Some(5108)).is_ambiguous());
        assert!(status(502, None).is_ambiguous());
        assert!(
            status(524, None).is_ambiguous(),
            "any 5xx without a known code"
        );
        assert!(
            status(500, Some(123_456)).is_ambiguous(),
            "an unknown code on a 5xx"
        );
        assert!(!status(400, Some(123_456)).is_ambiguous());
        // Refused before it was acted on.
        assert!(!status(500, Some(190_310)).is_ambiguous());
        assert!(!status(403, Some(200_003)).is_ambiguous());
        assert!(!status(400, Some(190_004)).is_ambiguous());
    }

    #[test]
    fn display_carries_code_message_and_trace() {
        assert_eq!(
            status(500, Some(190_310)).to_string(),
            "POST /v1/meetings: HTTP 500, error 190310: m (trace trace-1)"
        );
    }
}
