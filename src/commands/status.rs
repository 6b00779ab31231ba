//! `wemeet-scheduler status [--json]`: what the state file says, read safely while the daemon
//! runs (the daemon replaces the file atomically).

use std::io::Write;
use std::path::Path;

use chrono_tz::Tz;
use serde::Serialize;

use crate::booking::show_start;
use crate::commands::{Outcome, load_config, table};
use crate::state::{self, Record};

/// One line of `status --json`: exactly these keys.
#[derive(Serialize)]
struct Row<'a> {
    definition: &'a str,
    occurrence_start: i64,
    status: &'a str,
    meeting_id: Option<&'a str>,
    meeting_code: Option<&'a str>,
    join_url: Option<&'a str>,
    attempts: u32,
    last_error: Option<&'a str>,
}

fn row(r: &Record) -> Row<'_> {
    Row {
        definition: &r.definition,
        occurrence_start: r.occurrence_start,
        status: r.status.as_str(),
        meeting_id: r.meeting_id.as_deref(),
        meeting_code: r.meeting_code.as_deref(),
        join_url: r.join_url.as_deref(),
        attempts: r.attempts,
        last_error: r.last_error.as_deref(),
    }
}

/// Prints the bookings (and, as text, the invalid files and held removals). Without `all`,
/// meetings that have ended and need nothing more are left out. Exit 1 whenever a person is
/// needed ([`state::Attention`]): a booking failed or missed, one pending for longer than
/// `retry.alert_after`, a file invalid, removals held.
pub fn run(
    config_path: Option<&Path>,
    json: bool,
    all: bool,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let state = state::read(&config.state.file)?;
    let finished = |r: &Record| {
        r.occurrence_end < now.timestamp()
            && matches!(
                r.status,
                state::Status::Booked | state::Status::Cancelled | state::Status::Missed
            )
    };
    let mut records: Vec<&Record> = state
        .bookings
        .iter()
        .filter(|r| all || !finished(r))
        .collect();
    records.sort_by(|a, b| {
        (a.occurrence_start, &a.definition).cmp(&(b.occurrence_start, &b.definition))
    });
    if json {
        let rows: Vec<Row<'_>> = records.iter().map(|r| row(r)).collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
    } else {
        write_table(&records, config.defaults.timezone, out)?;
        let hidden = state.bookings.len() - records.len();
        if hidden > 0 {
            writeln!(
                out,
                "({hidden} booking(s) of meetings that have ended not shown; --all shows them)"
            )?;
        }
        if !state.paused.is_empty() {
            writeln!(
                out,
                "\npaused (nothing new is booked; booked meetings stay): {}",
                state.paused.join(", ")
            )?;
        }
        if !state.waiting.is_empty() {
            writeln!(out, "\nwaiting for a quota:")?;
            for w in &state.waiting {
                let until = chrono::DateTime::from_timestamp(w.until, 0)
                    .map(|t| t.format("%F %H:%M UTC").to_string())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  {}: {} booking(s) until {until} ({})",
                    w.userid, w.bookings, w.reason
                )?;
            }
        }
        if !state.held_removals.is_empty() {
            writeln!(
                out,
                "\nREMOVALS HELD: {} definition(s) vanished at once, so their meetings were not cancelled. If that was intended, run `wemeet-scheduler approve-removals`; otherwise restore the files:",
                state.held_removals.len()
            )?;
            for d in &state.held_removals {
                writeln!(out, "  {d}")?;
            }
        }
        if !state.invalid.is_empty() {
            writeln!(out, "\ninvalid definition files ({}):", state.invalid.len())?;
            for f in &state.invalid {
                for p in &f.problems {
                    writeln!(out, "  {p}")?;
                }
            }
        }
    }
    let attention = state::Attention::of(&state, now, config.retry.alert_after);
    Ok(if attention.needs_a_person() {
        Outcome::Problems
    } else {
        Outcome::Clean
    })
}

fn write_table(records: &[&Record], tz: Tz, out: &mut dyn Write) -> std::io::Result<()> {
    if records.is_empty() {
        return writeln!(out, "no bookings recorded yet");
    }
    let header = [
        "DEFINITION",
        "OCCURRENCE START",
        "STATUS",
        "MEETING ID",
        "CODE",
        "JOIN URL",
        "ATTEMPTS",
        "LAST ERROR",
    ];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            [
                r.definition.clone(),
                show_start(r.occurrence_start, r.timezone.as_deref(), tz, "%F %H:%M %Z"),
                r.status.as_str().to_string(),
                r.meeting_id.clone().unwrap_or_else(|| "-".into()),
                r.meeting_code.clone().unwrap_or_else(|| "-".into()),
                r.join_url.clone().unwrap_or_else(|| "-".into()),
                r.attempts.to_string(),
                r.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table::write(out, header, &rows)
}
