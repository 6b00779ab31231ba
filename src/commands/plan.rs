//! `wemeet-scheduler plan [--count N] [--json] [PATH...]`: the bookings the daemon would make,
//! in the order it would make them, with when each is booked and (with `--json`) the exact create request.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use std::collections::{BTreeMap, BTreeSet};

use crate::api::model::CreateMeeting;
use crate::booking::{BookingKey, Status, show_start};
use crate::commands::validate::{report, scan_for, write_notes};
use crate::commands::{Outcome, load_config, table};
use crate::config::Config;
use crate::meeting::Field;
use crate::plan::{Action, Context, Tracked, reconcile};
use crate::plan::{Wanted, upcoming};
use crate::quota::Quotas;
use crate::state;
use crate::store::RequestKind;
use crate::watch::Catalog;

pub struct Options<'a> {
    pub config: Option<&'a Path>,
    pub paths: &'a [PathBuf],
    pub count: usize,
    pub json: bool,
    pub now: DateTime<Utc>,
    /// Exit 2 when the next run would change something (like `terraform plan`).
    pub detailed_exitcode: bool,
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
    /// When a quota holds it back: until when, and which quota.
    #[serde(skip_serializing_if = "Option::is_none")]
    waits: Option<QuotaWait>,
    request: &'a CreateMeeting,
}

#[derive(Serialize, Clone)]
struct QuotaWait {
    until: String,
    quota: String,
}

/// Runs `plan`. Bookings go to `out`; problems with definitions go to `err`.
pub fn run(opts: Options<'_>, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Outcome> {
    let config = load_config(opts.config)?;
    let scan = scan_for(&config, opts.paths, opts.now)?;
    // Problems fail the plan; notes (a meeting that has ended) are said and do not.
    if scan.invalid.is_empty() {
        write_notes(&scan, opts.now, err)?;
    } else {
        report(&scan, opts.now, 0, err)?;
    }
    let next = upcoming(
        &scan.definitions,
        config.api.user_format,
        opts.now,
        opts.count,
    );
    // The changes only make sense against a directory, as the daemon sees one.
    let dir = match opts.paths {
        [] => Some(config.watch.dir.as_path()),
        [one] if one.is_dir() => Some(one.as_path()),
        _ => None,
    };
    let (changes, diff) = match dir {
        Some(dir) if !opts.json => write_changes(&config, dir, opts.now, Some(&mut *out))?,
        Some(dir) => write_changes(&config, dir, opts.now, None)?,
        None => (0, Vec::new()),
    };
    let st = crate::store::read_for(&config.state)?;
    let waits = quota_waits(&next, &config, &st, opts.now);
    let budget = month_budget(&scan.definitions, &config, &st, opts.now);
    if opts.json {
        let rows: Vec<Row<'_>> = next
            .iter()
            .zip(&waits)
            .map(|(w, wait)| row(w, wait.clone()))
            .collect();
        serde_json::to_writer_pretty(
            &mut *out,
            &serde_json::json!({"changes": diff, "bookings": rows, "budget": budget}),
        )?;
        writeln!(out)?;
    } else {
        write_table(&next, &waits, opts.now, out)?;
        if let Some(b) = &budget {
            b.write(out)?;
        }
        let paused: Vec<&str> = scan
            .definitions
            .iter()
            .filter(|d| d.paused)
            .map(|d| &*d.id)
            .collect();
        if !paused.is_empty() {
            writeln!(
                out,
                "paused (nothing new is booked; booked meetings stay): {}",
                paused.join(", ")
            )?;
        }
    }
    Ok(if !scan.invalid.is_empty() {
        Outcome::Problems
    } else if opts.detailed_exitcode && changes > 0 {
        Outcome::Changes
    } else {
        Outcome::Clean
    })
}

