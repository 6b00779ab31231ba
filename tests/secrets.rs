//! The API secret key never shows: a known key is run through every failure path (wrong
//! key, broken config, readable config, unreachable API) and looked for in the logs (text and
//! JSON, at trace level), errors, the state file, and the output of `status`, `plan` and
//! `validate`.

mod util;

use std::path::Path;
use std::process::Command;

use util::daemon::Env;
use wemeet_scheduler::fake_api::FakeConfig;

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
    let state = std::fs::read_to_string(&env.config.state.file).unwrap();
    assert!(state.contains("200003"), "the failure is recorded: {state}");
    assert_clean("the state file", &state);

    // The key from the environment and from a key file, with the API unreachable.
    let dir = env.dir.path();
    let key_file = dir.join("secret-key");
    std::fs::write(&key_file, format!("{CANARY}\n")).unwrap();
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
