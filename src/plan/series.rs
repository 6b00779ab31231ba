//! A rule booked as the service's own recurring meetings ([`crate::schedule::native`]), seen
//! from the plan: which occurrences the next window covers, and, once the service has made the
//! series, how its occurrences compare with the plan and what repairs them. Pure: the daemon
//! reads the sub-meetings and sends the repairs.
//!
//! - **A window** is at most [`MAX_WINDOW`] occurrences of one time of day, from the first one
//!   after what is already booked (so a series that was booked one occurrence at a time goes
//!   on after the last of them, and nothing booked is touched). It is one create, ended by a
//!   count: the service's expansion cannot skip a date, so the count covers the `skip` dates
//!   too, and each of those is an extra occurrence the check below cancels.
//! - **The check** pairs each sub-meeting with the occurrence it stands for: the same start;
//!   else one a daylight-saving change away (the service expanded at a fixed offset, and the
//!   time is an hour off: moved); a sub-meeting the plan does not have (a skip
//!   date, a rule read otherwise) is cancelled; an occurrence without one is booked on its own.
//!   When the answer cannot be trusted to list them all, or more than half need repair, the
//!   series is beyond repair: it is cancelled and every occurrence booked on its own, with the
//!   reason in the error.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveTime, Timelike, Utc};

use crate::api::model::{SubMeeting, SubMeetings};
use crate::schedule::Schedule;

/// The most occurrences one create books: 50, the docs' narrowest reading for every repeat
/// (doc 1095/42424, and the older edition of 1095/42417).
pub const MAX_WINDOW: usize = 50;

/// The occurrences one recurring create books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// What the service will make, from the first: the create's `until_count` is its length.
    /// Skip dates included.
    pub service: Vec<i64>,
    /// What the plan wants of them: `service` without the skip dates.
    pub wanted: Vec<i64>,
}

impl Window {
    /// The create's `start_time`.
    pub fn first(&self) -> Option<i64> {
        self.service.first().copied()
    }
}

/// The next window of the series at `time` (local, in the schedule's zone): the occurrences
/// after `after` (the last one booked, one by one or natively), at most [`MAX_WINDOW`], within
/// the schedule's `from`/`until`. `None` when there are none.
pub fn next_window(schedule: &Schedule, time: NaiveTime, after: DateTime<Utc>) -> Option<Window> {
    let at_time = |t: &DateTime<Utc>| {
        t.with_timezone(&schedule.timezone)
            .time()
            .num_seconds_from_midnight()
            == time.num_seconds_from_midnight()
    };
    let mut all = schedule.clone();
    all.skip = BTreeSet::new();
    let service: Vec<i64> = all
        .starts_after(after)
        .filter(at_time)
        .take(MAX_WINDOW)
        .map(|t| t.timestamp())
        .collect();
    let last = *service.last()?;
    let wanted: Vec<i64> = schedule
        .starts_after(after)
        .take_while(|t| t.timestamp() <= last)
        .filter(at_time)
        .map(|t| t.timestamp())
        .collect();
    Some(Window { service, wanted })
}

/// What to do about one sub-meeting, or one occurrence without one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The occurrence at `start` is this sub-meeting, at another time: move it there.
    Move {
        sub_meeting_id: String,
        start: i64,
        end: i64,
    },
    /// A sub-meeting the plan does not have: cancel it.
    Cancel { sub_meeting_id: String },
    /// An occurrence the service did not make: book it on its own.
    Missing { start: i64, end: i64 },
}

/// A series that checks out, or can be made to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checked {
    /// Each wanted occurrence's start with its sub-meeting, in order (a `Missing` one has
    /// none).
    pub matched: Vec<(i64, String)>,
    pub repairs: Vec<Repair>,
}

/// Why a series cannot be repaired one sub-meeting at a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BeyondRepair {
    #[error("the service says the series has more occurrences than its answer lists")]
    Partial,
    #[error("{0} of the series' occurrences in the service's answer cannot be read")]
    Unreadable(usize),
    #[error(
        "{wrong} of the series' {wanted} occurrences are missing or unasked for on the service (it read the rule otherwise)"
    )]
    TooMany { wrong: usize, wanted: usize },
}

/// How far from its occurrence a sub-meeting may be and still stand for it: a daylight-saving
/// change moves a clock by at most two hours (Antarctica/Troll), and a series' occurrences are
/// at least a day apart.
const MAX_SHIFT: i64 = 3 * 3600;

/// Compares the sub-meetings the service made for `window` with the occurrences it wants
/// (each lasting `duration` seconds). Moves never make a series beyond repair (they
/// keep its link, and a window has at most 50); occurrences missing or unasked for do, past
/// half of the window (a skip date's cancel is expected, and not counted).
pub fn check(
    window: &Window,
    duration: i64,
    subs: &SubMeetings,
    has_more: bool,
) -> Result<Checked, BeyondRepair> {
    if has_more {
        return Err(BeyondRepair::Partial);
    }
    if subs.unreadable > 0 {
        return Err(BeyondRepair::Unreadable(subs.unreadable));
    }
    let wanted = &window.wanted;
    let live: Vec<&SubMeeting> = subs.items.iter().filter(|s| !s.cancelled).collect();
    let mut used = vec![false; live.len()];
    let mut pairs: Vec<(i64, Option<usize>)> = wanted.iter().map(|&w| (w, None)).collect();
    // The same start first, then one a daylight-saving change away.
    for within in [0, MAX_SHIFT] {
        for (w, paired) in pairs.iter_mut().filter(|(_, p)| p.is_none()) {
            if let Some(i) =
                (0..live.len()).find(|&i| !used[i] && (live[i].start_time - *w).abs() <= within)
            {
                used[i] = true;
                *paired = Some(i);
            }
        }
    }
    let mut out = Checked::default();
    for (w, paired) in pairs {
        match paired {
            Some(i) => {
                let s = live[i];
                if (s.start_time, s.end_time) != (w, w + duration) {
                    out.repairs.push(Repair::Move {
                        sub_meeting_id: s.sub_meeting_id.clone(),
                        start: w,
                        end: w + duration,
                    });
                }
                out.matched.push((w, s.sub_meeting_id.clone()));
            }
            None => out.repairs.push(Repair::Missing {
                start: w,
                end: w + duration,
            }),
        }
    }
    let skipped: BTreeSet<i64> = window
        .service
        .iter()
        .filter(|t| !wanted.contains(t))
        .copied()
        .collect();
    let mut unasked = 0;
    for (s, _) in live.iter().zip(&used).filter(|(_, used)| !**used) {
        if !skipped.contains(&s.start_time) {
            unasked += 1;
        }
        out.repairs.push(Repair::Cancel {
            sub_meeting_id: s.sub_meeting_id.clone(),
        });
    }
    let missing = out
        .repairs
        .iter()
        .filter(|r| matches!(r, Repair::Missing { .. }))
        .count();
    if (missing + unasked) * 2 > wanted.len() {
        return Err(BeyondRepair::TooMany {
            wrong: missing + unasked,
            wanted: wanted.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
