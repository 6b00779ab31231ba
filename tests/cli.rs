//! The `validate` and `plan` commands as a user runs them: the real binary, real files.

mod util;

use std::process::Command;

use util::{Run, write};

/// A fixed "now" so the examples' dates and the plan stay the same whenever the tests run.
const NOW: &str = "2026-11-25T12:00:00Z";

/// A config in `dir` that watches `meetings` and keeps its state in `dir`, plus `extra` TOML
/// (more sections, or keys that come before them).
fn config_in(dir: &std::path::Path, meetings: &std::path::Path, extra: &str) -> std::path::PathBuf {
    write(
        dir,
        "config.toml",
        &format!(
            "{extra}\n[watch]\ndir = \"{}\"\n[state]\nfile = \"{}\"\n",
            meetings.display(),
            dir.join("state.db").display()
        ),
    )
}

#[test]
fn the_shipped_examples_validate() {
    let run = Run::new(&["validate", "--config", "config/demo.toml", "--now", NOW]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stdout.trim(),
        "4 file(s) checked: 4 valid, 0 invalid (0 problem(s))"
    );
}

#[test]
fn the_production_config_example_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let def = write(
        dir.path(),
        "x.toml",
        "subject = \"x\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    let run = Run::new(&[
        "validate",
        "--config",
        "config/config.toml",
        "--now",
        NOW,
        def.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{run}");
}

#[test]
fn validate_reports_every_problem_of_every_file_and_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "good.toml",
        "subject = \"ok\"\nuserid = \"me\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\n",
    );
    write(
        d,
        "team/bad.toml",
        "userid = \"me\"\nsubject = \"\"\nstart_time = 2026-12-01T10:00:00\nduration = \"1h\"\npassword = \"12\"\n",
    );
    write(d, "syntax.toml", "subject = \"x\nstart_time = 1\n");
    write(
        d,
        "cron.toml",
        "userid = \"me\"\nsubject = \"x\"\nduration = \"15m\"\n[schedule]\ncron = \"0 25 * * *\"\n",
    );
    write(d, ".hidden.toml", "not toml at all");
    write(d, "notes.txt", "not toml at all");
    write(d, "good.toml~", "not toml at all");
    let run = Run::new(&["validate", "--now", NOW, d.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    let path = |f: &str| d.join(f).display().to_string();
    assert_eq!(lines.len(), 5, "{run}");
    assert!(
        lines[0].starts_with(&format!(
            "{}:5:8: 25 in the hour field is out of range (0 to 23)",
            path("cron.toml")
        )),
        "{run}"
    );
    assert!(
        lines[1].starts_with(&format!("{}:1:13: invalid TOML", path("syntax.toml"))),
        "{run}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "{}:2:11: `subject` is empty",
            path("team/bad.toml")
        )),
        "{run}"
    );
    assert!(
        lines[3].starts_with(&format!(
            "{}:5:12: `password` must be 4 to 6 digits",
            path("team/bad.toml")
        )),
        "{run}"
    );
    assert_eq!(
        lines[4],
        "4 file(s) checked: 1 valid, 3 invalid (4 problem(s))"
    );
}

#[test]
fn validate_with_a_broken_config_lists_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "config.toml",
        "[api]\ntimeout = \"soon\"\n[watch]\ndri = \"x\"\n",
    );
    let run = Run::new(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout
            .contains("config.toml:2:11: `api.timeout` is not a duration"),
        "{run}"
    );
    assert!(
        run.stdout.contains(
            "config.toml:4:1: unknown key `dri` in [watch]; hint: did you mean `watch.dir`?"
        ),
        "{run}"
    );
}

/// `state.takeover = "2ns"` once passed `validate`, then `once` panicked (a tokio interval
/// of zero: takeover / 3).
#[test]
fn a_takeover_below_its_floor_is_refused_by_validate_and_by_once() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    std::fs::create_dir_all(&meetings).unwrap();
    let config = config_in(dir.path(), &meetings, "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[state]\n", "[state]\ntakeover = \"2ns\"\n");
    std::fs::write(&config, text).unwrap();
    let want = "config.toml:5:12: `state.takeover` must be at least 3s";

    let run = Run::new(&["validate", "--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains(want), "{run}");

    let run = Run::new(&["once", "--config", config.to_str().unwrap()]);
    assert_eq!(run.code, 2, "refused to start, not a panic: {run}");
    assert!(run.stderr.contains(want), "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
}

/// A key file that is a FIFO once hung `validate` (and the daemon at SIGHUP): the file was
/// opened, waiting for a writer, before it was checked to be a regular file.
#[test]
fn a_key_file_that_is_a_fifo_fails_validate_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    std::fs::create_dir_all(&meetings).unwrap();
    let key = dir.path().join("secret-key");
    let made = Command::new("mkfifo").arg(&key).status().unwrap();
    assert!(made.success());
    let config = config_in(
        dir.path(),
        &meetings,
        &format!("[api]\nsecret_key_file = \"{}\"\n", key.display()),
    );
    let mut validate = util::binary();
    validate.args(["validate", "--config", config.to_str().unwrap()]);
    let run = Run::bounded(validate);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        run.stdout.replace(dir.path().to_str().unwrap(), "DIR"),
        "DIR/config.toml:2:19: the secret file DIR/secret-key is not a regular file\n0 file(s) checked: 0 valid, 0 invalid (1 problem(s))\n",
    );
}

