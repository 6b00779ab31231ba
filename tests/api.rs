//! The API client against the fake WeMeet API over loopback: every answer and fault the
//! daemon has to handle.

mod util;

use std::time::Duration;

use util::api::{Setup, create_request};
use wemeet_fake_api::{FakeConfig, FaultSpec, Faults};
use wemeet_scheduler::api::error::{TransportKind, codes};
use wemeet_scheduler::api::lookup::Found;
use wemeet_scheduler::api::model::{CancelMeeting, ModifyMeeting};
use wemeet_scheduler::api::{ApiError, Cancelled, Treatment};
use wemeet_scheduler::meeting::{Field, Fields};

#[tokio::test]
async fn create_books_one_meeting_with_id_code_and_url() {
    let s = Setup::start(FakeConfig::default()).await;
    let req = create_request("Weekly sync", 1);
    let m = s.client.create(&req).await.unwrap();
    assert!(!m.meeting_id.is_empty());
    assert_eq!(m.meeting_code.len(), 9);
    assert!(m.join_url.starts_with("https://"), "{}", m.join_url);
    assert_eq!(m.subject, "Weekly sync");
    assert_eq!(m.start_time.to_string(), req.start_time);
    let journal = s.fake.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(
        (journal[0].op, journal[0].meeting_id.as_str()),
        ("create", m.meeting_id.as_str())
    );
    s.stop().await;
}

