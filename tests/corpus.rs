//! The bad-input corpus: every broken definition and config under `tests/fixtures/` must
//! produce the error its `EXPECTED` file names (line, column, message), through `validate`
//! and through a live daemon that books the good files beside them; hard cases (huge, binary,
//! not UTF-8, a FIFO, a symlink out, a file deleted while read) are made at run time; and
//! random input never panics the parser.

mod util;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use util::daemon::Env;
use wemeet_fake_api::FakeConfig;
use wemeet_scheduler::config::{Config, Defaults, UserFormat};
use wemeet_scheduler::daemon::Mode;
use wemeet_scheduler::definition;
use wemeet_scheduler::plan;
use wemeet_scheduler::scan::{self, Found};
use wemeet_scheduler::schedule::MAX_OCCURRENCES_PER_WINDOW;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

/// `name -> expected first problem` from an `EXPECTED` file.
fn expected(dir: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join(dir).join("EXPECTED")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (name, want) = l.split_once(": ").unwrap();
            (name.to_string(), want.to_string())
        })
        .collect()
}

fn fixture_defaults() -> Defaults {
    Config::load(&Path::new(FIXTURES).join("config.toml"))
        .unwrap()
        .defaults
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_broken_definition_reports_its_error_at_its_line() {
    let dir = Path::new(FIXTURES).join("definitions");
    let want = expected("definitions");
    let files = toml_files(&dir);
    assert!(
        files.len() >= 50,
        "{} definitions in the corpus",
        files.len()
    );
    assert_eq!(files.len(), want.len(), "every fixture has an expectation");
    let defaults = fixture_defaults();
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let problems = definition::load(&file, &name, &defaults, now())
            .err()
            .unwrap_or_else(|| panic!("{name} validated"));
        let first = problems[0].to_string();
        let first = first.strip_prefix(&format!("{}:", file.display())).unwrap();
        let expect = &want[&name];
        assert!(
            first.starts_with(expect.as_str()),
            "{name}:\n  want {expect}\n  got  {first}"
        );
    }
}

#[test]
fn every_broken_config_reports_its_error_at_its_line() {
    let dir = Path::new(FIXTURES).join("configs");
    let want = expected("configs");
    let files = toml_files(&dir);
    assert!(files.len() >= 10, "{} configs in the corpus", files.len());
    assert_eq!(files.len(), want.len(), "every fixture has an expectation");
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let err = Config::parse(&file, &text, Some(0o600))
            .err()
            .unwrap_or_else(|| panic!("{name} loaded"));
        let shown = err.to_string();
        let first = shown.lines().nth(1).unwrap().trim();
        let first = first.strip_prefix(&format!("{}:", file.display())).unwrap();
        let expect = &want[&name];
        assert!(
            first.starts_with(expect.as_str()),
            "{name}:\n  want {expect}\n  got  {first}"
        );
    }
}

#[test]
fn the_validate_command_reports_the_corpus_and_exits_1() {
    let run = util::Run::new(&[
        "validate",
        "--config",
        &format!("{FIXTURES}/config.toml"),
        "--now",
        "2026-11-25T12:00:00Z",
        &format!("{FIXTURES}/definitions"),
    ]);
    assert_eq!(run.code, 1, "{run}");
    let n = expected("definitions").len();
    let summary = run.stdout.lines().last().unwrap();
    assert!(
        summary.starts_with(&format!("{n} file(s) checked: 0 valid, {n} invalid")),
        "{summary}"
    );
}

/// The cases that cannot live in the repository as files.
fn hard_cases(dir: &Path, outside: &Path) -> Vec<(&'static str, &'static str)> {
    let mut huge = b"subject = \"x\"\n".to_vec();
    huge.extend(std::iter::repeat_n(b'#', 1024 * 1024 + 1));
    std::fs::write(dir.join("huge.toml"), huge).unwrap();
    std::fs::write(
        dir.join("binary.toml"),
        [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d,
        ],
    )
    .unwrap();
    std::fs::write(dir.join("latin1.toml"), b"subject = \"R\xe9union\"\n").unwrap();
    std::fs::write(outside.join("elsewhere.toml"), "subject = \"x\"\n").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.join("elsewhere.toml"), dir.join("link-out.toml"))
            .unwrap();
        let ok = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo.toml"))
            .status()
            .unwrap();
        assert!(ok.success());
        // A name that is not UTF-8 (Latin-1 "Réunion"): reported under its lossy name.
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"R\xe9union.toml");
        std::fs::write(dir.join(name), "subject = \"x\"\n").unwrap();
    }
    vec![
        ("huge.toml", "a definition may have at most 1 MiB"),
        ("binary.toml", "1:1: file is not valid UTF-8"),
        ("latin1.toml", "1:13: file is not valid UTF-8"),
        (
            "link-out.toml",
            "symlink points outside the watch directory",
        ),
        ("fifo.toml", "not a regular file"),
        ("R\u{fffd}union.toml", "file name is not UTF-8; not read"),
    ]
}

