//! A client wired to an in-process fake API on a free loopback port.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wemeet_scheduler::api::Client;
use wemeet_scheduler::api::model::CreateMeeting;
use wemeet_scheduler::api::sign::{Signed, header, signature};
use wemeet_scheduler::config::{Config, SecretKey};
use wemeet_scheduler::fake_api::{
    DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY, FakeApi, FakeConfig,
};
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
        settings: REQUIRED_SETTINGS
            .iter()
            .map(|k| (k.to_string(), serde_json::Value::Bool(false)))
            .collect(),
        extra: serde_json::Map::new(),
    }
}

/// Sends one correctly signed GET twice with the same nonce; returns both HTTP statuses.
pub async fn replay_same_nonce_twice(base_url: &str) -> (u16, u16) {
    let uri = "/v1/meetings?userid=tester&instanceid=1";
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    let sig = signature(
        &SecretKey::new(DEMO_SECRET_KEY),
        &Signed {
            method: "GET",
            secret_id: DEMO_SECRET_ID,
            nonce: 4242,
            timestamp,
            uri,
            body: b"",
        },
    );
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let resp = http
            .get(format!("{base_url}{uri}"))
            .header(header::KEY, DEMO_SECRET_ID)
            .header(header::TIMESTAMP, timestamp.to_string())
            .header(header::NONCE, "4242")
            .header(header::SIGNATURE, &sig)
            .header(header::APP_ID, DEMO_APP_ID)
            .header(header::REGISTERED, "1")
            .send()
            .await
            .expect("request");
        statuses.push(resp.status().as_u16());
    }
    (statuses[0], statuses[1])
}
