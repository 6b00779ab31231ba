//! Request signing as the real service checks it (`shared/api/NOTES.md`):
//!
//! ```text
//! {METHOD}\nX-TC-Key={SecretId}&X-TC-Nonce={nonce}&X-TC-Timestamp={timestamp}\n{URI}\n{body}
//! ```
//!
//! signed with HMAC-SHA256 under the secret key, written as lowercase hex, then Base64 of that
//! hex text. The client and the fake API share this one function, so the fake checks exactly
//! what the client signs; the vendor's test vectors pin both.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::config::SecretKey;

/// The header names of a signed request.
pub mod header {
    pub const KEY: &str = "X-TC-Key";
    pub const TIMESTAMP: &str = "X-TC-Timestamp";
    pub const NONCE: &str = "X-TC-Nonce";
    pub const SIGNATURE: &str = "X-TC-Signature";
    pub const APP_ID: &str = "AppId";
    pub const SDK_ID: &str = "SdkId";
    pub const REGISTERED: &str = "X-TC-Registered";
    /// Response header the vendor asks for in support tickets.
    pub const TRACE: &str = "X-TC-Trace";
}

/// What goes into one signature.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub secret_id: &'a str,
    pub nonce: u64,
    pub timestamp: i64,
    /// Path plus `?query`, exactly as sent.
    pub uri: &'a str,
    /// Body bytes exactly as sent; empty for GET.
    pub body: &'a [u8],
}

/// The `X-TC-Signature` value for a request.
pub fn signature(secret_key: &SecretKey, req: &Signed<'_>) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_key.expose().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(req.method.as_bytes());
    mac.update(b"\nX-TC-Key=");
    mac.update(req.secret_id.as_bytes());
    mac.update(b"&X-TC-Nonce=");
    mac.update(req.nonce.to_string().as_bytes());
    mac.update(b"&X-TC-Timestamp=");
    mac.update(req.timestamp.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(req.uri.as_bytes());
    mac.update(b"\n");
    mac.update(req.body);
    let hex = hex::encode(mac.finalize().into_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex)
}

/// Compares two signatures in time independent of where they first differ.
pub fn signatures_match(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";

    fn key() -> SecretKey {
        SecretKey::new("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE")
    }

    fn sign(method: &str, uri: &str, body: &str) -> String {
        signature(
            &key(),
            &Signed {
                method,
                secret_id: SECRET_ID,
                nonce: 12345,
                timestamp: 1_700_000_000,
                uri,
                body: body.as_bytes(),
            },
        )
    }

    #[test]
    fn vector_1_get_with_query() {
        assert_eq!(
            sign(
                "GET",
                "/v1/meetings/7567173273889276131?userid=tester1&instanceid=1",
                ""
            ),
            "MTMxYTUxMTI2NWM1NGI2ZjNkZmQ3YjkwZjI1NzRlODBkMDU3ZjRjZWI3ZGNlODNhNjdlY2I3NWI0YjZmNTgyMA=="
        );
    }

    #[test]
    fn vector_2_post_create() {
        assert_eq!(
            sign(
                "POST",
                "/v1/meetings",
                r#"{"userid":"tester1","instanceid":1,"subject":"test","type":0,"start_time":"1700000000","end_time":"1700003600"}"#
            ),
            "NGFiNTViMDU0OGViZmIxZDViNWNjN2NmNzg1ZThjYzEwOGQ4NGRlOGI5ZDAyNDAwOWZlMjRiNWJkNzhjZTEzYQ=="
        );
    }

    #[test]
    fn vector_3_utf8_body_with_escaped_quote() {
        assert_eq!(
            sign(
                "POST",
                "/v1/meetings",
                r#"{"userid":"tester1","instanceid":1,"subject":"周会 \"Q4\"","type":0,"start_time":"1700000000","end_time":"1700003600"}"#
            ),
            "ZmJlMTM2OTBhMmUwMGIzM2MzNzVhYjliMGQ2MmVhNTAxNGM1ODM2NGM0MDMzZWEyNDMwOGMzMDJlMGEzNTA4OQ=="
        );
    }

    #[test]
    fn every_input_changes_the_signature() {
        let base = sign("POST", "/v1/meetings", "{}");
        assert_ne!(base, sign("PUT", "/v1/meetings", "{}"));
        assert_ne!(base, sign("POST", "/v1/meetings?x=1", "{}"));
        assert_ne!(base, sign("POST", "/v1/meetings", "{} "));
        assert!(signatures_match(&base, &sign("POST", "/v1/meetings", "{}")));
        assert!(!signatures_match(
            &base,
            &sign("POST", "/v1/meetings", "{ }")
        ));
    }
}