/// What the daemon would do at its next pass, given the state file, like `terraform plan`:
/// `+ create`, `~ modify` (with the fields), `- cancel`; written to `out` when given. Returns
/// how many changes there are (held removals count: they wait for a person).
fn write_changes(
    config: &Config,
    dir: &Path,
    now: DateTime<Utc>,
    out: Option<&mut dyn Write>,
) -> anyhow::Result<(usize, Vec<serde_json::Value>)> {
    let st = crate::store::read_for(&config.state)?;
    // `plan` reports the definitions' problems itself (once).
    let mut catalog = Catalog::new(dir).quiet();
    catalog.rescan(&config.defaults, now)?;
    let records = state::index(&st);
    let tracked: BTreeMap<BookingKey, Tracked<'_>> = records
        .iter()
        .map(|(k, r)| {
            (
                k.clone(),
                Tracked {
                    record: r,
                    // At its next start the daemon looks up every pending create first.
                    unsure: r.status == Status::Pending,
                    busy: false,
                    retry_at: None,
                },
            )
        })
        .collect();
    let defs: Vec<_> = catalog.definitions().collect();
    let hash_of = |id: &str| catalog.hash_of(id);
    // What operators approved, as the daemon will read it.
    let requests = crate::store::requests_for(&config.state)?;
    let approved = |kind: RequestKind| -> BTreeSet<String> {
        requests
            .iter()
            .filter(|r| r.kind == kind)
            .flat_map(|r| r.items.iter().cloned())
            .collect()
    };
    let reconciled = reconcile(
        &defs,
        &tracked,
        &Context {
            at_stake: None,
            format: config.api.user_format,
            now,
            last_pass: st.last_pass.and_then(|t| DateTime::from_timestamp(t, 0)),
            lifecycle: &config.lifecycle,
            hash_of: &hash_of,
            removals_approved: &approved(RequestKind::ApproveRemovals),
            // `plan` sees no file change: what the daemon would do at its next start.
            edited: &|_| false,
            max_changes: config.guard.max_changes,
            changes_approved: &approved(RequestKind::ApproveChanges),
            forget_before: config.state.forget_before(now),
        },
    );
    let tz = config.defaults.timezone;
    let when = |key: &BookingKey| {
        let zone = records.get(key).and_then(|r| r.timezone.as_deref());
        show_start(key.start, zone, tz, "%a %F %H:%M %Z")
    };
    let mut lines = Vec::new();
    // The same changes for `--json`, with old and new values.
    let mut diff: Vec<serde_json::Value> = Vec::new();
    let entry = |action: &str, key: &BookingKey| {
        serde_json::json!({
            "action": action,
            "definition": key.definition,
            "occurrence_start": key.start,
        })
    };
    for action in &reconciled.actions {
        match action {
            Action::Create(w) => {
                let mut e = entry("create", &w.key);
                e["start"] = rfc3339(&w.start.with_timezone(&w.timezone)).into();
                e["subject"] = w.request.subject.clone().into();
                diff.push(e);
                lines.push(format!(
                    "  + create  {}  {}  {}",
                    w.key.definition,
                    w.start.with_timezone(&w.timezone).format("%a %F %H:%M %Z"),
                    w.request.subject
                ));
            }
            Action::Modify {
                key,
                wanted,
                fields,
            } => {
                let moved = if wanted.key.start != key.start {
                    format!(
                        " -> {}",
                        wanted
                            .start
                            .with_timezone(&wanted.timezone)
                            .format("%a %F %H:%M %Z")
                    )
                } else {
                    String::new()
                };
                // Each changed field, old -> new, from the request on record.
                let old: serde_json::Value = records
                    .get(key)
                    .and_then(|r| r.request.as_ref())
                    .and_then(|q| serde_json::from_str(q.0.get()).ok())
                    .unwrap_or_default();
                let zone = records.get(key).and_then(|r| r.timezone.as_deref());
                // Times as the meeting's local time, other values as JSON.
                let shown = |field: &Field, v: &serde_json::Value| match (field, v.as_str()) {
                    (Field::StartTime(_) | Field::EndTime(_), Some(secs)) => secs
                        .parse::<i64>()
                        .map(|t| show_start(t, zone, tz, "%F %H:%M %Z"))
                        .unwrap_or_else(|_| short(v)),
                    _ => short(v),
                };
                let changes: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        let before = old.get(f.name()).unwrap_or(&serde_json::Value::Null);
                        let (was, now) = (shown(f, before), shown(f, &f.value()));
                        format!("{}: {was} -> {now}", f.name())
                    })
                    .collect();
                let mut e = entry("modify", key);
                if wanted.key.start != key.start {
                    e["moved_to"] = rfc3339(&wanted.start.with_timezone(&wanted.timezone)).into();
                }
                e["fields"] = fields
                    .iter()
                    .map(|f| {
                        let before = old.get(f.name()).cloned().unwrap_or_default();
                        let new = f.value();
                        (
                            f.name().to_string(),
                            serde_json::json!({"old": before, "new": new}),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into();
                diff.push(e);
                lines.push(format!(
                    "  ~ modify  {}  {}{moved}  ({})",
                    key.definition,
                    when(key),
                    changes.join(", ")
                ));
            }
            Action::Cancel { key, reason } => {
                let mut e = entry("cancel", key);
                e["reason"] = reason.clone().into();
                diff.push(e);
                lines.push(format!(
                    "  - cancel  {}  {}  ({reason})",
                    key.definition,
                    when(key)
                ));
            }
            Action::Resume(key) | Action::Resolve(key) => {
                let (name, shown, why) = match action {
                    Action::Resume(_) => ("resume", "~ resume ", "a change recorded earlier"),
                    _ => (
                        "look_up",
                        "? look up",
                        "a create whose outcome is not known",
                    ),
                };
                diff.push(entry(name, key));
                lines.push(format!(
                    "  {shown} {}  {}  ({why})",
                    key.definition,
                    when(key)
                ));
            }
            Action::Missed { wanted, reason } => {
                let mut e = entry("missed", &wanted.key);
                e["reason"] = reason.clone().into();
                diff.push(e);
                lines.push(format!(
                    "  ! missed  {}  {}  ({reason})",
                    wanted.key.definition,
                    wanted
                        .start
                        .with_timezone(&wanted.timezone)
                        .format("%a %F %H:%M %Z")
                ));
            }
            Action::Move { from, to } => {
                let mut e = entry("move", from);
                e["to"] = to.definition.to_string().into();
                diff.push(e);
                lines.push(format!(
                    "  ? move    {} -> {}  {}  (renamed while its create was unclear; then looked up)",
                    from.definition,
                    to.definition,
                    when(from)
                ));
            }
            Action::Forget(_) | Action::Rehash(_) | Action::DropChange { .. } => {}
        }
    }
    let changes = lines.len() + reconciled.held.len() + reconciled.held_actions.len();
    if !reconciled.held.is_empty() {
        diff.push(serde_json::json!({"action": "held", "definitions": reconciled.held}));
    }
    // Changes no definition made, past `guard.max_changes`: shown, not made.
    let mut held_lines = Vec::new();
    for action in &reconciled.held_actions {
        let (e, line) = match action {
            Action::Modify { key, fields, .. } => (
                entry("held_modify", key),
                format!(
                    "      ~ modify  {}  {}  ({})",
                    key.definition,
                    when(key),
                    fields.names().collect::<Vec<_>>().join(", ")
                ),
            ),
            Action::Cancel { key, reason } => (
                entry("held_cancel", key),
                format!(
                    "      - cancel  {}  {}  ({reason})",
                    key.definition,
                    when(key)
                ),
            ),
            _ => continue,
        };
        diff.push(e);
        held_lines.push(line);
    }
    let Some(out) = out else {
        return Ok((changes, diff));
    };
    writeln!(
        out,
        "Changes at the next run (compared with {}):",
        config.state.file.display()
    )?;
    if lines.is_empty() && reconciled.held.is_empty() && held_lines.is_empty() {
        writeln!(out, "  none")?;
    }
    for l in lines {
        writeln!(out, "{l}")?;
    }
    if !reconciled.held.is_empty() {
        writeln!(
            out,
            "  ! held    {} definition(s) vanished at once: nothing cancelled until `approve-removals`: {}",
            reconciled.held.len(),
            reconciled.held.join(", ")
        )?;
    }
    if !held_lines.is_empty() {
        writeln!(
            out,
            "  ! held    {} change(s) that no definition made (more than guard.max_changes = {}): nothing changed until `approve-changes`:",
            held_lines.len(),
            config.guard.max_changes
        )?;
        for l in held_lines {
            writeln!(out, "{l}")?;
        }
    }
    writeln!(out)?;
    Ok((changes, diff))
}

/// A request value, short enough for one line of `plan`.
fn short(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 40 {
        text
    } else {
        format!("{}...", text.chars().take(37).collect::<String>())
    }
}

fn rfc3339<Tz: chrono::TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn row(w: &Wanted, waits: Option<QuotaWait>) -> Row<'_> {
    Row {
        definition: &w.key.definition,
        occurrence_start: w.key.start,
        timezone: w.timezone.name(),
        start: rfc3339(&w.start.with_timezone(&w.timezone)),
        end: rfc3339(&w.end.with_timezone(&w.timezone)),
        start_utc: rfc3339(&w.start),
        end_utc: rfc3339(&w.end),
        book_at: w.book_at.map(|t| rfc3339(&t)),
        waits,
        request: &w.request,
    }
}