fn secret_file(dir: &std::path::Path, rel: &str, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = write(dir, rel, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `validate` reads the files the config names as the daemon will at its start: relative
/// to the config's directory (not the working directory), each a regular file readable by
/// its owner only, a notify URL an http(s) URL. `--as-service` also wants each one there.
#[test]
fn validate_reads_every_file_the_config_names_from_the_configs_directory() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    let meetings = dir.path().join("meetings");
    std::fs::create_dir_all(conf.join("urls")).unwrap();
    std::fs::create_dir_all(&meetings).unwrap();
    secret_file(&conf, "secret-key", "k\n");
    secret_file(&conf, "good.url", "https://hooks.example.com/T1\n");
    secret_file(&conf, "not-a-url.url", "hooks.example.com\n");
    let target = |name: &str, file: &str| {
        format!("[[notify]]\nname = \"{name}\"\nkind = \"webhook\"\nurl_file = \"{file}\"\n")
    };
    let config = config_in(
        &conf,
        &meetings,
        &format!(
            "[api]\nsecret_key_file = \"secret-key\"\n{}{}{}{}",
            target("good", "good.url"),
            target("a-dir", "urls"),
            target("not-a-url", "not-a-url.url"),
            target("missing", "missing.url"),
        ),
    );
    // From another working directory (the repository's).
    let validate = |extra: &[&str]| {
        let mut args = vec!["validate", "--config", config.to_str().unwrap()];
        args.extend(extra);
        let run = Run::new(&args);
        (
            run.code,
            run.stdout.replace(dir.path().to_str().unwrap(), "DIR"),
        )
    };
    let found = "DIR/conf/config.toml:10:12: the secret file DIR/conf/urls is not a regular file\n\
        DIR/conf/config.toml:14:12: DIR/conf/not-a-url.url holds no http or https URL\n";
    // The summary counts the config's problems too (it said "(0 problem(s))" under them).
    let summary = |n: usize| format!("0 file(s) checked: 0 valid, 0 invalid ({n} problem(s))\n");
    assert_eq!(validate(&[]), (1, format!("{found}{}", summary(2))));
    assert_eq!(
        validate(&["--as-service"]),
        (
            1,
            format!(
                "{found}DIR/conf/config.toml:18:12: cannot read the secret from DIR/conf/missing.url: No such file or directory (os error 2)\n{}",
                summary(3)
            )
        )
    );
    // Fixed, the same config passes, key file and all, from any directory.
    std::fs::remove_dir(conf.join("urls")).unwrap();
    secret_file(&conf, "urls", "http://127.0.0.1:9/hook\n");
    secret_file(&conf, "not-a-url.url", "https://hooks.example.com/T2\n");
    secret_file(&conf, "missing.url", "https://hooks.example.com/T3\n");
    assert_eq!(validate(&["--as-service"]), (0, summary(0)));
}

/// Under systemd with `DynamicUser=`, a webhook URL comes as a credential (`LoadCredential=`):
/// the config names it `${CREDENTIALS_DIRECTORY}/NAME`, read from the directory systemd names
/// in that variable.
#[test]
fn a_url_file_can_name_a_systemd_credential() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    let creds = dir.path().join("creds");
    std::fs::create_dir_all(&meetings).unwrap();
    secret_file(&creds, "team-a.url", "https://hooks.example.com/T1\n");
    let config = config_in(
        dir.path(),
        &meetings,
        "[[notify]]\nname = \"team-a\"\nkind = \"wecom\"\nurl_file = \"${CREDENTIALS_DIRECTORY}/team-a.url\"\n",
    );
    let validate = |credentials: Option<&std::path::Path>, extra: &[&str]| {
        let mut command = util::binary();
        command
            .args(["validate", "--config", config.to_str().unwrap()])
            .args(extra)
            .env_remove("CREDENTIALS_DIRECTORY");
        if let Some(credentials) = credentials {
            command.env("CREDENTIALS_DIRECTORY", credentials);
        }
        let run = Run::bounded(command);
        (
            run.code,
            run.stdout.replace(dir.path().to_str().unwrap(), "DIR"),
        )
    };
    let summary = "0 file(s) checked: 0 valid, 0 invalid (0 problem(s))\n";
    let one_problem = "0 file(s) checked: 0 valid, 0 invalid (1 problem(s))\n";
    // Outside the service: skipped, unless --as-service.
    assert_eq!(validate(None, &[]), (0, summary.to_string()));
    assert_eq!(
        validate(None, &["--as-service"]),
        (
            1,
            format!(
                "DIR/config.toml:4:12: cannot read the credential team-a.url: CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit with LoadCredential=)\n{one_problem}"
            )
        )
    );
    // As the service: read from the directory systemd names.
    assert_eq!(
        validate(Some(&creds), &["--as-service"]),
        (0, summary.to_string())
    );
    secret_file(&creds, "team-a.url", "hooks.example.com\n");
    assert_eq!(
        validate(Some(&creds), &["--as-service"]),
        (
            1,
            format!(
                "DIR/config.toml:4:12: DIR/creds/team-a.url holds no http or https URL\n{one_problem}"
            )
        )
    );
}

