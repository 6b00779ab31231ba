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
    subject: &'a str,
    /// Start and end in the meeting's time zone (RFC 3339), and the zone.
    start: String,
    end: String,
    timezone: &'a str,
    meeting_id: Option<&'a str>,
    meeting_code: Option<&'a str>,
    join_url: Option<&'a str>,
    /// Create calls made.
    attempts: u32,
    last_error: Option<&'a str>,
    error_code: Option<i64>,
    /// For a failed booking, what to fix: `credentials`, `quota`, `definition` or `service`.
    cause: Option<&'static str>,
    /// The `X-TC-Trace` id of the last error, for a support ticket.
    trace: Option<&'a str>,
    /// Unix seconds of the record's last change.
    updated_at: i64,
    /// Unix seconds when its failure, miss or refused cancel was acknowledged (`ack`, or by
    /// the daemon when its definition is gone).
    acknowledged_at: Option<i64>,
}

fn row(r: &Record, fallback: Tz) -> Row<'_> {
    let zone: Tz = r
        .timezone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(fallback);
    let at = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|t| {
                t.with_timezone(&zone)
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            })
            .unwrap_or_default()
    };
    Row {
        definition: &r.definition,
        occurrence_start: r.occurrence_start,
        status: r.status.as_str(),
        subject: &r.subject,
        start: at(r.occurrence_start),
        end: at(r.occurrence_end),
        timezone: r.timezone.as_deref().unwrap_or(zone.name()),
        meeting_id: r.meeting_id.as_deref(),
        meeting_code: r.meeting_code.as_deref(),
        join_url: r.join_url.as_deref(),
        attempts: r.attempts,
        last_error: r.last_error.as_deref(),
        error_code: r.error_code,
        cause: (r.status == state::Status::Failed).then(|| cause(r.error_code)),
        trace: r.last_error.as_deref().and_then(trace_of),
        updated_at: r.updated_at,
        acknowledged_at: r.acknowledged,
    }
}

/// What a failure's code says to fix: the credentials (config), a quota (wait), the definition
/// (the service refuses this meeting), or the service (anything else: unclear answers,
/// unknown codes, no permission...).
fn cause(code: Option<i64>) -> &'static str {
    use crate::api::error::{Treatment, codes};
    match code {
        Some(c) if codes::CREDENTIALS.contains(&c) => "credentials",
        Some(c) if codes::QUOTA.contains(&c) => "quota",
        Some(c) if crate::api::error::treatment_of(c) == Some(Treatment::Permanent) => "definition",
        _ => "service",
    }
}

/// The trace id an API error carries: `... (trace abc-123)`.
fn trace_of(error: &str) -> Option<&str> {
    let start = error.rfind("(trace ")? + "(trace ".len();
    error[start..].split(')').next().filter(|t| !t.is_empty())
}

/// Which bookings `status` shows.
#[derive(Debug, Default)]
pub struct Filter {
    /// Definition ids or globs (`team/*`); none: all.
    pub definitions: Vec<String>,
    pub failed: bool,
    pub pending: bool,
    /// Changed within this long.
    pub since: Option<std::time::Duration>,
}

impl Filter {
    fn keeps(&self, r: &Record, now: chrono::DateTime<chrono::Utc>) -> bool {
        let statuses = self.failed || self.pending;
        (self.definitions.is_empty()
            || self
                .definitions
                .iter()
                .any(|p| glob_match(p, &r.definition)))
            && (!statuses
                || (self.failed && r.status == state::Status::Failed)
                || (self.pending && r.status == state::Status::Pending))
            && self.since.is_none_or(|since| {
                let since = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
                r.updated_at >= now.timestamp().saturating_sub(since)
            })
    }

    /// What it keeps, said as `status` says it: "bookings", "failed bookings of team/*",
    /// "failed or pending bookings changed within 1h".
    fn kept(&self) -> String {
        let mut what = match (self.failed, self.pending) {
            (true, true) => "failed or pending bookings",
            (true, false) => "failed bookings",
            (false, true) => "pending bookings",
            (false, false) => "bookings",
        }
        .to_string();
        if !self.definitions.is_empty() {
            what.push_str(" of ");
            what.push_str(&self.definitions.join(", "));
        }
        if let Some(since) = self.since {
            what.push_str(&format!(
                " changed within {}",
                humantime::format_duration(since)
            ));
        }
        what
    }
}

pub use crate::definition::glob_match;

