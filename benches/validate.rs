//! Validation speed: 10,000 definition files (70% recurring, 30% one-off, in 100 folders)
//! read, parsed and validated, in-process and by the `validate` command as a user runs it.
//!
//! Run: `cargo bench --bench validate` (optionally `-- FILES RUNS`). Prints a table;
//! `docs/performance.md` quotes it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use wemeet_scheduler::config::Config;
use wemeet_scheduler::scan;

fn write_corpus(dir: &Path, files: usize) {
    let crons = [
        "30 9 * * MON-FRI",
        "0 14 * * TUE,THU",
        "0 16 * * FRI#1",
        "15 10 1 * *",
        "0 */4 * * *",
    ];
    let zones = ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"];
    for i in 0..files {
        let folder = dir.join(format!("team-{:03}", i % 100));
        std::fs::create_dir_all(&folder).expect("create bench folder");
        let text = if i % 10 < 7 {
            format!(
                "subject = \"Series {i}\"\nuserid = \"user{i}\"\nduration = \"30m\"\ninvitees = [\"a{i}\", \"b{i}\", {{ userid = \"c{i}\", nick_name = \"C\" }}]\n\n[schedule]\ncron = \"{}\"\ntimezone = \"{}\"\nbook_ahead = \"7d\"\nuntil = 2027-12-31\n\n[settings]\nmute_enable_join = true\n",
                crons[i % crons.len()],
                zones[i % zones.len()]
            )
        } else {
            format!(
                "subject = \"One-off {i}\"\nuserid = \"user{i}\"\npassword = \"{:06}\"\nstart_time = 2027-0{}-1{}T10:00:00\nend_time = 2027-0{}-1{}T11:00:00\ntimezone = \"{}\"\n\n[extra]\nlocation = \"Room {i}\"\n",
                i % 1_000_000,
                1 + i % 9,
                i % 10,
                1 + i % 9,
                i % 10,
                zones[i % zones.len()]
            )
        };
        std::fs::write(folder.join(format!("meeting-{i}.toml")), text).expect("write bench file");
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let files: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);

    let dir = tempfile::tempdir().expect("temp dir");
    write_corpus(dir.path(), files);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 12, 0, 0)
        .single()
        .expect("valid time");
    let defaults = Config::default().defaults;

    let mut in_process = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let s = scan::scan_dir(dir.path(), &defaults, now).expect("scan");
        in_process.push(t.elapsed());
        assert_eq!(
            s.definitions.len(),
            files,
            "every bench file is valid: {:?}",
            s.invalid.first()
        );
    }

    let mut command = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_wemeet-scheduler"))
            .args(["validate", "--now", "2026-11-25T12:00:00Z"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run validate");
        command.push(t.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    let per_sec = |d: Duration| files as f64 / d.as_secs_f64();
    println!("validate benchmark: {files} files, median of {runs} runs");
    println!("| what | median | files/s |");
    println!("|---|---|---|");
    let a = median(in_process);
    let b = median(command);
    println!(
        "| scan_dir (read + parse + validate, in-process) | {:.0} ms | {:.0} |",
        a.as_secs_f64() * 1e3,
        per_sec(a)
    );
    println!(
        "| `wemeet-scheduler validate DIR` (whole process) | {:.0} ms | {:.0} |",
        b.as_secs_f64() * 1e3,
        per_sec(b)
    );
}