#[test]
fn a_missing_config_given_explicitly_is_an_error_with_the_path() {
    let run = Run::new(&["validate", "--config", "/nonexistent/config.toml"]);
    assert_eq!(run.code, 2, "{run}");
    // The OS error once, not once in the message and again as its cause.
    assert_eq!(
        run.stderr,
        "error: cannot read config /nonexistent/config.toml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn logs_to_a_pipe_carry_no_colour_and_quiet_keeps_only_errors() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    write(
        &meetings,
        "m.toml",
        "subject = \"M\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n",
    );
    let config = config_in(
        dir.path(),
        &meetings,
        "[api]\nbase_url = \"http://127.0.0.1:9\"\ntimeout = \"1s\"\n[retry]\nmax_attempts = 1\n[defaults]\nuserid = \"u\"\n",
    );
    let once = |extra: &[&str]| {
        let out = util::binary()
            .args(["once", "--config", config.to_str().unwrap()])
            .args(extra)
            .env_remove("RUST_LOG")
            .env("WEMEET_SECRET_KEY", "k")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let normal = once(&[]);
    assert!(normal.contains("WARN"), "{normal}");
    assert!(
        !normal.contains('\u{1b}'),
        "no ANSI escapes in a pipe: {normal:?}"
    );
    let quiet = once(&["-q"]);
    assert!(
        !quiet.contains("WARN") && !quiet.contains("INFO"),
        "{quiet}"
    );
    let verbose = once(&["-v"]);
    assert!(verbose.contains("DEBUG"), "{verbose}");
}

#[test]
fn plan_lists_the_next_bookings_in_booking_order() {
    let run = Run::new(&[
        "plan",
        "--config",
        "config/demo.toml",
        "--now",
        NOW,
        "--count",
        "4",
    ]);
    assert_eq!(run.code, 0, "{run}");
    // The changes against the demo's state come first; the table of bookings follows.
    assert!(run.stdout.starts_with("Changes at the next run"), "{run}");
    let lines: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("DEFINITION"))
        .collect();
    assert_eq!(lines.len(), 5, "{run}");
    // Due at once: the one-offs and the series occurrences already inside their window.
    assert!(
        lines[1].starts_with("team/standup") && lines[1].contains("Thu 2026-11-26 09:30 CST"),
        "{run}"
    );
    assert!(lines[1].contains("  now  "), "{run}");
    assert!(lines[2].contains("Fri 2026-11-27 09:30 CST"), "{run}");
    assert!(
        lines[3].starts_with("team/monthly-retro") && lines[3].contains("Fri 2026-12-04 16:00 CET"),
        "{run}"
    );
    assert!(lines[4].starts_with("incident-bridge"), "{run}");
}

#[test]
fn plan_json_has_the_exact_request_body() {
    let run = Run::new(&[
        "plan",
        "--config",
        "config/demo.toml",
        "--now",
        NOW,
        "--count",
        "100",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run}");
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // Nothing booked yet: the next run creates what is due now.
    assert!(
        plan["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["action"] == "create"),
        "{plan}"
    );
    let rows = plan["bookings"].as_array().unwrap();
    let launch = rows
        .iter()
        .find(|r| r["definition"] == "product-launch")
        .expect("the one-off is planned");
    assert_eq!(launch["occurrence_start"], 1_876_183_200);
    assert_eq!(launch["start"], "2029-06-15T10:00:00+08:00");
    assert_eq!(launch["start_utc"], "2029-06-15T02:00:00Z");
    assert_eq!(launch["book_at"], serde_json::Value::Null);
    let body = &launch["request"];
    assert_eq!(body["userid"], "demo-user");
    assert_eq!(body["instanceid"], 1);
    assert_eq!(body["type"], 0);
    assert_eq!(body["subject"], "Product launch review");
    assert_eq!(body["start_time"], "1876183200");
    assert_eq!(body["end_time"], "1876188600");
    assert_eq!(body["password"], "482913");
    // User objects, as today's service and the vendor's SDKs send them, with every field the
    // definition gives (the string form dropped Carol's nick_name).
    assert_eq!(body["hosts"], serde_json::json!([{"userid": "demo-user"}]));
    assert_eq!(
        body["invitees"],
        serde_json::json!([
            {"userid": "alice"},
            {"userid": "bob"},
            {"userid": "carol", "nick_name": "Carol (PM)"}
        ])
    );
    assert_eq!(body["location"], "Building 2, Room 401");
    assert_eq!(
        body["settings"],
        serde_json::json!({
            "allow_unmute_self": true, "enable_record": true, "live_url": false,
            "mute_enable_join": true, "participant_video": true, "play_ivr_on_leave": false
        })
    );
    let standup = rows
        .iter()
        .find(|r| r["definition"] == "team/standup")
        .unwrap();
    assert_eq!(standup["book_at"], "2026-11-23T01:30:00Z");
}

#[test]
fn plan_of_a_directory_not_watched_yet() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "weekly.toml",
        "subject = \"Weekly\"\nuserid = \"me\"\nduration = \"1h\"\n[schedule]\ncron = \"0 10 * * MON\"\ntimezone = \"UTC\"\n",
    );
    let run = Run::new(&[
        "plan",
        "--now",
        NOW,
        "--count",
        "2",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("Mon 2026-11-30 10:00 UTC"), "{run}");
    assert!(run.stdout.contains("Mon 2026-12-07 10:00 UTC"), "{run}");
}

/// The meeting-time column gives the zone's abbreviation and its name: once where they are
/// the same (it said "UTC UTC").
#[test]
fn plan_names_the_meeting_zone_once_where_its_abbreviation_is_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let one_off = |name: &str, subject: &str, zone: &str, start: &str| {
        write(
            dir.path(),
            name,
            &format!(
                "subject = \"{subject}\"\nuserid = \"me\"\ntimezone = \"{zone}\"\nstart_time = {start}\nduration = \"1h\"\n"
            ),
        )
    };
    let utc = one_off("utc.toml", "U", "UTC", "2026-12-01T10:00:00");
    let shanghai = one_off("shanghai.toml", "S", "Asia/Shanghai", "2026-12-01T09:00:00");
    let run = Run::new(&[
        "plan",
        "--now",
        NOW,
        utc.to_str().unwrap(),
        shanghai.to_str().unwrap(),
    ]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run}");
    assert_eq!(
        run.stdout,
        "\
DEFINITION  START (MEETING TIME)                    END    START (UTC)       BOOK AT (UTC)  SUBJECT
shanghai    Tue 2026-12-01 09:00 CST Asia/Shanghai  10:00  2026-12-01 01:00  now            S
utc         Tue 2026-12-01 10:00 UTC                11:00  2026-12-01 10:00  now            U
"
    );
}

