//! The API secret key never shows: a known key is run through every failure path (wrong
//! key, broken config, readable config, unreachable API) and looked for in the logs (text and
//! JSON, at trace level), errors, the state file, and the output of `status`, `plan` and
//! `validate`.

mod util;

use std::path::Path;
use std::process::Command;

use util::daemon::Env;
use wemeet_fake_api::FakeConfig;

const CANARY: &str = "S3cr3t-Canary-Key-0123456789";

fn run(args: &[&str], config: &Path, env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "trace")
        .env_remove("NOTIFY_SOCKET")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY),
        "the secret key shows in {what}:\n{text}"
    );
    assert!(
        !text.contains("S3cr3t"),
        "part of the secret key shows in {what}"
    );
}

fn chmod(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secret_key_never_appears_in_any_output() {
    // The fake expects another key, so every request fails with 200003.
    let env = Env::with_config(FakeConfig::default(), |text| {
        text.replace(
            "secret_key = \"demo-secret-key\"",
            &format!("secret_key = \"{CANARY}\""),
        )
    })
    .await;
    env.write(
        "planning.toml",
        "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n",
    );
    env.write("broken.toml", "subject = \"x\"\npassword = \"12\"\n");
    let config = env.config_path.clone();

    for args in [
        &["once"][..],
        &["once", "--log-format", "json"],
        &["status"],
        &["status", "--json"],
        &["plan"],
        &["plan", "--json"],
        &["validate"],
    ] {
        assert_clean(&format!("`{}`", args.join(" ")), &run(args, &config, &[]));
    }
    // The store's bytes: the database and its write-ahead log, as they are on disk.
    let state: String = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::read(format!("{}{suffix}", env.config.state.file.display())).ok()
        })
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect();
    assert!(state.contains("200003"), "the failure is recorded");
    assert_clean("the state store", &state);

    // The key from the environment and from a key file, with the API unreachable.
    let dir = env.dir.path();
    let key_file = dir.join("secret-key");
    std::fs::write(&key_file, format!("{CANARY}\n")).unwrap();
    chmod(&key_file, 0o600);
    let text = std::fs::read_to_string(&config).unwrap();
    // Fresh state files, so the failed booking above is tried again.
    let state_path = env.config.state.file.display().to_string();
    let unreachable = text.replace(&env.fake.base_url(), "http://127.0.0.1:9");
    let via_file = dir.join("via-file.toml");
    std::fs::write(
        &via_file,
        unreachable
            .replace(&state_path, &format!("{state_path}.2"))
            .replace(
                &format!("secret_key = \"{CANARY}\""),
                &format!("secret_key_file = \"{}\"", key_file.display()),
            ),
    )
    .unwrap();
    let out = run(&["once"], &via_file, &[]);
    assert!(
        out.contains("connect"),
        "the key was read and the API tried: {out}"
    );
    assert_clean("a run with a key file and no API", &out);
    let via_env = dir.join("via-env.toml");
    std::fs::write(
        &via_env,
        unreachable
            .replace(&state_path, &format!("{state_path}.3"))
            .replace(&format!("secret_key = \"{CANARY}\"\n"), ""),
    )
    .unwrap();
    let out = run(&["once"], &via_env, &[("WEMEET_SECRET_KEY", CANARY)]);
    assert!(
        out.contains("connect"),
        "the key was read and the API tried: {out}"
    );
    assert_clean("a run with the key in the environment", &out);

    // A syntax error on the secret's own line, and a config others can read.
    let broken = dir.join("broken.toml");
    std::fs::write(
        &broken,
        text.replace(
            &format!("secret_key = \"{CANARY}\""),
            &format!("secret_key = \"{CANARY}\" oops"),
        ),
    )
    .unwrap();
    chmod(&broken, 0o600);
    let out = run(&["validate"], &broken, &[]);
    assert!(out.contains("invalid TOML"), "{out}");
    assert_clean("a syntax error on the secret's line", &out);
    let readable = dir.join("readable.toml");
    std::fs::write(&readable, &text).unwrap();
    chmod(&readable, 0o644);
    let out = run(&["run"], &readable, &[]);
    assert!(
        out.contains("readable by group or others (mode 644)"),
        "{out}"
    );
    assert_clean("the refusal of a readable config", &out);
}