#[test]
fn huge_binary_non_utf8_fifo_and_symlinked_out_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let cases = hard_cases(dir.path(), outside.path());
    let scanned = scan::scan_dir(dir.path(), &fixture_defaults(), now()).unwrap();
    assert!(scanned.definitions.is_empty());
    for (name, want) in cases {
        let inv = scanned
            .invalid
            .iter()
            .find(|i| i.path.to_string_lossy().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not reported: {:?}", scanned.invalid));
        let shown = inv.problems[0].to_string();
        assert!(shown.contains(want), "{name}: {shown}");
    }
    // A BOM is accepted.
    let bom = dir.path().join("bom.toml");
    std::fs::write(
        &bom,
        "\u{feff}subject = \"x\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n",
    )
    .unwrap();
    assert!(definition::load(&bom, "bom", &fixture_defaults(), now()).is_ok());
}

#[test]
fn a_file_deleted_between_listing_and_reading_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.toml");
    std::fs::write(&path, "subject = \"x\"\n").unwrap();
    let found = vec![Found {
        id: "gone".into(),
        path: path.clone(),
    }];
    std::fs::remove_file(&path).unwrap();
    let scanned = scan::load_found(&found, &fixture_defaults(), now());
    assert!(
        scanned.invalid[0].problems[0]
            .message
            .starts_with("cannot read")
    );
    // The daemon's catalog treats it as removed.
    let mut catalog = wemeet_scheduler::watch::Catalog::new(dir.path());
    let changes = catalog
        .refresh(&[path], &fixture_defaults(), now())
        .unwrap();
    assert!(!changes.any());
}

#[tokio::test]
async fn a_live_daemon_books_the_good_files_beside_the_whole_corpus() {
    let env = Env::new(FakeConfig::default()).await;
    let corpus = Path::new(FIXTURES).join("definitions");
    for file in toml_files(&corpus) {
        std::fs::copy(&file, env.watch_dir().join(file.file_name().unwrap())).unwrap();
    }
    let outside = tempfile::tempdir().unwrap();
    let hard = hard_cases(env.watch_dir(), outside.path());
    for (i, name) in ["good-a", "good-b", "good-c"].iter().enumerate() {
        env.write(
            &format!("{name}.toml"),
            &format!(
                "subject = \"{name}\"\nstart_time = 2030-01-0{}T10:00:00Z\nduration = \"1h\"\n",
                i + 3
            ),
        );
    }
    let summary = env.start(Mode::Once).finish().await;
    assert_eq!(summary.booked, 3);
    assert_eq!(env.creates(), 3);
    let state = env.state();
    let expect = expected("definitions").len() + hard.len();
    assert_eq!(
        state.invalid.len(),
        expect,
        "{:#?}",
        state.invalid.iter().map(|i| &i.path).collect::<Vec<_>>()
    );
    let password = state
        .invalid
        .iter()
        .find(|i| i.path.ends_with("password-short.toml"))
        .unwrap();
    assert!(password.problems[0].ends_with("password-short.toml:4:12: `password` must be 4 to 6 digits; hint: for example password = \"482913\"; leave it out for no password"));
}

fn defaults() -> Defaults {
    let mut d = Config::default().defaults;
    d.userid = Some("u".into());
    d
}