#[test]
fn fake_api_command_serves_until_sigterm_and_writes_a_journal() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"))
        .args(["fake-api", "--listen", "127.0.0.1:0", "--journal"])
        .arg(&journal)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let created = rt.block_on(async {
        let mut config = wemeet_scheduler::config::Config::default();
        config.api.base_url = url.parse().unwrap();
        config.api.app_id = "demo-app".into();
        config.api.secret_id = "demo-secret-id".into();
        let client = wemeet_scheduler::api::Client::new(
            &config.api,
            &config.retry,
            wemeet_scheduler::config::SecretKey::new("demo-secret-key"),
        )
        .unwrap();
        client
            .create(&util::api::create_request("From the CLI test", 1))
            .await
            .unwrap()
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(rest.contains("after 1 requests; 1 creates"), "{rest}");
    let lines = std::fs::read_to_string(&journal).unwrap();
    let entry: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(entry["op"], "create");
    assert_eq!(entry["meeting_id"], created.meeting_id.as_str());
    assert_eq!(entry["subject"], "From the CLI test");
}

/// `systemd-analyze verify` on the shipped unit, where systemd is installed (it is on CI's
/// machine); the unit's ExecStart is pointed at the binary under test.
#[test]
fn the_systemd_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze not installed; unit not verified");
        return;
    }
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/wemeet-scheduler.service"
    ))
    .unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/wemeet-scheduler run"));
    // Exit 2 is a refusal to start (bad config, key file or state): no restart loop.
    assert!(unit.contains("\nRestartPreventExitStatus=2\n"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wemeet-scheduler.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/wemeet-scheduler",
            env!("CARGO_BIN_EXE_wemeet-scheduler"),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

#[test]
fn plan_shows_which_bookings_wait_for_the_hourly_quota_and_until_when() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    for (i, day) in [3, 1, 2].iter().enumerate() {
        write(
            &meetings,
            &format!("m{i}.toml"),
            &format!(
                "subject = \"M{i}\"\nuserid = \"alice\"\nstart_time = 2026-12-0{day}T10:00:00Z\nduration = \"1h\"\n"
            ),
        );
    }
    let config = config_in(
        dir.path(),
        &meetings,
        "[api]\ncreates_per_hour_per_user = 2\n",
    );
    let run = Run::new(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "--now",
        NOW,
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run}");
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows = &plan["bookings"];
    let order: Vec<(&str, Option<&str>)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["definition"].as_str().unwrap(),
                r["waits"]["until"].as_str(),
            )
        })
        .collect();
    // Soonest first; the third waits an hour for alice's quota.
    assert_eq!(
        order,
        [
            ("m1", None),
            ("m2", None),
            ("m0", Some("2026-11-25T13:00:00Z"))
        ]
    );
    assert_eq!(rows[2]["waits"]["quota"], "alice's hourly create quota");
    let table = Run::new(&["plan", "--config", config.to_str().unwrap(), "--now", NOW]);
    assert!(
        table
            .stdout
            .contains("2026-11-25 13:00 (waiting for alice's hourly create quota)"),
        "{table}"
    );
}

#[test]
fn plan_detailed_exitcode_says_whether_the_next_run_changes_anything() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    std::fs::create_dir_all(&meetings).unwrap();
    let config = config_in(dir.path(), &meetings, "[defaults]\nuserid = \"u\"\n");
    let plan = || {
        Run::new(&[
            "plan",
            "--config",
            config.to_str().unwrap(),
            "--now",
            NOW,
            "--detailed-exitcode",
        ])
    };
    let run = plan();
    assert_eq!(run.code, 0, "nothing to do: {run}");
    write(
        &meetings,
        "m.toml",
        "subject = \"M\"\nstart_time = 2026-12-03T10:00:00Z\nduration = \"1h\"\n",
    );
    let run = plan();
    assert_eq!(run.code, 2, "a create at the next run: {run}");
    assert!(
        run.stdout
            .contains("  + create  m  Thu 2026-12-03 10:00 UTC  M\n"),
        "{run}"
    );
    write(&meetings, "bad.toml", "subject = 1\n");
    assert_eq!(plan().code, 1, "problems win");
}

/// With `--detailed-exitcode`, 2 means changes and nothing else: a config that is missing, or
/// readable by others with a secret in it, exits 1 (it exited 2, as if there were changes).
#[test]
fn plan_detailed_exitcode_never_says_changes_for_a_config_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    std::fs::create_dir_all(&meetings).unwrap();
    let readable = config_in(dir.path(), &meetings, "[api]\nsecret_key = \"k\"\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let missing = dir.path().join("missing.toml");
    for (config, why) in [
        (&missing, "cannot read config"),
        (&readable, "readable by group or others"),
    ] {
        let plan = |detailed: &[&str]| {
            let mut args = vec!["plan", "--config", config.to_str().unwrap(), "--now", NOW];
            args.extend(detailed);
            Run::new(&args)
        };
        let run = plan(&["--detailed-exitcode"]);
        assert_eq!(run.code, 1, "an error, not changes: {run}");
        assert!(run.stderr.contains(why), "{run}");
        let run = plan(&[]);
        assert_eq!(run.code, 2, "could not run: {run}");
        assert!(run.stderr.contains(why), "{run}");
    }
}

