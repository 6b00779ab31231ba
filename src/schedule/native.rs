//! Which cron rules the service can book as its own recurring meetings (`meeting_type = 1`),
//! and as what: the rule's days as one of the repeats the service knows (doc 1095/42417 for
//! `recurring_type`, doc 1095/81181 for the custom forms), one series per time of day.
//!
//! A rule maps only when the service's expansion, as the docs define it, gives exactly the
//! rule's occurrences under every reading of what the docs leave open (see
//! `docs/vendor-recurring-meetings.md`):
//!
//! - **Every month.** A month restriction has no recurring form.
//! - **A fixed time of day**, at most [`MAX_TIMES`] of them. An interval rule's times move with
//!   the clock. Each time is a series of its own, and one account holds at most 50 series.
//! - **Days that are one of:** every day; Monday to Friday; one or more weekdays; one or more
//!   days of the month up to the 28th; the nth weekday of the month (one weekday in one week).
//!   The docs do not say what the service does in a month without a 29th, 30th or 31st, and
//!   allow only one weekday in an nth-weekday rule (they say nothing of several weeks).
//! - **A time the zone never skips or repeats** in the coming [`DST_YEARS`] years. The docs do
//!   not say how the service expands a time in a daylight-saving gap or overlap.
//!
//! Everything else is booked one occurrence at a time, and [`NotNative`] says why. The bitmasks
//! are the docs' own (`customized_recurring_days`): weekday bit 0 is Sunday, and month-day bit
//! `d - 1` is day `d`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use super::Rule;

/// The most times of day a rule may have and still be booked as series, one per time.
pub const MAX_TIMES: usize = 4;

/// How many years ahead a time of day is checked against the zone's daylight-saving changes.
pub const DST_YEARS: i32 = 20;

/// Monday to Friday as a weekday bitmask (bit 0 Sunday).
const WORKDAYS: u8 = 0b011_1110;

/// How the service repeats a series: each is one `recurring_rule` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Every day (`recurring_type` 0).
    Daily,
    /// Monday to Friday (`recurring_type` 1).
    Workdays,
    /// Every week, on the first start's weekday (`recurring_type` 2).
    Weekly,
    /// Every week, on these weekdays (custom type 1): bit 0 Sunday to bit 6 Saturday.
    Weekdays(u8),
    /// Every month, on the first start's day, the 28th at the latest (`recurring_type` 4).
    Monthly,
    /// Every month, on these days (custom type 3): bit `d - 1` is day `d`, up to the 28th.
    MonthDays(u32),
    /// Every month, on the `nth` (1 to 5) `weekday` (custom type 2); months without a fifth
    /// are skipped, as cron's `#5` skips them.
    NthWeekday { weekday: Weekday, nth: u8 },
}

/// `[schedule] mode`: how a definition's occurrences are booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// As the service's recurring meetings when the rule maps ([`native`]), else one
    /// occurrence at a time.
    #[default]
    Auto,
    /// As the service's recurring meetings; a rule that does not map is an error.
    Native,
    /// One occurrence at a time, each its own meeting and link.
    Each,
}

impl Mode {
    /// The key's values, as written.
    pub const NAMES: [&'static str; 3] = ["auto", "native", "each"];

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "auto" => Some(Mode::Auto),
            "native" => Some(Mode::Native),
            "each" => Some(Mode::Each),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Native => "native",
            Mode::Each => "each",
        }
    }
}

/// How a schedule's occurrences are booked, decided from its mode and rule when it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// As the service's recurring meetings: one per time of day, in windows.
    Native(Native),
    /// One occurrence at a time: `mode = "each"` (`None`), or the rule does not map.
    Each(Option<NotNative>),
}

impl Form {
    /// The native form, if it is one.
    pub fn native(&self) -> Option<&Native> {
        match self {
            Form::Native(n) => Some(n),
            Form::Each(_) => None,
        }
    }

    /// One line for `validate` and `plan`: the form and why.
    pub fn describe(&self) -> String {
        match self {
            Form::Native(n) => {
                let times: Vec<String> = n
                    .times
                    .iter()
                    .map(|t| t.format("%H:%M").to_string())
                    .collect();
                let series = if n.times.len() == 1 {
                    "one series"
                } else {
                    "one series per time"
                };
                format!(
                    "native: {} at {} ({series}, one link per window of up to 50)",
                    n.repeat.describe(),
                    times.join(", ")
                )
            }
            Form::Each(None) => "each occurrence on its own (mode = \"each\")".into(),
            Form::Each(Some(why)) => format!("each occurrence on its own: {why}"),
        }
    }
}

