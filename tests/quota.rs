//! The vendor's quotas kept before sending: a backlog of one user's creates against a fake
//! that enforces 2,000 creates an hour per user goes out soonest first, an hour's worth at a
//! time, with no quota refusal, while another user's bookings do not wait behind it. Time is
//! the test's clock (the daemon's and the fake's quota windows alike): hours pass at once.

mod util;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone};
use util::daemon::{Env, t0};
use util::receiver::{Answer, Receiver};
use wemeet_fake_api::FakeConfig;
use wemeet_scheduler::daemon::{Event, Mode};

/// Bookings of the busy user; `WEMEET_QUOTA_BOOKINGS` changes it.
fn bookings() -> usize {
    std::env::var("WEMEET_QUOTA_BOOKINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

/// Starts of the busy user's one-offs, by definition id: a minute apart from 4 January 2030,
/// in an order that has nothing to do with the file names.
fn starts(n: usize) -> BTreeMap<String, i64> {
    let base = t0().timestamp() + 3 * 86_400;
    (0..n)
        .map(|i| {
            let slot = (i * 7919) % n;
            (format!("bot/m{i:05}"), base + slot as i64 * 60)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_goes_out_soonest_first_within_the_hourly_quota() {
    let n = bookings();
    let env = Env::with_config(
        FakeConfig {
            creates_per_hour_per_user: 2000,
            ..FakeConfig::default()
        },
        |text| {
            text.replace("concurrency = 4", "concurrency = 16").replace(
                "requests_per_minute = 0",
                "requests_per_minute = 0\ncreates_per_hour_per_user = 2000",
            )
        },
    )
    .await;
    let starts = starts(n);
    for (id, start) in &starts {
        env.write(
            &format!("{id}.toml"),
            &format!("subject = \"{id}\"\nstart_time = {start}\nduration = \"30m\"\n"),
        );
    }
    for i in 0..10 {
        env.write(
            &format!("other/m{i}.toml"),
            &format!(
                "subject = \"other {i}\"\nuserid = \"other\"\nstart_time = {}\nduration = \"30m\"\n",
                t0().timestamp() + 5 * 86_400 + i * 60
            ),
        );
    }
    let mut by_start: Vec<(&i64, &String)> = starts.iter().map(|(id, s)| (s, id)).collect();
    by_start.sort();
    let mut d = env.start(Mode::Run);
    let mut hours = 0;
    let mut booked_so_far = 0;
    loop {
        // What one hour of quota allows: the next 2,000 of the busy user (and, in the first
        // hour, all of the other user's).
        let expect = (n - booked_so_far).min(2000);
        let mut got = Vec::new();
        let other = if hours == 0 { 10 } else { 0 };
        while got.len() < expect + other {
            got.push(
                d.wait_for("a booking", |e| match e {
                    Event::Booked { key, .. } => Some(key.definition.to_string()),
                    _ => None,
                })
                .await,
            );
        }
        let mut mine: Vec<&String> = got.iter().filter(|id| id.starts_with("bot/")).collect();
        mine.sort();
        let mut soonest: Vec<&String> = by_start[booked_so_far..booked_so_far + expect]
            .iter()
            .map(|(_, id)| *id)
            .collect();
        soonest.sort();
        assert_eq!(
            mine, soonest,
            "hour {hours}: the soonest meetings went first"
        );
        assert_eq!(
            got.iter().filter(|id| id.starts_with("other/")).count(),
            other,
            "the other user did not wait behind the busy one"
        );
        booked_so_far += expect;
        // Nothing more goes out within the hour.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(env.creates(), booked_so_far + 10, "hour {hours}");
        if booked_so_far == n {
            break;
        }
        let state = env.state();
        let waiting = state.waiting.iter().find(|w| w.userid == "ops-bot");
        let waiting = waiting.expect("the state says who waits");
        assert_eq!(waiting.bookings, n - booked_so_far);
        assert_eq!(
            waiting.until,
            (t0() + TimeDelta::hours(hours + 1)).timestamp()
        );
        assert_eq!(waiting.reason, "ops-bot's hourly create quota");
        hours += 1;
        env.clock.advance(TimeDelta::hours(1));
    }
    d.stop().await;
    assert!(hours <= 2, "{n} bookings took {hours} simulated hours");
    let refusals = env.fake.stats().errors.get(&500_029).copied().unwrap_or(0);
    assert!(refusals <= 1, "{refusals} quota refusals");
}

#[tokio::test]
async fn a_quota_refusal_pauses_the_users_queue_once() {
    // The fake counts creates the daemon does not know of (another program booking as the
    // same user): the first refusals pause that user's queue for an hour instead of each
    // booking trying on its own.
    let env = Env::with_config(
        FakeConfig {
            creates_per_hour_per_user: 3,
            ..FakeConfig::default()
        },
        |text| text,
    )
    .await;
    for i in 0..8 {
        env.write(
            &format!("m{i}.toml"),
            &format!(
                "subject = \"m{i}\"\nstart_time = {}\nduration = \"30m\"\n",
                t0().timestamp() + 3 * 86_400 + i * 60
            ),
        );
    }
    let mut d = env.start(Mode::Run);
    d.booked(3).await;
    // The state says who waits (results are written at most once a second).
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    let waiting = loop {
        // Once every create of the first batch has come back, the five left all wait.
        if let Some(w) = env.state().waiting.first().filter(|w| w.bookings == 5) {
            break w.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not five waiting: {:?}",
            env.state().waiting
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(waiting.reason.contains("refused"), "{waiting:?}");
    assert_eq!(waiting.until, (t0() + TimeDelta::hours(1)).timestamp());
    // Creates already in flight when the first refusal came back may be refused too (at most
    // `api.concurrency` of them, 4 here); the rest are held back, not sent one by one.
    let refusals = || env.fake.stats().errors.get(&500_029).copied().unwrap_or(0);
    let first = refusals();
    assert!((1..=4).contains(&first), "{first} refusals");
    // Passes within the hour send nothing more.
    env.write(
        "late.toml",
        "subject = \"late\"\nstart_time = 1893888000\nduration = \"30m\"\n",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((refusals(), env.creates()), (first, 3));
    // An hour on, the next three go (the fake's window freed too).
    env.clock.advance(TimeDelta::hours(1));
    d.booked(3).await;
    d.stop().await;
}

#[tokio::test]
async fn one_offs_waiting_for_the_quota_go_soonest_first_whatever_their_names() {
    // q1..q40, an hour apart in that order: their names' string order (q1, q10, q11, ...,
    // q19, q2, q20, ...) is not their time order. The service allows 15 creates an hour
    // (the daemon, configured for the usual 2,000, learns it from the refusals).
    let env = Env::with_config(
        FakeConfig {
            creates_per_hour_per_user: 15,
            ..FakeConfig::default()
        },
        |text| text,
    )
    .await;
    let mut d = env.start(Mode::Run);
    d.ready().await;
    for i in 1..=40 {
        env.write(
            &format!("q{i}.toml"),
            &format!(
                "subject = \"q{i}\"\nstart_time = {}\nduration = \"30m\"\n",
                t0().timestamp() + 3 * 86_400 + i * 3600
            ),
        );
    }
    for hour in 0..2 {
        let mut booked: Vec<u32> = d
            .booked(15)
            .await
            .iter()
            .filter_map(|k| k.strip_prefix('q')?.split('@').next()?.parse().ok())
            .collect();
        booked.sort();
        let soonest: Vec<u32> = (1..=15).map(|i| hour * 15 + i).collect();
        assert_eq!(booked, soonest, "hour {hour}");
        env.clock.advance(TimeDelta::hours(1));
    }
    d.stop().await;
}

#[tokio::test]
async fn bookings_looked_up_first_go_soonest_first_under_the_quota() {
    // A new store: everything due is looked up first, then created. q1..q40, an hour apart
    // in that order (not in their names' string order), 15 creates an hour.
    let env = Env::with_config(FakeConfig::default(), |text| {
        text.replace(
            "requests_per_minute = 0",
            "requests_per_minute = 0\ncreates_per_hour_per_user = 15",
        )
    })
    .await;
    std::fs::remove_file(&env.config.state.file).unwrap();
    for i in 1..=40 {
        env.write(
            &format!("q{i}.toml"),
            &format!(
                "subject = \"q{i}\"\nstart_time = {}\nduration = \"30m\"\n",
                t0().timestamp() + 3 * 86_400 + i * 3600
            ),
        );
    }
    env.start(Mode::Once).finish().await;
    let mut booked: Vec<u32> = env
        .fake
        .journal()
        .iter()
        .filter_map(|e| e.subject.strip_prefix('q')?.parse().ok())
        .collect();
    booked.sort();
    assert_eq!(booked, (1..=15).collect::<Vec<u32>>());
}

/// Three one-offs, a minute apart, on 10 February 2030 (booked from January: the tests'
/// configs book 60 days ahead).
fn three_one_offs(env: &Env) {
    for i in 0..3 {
        env.write(
            &format!("m{i}.toml"),
            &format!(
                "subject = \"m{i}\"\nstart_time = {}\nduration = \"30m\"\n",
                t0().timestamp() + 40 * 86_400 + i * 60
            ),
        );
    }
}

/// The tests' config, booking 60 days ahead.
fn sixty_days(text: String) -> String {
    text.replace("book_ahead = \"2d\"", "book_ahead = \"60d\"")
}

/// 00:00 on 1 February 2030 in China, when January's monthly create quota frees.
fn february() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2030, 1, 31, 16, 0, 0)
        .single()
        .expect("valid time")
}

/// The first creates on record as waiting for a quota, once some are.
async fn first_waiting(env: &Env) -> wemeet_scheduler::state::QuotaWait {
    let deadline = std::time::Instant::now() + util::daemon::PATIENCE;
    loop {
        if let Some(w) = env.state().waiting.first().cloned() {
            return w;
        }
        assert!(std::time::Instant::now() < deadline, "nothing waits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_monthly_quota_refused_holds_every_create_until_the_month_turns() {
    // The service allows two creates this month (error 500168 past them), and the daemon
    // has no budget of its own: the refusal holds the third until 1 February, China time,
    // not for an hour at a time.
    let receiver = Receiver::start(Answer::Ok).await;
    let url = receiver.url.clone();
    let env = Env::with_config(
        FakeConfig {
            creates_per_month: 2,
            ..FakeConfig::default()
        },
        move |text| {
            format!(
                "{}\n[[notify]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\nevents = [\"quota\"]\n",
                sixty_days(text)
            )
        },
    )
    .await;
    // 10 January: not the first day of the month (a refusal then holds for an hour: the
    // service's month may turn later than China's midnight).
    env.clock.advance(TimeDelta::days(9));
    three_one_offs(&env);
    let mut d = env.start(Mode::Run);
    d.booked(2).await;
    let refusals = || env.fake.stats().errors.get(&500_168).copied().unwrap_or(0);
    let waiting = first_waiting(&env).await;
    assert_eq!(
        (waiting.reason.as_str(), waiting.bookings, waiting.until),
        (
            "the account's monthly create quota (the service refused: 500168)",
            1,
            february().timestamp()
        )
    );
    assert_eq!(refusals(), 1);
    // Told once: the webhook hears that creates are paused, why and until when.
    let heard = receiver.wait_for(1).await;
    assert_eq!(
        heard[0].1["detail"],
        "1 booking(s) wait for the account's monthly create quota (the service refused: 500168) until 2030-01-31 16:00 UTC (00:00 on the 1st, China time)"
    );
    assert_eq!(heard[0].1["event"], "quota");
    // The store keeps the count and the refusal, for a restart.
    let month = env.state().month.expect("the month's count is on record");
    assert_eq!(
        (month.month.as_str(), month.refused_until),
        ("2030-01", Some(february().timestamp()))
    );
    // Hours later, still January: nothing is sent again.
    env.clock.advance(TimeDelta::hours(5));
    env.write(
        "late.toml",
        &format!(
            "subject = \"late\"\nstart_time = {}\nduration = \"30m\"\n",
            t0().timestamp() + 41 * 86_400
        ),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!((refusals(), env.creates()), (1, 2));
    // February: the held ones go.
    env.clock.set(february());
    d.booked(2).await;
    d.stop().await;
    assert_eq!(refusals(), 1);
    assert_eq!(receiver.got().len(), 1, "one pause, one notification");
}

#[tokio::test]
async fn the_monthly_budget_sends_no_create_past_it() {
    // `api.creates_per_month = 2`: the third create is held by the daemon's own count, and
    // the service never has to refuse.
    let env = Env::with_config(
        FakeConfig {
            creates_per_month: 2,
            ..FakeConfig::default()
        },
        |text| sixty_days(text.replace("[api]\n", "[api]\ncreates_per_month = 2\n")),
    )
    .await;
    three_one_offs(&env);
    let mut d = env.start(Mode::Run);
    d.booked(2).await;
    let waiting = first_waiting(&env).await;
    assert_eq!(
        (waiting.reason.as_str(), waiting.until),
        (
            "the account's monthly create budget (api.creates_per_month)",
            february().timestamp()
        )
    );
    env.clock.set(february());
    d.booked(1).await;
    d.stop().await;
    assert_eq!(env.fake.stats().errors.get(&500_168), None);
    assert_eq!(env.creates(), 3);
}
