//! A client wired to an in-process fake API on a free loopback port.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wemeet_fake_api::{DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY, FakeApi, FakeConfig};
use wemeet_scheduler::api::Client;
use wemeet_scheduler::api::model::CreateMeeting;
use wemeet_scheduler::api::sign::{Signed, header, signature};
use wemeet_scheduler::config::{Config, SecretKey};
use wemeet_scheduler::meeting::{MeetingType, REQUIRED_SETTINGS};

pub struct Setup {
    pub fake: FakeApi,
    pub client: Client,
}

impl Setup {
    pub async fn start(fake: FakeConfig) -> Setup {
        Self::start_with_key(fake, DEMO_SECRET_KEY).await
    }

    /// A client that signs with `key` (the fake expects its own configured key).
    pub async fn start_with_key(fake: FakeConfig, key: &str) -> Setup {
        Self::start_with(fake, key, |_| {}).await
    }

    /// [`Setup::start_with_key`], with the client's config edited by `edit` first.
    pub async fn start_with(fake: FakeConfig, key: &str, edit: impl FnOnce(&mut Config)) -> Setup {
        // The project's tests hold the client to the seed spec too (settings with its keys).
        let fake = FakeConfig {
            strict_spec: true,
            ..fake
        };
        let fake = FakeApi::start(fake, "127.0.0.1:0".parse().expect("address"))
            .await
            .expect("fake API starts");
        let mut config = Config::default();
        config.api.base_url = fake.base_url().parse().expect("URL");
        config.api.app_id = DEMO_APP_ID.into();
        config.api.secret_id = DEMO_SECRET_ID.into();
        config.api.timeout = Duration::from_millis(500);
        config.api.requests_per_minute = 0;
        config.retry.max_attempts = 6;
        config.retry.base_delay = Duration::from_millis(1);
        config.retry.max_delay = Duration::from_millis(20);
        edit(&mut config);
        let client = Client::new(&config.api, &config.retry, SecretKey::new(key)).expect("client");
        Setup { fake, client }
    }

    pub async fn stop(self) {
        self.fake.shutdown().await;
    }
}

/// A valid create request for user `tester`, `i` hours after a fixed future time.
pub fn create_request(subject: &str, i: i64) -> CreateMeeting {
    let start = 2_000_000_000 + i * 3600;
    CreateMeeting {
        userid: "tester".into(),
        instanceid: 1,
        subject: subject.into(),
        meeting_type: MeetingType::Scheduled,
        hosts: Vec::new(),
        invitees: Vec::new(),
        start_time: start.to_string(),
        end_time: (start + 1800).to_string(),
        password: None,
        settings: std::sync::Arc::new(
            REQUIRED_SETTINGS
                .iter()
                .map(|k| (k.to_string(), serde_json::Value::Bool(false)))
                .collect(),
        ),
        extra: serde_json::Map::new(),
        series: None,
    }
}

/// Unix seconds now.
pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Sends one GET of `uri`, correctly signed with this `nonce` and `timestamp`, with the usual
/// headers plus `extra`; returns the HTTP status and the body.
pub async fn signed_get(
    base_url: &str,
    uri: &str,
    nonce: u64,
    timestamp: i64,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let sig = signature(
        &SecretKey::new(DEMO_SECRET_KEY),
        &Signed {
            method: "GET",
            secret_id: DEMO_SECRET_ID,
            nonce,
            timestamp,
            uri,
            body: b"",
        },
    );
    let mut req = reqwest::Client::new()
        .get(format!("{base_url}{uri}"))
        .header(header::KEY, DEMO_SECRET_ID)
        .header(header::TIMESTAMP, timestamp.to_string())
        .header(header::NONCE, nonce.to_string())
        .header(header::SIGNATURE, &sig)
        .header(header::APP_ID, DEMO_APP_ID)
        .header(header::REGISTERED, "1");
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}
