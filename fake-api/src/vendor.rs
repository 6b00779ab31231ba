//! The service's error vocabulary as the vendor documents it (doc 1095/43704, and
//! `shared/api/NOTES.md`), written down for the fake on its own: the fake must not share the
//! client's reading of the docs, or a misreading both make could never show in a test.

use hyper::StatusCode;

/// Error codes the fake answers with.
pub const TIMESTAMP_SKEW: i64 = 190_300;
pub const NONCE_REUSED: i64 = 190_301;
pub const BAD_CREDENTIALS: i64 = 190_303;
pub const SIGNATURE_FAILED: i64 = 200_003;
pub const INVALID_PARAMS: i64 = 190_004;
pub const RATE_LIMITED: i64 = 190_310;
pub const DAILY_QUOTA: i64 = 190_311;
pub const HOURLY_CREATE_QUOTA: i64 = 500_029;
/// The account's monthly create quota (doc 1095/105276: "每月总接口调用次数超过限制").
pub const MONTHLY_CREATE_QUOTA: i64 = 500_168;
pub const INTERNAL_ERROR: i64 = 5108;
pub const NOT_FOUND: i64 = 9003;
pub const ALREADY_CANCELLED: i64 = 9007;
pub const NO_PERMISSION: i64 = 9042;

/// The HTTP status an error comes back with: request errors (signature, credentials, clock,
/// nonce, parameters) as 400, every service error as 500 (doc 43704), including the rate
/// limit and "not found".
pub fn status_of(code: i64) -> StatusCode {
    match code {
        TIMESTAMP_SKEW | NONCE_REUSED | BAD_CREDENTIALS | SIGNATURE_FAILED | INVALID_PARAMS => {
            StatusCode::BAD_REQUEST
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `new_error_code` beside `error_code`. The docs show one pair, 9007 -> 1000009007; the fake
/// applies that rule to every code, so a client that reads `new_error_code` instead of
/// `error_code` gets numbers it does not know.
pub fn new_error_code(code: i64) -> i64 {
    1_000_000_000 + code
}

/// The settings keys the seed spec marks required (checked only with `--strict-spec`; today's
/// service takes a create without `settings`).
pub const SEED_REQUIRED_SETTINGS: [&str; 6] = [
    "mute_enable_join",
    "allow_unmute_self",
    "participant_video",
    "enable_record",
    "play_ivr_on_leave",
    "live_url",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_are_400_and_service_errors_500() {
        for code in [190_300, 190_301, 190_303, 200_003, 190_004] {
            assert_eq!(status_of(code), StatusCode::BAD_REQUEST, "{code}");
        }
        for code in [9003, 9007, 9100, 13_602, 190_310, 500_029, 5108] {
            assert_eq!(status_of(code), StatusCode::INTERNAL_SERVER_ERROR, "{code}");
        }
        assert_eq!(new_error_code(9007), 1_000_009_007);
    }
}