#[test]
fn a_shared_holiday_file_skips_dates_for_every_series() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    write(
        &meetings,
        "daily.toml",
        "subject = \"Daily\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * *\"\nbook_ahead = \"7d\"\n",
    );
    write(
        &meetings,
        "weekly.toml",
        "subject = \"Weekly\"\nduration = \"1h\"\nskip = [2026-12-02]\n[schedule]\ncron = \"0 14 * * WED\"\n",
    );
    write(
        dir.path(),
        "holidays.toml",
        "skip = [2026-11-27, 2026-11-28]\n",
    );
    let config = config_in(
        dir.path(),
        &meetings,
        "[defaults]\nuserid = \"u\"\ntimezone = \"UTC\"\nskip_file = \"holidays.toml\"\n",
    );
    let run = Run::new(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "--now",
        NOW,
        "--count",
        "8",
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run}");
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let starts: Vec<&str> = plan["bookings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["start_utc"].as_str().unwrap())
        .collect();
    // NOW is Wednesday 25 November, 12:00; in booking order (due now by start, then by
    // booking time). No 27 or 28 November (the holidays) for either series, and no weekly
    // meeting on its own skipped 2 December: its next is 9 December, booked 14 days ahead
    // (25 November 14:00), before the daily 3 December (booked 7 days ahead).
    assert_eq!(
        starts,
        [
            "2026-11-25T14:00:00Z",
            "2026-11-26T09:00:00Z",
            "2026-11-29T09:00:00Z",
            "2026-11-30T09:00:00Z",
            "2026-12-01T09:00:00Z",
            "2026-12-02T09:00:00Z",
            "2026-12-09T14:00:00Z",
            "2026-12-03T09:00:00Z"
        ]
    );
    // A broken holiday file is the config's problem, with the file's own position.
    write(
        dir.path(),
        "holidays.toml",
        "skip = [2026-11-27, \"soon\"]\n",
    );
    let run = Run::new(&[
        "validate",
        "--config",
        config.to_str().unwrap(),
        "--now",
        NOW,
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains(
            "holidays.toml:1:21: `skip[1]` must be a date; hint: write dates without quotes"
        ),
        "{run}"
    );
}

#[test]
fn status_filters_by_definition_status_and_age_and_json_carries_the_details() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp();
    let record = |def: &str, status: &str, updated_at: i64, error: Option<&str>| {
        serde_json::json!({
            "definition": def, "occurrence_start": 1_893_664_800, "occurrence_end": 1_893_668_400,
            "status": status, "userid": "u", "instanceid": 1, "subject": format!("{def} meeting"),
            "timezone": "Asia/Shanghai", "definition_hash": "h", "attempts": 2,
            "last_error": error, "error_code": error.map(|_| 9100), "updated_at": updated_at
        })
    };
    let state = serde_json::json!({"version": 1, "bookings": [
        record("team/a", "failed", now, Some("POST /v1/meetings: HTTP 500, error 9100: no permission (trace t-42)")),
        record("team/b", "pending", now - 7200, None),
        record("other/c", "booked", now, None),
    ]});
    write(dir.path(), "state.json", &state.to_string());
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            "[state]\nfile = \"{}\"\n",
            dir.path().join("state.json").display()
        ),
    );
    let status = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["status", "--config", config.to_str().unwrap(), "--json"];
        all.extend(args);
        let run = Run::new(&all);
        serde_json::from_str::<serde_json::Value>(&run.stdout)
            .unwrap_or_else(|e| panic!("{e}: {run}"))
            .as_array()
            .unwrap()
            .clone()
    };
    let defs = |rows: Vec<serde_json::Value>| -> Vec<String> {
        rows.iter()
            .map(|r| r["definition"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(defs(status(&["team/*"])), ["team/a", "team/b"]);
    assert_eq!(defs(status(&["--failed"])), ["team/a"]);
    assert_eq!(
        defs(status(&["--failed", "--pending"])),
        ["team/a", "team/b"]
    );
    assert_eq!(defs(status(&["--since", "1h"])), ["other/c", "team/a"]);
    let failed = &status(&["team/a"])[0];
    assert_eq!(failed["subject"], "team/a meeting");
    assert_eq!(failed["start"], "2030-01-03T18:00:00+08:00");
    assert_eq!(failed["end"], "2030-01-03T19:00:00+08:00");
    assert_eq!(failed["timezone"], "Asia/Shanghai");
    assert_eq!(failed["error_code"], 9100);
    assert_eq!(failed["trace"], "t-42");
    // 9100 (no permission) is a permanent refusal of this meeting.
    assert_eq!(failed["cause"], "definition");
    assert_eq!(status(&["team/b"])[0]["cause"], serde_json::Value::Null);
    assert_eq!(failed["attempts"], 2);
    assert_eq!(failed["updated_at"], now);
}

#[test]
fn plan_prints_each_problem_once() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    let bad = write(
        &meetings,
        "bad.toml",
        "subject = \"x\"\nstart_time = 2026-12-01T10:00:00Z\nduration = \"1h\"\npassword = \"12\"\n",
    );
    let config = config_in(dir.path(), &meetings, "[defaults]\nuserid = \"u\"\n");
    let run = Run::new(&["plan", "--config", config.to_str().unwrap(), "--now", NOW]);
    assert_eq!(run.code, 1, "{run}");
    // The problem and the summary, once each: no second copy as a log line.
    assert_eq!(
        run.stderr,
        format!(
            "{}:4:12: `password` must be 4 to 6 digits; hint: for example password = \"482913\"; leave it out for no password\n1 file(s) checked: 0 valid, 1 invalid (1 problem(s))\n",
            bad.display()
        )
    );
}

/// A meetings repository keeps the file of an incident bridge after the call: `validate` and
/// `plan` once failed on it ("`start_time` ... is in the past", exit 1) while the daemon took
/// it as valid, so a CI job broke as each file aged. A meeting that has ended or is under way
/// is a note (exit 0); a broken file is still a problem, whenever its times are.
fn past_meetings(d: &std::path::Path) {
    // NOW is 2026-11-25 12:00 UTC.
    write(
        d,
        "bridge.toml",
        "subject = \"Incident bridge\"\nuserid = \"me\"\nstart_time = 2026-10-02T08:00:00Z\nduration = \"2h\"\n",
    );
    write(
        d,
        "live.toml",
        "subject = \"Live\"\nuserid = \"me\"\nstart_time = 2026-11-25T11:30:00Z\nduration = \"1h\"\n",
    );
    write(
        d,
        "sprint.toml",
        "subject = \"Sprint\"\nuserid = \"me\"\nduration = \"15m\"\n[schedule]\ncron = \"0 9 * * MON\"\nuntil = 2026-11-01\n",
    );
    write(
        d,
        "next.toml",
        "subject = \"Next\"\nuserid = \"me\"\nstart_time = 2026-12-01T10:00:00Z\nduration = \"1h\"\n",
    );
}

const PAST_NOTES: &str = "DIR/bridge.toml: note: the meeting ended 2026-10-02 10:00 UTC; nothing to book
DIR/live.toml: note: the meeting is under way (2026-11-25 11:30 to 12:30 UTC); nothing new to book: if it was not booked before it started, the daemon records it as missed
DIR/sprint.toml: note: the series has no occurrence left before `schedule.until`; nothing to book
";

/// A one-off that ends before it starts, in the past: an error, not a note.
const BROKEN_PAST: &str = "subject = \"Old\"\nuserid = \"me\"\nstart_time = 2026-10-01T10:00:00Z\nend_time = 2026-10-01T09:00:00Z\n";

#[test]
fn validate_notes_meetings_that_have_passed_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    past_meetings(d);
    let validate = || {
        let run = Run::new(&["validate", "--now", NOW, d.to_str().unwrap()]);
        (run.code, run.stdout.replace(d.to_str().unwrap(), "DIR"))
    };
    assert_eq!(
        validate(),
        (
            0,
            format!(
                "{PAST_NOTES}4 file(s) checked: 4 valid (3 with a note), 0 invalid (0 problem(s))\n"
            )
        )
    );
    write(d, "old.toml", BROKEN_PAST);
    assert_eq!(
        validate(),
        (
            1,
            format!(
                "DIR/old.toml:4:12: `end_time` is not after `start_time`; hint: a meeting must end after it starts\n{PAST_NOTES}5 file(s) checked: 4 valid (3 with a note), 1 invalid (1 problem(s))\n"
            )
        )
    );
}