#[tokio::test]
async fn hosts_as_objects_are_accepted() {
    let s = Setup::start(FakeConfig::default()).await;
    let mut req = create_request("Objects", 1);
    req.hosts = vec![wemeet_scheduler::api::model::WireUser::Object {
        userid: "alice".into(),
        is_anonymous: Some(false),
        nick_name: Some("Alice".into()),
        profile_photo: None,
    }];
    let m = s.client.create(&req).await.unwrap();
    assert_eq!(m.hosts, vec!["alice"]);
    s.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_are_retried_until_the_create_goes_through() {
    let s = Setup::start(FakeConfig {
        faults: Faults {
            rate_limited: FaultSpec::Count(3),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    s.client
        .create(&create_request("Limited", 1))
        .await
        .unwrap();
    let stats = s.fake.stats();
    assert_eq!(stats.errors.get(&190_310), Some(&3));
    assert_eq!(stats.requests, 4);
    assert_eq!(s.fake.journal().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn an_internal_error_on_create_is_ambiguous_and_find_tells_whether_it_happened() {
    let s = Setup::start(FakeConfig {
        faults: Faults {
            internal_error: FaultSpec::Count(1),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    let req = create_request("Internal", 1);
    let err = s.client.create(&req).await.unwrap_err();
    assert_eq!(err.code(), Some(5108));
    assert!(err.is_ambiguous());
    assert_eq!(
        s.fake.stats().requests,
        1,
        "an ambiguous create is not resent blindly"
    );
    assert_eq!(s.client.find(&req).await.unwrap(), Found::None);
    s.client.create(&req).await.unwrap();
    assert_eq!(s.fake.journal().len(), 1);
    s.stop().await;
}

#[tokio::test]
async fn internal_errors_on_reads_are_retried_in_place() {
    let s = Setup::start(FakeConfig::default()).await;
    let req = create_request("Read", 1);
    let created = s.client.create(&req).await.unwrap();
    s.fake.set_faults(Faults {
        internal_error: FaultSpec::Count(2),
        ..Faults::default()
    });
    let found = s.client.find(&req).await.unwrap().one().expect("found");
    assert_eq!(found.meeting_id, created.meeting_id);
    assert_eq!(s.fake.stats().errors.get(&5108), Some(&2));
    s.stop().await;
}

#[tokio::test]
async fn create_then_hang_times_out_ambiguously_and_find_returns_the_meeting() {
    let s = Setup::start(FakeConfig {
        faults: Faults {
            create_then_hang: FaultSpec::Count(1),
            hang_for: Duration::from_secs(20),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    let req = create_request("Hang", 1);
    let err = s.client.create(&req).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_ambiguous());
    let found = s
        .client
        .find(&req)
        .await
        .unwrap()
        .one()
        .expect("the hung create did happen");
    let journal = s.fake.journal();
    assert_eq!(journal.len(), 1);
    assert_eq!(found.meeting_id, journal[0].meeting_id);
    s.stop().await;
}

#[tokio::test]
async fn create_then_reset_is_ambiguous_and_find_returns_the_meeting() {
    let s = Setup::start(FakeConfig {
        faults: Faults {
            create_then_reset: FaultSpec::Count(1),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    let req = create_request("Reset", 1);
    let err = s.client.create(&req).await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Transport {
                kind: TransportKind::Reset,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_ambiguous());
    let found = s
        .client
        .find(&req)
        .await
        .unwrap()
        .one()
        .expect("the reset create did happen");
    assert_eq!(found.meeting_id, s.fake.journal()[0].meeting_id);
    assert_eq!(s.fake.stats().resets, 1);
    s.stop().await;
}

#[tokio::test]
async fn latency_below_the_timeout_is_just_slow() {
    let s = Setup::start(FakeConfig {
        faults: Faults {
            slow: FaultSpec::Rate(1.0),
            latency: Duration::from_millis(100),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    s.client.create(&create_request("Slow", 1)).await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn latency_past_the_timeout_on_a_read_is_retried() {
    let s = Setup::start(FakeConfig::default()).await;
    let req = create_request("Slow read", 1);
    let m = s.client.create(&req).await.unwrap();
    s.fake.set_faults(Faults {
        slow: FaultSpec::Count(1),
        latency: Duration::from_secs(5),
        ..Faults::default()
    });
    let got = s.client.get(&m.meeting_id, "tester", 1).await.unwrap();
    assert_eq!(got.meeting_id, m.meeting_id);
    assert_eq!(
        s.fake.stats().requests,
        3,
        "create, the slow get, its retry"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_secret_is_permanent_and_not_retried() {
    let s = Setup::start_with_key(FakeConfig::default(), "not-the-key").await;
    let err = s
        .client
        .create(&create_request("Wrong key", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(codes::SIGNATURE_FAILED));
    assert_eq!(err.treatment(), Treatment::Permanent);
    assert!(!err.is_ambiguous());
    assert_eq!(s.fake.stats().requests, 1);
    assert!(err.trace().is_some_and(|t| t.len() == 32), "{err}");
    assert!(!err.to_string().contains("not-the-key"));
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_app_id_is_permanent() {
    let s = Setup::start(FakeConfig {
        app_id: "another-app".into(),
        ..FakeConfig::default()
    })
    .await;
    let err = s.client.get("1", "tester", 1).await.unwrap_err();
    assert_eq!(err.code(), Some(codes::BAD_CREDENTIALS));
    assert_eq!(s.fake.stats().requests, 1);
    s.stop().await;
}

#[tokio::test]
async fn modify_get_and_cancel() {
    let s = Setup::start(FakeConfig::default()).await;
    let m = s.client.create(&create_request("Before", 1)).await.unwrap();
    let changes = Fields::from_iter([Field::Subject("After".into())]);
    let modify = ModifyMeeting {
        userid: "tester".into(),
        instanceid: 1,
        changes,
    };
    s.client.modify(&m.meeting_id, &modify).await.unwrap();
    let got = s.client.get(&m.meeting_id, "tester", 1).await.unwrap();
    assert_eq!(got.subject, "After");
    let cancel = CancelMeeting::meeting("tester".into(), 1, 1);
    assert_eq!(
        s.client.cancel(&m.meeting_id, &cancel).await.unwrap(),
        Cancelled::Now
    );
    assert_eq!(
        s.client.cancel(&m.meeting_id, &cancel).await.unwrap(),
        Cancelled::Already
    );
    let got = s.client.get(&m.meeting_id, "tester", 1).await.unwrap();
    assert_eq!(got.status, "MEETING_STATE_CANCELLED");
    let err = s.client.get("404", "tester", 1).await.unwrap_err();
    assert_eq!(err.code(), Some(codes::NOT_FOUND));
    let ops: Vec<&str> = s.fake.journal().iter().map(|e| e.op).collect();
    assert_eq!(ops, ["create", "modify", "cancel"]);
    s.stop().await;
}

/// The `endpoint` label comes from the call made, one per method; dashboards know these names.
#[tokio::test]
async fn every_request_is_counted_under_its_endpoint() {
    let s = Setup::start(FakeConfig::default()).await;
    let metrics = std::sync::Arc::new(wemeet_scheduler::metrics::Metrics::new());
    let client = s.client.clone().with_metrics(metrics.clone());
    let req = create_request("Counted", 1);
    let m = client.create(&req).await.unwrap();
    client
        .list_upcoming("tester", 1, 0, i64::MAX)
        .await
        .unwrap();
    client.get(&m.meeting_id, "tester", 1).await.unwrap();
    let changes = Fields::from_iter([Field::Subject("Recounted".into())]);
    let modify = ModifyMeeting {
        userid: "tester".into(),
        instanceid: 1,
        changes,
    };
    client.modify(&m.meeting_id, &modify).await.unwrap();
    let cancel = CancelMeeting::meeting("tester".into(), 1, 1);
    client.cancel(&m.meeting_id, &cancel).await.unwrap();
    client.cancel(&m.meeting_id, &cancel).await.unwrap();
    let text = metrics.text();
    for line in [
        "wemeet_api_requests_total{endpoint=\"create\",code=\"ok\"} 1",
        "wemeet_api_requests_total{endpoint=\"list\",code=\"ok\"} 1",
        "wemeet_api_requests_total{endpoint=\"get\",code=\"ok\"} 1",
        "wemeet_api_requests_total{endpoint=\"modify\",code=\"ok\"} 1",
        "wemeet_api_requests_total{endpoint=\"cancel\",code=\"ok\"} 1",
        // Already cancelled: done, and counted with the server's code.
        "wemeet_api_requests_total{endpoint=\"cancel\",code=\"9007\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("wemeet_api_requests_total{"))
            .count(),
        6,
        "{text}"
    );
    s.stop().await;
}

/// Request latency is the time on the wire, by endpoint: the wait for a pacing turn is a
/// histogram of its own (it was counted as latency, so loopback creates took 0.6-1.3 s).
#[tokio::test(flavor = "multi_thread")]
async fn latency_leaves_out_the_pacing_wait_which_is_measured_apart() {
    // A start every 0.4 s.
    let s = Setup::start_with(
        FakeConfig::default(),
        wemeet_fake_api::DEMO_SECRET_KEY,
        |c| {
            c.api.requests_per_minute = 150;
            c.api.concurrency = 8;
        },
    )
    .await;
    let metrics = std::sync::Arc::new(wemeet_scheduler::metrics::Metrics::new());
    let client = s.client.clone().with_metrics(metrics.clone());
    let creates: Vec<_> = (0..5)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.create(&create_request("Paced", i)).await })
        })
        .collect();
    for c in creates {
        c.await.unwrap().unwrap();
    }
    let text = metrics.text();
    let value = |name: &str| -> f64 {
        let line = format!("{name}{{endpoint=\"create\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{text}"))
    };
    assert_eq!(value("wemeet_api_request_seconds_count"), 5.0);
    assert_eq!(value("wemeet_api_pacing_wait_seconds_count"), 5.0);
    // The waits: 0, 0.4, 0.8, 1.2 and 1.6 s.
    let waited = value("wemeet_api_pacing_wait_seconds_sum");
    assert!((3.5..6.0).contains(&waited), "waited {waited} s");
    // Five creates over loopback; with the waits, 4 s and more.
    let took = value("wemeet_api_request_seconds_sum");
    assert!(took < 1.0, "took {took} s");
    s.stop().await;
}

#[tokio::test]
async fn find_pages_through_the_users_meetings() {
    let s = Setup::start(FakeConfig::default()).await;
    for i in 0..45 {
        s.client
            .create(&create_request(&format!("m{i}"), i))
            .await
            .unwrap();
    }
    let last = create_request("m44", 44);
    let found = s
        .client
        .find(&last)
        .await
        .unwrap()
        .one()
        .expect("on the third page");
    assert_eq!(found.subject, "m44");
    // Same subject, other time: not a match.
    assert_eq!(
        s.client.find(&create_request("m44", 99)).await.unwrap(),
        Found::None
    );
    s.stop().await;
}

#[tokio::test]
async fn the_fake_refuses_a_replayed_nonce_and_a_bad_body() {
    let s = Setup::start(FakeConfig::default()).await;
    let mut req = create_request("Bad", 1);
    req.end_time = req.start_time.clone();
    let err = s.client.create(&req).await.unwrap_err();
    assert_eq!(err.code(), Some(codes::INVALID_PARAMS));
    assert!(
        err.to_string()
            .contains("end_time must be after start_time"),
        "{err}"
    );
    // A nonce is reused only with the same timestamp; a request error comes back as 400.
    let (base, uri, t) = (
        s.fake.base_url(),
        "/v1/meetings?userid=tester&instanceid=1",
        util::api::now_s(),
    );
    let first = util::api::signed_get(&base, uri, 4242, t, &[]).await;
    let replay = util::api::signed_get(&base, uri, 4242, t, &[]).await;
    let new_time = util::api::signed_get(&base, uri, 4242, t - 1, &[]).await;
    assert_eq!(
        (first.0, replay.0, new_time.0),
        (200, 400, 200),
        "{replay:?}"
    );
    let body: serde_json::Value = serde_json::from_str(&replay.1).unwrap();
    assert_eq!(body["error_info"]["error_code"], 190_301);
    assert_eq!(body["error_info"]["new_error_code"], 1_000_190_301u64);
    s.stop().await;
}

#[tokio::test]
async fn the_fake_takes_what_the_vendors_sdks_send() {
    let s = Setup::start(FakeConfig::default()).await;
    let (base, t) = (s.fake.base_url(), util::api::now_s());
    // An empty SdkId header, as the official SDKs send when none was assigned.
    let (status, body) = util::api::signed_get(
        &base,
        "/v1/meetings?userid=tester&instanceid=1",
        1,
        t,
        &[("SdkId", "")],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A get by operator id, as the current Python SDK asks; a service error is a 500.
    let created = s
        .client
        .create(&create_request("By operator", 1))
        .await
        .unwrap();
    let uri = format!(
        "/v1/meetings/{}?operator_id=tester&operator_id_type=1&instanceid=1",
        created.meeting_id
    );
    let (status, body) = util::api::signed_get(&base, &uri, 2, t, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&created.meeting_id), "{body}");
    let (status, body) = util::api::signed_get(
        &base,
        "/v1/meetings/404?userid=tester&instanceid=1",
        3,
        t,
        &[],
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("9003"), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn settings_are_optional_unless_the_fake_is_strict() {
    let mut req = create_request("No settings", 1);
    req.settings = Default::default();
    // `create_request` always sends settings; an empty object stands for none here.
    let loose =
        wemeet_fake_api::FakeApi::start(FakeConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let mut config = wemeet_scheduler::config::Config::default();
    config.api.base_url = loose.base_url().parse().unwrap();
    config.api.app_id = wemeet_fake_api::DEMO_APP_ID.into();
    config.api.secret_id = wemeet_fake_api::DEMO_SECRET_ID.into();
    config.api.requests_per_minute = 0;
    let client = wemeet_scheduler::api::Client::new(
        &config.api,
        &config.retry,
        wemeet_scheduler::config::SecretKey::new(wemeet_fake_api::DEMO_SECRET_KEY),
    )
    .unwrap();
    client.create(&req).await.expect("today's service takes it");
    loose.shutdown().await;
    let strict = Setup::start(FakeConfig::default()).await;
    let err = strict.client.create(&req).await.unwrap_err();
    assert_eq!(err.code(), Some(codes::INVALID_PARAMS));
    assert!(
        err.to_string()
            .contains("settings.mute_enable_join is required"),
        "{err}"
    );
    strict.stop().await;
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_is_an_error_not_a_growing_daemon() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that answers every request with 8 MiB of JSON-ish text and no length.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await;
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..128 {
                    let head = format!("{:x}\r\n", chunk.len());
                    if socket.write_all(head.as_bytes()).await.is_err()
                        || socket.write_all(&chunk).await.is_err()
                        || socket.write_all(b"\r\n").await.is_err()
                    {
                        return;
                    }
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    let mut config = wemeet_scheduler::config::Config::default();
    config.api.base_url = format!("http://{addr}").parse().unwrap();
    config.api.requests_per_minute = 0;
    let client = wemeet_scheduler::api::Client::new(
        &config.api,
        &config.retry,
        wemeet_scheduler::config::SecretKey::new("k"),
    )
    .unwrap();
    let err = client.get("1", "u", 1).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::Decode { message, .. } if message.contains("larger than")),
        "{err}"
    );
}

#[tokio::test]
async fn fifty_meetings_at_one_start_are_all_found_across_repeating_pages() {
    // The vendor's paging: `pos` is a start-time floor, so 50 meetings at one start come back
    // in pages that repeat their boundary meeting, with `next_pos` equal to the `pos` sent.
    let s = Setup::start(FakeConfig::default()).await;
    for i in 0..50 {
        s.client
            .create(&create_request(&format!("same start {i}"), 0))
            .await
            .unwrap();
    }
    // An earlier meeting the floor leaves out.
    s.client
        .create(&create_request("earlier", -1))
        .await
        .unwrap();
    let start = 2_000_000_000;
    let all = s
        .client
        .list_upcoming("tester", 1, start, start)
        .await
        .unwrap();
    assert_eq!(all.len(), 50, "each meeting once, none before the floor");
    let mut subjects: Vec<&str> = all.iter().map(|m| m.subject.as_str()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 50);
    for i in [0, 19, 20, 39, 49] {
        let found = s
            .client
            .find(&create_request(&format!("same start {i}"), 0))
            .await
            .unwrap();
        assert!(matches!(found, Found::One(_)), "{i}: {found:?}");
    }
    // Three pages: the first, then two that each repeat one meeting.
    assert_eq!(s.fake.stats().requests, 51 + 3 + 5 * 3);
    s.stop().await;
}

/// A user on the wire, as an object (the form today's docs use).
fn user(id: &str) -> wemeet_scheduler::api::model::WireUser {
    wemeet_scheduler::api::model::WireUser::Object {
        userid: id.into(),
        is_anonymous: None,
        nick_name: None,
        profile_photo: None,
    }
}

#[tokio::test]
async fn the_adoption_rule_finds_its_meeting_under_every_reading_of_the_docs() {
    // 36 readings: hosts (caller when none, as sent, left out), participants (all, left out,
    // some), users (objects, strings), times (strings, numbers).
    for readings in wemeet_fake_api::Readings::all() {
        let s = Setup::start(FakeConfig {
            readings,
            ..FakeConfig::default()
        })
        .await;
        // No hosts (the service makes the caller host), three invitees.
        let mut plain = create_request("Weekly sync", 1);
        plain.invitees = ["alice", "bob", "carol"].map(user).to_vec();
        // Hosts named.
        let mut hosted = create_request("Review", 2);
        hosted.hosts = ["alice", "dave"].map(user).to_vec();
        let mut ids = Vec::new();
        for req in [&plain, &hosted] {
            let made = s.client.create(req).await.expect("created");
            let found = s.client.find(req).await.expect("listed");
            assert_eq!(
                found.one().map(|m| m.meeting_id),
                Some(made.meeting_id.clone()),
                "{readings:?}: {}",
                req.subject
            );
            ids.push(made.meeting_id);
        }
        // A meeting somebody else made at the same time under the same subject, with other
        // users: never adopted for ours; where the reading shows no users, nothing is.
        let mut other = create_request("Weekly sync", 1);
        other.hosts = vec![user("erin")];
        other.invitees = vec![user("frank")];
        let theirs = s.client.create(&other).await.expect("created").meeting_id;
        match s.client.find(&plain).await.expect("listed") {
            Found::One(m) => assert_eq!(m.meeting_id, ids[0], "{readings:?}"),
            Found::Several(both) => {
                let mut want = vec![ids[0].clone(), theirs.clone()];
                want.sort();
                assert_eq!(both, want, "{readings:?}");
            }
            Found::None => panic!("{readings:?}: ours was not found"),
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn a_lookup_reads_every_page_at_its_start_and_none_past_it() {
    // 20,100 of the user's meetings share the start of the one looked up (1,005 pages): a
    // page cap reached before that start must not fail the lookup for ever.
    let s = Setup::start(FakeConfig::default()).await;
    let req = create_request("Mine", 1);
    let start: i64 = req.start_time.parse().unwrap();
    let end: i64 = req.end_time.parse().unwrap();
    s.fake
        .preload(20_100, "tester", (start, end), |i| format!("other {i}"))
        .unwrap();
    let made = s.client.create(&req).await.unwrap().meeting_id;
    let found = s.client.find(&req).await.expect("the lookup completes");
    assert_eq!(found.one().map(|m| m.meeting_id), Some(made));
    s.stop().await;

    // 600 meetings an hour later (30 pages): looking up the earlier one stops at the first
    // page that is past its start.
    let s = Setup::start(FakeConfig::default()).await;
    s.fake
        .preload(600, "tester", (start + 3600, end + 3600), |i| {
            format!("later {i}")
        })
        .unwrap();
    let made = s.client.create(&req).await.unwrap().meeting_id;
    let before = s.fake.stats().requests;
    let found = s.client.find(&req).await.unwrap();
    assert_eq!(found.one().map(|m| m.meeting_id), Some(made));
    assert_eq!(s.fake.stats().requests - before, 1, "one page read");
    s.stop().await;
}

/// A gate that closes for good once told of a refusal.
#[derive(Default)]
struct Closing(std::sync::atomic::AtomicBool);

impl wemeet_scheduler::api::Gate for Closing {
    fn check(&self) -> Result<(), String> {
        match self.0.load(std::sync::atomic::Ordering::SeqCst) {
            true => Err("closed by a refusal".into()),
            false => Ok(()),
        }
    }

    fn refused(&self, _: &ApiError) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_quota_refusal_closes_the_gate_before_the_request_waiting_for_its_place() {
    // One request at a time; the user's hourly quota is one create, used up first. Of two
    // gated creates, the one that waits for the other's place finds the gate closed by the
    // other's refusal, and is never sent (before, it went out to be refused too).
    let s = Setup::start_with(
        FakeConfig {
            creates_per_hour_per_user: 1,
            ..FakeConfig::default()
        },
        wemeet_fake_api::DEMO_SECRET_KEY,
        |c| c.api.concurrency = 1,
    )
    .await;
    s.client.create(&create_request("first", 1)).await.unwrap();
    let gate = Closing::default();
    let body = |i| serde_json::to_vec(&create_request("gated", i)).unwrap();
    let (a, b) = tokio::join!(
        s.client.create_body_gated(body(2), Some(&gate)),
        s.client.create_body_gated(body(3), Some(&gate)),
    );
    let code = |r: &Result<_, ApiError>| match r {
        Err(ApiError::HeldBack { .. }) => "held back".to_string(),
        Err(e) => format!("{:?}", e.code()),
        Ok(_) => "created".into(),
    };
    assert_eq!(
        [code(&a), code(&b)],
        [
            format!("{:?}", Some(codes::HOURLY_CREATES)),
            "held back".into()
        ]
    );
    assert_eq!(s.fake.stats().errors.get(&codes::HOURLY_CREATES), Some(&1));
    s.stop().await;
}