/// Prints the bookings (and, as text, the invalid files and held removals). Without `all`,
/// meetings that have ended and need nothing more are left out. Exit 1 whenever a person is
/// needed ([`state::Attention`]): a booking failed or missed, one pending for longer than
/// `retry.alert_after`, a file invalid, removals held, a meeting live whose cancel was refused.
pub fn run(
    config_path: Option<&Path>,
    json: bool,
    all: bool,
    filter: &Filter,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let config = load_config(config_path)?;
    let state = crate::store::read_for(&config.state)?;
    // Ended, and needing nothing more (what needs a person is shown until it is dealt with).
    let finished = |r: &Record| {
        r.occurrence_end < now.timestamp()
            && r.status != state::Status::Pending
            && !r.needs_a_person(now.timestamp())
    };
    let (mut records, ended): (Vec<&Record>, Vec<&Record>) = state
        .bookings
        .iter()
        .filter(|r| filter.keeps(r, now))
        .partition(|r| all || !finished(r));
    records.sort_by(|a, b| {
        (a.occurrence_start, &a.definition).cmp(&(b.occurrence_start, &b.definition))
    });
    if json {
        let tz = config.defaults.timezone;
        let rows: Vec<Row<'_>> = records.iter().map(|r| row(r, tz)).collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
    } else {
        // Each line counts only what it names: the footer, the bookings the filter kept that
        // have ended; the empty table, what the filter asked for.
        if state.bookings.is_empty() {
            writeln!(out, "no bookings recorded yet")?;
        } else if records.is_empty() {
            let to_show = if ended.is_empty() { "" } else { " to show" };
            writeln!(
                out,
                "no {}{to_show} ({} on record)",
                filter.kept(),
                state.bookings.len()
            )?;
        } else {
            write_table(&records, config.defaults.timezone, out)?;
        }
        if !ended.is_empty() {
            writeln!(
                out,
                "({} booking(s) of meetings that have ended not shown; --all shows them)",
                ended.len()
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
        let refused: Vec<&Record> = state
            .bookings
            .iter()
            .filter(|r| r.live_after_a_refused_cancel(now.timestamp()))
            .filter(|r| r.needs_a_person(now.timestamp()))
            .collect();
        if !refused.is_empty() {
            writeln!(
                out,
                "\nCANCELS REFUSED: {} meeting(s) that should be cancelled stay live; the service refused the cancel for good, and it is not sent again. For each, {}:",
                refused.len(),
                state::REFUSED_CANCEL_TODO
            )?;
            for r in refused {
                writeln!(
                    out,
                    "  {} ({}), meeting {} of {}: {}",
                    r.definition,
                    show_start(
                        r.occurrence_start,
                        r.timezone.as_deref(),
                        config.defaults.timezone,
                        "%F %H:%M %Z"
                    ),
                    r.meeting_id.as_deref().unwrap_or("-"),
                    r.userid,
                    r.last_error.as_deref().unwrap_or("refused")
                )?;
            }
        }
        if let Some(url) = &config.state.url {
            writeln!(
                out,
                "\n{}",
                leader_line(url.expose(), config.state.takeover, config.api.timeout * 2)?
            )?;
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

/// PostgreSQL store: which daemon leads, or that none does.
fn leader_line(
    url: &str,
    takeover: std::time::Duration,
    settle: std::time::Duration,
) -> anyhow::Result<String> {
    let (leader, leads) = crate::store::postgres::blocking(url, takeover, async |pg| {
        Ok((pg.leader().await?, pg.someone_leads().await?))
    })?;
    let since = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|t| t.format("%F %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    Ok(match (leader, leads) {
        (Some(l), true) => format!(
            "leading: {} (pid {}) since {}; if it stops or stalls, a standby leads within {} and books {} later",
            l.host,
            l.pid,
            since(l.since),
            humantime::format_duration(takeover),
            humantime::format_duration(takeover + settle)
        ),
        (Some(l), false) => format!(
            "NO DAEMON LEADS: nothing is booked; the last leader was {} (pid {}), from {}",
            l.host,
            l.pid,
            since(l.since)
        ),
        (None, _) => "NO DAEMON LEADS: none has led on this database yet".to_string(),
    })
}

fn write_table(records: &[&Record], tz: Tz, out: &mut dyn Write) -> std::io::Result<()> {
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
                r.definition.to_string(),
                show_start(r.occurrence_start, r.timezone.as_deref(), tz, "%F %H:%M %Z"),
                match r.acknowledged {
                    Some(_) => format!("{} (acked)", r.status.as_str()),
                    None => r.status.as_str().to_string(),
                },
                r.meeting_id.as_deref().unwrap_or("-").to_string(),
                r.meeting_code.as_deref().unwrap_or("-").to_string(),
                r.join_url.as_deref().unwrap_or("-").to_string(),
                r.attempts.to_string(),
                r.last_error.as_deref().unwrap_or_default().to_string(),
            ]
        })
        .collect();
    table::write(out, header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_traces() {
        assert!(glob_match("team/*", "team/standup"));
        assert!(glob_match("*standup", "team/standup"));
        assert!(glob_match("team/stand?p", "team/standup"));
        assert!(!glob_match("team/*", "other/standup"));
        assert!(glob_match("planning", "planning"));
        assert!(!glob_match("plan", "planning"));
        assert_eq!(
            trace_of("POST /v1/meetings: HTTP 500, error 9100: no (trace abc-1)"),
            Some("abc-1")
        );
        assert_eq!(trace_of("connect failed"), None);
    }
}
