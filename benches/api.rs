//! API client and fake API throughput on loopback, and the client's pacing.
//!
//! Run: `benches/run-api.sh` (installs `wrk` for the fake's raw capacity, then runs this), or
//! `cargo bench --bench api` (skips the wrk row when wrk is not installed). The fake runs as a
//! separate process, as it would for a real daemon.
//!
//! 1. client: N creates (default 5,000) with pacing off and concurrency 32;
//! 2. fake raw capacity: wrk replaying one signed create (`--allow-replay`) for 10 s;
//! 3. pacing: the client at 300 requests/minute against a fake that refuses more than 300 in
//!    any 60 s, for 25 s: the achieved rate and the rate-limit answers seen (must be 0).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/fake.rs"]
#[allow(dead_code)] // This benchmark keeps no journal.
mod fake;
#[path = "../tests/util/api.rs"]
#[allow(dead_code)] // The benchmark uses only part of the tests' helper.
mod util;

use fake::Fake;
use wemeet_fake_api::{DEMO_APP_ID, DEMO_SECRET_ID, DEMO_SECRET_KEY};
use wemeet_scheduler::api::Client;
use wemeet_scheduler::api::model::CreateMeeting;
use wemeet_scheduler::api::sign::{Signed, header, signature};
use wemeet_scheduler::config::{Config, SecretKey};

fn client(url: &str, rpm: u32, concurrency: usize) -> Client {
    let mut config = Config::default();
    config.api.base_url = url.parse().expect("URL");
    config.api.app_id = DEMO_APP_ID.into();
    config.api.secret_id = DEMO_SECRET_ID.into();
    config.api.requests_per_minute = rpm;
    config.api.concurrency = concurrency;
    config.retry.base_delay = Duration::from_millis(10);
    Client::new(&config.api, &config.retry, SecretKey::new(DEMO_SECRET_KEY)).expect("client")
}

/// A create request for one of 100 users (the tests' helper, with the user varied).
fn request(i: i64) -> CreateMeeting {
    let mut req = util::create_request(&format!("Bench meeting {i}"), i);
    req.userid = format!("user{}", i % 100);
    req
}

async fn creates(client: Arc<Client>, n: i64) -> (Duration, usize) {
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let c = client.clone();
        tasks.spawn(async move { c.create(&request(i)).await.is_ok() });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        ok += usize::from(r.unwrap_or(false));
    }
    (t.elapsed(), ok)
}

/// wrk's requests/s replaying one signed create, or why it was not measured.
fn wrk_capacity(url: &str) -> Result<f64, String> {
    if Command::new("wrk").arg("--version").output().is_err() {
        return Err("wrk not installed (benches/run-api.sh installs it)".into());
    }
    let body = serde_json::to_string(&request(1)).expect("JSON");
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let sig = signature(
        &SecretKey::new(DEMO_SECRET_KEY),
        &Signed {
            method: "POST",
            secret_id: DEMO_SECRET_ID,
            nonce: 1,
            timestamp,
            uri: "/v1/meetings",
            body: body.as_bytes(),
        },
    );
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.body = [[{body}]]\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"{}\"] = \"{DEMO_SECRET_ID}\"\nwrk.headers[\"{}\"] = \"{timestamp}\"\nwrk.headers[\"{}\"] = \"1\"\nwrk.headers[\"{}\"] = \"{sig}\"\nwrk.headers[\"{}\"] = \"{DEMO_APP_ID}\"\nwrk.headers[\"{}\"] = \"1\"\n",
        header::KEY,
        header::TIMESTAMP,
        header::NONCE,
        header::SIGNATURE,
        header::APP_ID,
        header::REGISTERED
    );
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let script = dir.path().join("create.lua");
    std::fs::write(&script, lua).map_err(|e| e.to_string())?;
    let out = Command::new("wrk")
        .args(["-t2", "-c32", "-d10s", "-s"])
        .arg(&script)
        .arg(format!("{url}/v1/meetings"))
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        return Err(format!("wrk saw error answers:\n{text}"));
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("cannot read wrk's output:\n{text}"))
}

fn main() {
    let n: i64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let fake = Fake::start(&[], None);
    let c = Arc::new(client(&fake.url, 0, 32));
    rt.block_on(creates(c.clone(), 200)); // warm up the connection pool
    let (elapsed, ok) = rt.block_on(creates(c, n));
    drop(fake);
    assert_eq!(ok as i64, n, "every create succeeded");
    let client_rps = n as f64 / elapsed.as_secs_f64();

    let fake = Fake::start(&["--allow-replay"], None);
    let wrk = wrk_capacity(&fake.url);
    drop(fake);

    let fake = Fake::start(&["--requests-per-minute", "300"], None);
    let paced = Arc::new(client(&fake.url, 300, 4));
    let window = Duration::from_secs(25);
    let rate = rt.block_on(async {
        let t = Instant::now();
        let mut next = 0i64;
        let mut finished: Vec<Duration> = Vec::new();
        let mut tasks = tokio::task::JoinSet::new();
        // Keep a backlog queued so the pacer, not this loop, sets the pace.
        while t.elapsed() < window {
            while tasks.len() < 8 {
                let c = paced.clone();
                let i = next;
                next += 1;
                tasks.spawn(async move { c.create(&request(i)).await.is_ok() });
            }
            if let Some(Ok(true)) = tasks.join_next().await {
                finished.push(t.elapsed());
            }
        }
        tasks.shutdown().await;
        // The steady rate: requests between the first and the last answer, per minute.
        let span = finished.last().copied().unwrap_or_default() - finished[0];
        (finished.len() - 1) as f64 / span.as_secs_f64() * 60.0
    });
    let stopped = fake.stop();
    let limited = stopped
        .split("190310: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);

    println!("API benchmark (client and fake on loopback, fake in its own process)");
    println!("| what | result |");
    println!("|---|---|");
    println!(
        "| client creates, pacing off, concurrency 32 ({n} creates) | {client_rps:.0} req/s |"
    );
    match wrk {
        Ok(rps) => println!(
            "| fake raw capacity (wrk -t2 -c32 -d10s, signed create replayed) | {rps:.0} req/s |"
        ),
        Err(why) => println!("| fake raw capacity | not measured: {why} |"),
    }
    println!(
        "| pacing at 300/min over {}s: achieved rate | {rate:.1}/min ({:.1}% of the limit) |",
        window.as_secs(),
        rate / 3.0
    );
    println!("| pacing: rate-limit (190310) answers from a fake enforcing 300/min | {limited} |");
}