/// Which of `next` a quota holds back, as the daemon would: its creates of the last hour (the
/// booked records, by when they were recorded) and of the month (as the store counts them)
/// count, then each booking in order takes a slot at its booking time or, when there is none,
/// when the window (or the month) frees.
fn quota_waits(
    next: &[Wanted],
    config: &Config,
    st: &state::State,
    now: DateTime<Utc>,
) -> Vec<Option<QuotaWait>> {
    let mut quotas = Quotas::new(config.api.creates_per_hour_per_user);
    let hour_ago = (now - chrono::TimeDelta::hours(1)).timestamp();
    let mut recent: Vec<(i64, &str)> = st
        .bookings
        .iter()
        .filter(|r| r.status == Status::Booked && r.updated_at > hour_ago)
        .map(|r| (r.updated_at, &*r.userid))
        .collect();
    recent.sort_unstable();
    for (at, user) in recent {
        if let Some(at) = DateTime::from_timestamp(at, 0) {
            let _ = quotas.admit(user, at);
        }
    }
    // This month's creates as the daemon counted them (the replay above counted none twice:
    // the month's count is the store's).
    let mut quotas = quotas.with_month(config.api.creates_per_month, st.month.clone());
    next.iter()
        .map(|w| {
            let at = w.book_at.map_or(now, |t| t.max(now));
            match quotas.admit(&w.request.userid, at) {
                Ok(()) => None,
                Err(wait) => {
                    // Its turn comes when the window frees (one slot at a time).
                    let _ = quotas.admit(&w.request.userid, wait.until);
                    Some(QuotaWait {
                        until: wait.until.to_rfc3339_opts(SecondsFormat::Secs, true),
                        quota: wait.reason.describe(&w.request.userid),
                    })
                }
            }
        })
        .collect()
}