/// A rule the service can book: its days as one repeat, and a series for each time of day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Native {
    pub repeat: Repeat,
    /// Ascending; at least one, at most [`MAX_TIMES`].
    pub times: Vec<NaiveTime>,
}

/// Why a rule is booked one occurrence at a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotNative {
    #[error(
        "an interval rule (its minute or hour starts with `*`) has no recurring form: the service repeats a fixed time of day"
    )]
    Interval,
    #[error(
        "{times} times a day would be {times} series (at most {MAX_TIMES}; an account holds at most 50)"
    )]
    TooManyTimes { times: usize },
    #[error("a rule restricted to some months has no recurring form")]
    Months,
    #[error(
        "days 29 to 31 are not in every month, and the service's docs do not say what it does in a month without them"
    )]
    LateMonthDays,
    #[error(
        "its days are none of the service's forms (every day, weekdays, days of the month up to the 28th, the nth weekday of the month)"
    )]
    Days,
    #[error(
        "{time} is skipped or repeated on {date} by a daylight-saving change, and the service's docs do not say how it expands such a time"
    )]
    DaylightSaving { time: NaiveTime, date: NaiveDate },
}

impl Repeat {
    /// A readable name, for `validate` and `plan`.
    pub fn describe(&self) -> String {
        match *self {
            Repeat::Daily => "daily".into(),
            Repeat::Workdays => "Monday to Friday".into(),
            Repeat::Weekly => "weekly".into(),
            Repeat::Weekdays(mask) => {
                let names: Vec<String> = (0..7)
                    .filter(|b| mask >> b & 1 == 1)
                    .map(|b| weekday(b).to_string())
                    .collect();
                format!("weekly on {}", names.join(","))
            }
            Repeat::Monthly => "monthly".into(),
            Repeat::MonthDays(mask) => {
                let days: Vec<String> = (0..28)
                    .filter(|b| mask >> b & 1 == 1)
                    .map(|b| (b + 1).to_string())
                    .collect();
                format!("monthly on days {}", days.join(","))
            }
            Repeat::NthWeekday { weekday, nth } => format!("monthly on {weekday}#{nth}"),
        }
    }
}

/// The weekday of bit `bit` (0 Sunday to 6 Saturday).
fn weekday(bit: u32) -> Weekday {
    const WEEK: [Weekday; 7] = [
        Weekday::Sun,
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
    ];
    WEEK[bit as usize % 7]
}

/// A day table as `Rule::days` keeps it, from what each day matches.
fn table(matches: impl Fn(u32, u32, u32) -> bool) -> [[u32; 7]; 4] {
    let mut days = [[0u32; 7]; 4];
    for (i, len) in (28..=31).enumerate() {
        for (weekday, bits) in (0u32..).zip(days[i].iter_mut()) {
            for day in 1..=len {
                if matches(len, weekday, day) {
                    *bits |= 1 << day;
                }
            }
        }
    }
    days
}

/// The rule's days as one repeat, if they are one.
fn repeat(rule: &Rule) -> Result<Repeat, NotNative> {
    let long = rule.days[3];
    // Weekdays that match on every day of a 31-day month: the candidate weekday set.
    let weekdays = (0..7).fold(0u8, |mask, w| {
        if long[w] == u32::MAX << 1 {
            mask | 1 << w
        } else {
            mask
        }
    });
    if weekdays != 0 && rule.days == table(|_, w, _| weekdays >> w & 1 == 1) {
        return Ok(match weekdays {
            0x7f => Repeat::Daily,
            WORKDAYS => Repeat::Workdays,
            m if m.count_ones() == 1 => Repeat::Weekly,
            m => Repeat::Weekdays(m),
        });
    }
    // Days that match whatever their weekday: the candidate set of days of the month.
    let month_days = long.iter().fold(u32::MAX, |all, bits| all & bits);
    if month_days != 0 && rule.days == table(|_, _, d| month_days >> d & 1 == 1) {
        if month_days >> 29 != 0 {
            return Err(NotNative::LateMonthDays);
        }
        return Ok(if month_days.count_ones() == 1 {
            Repeat::Monthly
        } else {
            Repeat::MonthDays(month_days >> 1)
        });
    }
    for w in 0..7u32 {
        for nth in 1..=5u32 {
            if rule.days == table(|_, wd, d| wd == w && (d - 1) / 7 == nth - 1) {
                return Ok(Repeat::NthWeekday {
                    weekday: weekday(w),
                    nth: nth as u8,
                });
            }
        }
    }
    Err(NotNative::Days)
}