#[test]
fn plan_notes_meetings_that_have_passed_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    past_meetings(&meetings);
    let config = config_in(dir.path(), &meetings, "");
    let plan = || {
        let run = Run::new(&["plan", "--config", config.to_str().unwrap(), "--now", NOW]);
        let m = meetings.to_str().unwrap();
        let stdout = run.stdout.replace(dir.path().to_str().unwrap(), "TMP");
        (run.code, stdout, run.stderr.replace(m, "DIR"))
    };
    let (code, stdout, stderr) = plan();
    assert_eq!((code, stderr.as_str()), (0, PAST_NOTES), "{stdout}");
    // The meeting under way that was never booked is missed, as the note says; the ended
    // ones, nothing.
    assert_eq!(
        stdout,
        "Changes at the next run (compared with TMP/state.db):
  + create  next  Tue 2026-12-01 10:00 UTC  Next
  ! missed  live  Wed 2026-11-25 11:30 UTC  (its start had passed when the definition was first seen)

DEFINITION  START (MEETING TIME)      END    START (UTC)       BOOK AT (UTC)  SUBJECT
next        Tue 2026-12-01 10:00 UTC  11:00  2026-12-01 10:00  now            Next
"
    );
    write(&meetings, "old.toml", BROKEN_PAST);
    let (code, again, stderr) = plan();
    assert_eq!(
        (code, stderr),
        (
            1,
            format!(
                "DIR/old.toml:4:12: `end_time` is not after `start_time`; hint: a meeting must end after it starts\n{PAST_NOTES}5 file(s) checked: 4 valid (3 with a note), 1 invalid (1 problem(s))\n"
            )
        )
    );
    assert_eq!(again, stdout, "the plan of the valid files is the same");
}

