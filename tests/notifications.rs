//! Notifications: each kind's body at a local receiver, who hears what, once per event across
//! restarts, the URL never shown, and a receiver that fails or hangs never holding up a
//! booking.

mod util;

use util::daemon::Env;
use util::receiver::{Answer, Receiver};
use wemeet_fake_api::FakeConfig;
use wemeet_scheduler::daemon::Mode;

const PLANNING: &str =
    "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";

/// An env whose config has these `[[notify]]` blocks (`{url}` replaced by the receiver's).
async fn env_with(blocks: &str, receiver: &Receiver) -> Env {
    let blocks = blocks.replace("{url}", &receiver.url);
    Env::with_config(FakeConfig::default(), move |text| {
        format!("{text}\n{blocks}")
    })
    .await
}

/// The booked meeting's code and join URL, from the store.
fn booked(env: &Env, definition: &str) -> (String, String) {
    let st = env.state();
    let r = st
        .bookings
        .iter()
        .find(|r| *r.definition == *definition)
        .expect("the booking");
    (
        r.meeting_code.as_deref().unwrap_or_default().to_string(),
        r.join_url.as_deref().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn each_kind_of_target_gets_its_own_body() {
    let receiver = Receiver::start(Answer::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let slack_file = dir.path().join("slack-url");
    std::fs::write(&slack_file, format!("{}/slack\n", receiver.url)).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&slack_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let env = env_with(
        &format!(
            "[[notify]]\nname = \"robot\"\nkind = \"wecom\"\nurl = \"{{url}}/wecom\"\n\n[[notify]]\nname = \"slack\"\nkind = \"slack\"\nurl_file = \"{}\"\n\n[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{{url}}/hook\"\n",
            slack_file.display()
        ),
        &receiver,
    )
    .await;
    env.write("planning.toml", PLANNING);
    assert_eq!(env.start(Mode::Once).finish().await.booked, 1);
    receiver.wait_for(3).await;
    let (code, join) = booked(&env, "planning");
    assert_eq!(
        receiver.at("/wecom"),
        vec![
            serde_json::json!({"msgtype": "markdown", "markdown": {"content": format!(
                "**Booked: Planning**\n> When: 2030-01-03T10:00:00+00:00 (UTC)\n> Join: {join}\n> Meeting code: {code}\n> Definition: planning"
            )}})
        ]
    );
    assert_eq!(
        receiver.at("/slack"),
        vec![serde_json::json!({"text": format!(
            "*Booked: Planning*\nWhen: 2030-01-03T10:00:00+00:00 (UTC)\nJoin: {join}\nMeeting code: {code}\nDefinition: planning"
        )})]
    );
    assert_eq!(
        receiver.at("/hook"),
        vec![serde_json::json!({
            "event": "booked",
            "definition": "planning",
            "occurrence": 1_893_664_800,
            "subject": "Planning",
            "start": "2030-01-03T10:00:00+00:00",
            "timezone": "UTC",
            "join_url": join,
            "meeting_code": code,
            "detail": null
        })]
    );
}

#[tokio::test]
async fn targets_hear_only_their_events_and_definitions() {
    let receiver = Receiver::start(Answer::Ok).await;
    let env = env_with(
        "[[notify]]\nname = \"team\"\nkind = \"webhook\"\nurl = \"{url}/team\"\ndefinitions = [\"team/*\"]\n\n[[notify]]\nname = \"failures\"\nkind = \"webhook\"\nurl = \"{url}/failures\"\nevents = [\"failed\", \"missed\"]\n\n[[notify]]\nname = \"chosen\"\nkind = \"webhook\"\nurl = \"{url}/chosen\"\ndefinitions = [\"nothing-matches\"]\n",
        &receiver,
    )
    .await;
    env.write("team/planning.toml", PLANNING);
    // Names its target: only that one hears, whatever the globs say.
    env.write(
        "review.toml",
        &format!(
            "{}notify = [\"chosen\"]\n",
            PLANNING.replace("Planning", "Review")
        ),
    );
    assert_eq!(env.start(Mode::Once).finish().await.booked, 2);
    receiver.wait_for(2).await;
    let subjects = |path: &str| -> Vec<String> {
        receiver
            .at(path)
            .iter()
            .map(|b| b["subject"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(subjects("/team"), vec!["Planning"]);
    assert_eq!(subjects("/chosen"), vec!["Review"]);
    assert!(receiver.at("/failures").is_empty(), "nothing failed");
}

#[tokio::test]
async fn each_event_is_announced_once_across_restarts() {
    let receiver = Receiver::start(Answer::Ok).await;
    let env = env_with(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\n",
        &receiver,
    )
    .await;
    env.write("planning.toml", PLANNING);
    env.start(Mode::Once).finish().await;
    receiver.wait_for(1).await;
    // Restarted twice: nothing new happened, nothing is sent again.
    env.start(Mode::Once).finish().await;
    env.start(Mode::Once).finish().await;
    assert_eq!(receiver.got().len(), 1);
    let st = env.state();
    assert_eq!(st.bookings[0].notified, vec!["hook/booked".to_string()]);
    // A change is a new event: announced once.
    env.write(
        "planning.toml",
        &PLANNING.replace("Planning", "Planning v2"),
    );
    env.start(Mode::Once).finish().await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].1["event"], "changed");
    // Said by a daemon that loaded the booking without its link: read back from the store.
    let (code, join) = booked(&env, "planning");
    assert_eq!(got[1].1["join_url"], join.as_str());
    assert_eq!(got[1].1["meeting_code"], code.as_str());
    env.start(Mode::Once).finish().await;
    assert_eq!(receiver.got().len(), 2);
}

#[tokio::test]
async fn a_message_cut_off_by_a_stop_is_sent_at_the_next_start() {
    let receiver = Receiver::start(Answer::Hang).await;
    let env = env_with(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\n",
        &receiver,
    )
    .await;
    env.write("planning.toml", PLANNING);
    let mut d = env.start(Mode::Run);
    d.booked(1).await;
    // The receiver hangs: the message is still on its way when the daemon is killed.
    d.kill().await;
    assert!(receiver.got().is_empty());
    receiver.answer(Answer::Ok);
    env.start(Mode::Once).finish().await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1["event"], "booked");
    let (code, join) = booked(&env, "planning");
    assert!(!join.is_empty());
    assert_eq!(got[0].1["join_url"], join.as_str());
    assert_eq!(got[0].1["meeting_code"], code.as_str());
}

#[tokio::test]
async fn a_receiver_that_hangs_or_fails_holds_up_no_booking() {
    let receiver = Receiver::start(Answer::Hang).await;
    let env = env_with(
        "[[notify]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}/hook\"\n",
        &receiver,
    )
    .await;
    for i in 0..30 {
        env.write(
            &format!("m{i:02}.toml"),
            &PLANNING.replace("Planning", &format!("Meeting {i}")),
        );
    }
    let mut d = env.start(Mode::Run);
    // Every booking is made while every send hangs (8 at a time, the rest queued).
    assert_eq!(d.booked(30).await.len(), 30);
    receiver.answer(Answer::Fail);
    let summary = d.stop().await;
    assert_eq!(summary.booked, 30);
    assert!(receiver.got().is_empty());
}

#[test]
fn the_url_never_appears_in_any_output() {
    const CANARY: &str = "robot-key-Canary-0123456789";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (receiver, env) = rt.block_on(async {
        let receiver = Receiver::start(Answer::Fail).await;
        let env = env_with(
            &format!(
                "[[notify]]\nname = \"robot\"\nkind = \"wecom\"\nurl = \"{{url}}/cgi-bin/webhook/send?key={CANARY}\"\n"
            ),
            &receiver,
        )
        .await;
        (receiver, env)
    });
    env.write("planning.toml", PLANNING);
    // Everything a command prints, at trace level.
    let output = |args: &[&str]| {
        let out = env
            .command(args[0])
            .args(&args[1..])
            .env("RUST_LOG", "trace")
            .stdout(std::process::Stdio::piped())
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let text = output(&["once"]);
    assert!(
        text.contains("cannot notify after 5 tries: HTTP 500"),
        "the failure is logged: {text}"
    );
    assert!(!text.contains(CANARY), "the URL shows:\n{text}");
    assert!(
        !env.state_holds(CANARY.as_bytes()),
        "the URL is in the store"
    );
    for args in [&["status"][..], &["validate"], &["plan"]] {
        let text = output(args);
        assert!(
            !text.contains(CANARY),
            "`{}` shows the URL:\n{text}",
            args[0]
        );
    }
    drop(receiver);
    drop(rt);
}

#[test]
fn a_readable_config_with_an_inline_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[[notify]]\nname = \"robot\"\nkind = \"wecom\"\nurl = \"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET-KEY\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let run = util::Run::new(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains(
            "`notify[0].url` is inline but the config file is readable by group or others (mode 644)"
        ) || run.stdout.contains(
            "`notify[0].url` is inline but the config file is readable by group or others (mode 644)"
        ),
        "{run}"
    );
    assert!(!run.stdout.contains("SECRET-KEY") && !run.stderr.contains("SECRET-KEY"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_definition_naming_a_target_the_config_lacks_is_warned_about_and_booked() {
    let env = Env::new(FakeConfig::default()).await;
    env.write(
        "planning.toml",
        &format!("{PLANNING}notify = [\"team-x\"]\n"),
    );
    let out = env
        .command("once")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("the definition names notify target `team-x`, which the config does not have")
            .count(),
        1,
        "warned once: {stderr}"
    );
    assert_eq!(env.creates(), 1, "booked all the same");
}
