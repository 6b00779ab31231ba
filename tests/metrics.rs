//! The metrics as the README names them: every metric name it mentions is one a scrape shows,
//! and every name a scrape can show is in it (the README said `wemeet_notifications` for
//! `wemeet_notifications_total`).

use std::collections::BTreeSet;

use wemeet_scheduler::metrics::Metrics;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The metric names in `text`: words that start with `wemeet_` or `process_`, up to a label
/// set or anything else, but for file names (`wemeet_docs_fake.py`).
fn mentioned(text: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut out = BTreeSet::new();
    for (at, _) in text.match_indices(['w', 'p']) {
        let rest = &text[at..];
        let starts_a_word = !text[..at].ends_with(word);
        if !starts_a_word || !(rest.starts_with("wemeet_") || rest.starts_with("process_")) {
            continue;
        }
        let end = rest.find(|c| !word(c)).unwrap_or(rest.len());
        let after = &rest[end..];
        let a_file =
            after.starts_with('.') && after[1..].starts_with(|c: char| c.is_alphanumeric());
        if !a_file {
            out.insert(rest[..end].to_string());
        }
    }
    out
}

/// Whether a scrape can show `name`: a registered name, or a histogram's series of one.
fn shown(name: &str, registered: &BTreeSet<String>) -> bool {
    registered.contains(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| registered.contains(base))
        })
}

#[test]
fn the_readme_names_every_metric_and_no_other() {
    let metrics = Metrics::new();
    let registered: BTreeSet<String> = metrics.names().iter().cloned().collect();
    let readme = mentioned(&readme());
    let unknown: Vec<&String> = readme.iter().filter(|n| !shown(n, &registered)).collect();
    assert!(
        unknown.is_empty(),
        "the README names metrics the daemon does not have: {unknown:?}"
    );
    let missing: Vec<&String> = registered.difference(&readme).collect();
    assert!(
        missing.is_empty(),
        "the README does not name these metrics: {missing:?}"
    );
}

/// What [`Metrics::names`] lists is what a scrape shows: each `# TYPE` line of the text is a
/// name it lists (with `_total` for a counter), so the README test above holds the real names.
#[test]
fn the_names_listed_are_the_names_a_scrape_shows() {
    let metrics = Metrics::new();
    let registered: BTreeSet<&str> = metrics.names().iter().map(String::as_str).collect();
    let text = metrics.text();
    let typed: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| match l.split_once(' ') {
            Some((name, "counter")) => format!("{name}_total"),
            Some((name, _)) => name.to_string(),
            None => l.to_string(),
        })
        .collect();
    // Families show once they have a series; the rest show from the start.
    assert!(typed.len() >= 10, "{text}");
    for name in &typed {
        assert!(registered.contains(name.as_str()), "{name} is not listed");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("wemeet_build_info{version=")),
        "{text}"
    );
}

#[test]
fn names_are_read_as_a_scraper_reads_them() {
    let text = "`wemeet_bookings{status}`, wemeet_a_total and `process_open_fds`; \
                not `../fakes/wemeet_docs_fake.py`, not xwemeet_no.";
    let found: Vec<String> = mentioned(text).into_iter().collect();
    assert_eq!(
        found,
        ["process_open_fds", "wemeet_a_total", "wemeet_bookings"]
    );
}

/// The sample alert rules: the README shows the file as it is, every metric they use is one a
/// scrape shows, and `promtool check rules` accepts them where it is installed (`.ci/run`
/// installs it; elsewhere the check says plainly that it did not run, and under `CI=true` that
/// is a failure).
#[test]
fn the_sample_alert_rules_are_the_readmes_and_promtool_accepts_them() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/prometheus/wemeet-scheduler.rules.yml"
    );
    let rules = std::fs::read_to_string(path).unwrap();
    assert!(
        readme().contains(&format!("```yaml\n{rules}```\n")),
        "the README's alert rules are not {path}"
    );
    let registered: BTreeSet<String> = Metrics::new().names().iter().cloned().collect();
    let used = mentioned(&rules);
    assert!(used.len() >= 5, "{used:?}");
    for name in &used {
        assert!(
            shown(name, &registered),
            "the rules use {name}, which no scrape shows"
        );
    }
    let promtool = std::process::Command::new("promtool")
        .args(["check", "rules", path])
        .output();
    match promtool {
        Ok(out) => assert!(
            out.status.success(),
            "promtool check rules: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("promtool must run in CI: {e}")
        }
        Err(e) => {
            eprintln!("NOT RUN: promtool check rules: {e} (Debian: apt-get install prometheus)")
        }
    }
}