/// The summary counts every problem printed above it: a broken config's too, when files are
/// named (it said "(0 problem(s))" under them).
#[test]
fn validate_counts_the_configs_problems_in_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config.toml", "[api]\ntimeout = \"soon\"\n");
    let def = write(
        dir.path(),
        "next.toml",
        "subject = \"Next\"\nuserid = \"me\"\nstart_time = 2026-12-01T10:00:00Z\nduration = \"1h\"\n",
    );
    let run = Run::new(&[
        "validate",
        "--config",
        config.to_str().unwrap(),
        "--now",
        NOW,
        def.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(
        run.stdout.replace(dir.path().to_str().unwrap(), "DIR"),
        "DIR/config.toml:2:11: `api.timeout` is not a duration: expected number at 0; hint: use a number and a unit, like \"15m\", \"1h 30m\" or \"14d\"\n1 file(s) checked: 1 valid, 0 invalid (1 problem(s))\n"
    );
}

#[test]
fn completions_and_the_man_page_are_generated_from_the_cli() {
    for (shell, marker) in [
        ("bash", "complete -F _wemeet__scheduler"),
        ("zsh", "#compdef wemeet-scheduler"),
        ("fish", "complete -c wemeet-scheduler"),
    ] {
        let run = Run::new(&["completions", shell]);
        assert_eq!(run.code, 0, "{run}");
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        assert!(
            run.stdout.contains("recover"),
            "{shell} knows the subcommands"
        );
    }
    let man = Run::new(&["man"]);
    assert_eq!(man.code, 0, "{man}");
    assert!(man.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq"), "{man}");
    assert!(man.stdout.contains(".TH wemeet-scheduler 1"), "{man}");
    assert!(man.stdout.contains("approve\\-removals"), "{man}");
}

#[test]
fn plan_shows_which_bookings_wait_for_the_monthly_create_budget() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    for (i, day) in [3, 1, 2].iter().enumerate() {
        write(
            &meetings,
            &format!("m{i}.toml"),
            &format!(
                "subject = \"M{i}\"\nuserid = \"u{i}\"\nstart_time = 2026-12-0{day}T10:00:00Z\nduration = \"1h\"\n"
            ),
        );
    }
    // One premium account: two creates a month.
    let config = config_in(dir.path(), &meetings, "[api]\npremium_accounts = 1\n");
    let run = Run::new(&[
        "plan",
        "--config",
        config.to_str().unwrap(),
        "--now",
        NOW,
        "--json",
    ]);
    assert_eq!(run.code, 0, "{run}");
    let plan: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rows = &plan["bookings"];
    let order: Vec<(&str, Option<&str>, Option<&str>)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["definition"].as_str().unwrap(),
                r["waits"]["until"].as_str(),
                r["waits"]["quota"].as_str(),
            )
        })
        .collect();
    // Soonest first; the third waits for December, China time (30 November, 16:00 UTC).
    assert_eq!(
        order,
        [
            ("m1", None, None),
            ("m2", None, None),
            (
                "m0",
                Some("2026-11-30T16:00:00Z"),
                Some("the account's monthly create budget (api.creates_per_month)")
            )
        ]
    );
    assert_eq!(
        plan["budget"],
        serde_json::json!({"month": "2026-11", "limit": 2, "used": 0, "due": 3, "over": 1,
            "until": "2026-11-30T16:00:00Z"})
    );
}

#[test]
fn plan_says_how_much_of_the_monthly_create_budget_the_month_needs() {
    let dir = tempfile::tempdir().unwrap();
    let meetings = dir.path().join("meetings");
    for (i, day) in [3, 1, 2].iter().enumerate() {
        write(
            &meetings,
            &format!("m{i}.toml"),
            &format!(
                "subject = \"M{i}\"\nuserid = \"u{i}\"\nstart_time = 2026-12-0{day}T10:00:00Z\nduration = \"1h\"\n"
            ),
        );
    }
    let plan = |extra: &str| {
        let config = config_in(dir.path(), &meetings, extra);
        Run::new(&["plan", "--config", config.to_str().unwrap(), "--now", NOW])
    };
    let table = |m0_book_at: &str| {
        format!(
            "\
Changes at the next run (compared with DIR/state.db):
  + create  m1  Tue 2026-12-01 10:00 UTC  M1
  + create  m2  Wed 2026-12-02 10:00 UTC  M2
  + create  m0  Thu 2026-12-03 10:00 UTC  M0

DEFINITION  START (MEETING TIME)      END    START (UTC)       BOOK AT (UTC){pad}  SUBJECT
m1          Tue 2026-12-01 10:00 UTC  11:00  2026-12-01 10:00  now{pad}            M1
m2          Wed 2026-12-02 10:00 UTC  11:00  2026-12-02 10:00  now{pad}            M2
m0          Thu 2026-12-03 10:00 UTC  11:00  2026-12-03 10:00  {m0_book_at}  M0
",
            pad = " ".repeat(m0_book_at.len().saturating_sub(13))
        )
    };
    let shown = |run: &Run| run.stdout.replace(&dir.path().display().to_string(), "DIR");
    // One premium account: two creates a month, and three are due before December.
    let run = plan("[api]\npremium_accounts = 1\n");
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        shown(&run),
        table(
            "2026-11-30 16:00 (waiting for the account's monthly create budget (api.creates_per_month))"
        ) + "monthly create budget 2026-11: 0 of 2 used, 3 more due before the month turns (2026-11-30 16:00 UTC)\n\
               warning: 1 booking(s) wait for next month; raise api.creates_per_month (or api.premium_accounts) if the account allows more\n"
    );
    // Ten accounts: twenty, and no warning.
    let run = plan("[api]\npremium_accounts = 10\n");
    assert_eq!(
        shown(&run),
        table("now          ")
            + "monthly create budget 2026-11: 0 of 20 used, 3 more due before the month turns (2026-11-30 16:00 UTC)\n"
    );
    // No budget set: no line.
    let run = plan("");
    assert_eq!(shown(&run), table("now          "));
}

/// A state of 8 bookings: 7 booked meetings that ended in 2020 (4 of team/a, 3 of other/c)
/// and one pending in 2030 (team/b); none failed. Returns the config that reads it.
fn seven_ended_one_pending(dir: &std::path::Path) -> std::path::PathBuf {
    let now = chrono::Utc::now().timestamp();
    let record = |def: &str, start: i64, status: &str| {
        serde_json::json!({
            "definition": def, "occurrence_start": start, "occurrence_end": start + 3600,
            "status": status, "userid": "u", "instanceid": 1, "subject": "s",
            "timezone": "Asia/Shanghai", "definition_hash": "h", "attempts": 1,
            "meeting_id": (status == "booked").then_some("m1"), "updated_at": now
        })
    };
    let mut bookings: Vec<serde_json::Value> = (0..4)
        .map(|i| record("team/a", 1_577_872_800 + i * 86_400, "booked"))
        .chain((0..3).map(|i| record("other/c", 1_577_872_800 + i * 86_400, "booked")))
        .collect();
    bookings.push(record("team/b", 1_893_664_800, "pending"));
    let state = serde_json::json!({"version": 1, "bookings": bookings});
    write(dir, "state.json", &state.to_string());
    write(
        dir,
        "config.toml",
        &format!("[state]\nfile = \"{}\"\n", dir.join("state.json").display()),
    )
}