/// This month's creates against `api.creates_per_month`: `plan`'s closing line.
#[derive(Serialize, Debug, PartialEq)]
struct Budget {
    /// "2026-12", in China time, as the service counts.
    month: String,
    /// `api.creates_per_month`.
    limit: u32,
    /// Creates sent this month, as the store counts them.
    used: u32,
    /// Creates still to make before the month turns (bookings due by then, not on record).
    due: usize,
    /// How many of those wait for the next month.
    over: usize,
    /// When the month turns, UTC.
    until: String,
}

/// At most this many bookings are counted as due in a month: enough to say "over".
const MAX_DUE: usize = 1_000_000;

fn month_budget(
    defs: &[crate::definition::Definition],
    config: &Config,
    st: &state::State,
    now: DateTime<Utc>,
) -> Option<Budget> {
    let limit = config.api.creates_per_month;
    if limit == 0 {
        return None;
    }
    let quotas = Quotas::new(0).with_month(limit, st.month.clone());
    let count = quotas.month_count(now);
    let until = crate::quota::next_month(now);
    let on_record: BTreeSet<BookingKey> = st.bookings.iter().map(state::Record::key).collect();
    let due = crate::plan::due_before(defs, now, until, MAX_DUE)
        .into_iter()
        .filter(|k| !on_record.contains(k))
        .count();
    let left = limit.saturating_sub(count.creates) as usize;
    Some(Budget {
        month: count.month,
        limit,
        used: count.creates,
        due,
        over: due.saturating_sub(left),
        until: rfc3339(&until),
    })
}

impl Budget {
    fn write(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let turn = DateTime::parse_from_rfc3339(&self.until)
            .map(|t| t.format("%F %H:%M UTC").to_string())
            .unwrap_or_else(|_| self.until.clone());
        writeln!(
            out,
            "monthly create budget {}: {} of {} used, {} more due before the month turns ({turn})",
            self.month, self.used, self.limit, self.due
        )?;
        if self.over > 0 {
            writeln!(
                out,
                "warning: {} booking(s) wait for next month; raise api.creates_per_month (or api.premium_accounts) if the account allows more",
                self.over
            )?;
        }
        Ok(())
    }
}

/// A start as the meeting's zone shows it, then the zone's name where the abbreviation does
/// not already say it: "Tue 2026-12-01 09:00 CST Asia/Shanghai", "Tue 2026-12-01 10:00 UTC".
fn meeting_time(start: &DateTime<chrono_tz::Tz>) -> String {
    let shown = start.format("%a %F %H:%M %Z").to_string();
    let name = start.timezone().name();
    if shown.ends_with(&format!(" {name}")) {
        shown
    } else {
        format!("{shown} {name}")
    }
}

fn write_table(
    next: &[Wanted],
    waits: &[Option<QuotaWait>],
    now: DateTime<Utc>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
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
        .zip(waits)
        .map(|(w, wait)| {
            let start = w.start.with_timezone(&w.timezone);
            let end = w.end.with_timezone(&w.timezone);
            let end_fmt = if end.date_naive() == start.date_naive() {
                "%H:%M"
            } else {
                "%F %H:%M"
            };
            [
                w.key.definition.to_string(),
                meeting_time(&start),
                end.format(end_fmt).to_string(),
                w.start.format("%F %H:%M").to_string(),
                match (wait, w.book_at) {
                    (Some(wait), _) => format!(
                        "{} (waiting for {})",
                        DateTime::parse_from_rfc3339(&wait.until)
                            .map(|t| t.format("%F %H:%M").to_string())
                            .unwrap_or_else(|_| wait.until.clone()),
                        wait.quota
                    ),
                    (None, Some(t)) if t > now => t.format("%F %H:%M").to_string(),
                    (None, _) => "now".to_string(),
                },
                w.request.subject.clone(),
            ]
        })
        .collect();
    table::write(out, header, &rows)
}