/// Pieces of TOML, valid and not, that random documents are assembled from.
fn line() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "subject",
        "userid",
        "instanceid",
        "type",
        "hosts",
        "invitees",
        "password",
        "start_time",
        "end_time",
        "duration",
        "timezone",
        "cron",
        "book_ahead",
        "from",
        "until",
        "mute_all",
        "x",
        "\"quoted key\"",
        "a.b",
        "",
    ]);
    let values = prop::sample::select(vec![
        "\"x\"",
        "\"\"",
        "1",
        "-1",
        "0",
        "9223372036854775807",
        "99999999999999999999",
        "1.5",
        "nan",
        "inf",
        "true",
        "2030-01-03T10:00:00Z",
        "2030-01-03T10:00:00",
        "2030-01-03",
        "10:00:00",
        "[]",
        "[1, \"a\"]",
        "{ userid = \"a\" }",
        "[{ }]",
        "\"0 9 * * *\"",
        "\"61 * * * *\"",
        "\"1h\"",
        "\"0s\"",
        "\"100y\"",
        "\"1000000y\"",
        "\"Asia/Shanghai\"",
        "\"1796090400\"",
        "\"\\u0000\"",
        "[[[[[]]]]]",
        "\"unterminated",
        "'''multi\nline'''",
    ]);
    prop_oneof![
        (keys, values).prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(vec![
            "[schedule]",
            "[settings]",
            "[extra]",
            "[[hosts]]",
            "[schedule.x]",
            "[",
            "# c",
            "="
        ])
        .prop_map(String::from),
        ".{0,20}",
    ]
}

/// A series with a random rule (dense, sparse, DST-prone, odd days) and random lengths,
/// windows and zones, huge ones included.
fn schedule_doc() -> impl Strategy<Value = String> {
    let pick = |v: &[&'static str]| prop::sample::select(v.to_vec());
    let rule = (
        pick(&["", "* ", "0 ", "0,30 ", "*/20 "]),
        pick(&["*", "*/1", "*/5", "0", "0,30", "59", "0-59/7"]),
        pick(&["*", "*/2", "0", "1,13", "2-3", "23"]),
        pick(&["*", "*/2", "L", "29", "31", "15W", "1-7"]),
        pick(&["*", "2", "FEB-MAR", "*/6"]),
        pick(&["*", "MON-FRI", "FRI#1", "5L", "0"]),
    )
        .prop_map(|(s, m, h, dom, mon, dow)| format!("{s}{m} {h} {dom} {mon} {dow}"));
    (
        rule,
        pick(&["1s", "1m", "15m", "24h", "25h", "100y", "1000000y"]),
        pick(&["1s", "1h", "14d", "366d", "367d", "100y", "1000000y"]),
        pick(&["UTC", "America/New_York", "America/Santiago", "Australia/Lord_Howe"]),
        pick(&["", "from = 2027-03-14\n", "until = 2027-04-03\n", "until = 9999-12-31\n"]),
    )
        .prop_map(|(rule, duration, ahead, tz, window)| {
            format!(
                "subject = \"x\"\nduration = \"{duration}\"\ntimezone = \"{tz}\"\n[schedule]\ncron = \"{rule}\"\nbook_ahead = \"{ahead}\"\n{window}"
            )
        })
}

proptest! {
    // 512 cases in CI; PROPTEST_CASES=N for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_text_never_panics_the_parser(text in ".{0,400}") {
        let _ = definition::parse(Path::new("r.toml"), "r", &text, &defaults(), now());
        let _ = Config::parse(Path::new("c.toml"), &text, Some(0o600));
    }

    #[test]
    fn random_toml_documents_never_panic_the_parser(lines in prop::collection::vec(line(), 0..25)) {
        let text = lines.join("\n");
        let _ = definition::parse(Path::new("r.toml"), "r", &text, &defaults(), now());
        let _ = Config::parse(Path::new("c.toml"), &text, Some(0o644));
    }

    #[test]
    fn random_schedules_never_panic_plan_or_the_next_wake(doc in schedule_doc()) {
        let Ok(def) = definition::parse(Path::new("r.toml"), "r", &doc, &defaults(), now()) else {
            return Ok(());
        };
        let format = UserFormat::Object;
        // What is due now is bounded by the per-window limit.
        let due = plan::wanted([&def], format, now(), now());
        prop_assert!(due.len() as u64 <= MAX_OCCURRENCES_PER_WINDOW, "{} due for {doc}", due.len());
        let _ = plan::next_due([&def], now());
        let _ = plan::upcoming([&def], format, now(), 50);
    }
}
