//! The signature the real service checks (`shared/api/NOTES.md`), as the fake checks it:
//!
//! ```text
//! {METHOD}\nX-TC-Key={SecretId}&X-TC-Nonce={nonce}&X-TC-Timestamp={timestamp}\n{URI}\n{body}
//! ```
//!
//! HMAC-SHA256 under the secret key, as lowercase hex, then Base64 of that hex text. This is
//! the fake's own code, not the client's: a client that signs wrongly is refused here, and the
//! vendor's test vectors pin this side on their own.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

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

/// The `X-TC-Signature` value a request signed with `secret_key` carries.
pub fn signature(secret_key: &str, req: &Signed<'_>) -> String {
    let text = format!(
        "{}\nX-TC-Key={}&X-TC-Nonce={}&X-TC-Timestamp={}\n{}\n",
        req.method, req.secret_id, req.nonce, req.timestamp, req.uri
    );
    // HMAC takes a key of any length: `new_from_slice` cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_key.as_bytes()) else {
        return String::new();
    };
    mac.update(text.as_bytes());
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

    /// The vendor's test vectors (`shared/api/NOTES.md`).
    fn sign(method: &str, uri: &str, body: &str) -> String {
        signature(
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            &Signed {
                method,
                secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                nonce: 12345,
                timestamp: 1_700_000_000,
                uri,
                body: body.as_bytes(),
            },
        )
    }

    #[test]
    fn the_vendors_vectors() {
        assert_eq!(
            sign(
                "GET",
                "/v1/meetings/7567173273889276131?userid=tester1&instanceid=1",
                ""
            ),
            "MTMxYTUxMTI2NWM1NGI2ZjNkZmQ3YjkwZjI1NzRlODBkMDU3ZjRjZWI3ZGNlODNhNjdlY2I3NWI0YjZmNTgyMA=="
        );
        assert_eq!(
            sign(
                "POST",
                "/v1/meetings",
                r#"{"userid":"tester1","instanceid":1,"subject":"test","type":0,"start_time":"1700000000","end_time":"1700003600"}"#
            ),
            "NGFiNTViMDU0OGViZmIxZDViNWNjN2NmNzg1ZThjYzEwOGQ4NGRlOGI5ZDAyNDAwOWZlMjRiNWJkNzhjZTEzYQ=="
        );
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
    fn signatures_match_only_when_equal() {
        assert!(signatures_match("abc", "abc"));
        assert!(!signatures_match("abc", "abd"));
        assert!(!signatures_match("abc", "abcd"));
    }
}
