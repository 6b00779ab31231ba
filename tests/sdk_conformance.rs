//! Conformance with the vendor's own client: requests captured once from the official Python
//! SDK (`tests/fixtures/sdk/`, see its README) are checked against this project's signer and
//! replayed against the fake, which must accept each one (empty `SdkId`, a create without
//! `settings`, a get by `operator_id`, the SDK's 19-digit nonces) and answer in the shapes
//! the SDK's models read. No Python is needed.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use wemeet_fake_api::{DEMO_SECRET_KEY, FakeApi, FakeConfig};
use wemeet_scheduler::api::sign::{Signed, header, signature};
use wemeet_scheduler::config::SecretKey;

/// In the order they make sense against one server.
const CASES: [&str; 6] = [
    "create_with_settings",
    "create_without_settings",
    "list_with_pos_and_cursory",
    "get_by_operator_id",
    "modify",
    "cancel",
];

struct Captured {
    method: String,
    uri: String,
    headers: BTreeMap<String, String>,
    body: String,
}

fn captured(case: &str) -> Captured {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/sdk")
        .join(format!("{case}.json"));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let text = |key: &str| v[key].as_str().unwrap().to_string();
    Captured {
        method: text("method"),
        uri: text("uri"),
        headers: v["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect(),
        body: text("body"),
    }
}

impl Captured {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    fn signed_with(&self, nonce: u64, timestamp: i64) -> String {
        signature(
            &SecretKey::new(DEMO_SECRET_KEY),
            &Signed {
                method: &self.method,
                secret_id: self.header(header::KEY),
                nonce,
                timestamp,
                uri: &self.uri,
                body: self.body.as_bytes(),
            },
        )
    }
}

#[test]
fn the_signer_agrees_with_the_vendors_sdk() {
    for case in CASES {
        let c = captured(case);
        let nonce: u64 = c.header(header::NONCE).parse().unwrap();
        let timestamp: i64 = c.header(header::TIMESTAMP).parse().unwrap();
        assert_eq!(
            c.signed_with(nonce, timestamp),
            c.header(header::SIGNATURE),
            "{case}"
        );
    }
}

#[tokio::test]
async fn the_fake_takes_every_request_the_sdk_sends() {
    // As the real service: not strict about the seed spec's settings.
    let fake = FakeApi::start(FakeConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let answers = send_all(&fake, &CASES).await;
    fake.shutdown().await;

    // The shapes the SDK's response models read: ids and times as strings, counts as numbers.
    let meeting = |v: &Value| v["meeting_info_list"][0].clone();
    for case in [
        "create_with_settings",
        "create_without_settings",
        "get_by_operator_id",
    ] {
        let a = &answers[case];
        assert!(a["meeting_number"].is_u64(), "{case}: {a}");
        let m = meeting(a);
        for field in [
            "meeting_id",
            "meeting_code",
            "subject",
            "start_time",
            "end_time",
            "join_url",
        ] {
            assert!(m[field].is_string(), "{case}: {field} in {m}");
        }
        assert_eq!(m["start_time"], "2000000000", "{case}");
    }
    let list = &answers["list_with_pos_and_cursory"];
    assert_eq!(
        list["meeting_info_list"].as_array().unwrap().len(),
        2,
        "{list}"
    );
    for field in ["meeting_number", "remaining", "next_pos", "next_cursory"] {
        assert!(list[field].is_i64(), "{field} in {list}");
    }
    assert_eq!(list["remaining"], 0);
    let modified = meeting(&answers["modify"]);
    assert!(modified["meeting_id"].is_string(), "{modified}");
    assert_eq!(answers["cancel"], serde_json::json!({}));
}

/// Sends each captured request, signed again now, to `fake`; each must be answered 200.
async fn send_all(fake: &FakeApi, cases: &[&'static str]) -> BTreeMap<&'static str, Value> {
    // reqwest is built without a default TLS provider; install the one the client uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut answers = BTreeMap::new();
    for &case in cases {
        let c = captured(case);
        // The capture is old: sign it again with a fresh timestamp, keeping the SDK's nonce,
        // headers (empty SdkId included) and exact body bytes.
        let nonce: u64 = c.header(header::NONCE).parse().unwrap();
        let mut req = http.request(
            c.method.parse().unwrap(),
            format!("{}{}", fake.base_url(), c.uri),
        );
        for (name, value) in &c.headers {
            let skip = [
                "host",
                "content-length",
                header::TIMESTAMP,
                header::SIGNATURE,
            ];
            if !skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                req = req.header(name.as_str(), value.as_str());
            }
        }
        let resp = req
            .header(header::TIMESTAMP, now.to_string())
            .header(header::SIGNATURE, c.signed_with(nonce, now))
            .body(c.body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "{case}: {text}");
        answers.insert(case, serde_json::from_str::<Value>(&text).unwrap());
    }
    answers
}

#[tokio::test]
async fn the_strict_fake_takes_the_sdks_minimal_create() {
    // Strict holds the settings sent to the seed spec's keys; the SDK's own minimal create
    // sends none, and today's service takes it.
    let fake = FakeApi::start(
        FakeConfig {
            strict_spec: true,
            ..FakeConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let answers = send_all(&fake, &["create_without_settings"]).await;
    fake.shutdown().await;
    assert_eq!(
        answers["create_without_settings"]["meeting_info_list"][0]["start_time"],
        "2000000000"
    );
}