/// Whether `rule` in `tz` can be booked as the service's recurring meetings, checked against
/// the zone's changes from `today` on.
pub fn native(rule: &Rule, tz: Tz, today: NaiveDate) -> Result<Native, NotNative> {
    if !rule.fixed_time {
        return Err(NotNative::Interval);
    }
    let times: Vec<NaiveTime> = rule
        .times()
        .filter_map(|(h, m, s)| NaiveTime::from_hms_opt(h, m, s))
        .collect();
    if times.len() > MAX_TIMES {
        return Err(NotNative::TooManyTimes { times: times.len() });
    }
    if rule.months != 0x1ffe {
        return Err(NotNative::Months);
    }
    let repeat = repeat(rule)?;
    let shifts = shifts(tz, today.year());
    for &time in &times {
        if let Some(shift) = shifts.iter().find(|s| s.covers(time)) {
            return Err(NotNative::DaylightSaving {
                time,
                date: shift.from.date(),
            });
        }
    }
    Ok(Native { repeat, times })
}

/// Local times that a change of the zone's offset skips or repeats: `from..to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shift {
    from: NaiveDateTime,
    to: NaiveDateTime,
}

impl Shift {
    /// Whether `time`, on the day the shift starts or the next, falls in it.
    fn covers(&self, time: NaiveTime) -> bool {
        let day = self.from.date();
        [Some(day), day.succ_opt()]
            .into_iter()
            .flatten()
            .any(|d| (self.from..self.to).contains(&d.and_time(time)))
    }
}

/// The offset of `tz` at the unix second `t`.
fn offset(tz: Tz, t: i64) -> Option<i64> {
    let utc = DateTime::<Utc>::from_timestamp(t, 0)?;
    Some(i64::from(
        tz.offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc(),
    ))
}

/// The zone's changes over [`DST_YEARS`] years from the start of `year`, found by sampling the
/// offset once a day and bisecting each change to the second; kept per zone and year, since
/// every series in a zone asks the same.
fn shifts(tz: Tz, year: i32) -> Arc<[Shift]> {
    type Cache = Mutex<HashMap<(Tz, i32), Arc<[Shift]>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().ok().and_then(|c| c.get(&(tz, year)).cloned()) {
        return found;
    }
    let found: Arc<[Shift]> = scan(tz, year).into();
    if let Ok(mut c) = cache.lock() {
        // A year or two of each zone in use: never many, but bounded all the same.
        if c.len() > 4096 {
            c.clear();
        }
        c.insert((tz, year), found.clone());
    }
    found
}

fn scan(tz: Tz, year: i32) -> Vec<Shift> {
    let mut out = Vec::new();
    let Some(start) = NaiveDate::from_ymd_opt(year, 1, 1) else {
        return out;
    };
    let mut a = start.and_time(NaiveTime::MIN).and_utc().timestamp();
    let Some(mut before) = offset(tz, a) else {
        return out;
    };
    const DAY: i64 = 86_400;
    for _ in 0..DST_YEARS * 366 {
        let b = a + DAY;
        let Some(after) = offset(tz, b) else { break };
        if after != before {
            // offset(lo) == before, offset(hi) != before.
            let (mut lo, mut hi) = (a, b);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if offset(tz, mid) == Some(before) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let local =
                |off: i64| DateTime::<Utc>::from_timestamp(hi + off, 0).map(|t| t.naive_utc());
            if let (Some(x), Some(y)) = (local(before), local(after)) {
                out.push(Shift {
                    from: x.min(y),
                    to: x.max(y),
                });
            }
        }
        a = b;
        before = after;
    }
    out
}

#[cfg(test)]
mod tests;