/// Runs the binary with a config whose key file is `key_file`; returns (exit code, output).
fn with_key_file(dir: &Path, key_file: &Path, args: &[&str]) -> (i32, String) {
    let config = dir.join("key-file.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:9\"\nsecret_key_file = \"{}\"\n[watch]\ndir = \"{}\"\n[state]\nfile = \"{}\"\n",
            key_file.display(),
            dir.join("meetings").display(),
            dir.join("state.json").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("meetings")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("the binary runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn key_files_are_read_with_a_bound_and_refused_when_others_can_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let big = d.join("big");
    std::fs::write(&big, "k".repeat(5000)).unwrap();
    chmod(&big, 0o600);
    let empty = d.join("empty");
    std::fs::write(&empty, "\n").unwrap();
    chmod(&empty, 0o600);
    let readable = d.join("readable");
    std::fs::write(&readable, format!("{CANARY}\n")).unwrap();
    chmod(&readable, 0o644);
    let a_dir = d.join("a-dir");
    std::fs::create_dir(&a_dir).unwrap();
    chmod(&a_dir, 0o700);
    let cases: [(&Path, &str); 5] = [
        (&big, "is larger than 4096 bytes"),
        (&empty, "is empty"),
        (
            &readable,
            "is readable by group or others (mode 644); run `chmod 600` on it",
        ),
        (&a_dir, "is not a regular file"),
        // Before: `run` read it whole and grew without end.
        (Path::new("/dev/zero"), "is not a regular file"),
    ];
    for (file, message) in cases {
        let (code, out) = with_key_file(d, file, &["validate"]);
        assert_eq!(code, 1, "validate with {}: {out}", file.display());
        assert!(
            out.contains(message),
            "validate with {}: {out}",
            file.display()
        );
        let (code, out) = with_key_file(d, file, &["once"]);
        assert_eq!(code, 2, "once with {}: {out}", file.display());
        assert!(out.contains(message), "once with {}: {out}", file.display());
        assert_clean(&format!("the refusal of {}", file.display()), &out);
    }
    // A key file that is not there yet is the server's business, not validate's.
    let (code, out) = with_key_file(d, &d.join("not-yet"), &["validate"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn the_database_password_never_appears_in_any_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("meetings")).unwrap();
    std::fs::write(
        dir.path().join("meetings/a.toml"),
        "subject = \"A\"\nstart_time = 2099-01-03T10:00:00Z\nduration = \"1h\"\n",
    )
    .unwrap();
    let config = dir.path().join("config.toml");
    // Nothing listens on port 9: every command that reads the store fails to connect.
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"http://127.0.0.1:9\"\nsecret_key = \"k\"\n[watch]\ndir = \"{}\"\n[state]\nurl = \"postgres://wemeet:{CANARY}@127.0.0.1:9/wemeet\"\ntakeover = \"3s\"\n",
            dir.path().join("meetings").display()
        ),
    )
    .unwrap();
    chmod(&config, 0o600);
    for args in [
        &["once"][..],
        &["run"],
        &["status"],
        &["status", "--json"],
        &["plan"],
        &["validate"],
        &["export", "ics"],
    ] {
        let out = run(args, &config, &[]);
        assert_clean(&format!("`{}`", args.join(" ")), &out);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"))
        .args(["once", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "a database that is down is worth a restart"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("postgres://wemeet:***@127.0.0.1:9/wemeet"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // In a config others can read, a password in the URL is refused.
    chmod(&config, 0o644);
    let out = run(&["validate"], &config, &[]);
    assert!(
        out.contains("`state.url` holds a password but the config file is readable by group or others (mode 644)"),
        "{out}"
    );
    assert_clean("the refusal of a readable config", &out);
}