#[test]
fn status_footers_and_empty_filters_count_only_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let config = seven_ended_one_pending(dir.path());
    let status = |args: &[&str]| {
        let mut all = vec!["status", "--config", config.to_str().unwrap()];
        all.extend(args);
        let run = Run::new(&all);
        assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run}");
        run.stdout
    };
    let pending = "\
DEFINITION  OCCURRENCE START      STATUS   MEETING ID  CODE  JOIN URL  ATTEMPTS  LAST ERROR
team/b      2030-01-03 18:00 CST  pending  -           -     -         1
";
    assert_eq!(
        status(&[]),
        format!(
            "{pending}(7 booking(s) of meetings that have ended not shown; --all shows them)\n"
        )
    );
    // None of the 7 ended meetings is pending, failed or team/b's: no footer.
    assert_eq!(status(&["--pending"]), pending);
    assert_eq!(status(&["team/b"]), pending);
    assert_eq!(status(&["--failed"]), "no failed bookings (8 on record)\n");
    assert_eq!(
        status(&["--failed", "--pending", "other/*"]),
        "no failed or pending bookings of other/* (8 on record)\n"
    );
    assert_eq!(
        status(&["team/a", "--since", "1h"]),
        "no bookings of team/a changed within 1h to show (8 on record)\n\
         (4 booking(s) of meetings that have ended not shown; --all shows them)\n"
    );
}

#[test]
fn every_page_the_man_page_names_is_written_by_man_dir() {
    let dir = tempfile::tempdir().unwrap();
    let run = Run::new(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (0, "", ""),
        "{run}"
    );
    let page = |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.1")));
    let top = page("wemeet-scheduler").unwrap();
    // The page printed is the page written.
    assert_eq!(Run::new(&["man"]).stdout, top);
    // Every `name(1)` a page names, as roff escapes it (`wemeet\-scheduler\-status(1)`), is
    // there, down to `state backup`.
    let mut named = Vec::new();
    let mut pages = vec!["wemeet-scheduler".to_string()];
    while let Some(name) = pages.pop() {
        let text = page(&name).unwrap_or_else(|e| panic!("{name}.1 is named but not written: {e}"));
        for line in text.lines() {
            if let Some(sub) = line.strip_suffix("(1)").filter(|l| !l.contains(' ')) {
                let sub = sub.replace("\\-", "-");
                named.push(sub.clone());
                pages.push(sub);
            }
        }
    }
    named.sort();
    assert!(
        named.contains(&"wemeet-scheduler-status".to_string()),
        "{named:?}"
    );
    assert!(
        named.contains(&"wemeet-scheduler-state-backup".to_string()),
        "{named:?}"
    );
    assert!(!named.iter().any(|n| n.ends_with("-help")), "{named:?}");
    let mut written: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".1")
                .to_string()
        })
        .filter(|n| n != "wemeet-scheduler")
        .collect();
    written.sort();
    assert_eq!(written, named, "no page is written that no page names");
}

#[test]
fn a_live_meeting_whose_cancel_was_refused_for_good_needs_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp();
    let record = |def: &str, start: i64, refused: &str, error: &str| {
        serde_json::json!({
            "definition": def, "occurrence_start": start, "occurrence_end": start + 3600,
            "status": "booked", "userid": "ops-bot", "instanceid": 1, "subject": "s",
            "timezone": "Asia/Shanghai", "definition_hash": "h", "attempts": 1,
            "meeting_id": format!("m-{def}"), "last_error": error, "error_code": 9100,
            "updated_at": now,
            "refused": {"kind": refused, "error_code": 9100, "at": now}
        })
    };
    let error = "POST /v1/meetings/m/cancel: HTTP 500, error 9100: no permission";
    let state = serde_json::json!({"version": 1, "bookings": [
        // Removed, its cancel refused: live until 2030.
        record("gone", 1_893_664_800, "cancel", error),
        // The same, but the meeting has ended: nothing to do any more.
        record("ended", 1_577_872_800, "cancel", error),
        // A refused modify: the meeting is as it was booked, which is not a live leftover.
        record("kept", 1_893_751_200, "modify", "PUT /v1/meetings/m: error 9100"),
    ]});
    write(dir.path(), "state.json", &state.to_string());
    let config = write(
        dir.path(),
        "config.toml",
        &format!(
            "[state]\nfile = \"{}\"\n",
            dir.path().join("state.json").display()
        ),
    );
    let run = Run::new(&["status", "--config", config.to_str().unwrap()]);
    assert_eq!((run.code, run.stderr.as_str()), (1, ""), "{run}");
    assert_eq!(
        run.stdout,
        "\
DEFINITION  OCCURRENCE START      STATUS  MEETING ID  CODE  JOIN URL  ATTEMPTS  LAST ERROR
gone        2030-01-03 18:00 CST  booked  m-gone      -     -         1         POST /v1/meetings/m/cancel: HTTP 500, error 9100: no permission
kept        2030-01-04 18:00 CST  booked  m-kept      -     -         1         PUT /v1/meetings/m: error 9100
(1 booking(s) of meetings that have ended not shown; --all shows them)

CANCELS REFUSED: 1 meeting(s) that should be cancelled stay live; the service refused the cancel for good, and it is not sent again. For each, cancel it in Tencent Meeting as its user (then `wemeet-scheduler ack` it), or restore its definition; it counts until the meeting ends or is acknowledged:
  gone (2030-01-03 18:00 CST), meeting m-gone of ops-bot: POST /v1/meetings/m/cancel: HTTP 500, error 9100: no permission
"
    );
}
