//! `wemeet-scheduler plan [--count N] [--json] [PATH...]`: the bookings the daemon would make,
//! in the order it would make them, with when each is booked and (with `--json`) the exact create request.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::api::model::CreateMeeting;
use crate::commands::validate::{report, scan_for};
use crate::commands::{Outcome, load_config};
use crate::plan::{Wanted, upcoming};

pub struct Options<'a> {
    pub config: Option<&'a Path>,
    pub paths: &'a [PathBuf],
    pub count: usize,
    pub json: bool,
    pub now: DateTime<Utc>,
}

/// One line of `plan --json`.
#[derive(Serialize)]
struct Row<'a> {
    definition: &'a str,
    /// Unix seconds: the occurrence's key, as in the state file and `status --json`.
    occurrence_start: i64,
    timezone: &'a str,
    start: String,
    end: String,
    start_utc: String,
    end_utc: String,
    /// When the booking is made; `null` for one-off meetings (as soon as the daemon sees them).
    book_at: Option<String>,
    request: &'a CreateMeeting,
}

/// Runs `plan`. Bookings go to `out`; problems with definitions go to `err`.
pub fn run(opts: Options<'_>, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Outcome> {
    let config = load_config(opts.config)?;
    let scan = scan_for(&config, opts.paths, opts.now)?;
    if !scan.invalid.is_empty() {
        report(&scan, err)?;
    }
    let next = upcoming(
        &scan.definitions,
        config.api.user_format,
        opts.now,
        opts.count,
    );
    if opts.json {
        let rows: Vec<Row<'_>> = next.iter().map(row).collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
    } else {
        write_table(&next, opts.now, out)?;
    }
    Ok(if scan.invalid.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Problems
    })
}

fn rfc3339<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn row(w: &Wanted) -> Row<'_> {
    Row {
        definition: &w.key.definition,
        occurrence_start: w.key.start,
        timezone: w.timezone.name(),
        start: rfc3339(&w.start.with_timezone(&w.timezone)),
        end: rfc3339(&w.end.with_timezone(&w.timezone)),
        start_utc: rfc3339(&w.start),
        end_utc: rfc3339(&w.end),
        book_at: w.book_at.map(|t| rfc3339(&t)),
        request: &w.request,
    }
}

fn write_table(next: &[Wanted], now: DateTime<Utc>, out: &mut dyn Write) -> std::io::Result<()> {
    if next.is_empty() {
        return writeln!(out, "nothing to book");
    }
    let header = [
        "DEFINITION",
        "START (MEETING TIME)",
        "END",
        "START (UTC)",
        "BOOK AT (UTC)",
        "SUBJECT",
    ];
    let rows: Vec<[String; 6]> = next
        .iter()
        .map(|w| {
            let start = w.start.with_timezone(&w.timezone);
            let end = w.end.with_timezone(&w.timezone);
            let end_fmt = if end.date_naive() == start.date_naive() {
                "%H:%M"
            } else {
                "%F %H:%M"
            };
            [
                w.key.definition.clone(),
                format!("{} {}", start.format("%a %F %H:%M %Z"), w.timezone.name()),
                end.format(end_fmt).to_string(),
                w.start.format("%F %H:%M").to_string(),
                match w.book_at {
                    Some(t) if t > now => t.format("%F %H:%M").to_string(),
                    _ => "now".to_string(),
                },
                w.request.subject.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        s
    };
    writeln!(out, "{}", line(&header.map(String::from)))?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}
