//! One meeting definition file -> one validated [`Definition`], or every problem in it.
//!
//! A definition mirrors the create-meeting API fields (see `README.md` for the format). Values a
//! file leaves out come from the daemon config's `[defaults]`. Checks that depend on the clock
//! (whether an endless cron rule fires again, how dense it is) take `now` as an argument, so this
//! module never reads the clock.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::config::Defaults;
use crate::diagnostic::{Collector, Diagnostic};
use crate::meeting::{Instance, MeetingType, Settings, User};
use crate::schedule::Schedule;
use crate::toml_reader::{self, Table};

mod instant;
mod reader;

use reader::Reader;

/// Largest definition file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// The API's limit on `subject`, in bytes of UTF-8.
pub const MAX_SUBJECT_BYTES: usize = 512;
/// The API's limit on invitees.
pub const MAX_INVITEES: usize = 300;
/// The longest meeting a definition may describe.
pub const MAX_DURATION: TimeDelta = TimeDelta::hours(24);

/// A validated meeting definition.
#[derive(Debug, Clone)]
pub struct Definition {
    /// Path under the watch dir without `.toml`, with `/` separators: `team/standup`.
    pub id: crate::booking::Name,
    pub path: PathBuf,
    pub subject: String,
    pub userid: String,
    pub instanceid: Instance,
    pub meeting_type: MeetingType,
    pub hosts: Vec<User>,
    pub invitees: Vec<User>,
    pub password: Option<String>,
    /// The meeting's time zone: for local datetimes, display, and the default of a schedule.
    pub timezone: Tz,
    pub when: When,
    /// Complete settings: the file's, then the defaults', then `false` for required keys.
    /// Shared: most definitions have the same (the defaults'), and the catalog keeps one copy
    /// of them for all (see [`crate::watch::Catalog`]).
    pub settings: std::sync::Arc<Settings>,
    /// Further request fields, copied into the body unchanged.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// `paused = true`: nothing new is booked; what is booked stays as it is.
    pub paused: bool,
    /// `notify = ["team-a"]`: the `[[notify]]` targets (by name) that hear about this
    /// definition's bookings, instead of those whose `definitions` globs match it.
    pub notify: Vec<String>,
}

pub use crate::config::MAX_SKIP_DATES;

pub use reader::DEFAULT_MODE;

/// When a definition's meeting happens.
#[derive(Debug, Clone)]
pub enum When {
    /// A single meeting, booked as soon as the definition is seen.
    Once {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    /// A series, each occurrence booked `book_ahead` before it starts.
    Recurring(Box<Schedule>),
}

/// What a valid definition books nothing for now, said alike by `validate`, `plan` (exit 0) and
/// the daemon (a log line): a meeting that has ended, or is under way, is not a problem with
/// its file. A file stays in the watch dir after its meeting; that must not fail a CI job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: note: {}", self.path.display(), self.message)
    }
}

impl Definition {
    /// What is worth saying about this definition at `now` besides "it books what it says":
    /// the one source of what `validate`, `plan` and the daemon say about past times (none of
    /// which is a problem: [`parse`] decides those, the same for all three).
    pub fn note(&self, now: DateTime<Utc>) -> Option<Note> {
        let show = |t: DateTime<Utc>, format: &str| {
            t.with_timezone(&self.timezone).format(format).to_string()
        };
        let message = match &self.when {
            When::Once { end, .. } if *end <= now => {
                format!(
                    "the meeting ended {}; nothing to book",
                    show(*end, "%F %R %Z")
                )
            }
            When::Once { start, end } if *start <= now => format!(
                "the meeting is under way ({} to {}); nothing new to book: if it was not booked before it started, the daemon records it as missed",
                show(*start, "%F %R"),
                show(*end, "%R %Z")
            ),
            When::Once { .. } => return None,
            When::Recurring(s) if s.starts_after(now).next().is_none() => {
                "the series has no occurrence left before `schedule.until`; nothing to book".into()
            }
            When::Recurring(_) => return None,
        };
        Some(Note {
            path: self.path.clone(),
            message,
        })
    }
}

/// Reads and validates one definition file. `id` is the definition's id (see [`Definition::id`]).
pub fn load(
    path: &Path,
    id: &str,
    defaults: &Defaults,
    now: DateTime<Utc>,
) -> Result<Definition, Vec<Diagnostic>> {
    let text = read_text(path)?;
    parse(path, id, &text, defaults, now)
}

/// Reads a file as UTF-8 text of at most [`MAX_FILE_BYTES`], refusing anything that is not a
/// regular file (a FIFO would block the reader forever). A leading byte-order mark is dropped.
pub fn read_text(path: &Path) -> Result<String, Vec<Diagnostic>> {
    use std::io::Read;
    let fail = |msg: String, hint: Option<&str>| {
        vec![Diagnostic::file(path, msg, hint.map(str::to_string))]
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}"), None))?;
    if !meta.is_file() {
        return Err(fail(
            "not a regular file".into(),
            Some("definitions must be plain files; remove it or rename it away from *.toml"),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(
            format!(
                "file is {} bytes; a definition may have at most 1 MiB",
                meta.len()
            ),
            Some("a definition is a few lines; is this the right file?"),
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(format!("cannot read: {e}"), None))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(
            "file grew past 1 MiB while being read".into(),
            Some("a definition is a few lines; is this the right file?"),
        ));
    }
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                text.drain(..'\u{feff}'.len_utf8());
            }
            Ok(text)
        }
        Err(e) => {
            let bytes = e.as_bytes();
            let valid = e.utf8_error().valid_up_to();
            // The prefix up to `valid` is UTF-8 by definition of `valid_up_to`.
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            let mut c = Collector::new(path, &prefix);
            c.error_hint(
                valid..valid,
                format!("file is not valid UTF-8 (byte {valid})"),
                "save the file as UTF-8",
            );
            Err(c.finish())
        }
    }
}

/// Validates definition text. Every problem is reported, in file order. Times that have passed
/// are not problems (see [`Definition::note`]): `validate`, `plan` and the daemon all take a
/// file through here, so they agree on what is invalid.
pub fn parse(
    path: &Path,
    id: &str,
    text: &str,
    defaults: &Defaults,
    now: DateTime<Utc>,
) -> Result<Definition, Vec<Diagnostic>> {
    let mut c = Collector::new(path, text);
    let definition = toml_reader::parse(text, &mut c).and_then(|doc| {
        let root = Table::root(&doc);
        Reader {
            root: &root,
            defaults,
            now,
        }
        .read(path, id, &mut c)
    });
    match definition {
        Some(d) if c.is_empty() => Ok(d),
        _ => Err(c.finish()),
    }
}

/// Whether a definition id matches a glob (`status`, `export`, `[[notify]] definitions`):
/// `*` matches any run of characters (slashes included), `?` any one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests;
