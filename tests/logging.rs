//! Log lines as systemd's journal and log shippers read them: the priority prefix under
//! `JOURNAL_STREAM`, and the API error's code, trace and cause as JSON fields.

mod util;

use std::process::Stdio;

use util::daemon::Env;
use wemeet_fake_api::{ErrorFault, FakeConfig, FaultSpec, Faults};

/// One JSON log line, as `--log-format json` writes it.
#[derive(Debug, serde::Deserialize)]
struct Line {
    level: String,
    fields: Fields,
}

/// The fields of a JSON log line that tell about a booking and an API error.
#[derive(Debug, serde::Deserialize)]
struct Fields {
    message: String,
    booking: Option<String>,
    error_code: Option<i64>,
    trace: Option<String>,
    cause: Option<String>,
}

const ONE_OFF: &str =
    "subject = \"Planning\"\nstart_time = 2030-01-03T10:00:00Z\nduration = \"1h\"\n";

/// A fake that refuses every create with 9100 (no permission), a booking due, and a broken
/// definition file: `once` logs an error, warnings, info and debug lines.
async fn refusing() -> Env {
    let env = Env::new(FakeConfig {
        faults: Faults {
            create_error: Some(ErrorFault {
                code: 9100,
                status: 500,
                spec: FaultSpec::Rate(1.0),
            }),
            ..Faults::default()
        },
        ..FakeConfig::default()
    })
    .await;
    env.write("planning.toml", ONE_OFF);
    env.write("broken.toml", "subject = 1\n");
    env
}

/// What `JOURNAL_STREAM` says.
#[derive(Clone, Copy, PartialEq)]
enum Stream {
    /// Not set: not under systemd.
    Unset,
    /// The device and inode of the file stderr goes to, as systemd sets it for the stream it
    /// connects.
    Stderr,
    /// Another stream's: inherited by a process whose stderr goes elsewhere.
    Other,
}

/// Runs `once` at debug level with stderr into a file and `JOURNAL_STREAM` as `stream` says.
/// Returns stderr.
fn once(env: &Env, extra: &[&str], stream: Stream) -> String {
    use std::os::unix::fs::MetadataExt as _;
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = env.dir.path().join(format!("stderr-{n}"));
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let mut command = env.command("once");
    command
        .args(extra)
        .env("RUST_LOG", "debug")
        .env_remove("JOURNAL_STREAM")
        .stderr(Stdio::from(file));
    match stream {
        Stream::Unset => {}
        Stream::Stderr => {
            command.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
        }
        Stream::Other => {
            command.env(
                "JOURNAL_STREAM",
                format!("{}:{}", meta.dev(), meta.ino() + 1),
            );
        }
    }
    command.status().unwrap();
    std::fs::read_to_string(&path).unwrap()
}

/// The level word each sd-daemon(3) priority prefix stands for.
const PRIORITIES: [(&str, &str); 5] = [
    ("<3>", "ERROR "),
    ("<4>", " WARN "),
    ("<6>", " INFO "),
    ("<7>", "DEBUG "),
    ("<7>", "TRACE "),
];

#[tokio::test(flavor = "multi_thread")]
async fn under_journald_every_line_starts_with_its_priority() {
    let env = refusing().await;
    let text = once(&env, &[], Stream::Stderr);
    let mut seen = std::collections::BTreeSet::new();
    for line in text.lines() {
        // The prefix, then the level (no timestamp: journald adds its own).
        let found = PRIORITIES.iter().find(|(prefix, level)| {
            line.strip_prefix(prefix)
                .is_some_and(|l| l.starts_with(level))
        });
        let Some((prefix, _)) = found else {
            panic!("a line without its priority: {line:?} in\n{text}");
        };
        seen.insert(*prefix);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["<3>", "<4>", "<6>", "<7>"],
        "an error, warnings, info and debug lines:\n{text}"
    );
    // JSON lines for a log shipper reading the journal carry it too.
    let json = once(&env, &["--log-format", "json"], Stream::Stderr);
    for line in json.lines() {
        let (prefix, rest) = line.split_at(3);
        let event: Line = serde_json::from_str(rest).expect(line);
        assert!(
            PRIORITIES.contains(&(prefix, &format!("{:>5} ", event.level))),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn away_from_journald_lines_carry_a_timestamp_and_no_priority() {
    let env = refusing().await;
    for stream in [Stream::Unset, Stream::Other] {
        let text = once(&env, &[], stream);
        assert!(text.lines().count() > 5, "{text}");
        for line in text.lines() {
            // Like 2030-01-01T00:00:00.000000Z.
            let stamp = line.split(' ').next().unwrap_or_default();
            assert!(
                stamp.len() > 20 && stamp.as_bytes()[4] == b'-' && stamp.ends_with('Z'),
                "a line without its timestamp: {line:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_carry_the_error_code_trace_and_cause_as_fields() {
    let env = refusing().await;
    let text = once(&env, &["--log-format", "json"], Stream::Unset);
    let lines: Vec<Line> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    let failed: Vec<&Fields> = lines
        .iter()
        .filter(|l| l.level == "ERROR")
        .map(|l| &l.fields)
        .collect();
    let [failed] = failed[..] else {
        panic!("one error line: {text}");
    };
    assert_eq!(failed.booking.as_deref(), Some("planning@1893664800"));
    assert_eq!(failed.error_code, Some(9100));
    // The trace id the server sent, as the record keeps it for a support ticket.
    let trace = failed.trace.as_deref().expect("a trace field");
    let recorded = env.state().bookings[0]
        .last_error
        .clone()
        .unwrap_or_default();
    assert!(
        recorded.ends_with(&format!("(trace {trace})")),
        "{recorded}"
    );
    assert_eq!(failed.cause.as_deref(), Some(&*recorded));
    // The message names what happened and what to do (9100: the app's or the user's
    // permission, not the definition); the variable parts are the fields.
    assert_eq!(
        failed.message,
        "booking failed; no permission: the definition is not at fault; check in the Tencent Meeting admin console that the API app is authorised for this user's account and that the user may book meetings, then `wemeet-scheduler retry` it"
    );
}
