//! Recurrence: a cron rule in a time zone, within an optional window, turned into the start
//! times of occurrences.
//!
//! `croner` parses a rule's fields (lists, ranges, steps, names, `L`, `W`, `#`); this module
//! owns what the rule means, as Vixie cron defines it:
//!
//! - **The day rule**: when the day-of-month or the day-of-week field starts with `*`, a day
//!   must match both; when both are restricted, either one.
//! - **Fixed-time and interval rules**: a rule is *fixed-time* when neither its minute nor its
//!   hour field starts with `*` (`30 9 * * *`, `0,30 1 * * *`, `30 2-3 * * *`, `@daily`); else
//!   it is an *interval* rule (`*/15 * * * *`, `0 */2 * * *`, `@hourly`).
//! - **Daylight saving**: each wanted wall-clock time of a fixed-time rule happens once. One
//!   that falls in a spring-forward gap runs at the first valid instant after it (02:30 in a
//!   02:00->03:00 gap runs at 03:00); one in a repeated fall-back hour runs on its first pass.
//!   An interval rule runs by the clock as it is: nothing in the gap, both passes of a
//!   repeated hour.
//!
//! Occurrences are computed one local day at a time from the rule's own hour, minute and
//! second sets, and are absolute instants (UTC), so two occurrences of one rule never share a
//! start.

use std::collections::VecDeque;

pub mod native;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::time::Weekday;

/// A search for the next occurrence gives up after this many local days without one: the
/// Gregorian calendar repeats every 400 years (146,097 days, a whole number of weeks), so a
/// rule that has not fired in that long never will. A rule can go eleven years between two
/// occurrences (`0 2 */10 9 FRI#1`: a 1 September that is its month's first Friday).
const MAX_DAYS_WITHOUT_MATCH: u32 = 146_097;

/// Why a cron rule was refused; shown after the file position, with the hint after it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub message: String,
    pub hint: String,
}

impl RuleError {
    fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        RuleError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

const GENERIC_HINT: &str =
    "e.g. \"30 9 * * MON-FRI\" for 09:30 on weekdays; see the README's cron section";

/// A parsed cron rule and how it behaves across daylight-saving changes, kept compact: the
/// seconds, minutes, hours and months it fires at as bits, and croner's day rule tabulated for
/// every kind of month when the rule is parsed. (croner's own parsed form keeps a byte for
/// each year up to 5000: 5 KiB a rule, most of what a loaded series cost.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    seconds: u64,
    minutes: u64,
    hours: u32,
    /// Bit `m` for month `m` (1 to 12).
    months: u16,
    /// `days[len - 28][weekday]` (weekdays from Sunday): bit `d` is set when day `d` of a month
    /// of `len` days matches on a day that is that weekday. A day's match depends on nothing
    /// else (`L`, `W`, `#` and the either-or rule all follow from these three).
    days: [[u32; 7]; 4],
    /// Neither minute nor hour starts with `*`: each wall-clock time happens once a day.
    fixed_time: bool,
}

/// The set bits of `mask`, lowest first.
fn bits(mut mask: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let bit = mask.trailing_zeros();
            mask &= mask - 1;
            bit
        })
    })
}

impl Rule {
    /// Whether the rule is a fixed-time rule (see the module documentation).
    pub fn is_fixed_time(&self) -> bool {
        self.fixed_time
    }

    /// How many wall-clock times a matching day has.
    pub fn times_per_day(&self) -> usize {
        (self.hours.count_ones() * self.minutes.count_ones() * self.seconds.count_ones()) as usize
    }

    /// The wall-clock times of a matching day, ascending.
    fn times(&self) -> impl Iterator<Item = (u32, u32, u32)> + '_ {
        bits(u64::from(self.hours)).flat_map(move |h| {
            bits(self.minutes).flat_map(move |m| bits(self.seconds).map(move |s| (h, m, s)))
        })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let (y, m, d) = (date.year(), date.month(), date.day());
        // A rule of 5 or 6 fields has the year `*`: croner's years, 1 to 5000.
        if !(croner::YEAR_LOWER_LIMIT..=croner::YEAR_UPPER_LIMIT).contains(&y)
            || self.months >> m & 1 == 0
        {
            return false;
        }
        let len = croner::time::days_in_month(y, m);
        let weekday = date.weekday().num_days_from_sunday() as usize;
        self.days[(len - 28) as usize][weekday] >> d & 1 == 1
    }

    /// The instants of one local day's occurrences, ascending, by the DST rule.
    fn instants_on(&self, tz: Tz, date: NaiveDate, out: &mut Vec<DateTime<Utc>>) {
        out.clear();
        if !self.day_matches(date) {
            return;
        }
        for (h, m, s) in self.times() {
            let Some(naive) = date.and_hms_opt(h, m, s) else {
                continue;
            };
            match tz.from_local_datetime(&naive) {
                LocalResult::Single(t) => out.push(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, second) => {
                    out.push(first.with_timezone(&Utc));
                    if !self.fixed_time {
                        out.push(second.with_timezone(&Utc));
                    }
                }
                LocalResult::None if self.fixed_time => {
                    out.extend(first_instant_after_gap(tz, naive))
                }
                LocalResult::None => {}
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// The first instant whose wall-clock time in `tz` is at or after `naive`, for a `naive` in a
/// spring-forward gap: the instant the clocks jumped (02:30 in a 02:00->03:00 gap gives 03:00).
fn first_instant_after_gap(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    // Every offset in the tz database lies within ±16 h, so 16 h either side of `naive` read as
    // UTC brackets the jump: the wall-clock time is before `naive` at `lo`, at or after it at
    // `hi`. Bisect on whole seconds.
    let local = |t: i64| DateTime::from_timestamp(t, 0).map(|t| t.with_timezone(&tz).naive_local());
    let guess = naive.and_utc().timestamp();
    let (mut lo, mut hi) = (guess - 16 * 3600, guess + 16 * 3600);
    if local(lo)? >= naive || local(hi)? < naive {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local(mid)? >= naive {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// The first instant of a local day: its midnight, or the first valid time after midnight when
/// the day starts in a gap (America/Santiago springs forward at midnight).
pub fn start_of_day(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => first_instant_after_gap(tz, midnight),
    }
}

/// The last second of a local day: one second before the next day starts, so a repeated hour
/// at the end of the day (a fall-back at midnight) is inside it.
pub fn end_of_day(tz: Tz, date: NaiveDate) -> Option<DateTime<Utc>> {
    Some(start_of_day(tz, date.succ_opt()?)? - TimeDelta::seconds(1))
}

/// The fields of a rule, in the order of a 6-field rule.
#[derive(Clone, Copy)]
enum Field {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// The values the field takes, for messages.
    fn range(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    /// The names the field takes, if any.
    fn names(self) -> &'static [&'static str] {
        const MONTHS: [&str; 12] = [
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ];
        const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        match self {
            Field::Month => &MONTHS,
            Field::DayOfWeek => &DAYS,
            _ => &[],
        }
    }

    /// What the field takes, for hints: `0 to 59`, `1 to 12 or JAN to DEC`.
    fn allowed(self) -> String {
        let (low, high) = self.range();
        match self.names() {
            [] => format!("{low} to {high}"),
            names => format!(
                "{low} to {high} or {} to {}",
                names[0],
                names[names.len() - 1]
            ),
        }
    }

    /// The number a value of this field stands for (names included), if it is a plain one.
    fn value(self, text: &str) -> Option<u32> {
        if let Ok(n) = text.parse() {
            return Some(n);
        }
        let upper = text.to_ascii_uppercase();
        let names = self.names();
        if names.is_empty() {
            return None;
        }
        let index = names.iter().position(|n| *n == upper)?;
        // Months count from 1, weekdays from 0 (Sunday).
        let index = u32::try_from(index).ok()?;
        Some(if matches!(self, Field::Month) {
            index + 1
        } else {
            index
        })
    }
}

/// Checks every value of a field: numbers in the field's range, names the field knows (with a
/// did-you-mean), steps of at least 1; the message names the field, the value and what the
/// field takes.
fn check_values(field: Field, text: &str) -> Result<(), RuleError> {
    let bad = |message: String, hint: String| Err(RuleError::new(message, hint));
    for item in text.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step
            && !step.parse::<u32>().is_ok_and(|n| n >= 1)
        {
            return bad(
                format!(
                    "the step `/{step}` in the {} field is not a whole number from 1",
                    field.name()
                ),
                format!("e.g. `*/15` for every 15th value of {}", field.allowed()),
            );
        }
        if matches!(base, "*" | "?") {
            continue;
        }
        // Special forms: `L`, `LW`, `15W` (days of the month), `FRI#1`, `5L` (weekdays).
        let upper = base.to_ascii_uppercase();
        let value_part = match field {
            Field::DayOfMonth if upper == "L" || upper == "LW" => continue,
            Field::DayOfMonth => upper.strip_suffix('W').unwrap_or(&upper),
            Field::DayOfWeek => match upper.split_once('#') {
                Some((day, _)) => day,
                None => upper
                    .strip_suffix('L')
                    .filter(|d| !d.is_empty())
                    .unwrap_or(&upper),
            },
            _ => &upper,
        };
        for value in value_part.split('-') {
            let (low, high) = field.range();
            match value.parse::<u32>() {
                Ok(n) if (low..=high).contains(&n) => {}
                Ok(n) => {
                    return bad(
                        format!(
                            "{n} in the {} field is out of range ({})",
                            field.name(),
                            field.allowed()
                        ),
                        "e.g. \"30 9 * * MON-FRI\" for 09:30 on weekdays".into(),
                    );
                }
                Err(_) if field.value(value).is_some() => {}
                Err(_) => {
                    let hint =
                        match crate::diagnostic::did_you_mean(value, field.names().iter().copied())
                        {
                            Some(name) => format!(
                                "did you mean `{name}`? The {} field takes {}",
                                field.name(),
                                field.allowed()
                            ),
                            None => format!("the {} field takes {}", field.name(), field.allowed()),
                        };
                    return bad(
                        format!(
                            "`{value}` in the {} field is not a value it takes",
                            field.name()
                        ),
                        hint,
                    );
                }
            }
        }
    }
    Ok(())
}

/// Refuses ranges that run backwards (`30-20`, `MON-SUN`): cron would read them as empty or
/// as something else than meant.
fn check_ranges(field: Field, text: &str) -> Result<(), RuleError> {
    for item in text.split(',') {
        let range = item.split('/').next().unwrap_or(item);
        let range = range.split('#').next().unwrap_or(range);
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let b = b.trim_end_matches(['L', 'l']);
        let (Some(low), Some(high)) = (field.value(a), field.value(b)) else {
            continue;
        };
        if low > high {
            let hint = if matches!(field, Field::DayOfWeek) && high == 0 {
                "Sunday is day 0: write `MON-SAT,SUN`, `1-7`, or `*` for every day".to_string()
            } else {
                format!("a range runs from low to high: write it as two, e.g. `{a}-..,..-{b}`")
            };
            return Err(RuleError::new(
                format!(
                    "the range `{item}` in the {} field runs backwards ({low} to {high})",
                    field.name()
                ),
                hint,
            ));
        }
    }
    Ok(())
}

/// Parses a 5-field crontab rule (`30 9 * * MON-FRI`), a 6-field one with leading seconds, or a
/// nickname (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`).
pub fn parse_rule(rule: &str) -> Result<Rule, RuleError> {
    let trimmed = rule.trim();
    let expanded = if let Some(name) = trimmed.strip_prefix('@') {
        match name.to_ascii_lowercase().as_str() {
            "yearly" | "annually" => "0 0 1 1 *",
            "monthly" => "0 0 1 * *",
            "weekly" => "0 0 * * SUN",
            "daily" | "midnight" => "0 0 * * *",
            "hourly" => "0 * * * *",
            "reboot" => {
                return Err(RuleError::new(
                    "`@reboot` runs when a cron daemon starts, which is no time for a meeting",
                    "give the meeting's times, e.g. \"0 9 * * MON\"; for a single meeting use `start_time` instead of [schedule]",
                ));
            }
            _ => {
                return Err(RuleError::new(
                    format!("unknown cron nickname `{trimmed}`"),
                    "the nicknames are @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly",
                ));
            }
        }
    } else {
        trimmed
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let kinds: &[Field] = match fields.len() {
        5 => &[
            Field::Minute,
            Field::Hour,
            Field::DayOfMonth,
            Field::Month,
            Field::DayOfWeek,
        ],
        6 => &[
            Field::Second,
            Field::Minute,
            Field::Hour,
            Field::DayOfMonth,
            Field::Month,
            Field::DayOfWeek,
        ],
        n => {
            return Err(RuleError::new(
                format!(
                    "a cron rule has 5 fields (minute hour day-of-month month day-of-week), 6 with leading seconds, or is a nickname such as @daily; this one has {n}"
                ),
                GENERIC_HINT,
            ));
        }
    };
    for (&field, text) in kinds.iter().zip(&fields) {
        check_values(field, text)?;
        check_ranges(field, text)?;
    }
    // `fields` has 5 or 6 entries: the last five are minute, hour, day-of-month, month and
    // day-of-week.
    let [minute, hour, dom, _, dow] = fields[fields.len() - 5..] else {
        unreachable!("5 or 6 fields")
    };
    let starred = |f: &str| f.starts_with('*') || f.starts_with('?');
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .dom_and_dow(starred(dom) || starred(dow))
        .build()
        .parse(expanded)
        .map_err(|e| RuleError::new(format!("invalid cron rule: {e}"), GENERIC_HINT))?;
    let p = &cron.pattern;
    // croner errs only on a value outside the field's range, or a date that does not exist,
    // and these are neither.
    let mask = |range: std::ops::RangeInclusive<u32>, hit: &dyn Fn(u32) -> bool| {
        range
            .filter(|&v| hit(v))
            .fold(0u64, |mask, v| mask | 1 << v)
    };
    // One month of each length: a day's match depends only on the month's length, the day and
    // its weekday. And on the length only in the month's last week (`L`, `LW`, a `W` day that
    // moves back from the month's end, the last of a weekday): the days before match as in a
    // 31-day month. So croner is asked about every day of a 31-day month and the last ten
    // days of each shorter one (a parse asks 448 times, not 826).
    let mut days = [[0u32; 7]; 4];
    for (i, (year, month)) in [(2023, 2), (2024, 2), (2023, 4), (2023, 1)]
        .into_iter()
        .enumerate()
        .rev()
    {
        let len = croner::time::days_in_month(year, month);
        let first = if len == 31 { 1 } else { len - 9 };
        let long = days[3];
        for ((weekday, bits), long) in (0u32..).zip(days[i].iter_mut()).zip(long) {
            // Bits 1 to `first - 1` of the 31-day month's table, when this is a shorter one.
            *bits = long & ((1u32 << first) - 2);
            let weekday = Weekday::from_days_from_sunday(weekday);
            for day in first..=len {
                if p.day_match(year, month, day, weekday).unwrap_or(false) {
                    *bits |= 1 << day;
                }
            }
        }
    }
    // The hours fit in 24 bits, the months in 13.
    Ok(Rule {
        seconds: mask(0..=59, &|v| p.second_match(v).unwrap_or(false)),
        minutes: mask(0..=59, &|v| p.minute_match(v).unwrap_or(false)),
        hours: mask(0..=23, &|v| p.hour_match(v).unwrap_or(false)) as u32,
        months: mask(1..=12, &|v| p.month_match(v).unwrap_or(false)) as u16,
        days,
        fixed_time: !starred(minute) && !starred(hour),
    })
}

/// A parsed recurrence rule with everything needed to list its occurrences.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Rule,
    /// The rule as written, for display.
    pub rule: String,
    pub timezone: Tz,
    /// How long each occurrence lasts.
    pub duration: TimeDelta,
    /// How long before its start each occurrence is booked.
    pub book_ahead: TimeDelta,
    /// No occurrence starts before this instant.
    pub from: Option<DateTime<Utc>>,
    /// No occurrence starts after this instant.
    pub until: Option<DateTime<Utc>>,
    /// Local dates (in `timezone`) with no occurrence: holidays.
    pub skip: std::collections::BTreeSet<NaiveDate>,
    /// `mode`, as written (or its default).
    pub mode: native::Mode,
    /// How the occurrences are booked: decided from `mode` and the rule when it is read.
    pub form: native::Form,
}

impl Schedule {
    pub fn new(
        cron: Rule,
        rule: String,
        timezone: Tz,
        duration: TimeDelta,
        book_ahead: TimeDelta,
    ) -> Self {
        Schedule {
            cron,
            rule,
            timezone,
            duration,
            book_ahead,
            from: None,
            until: None,
            skip: std::collections::BTreeSet::new(),
            mode: native::Mode::Each,
            form: native::Form::Each(None),
        }
    }

    /// The parsed rule.
    pub fn parsed_rule(&self) -> &Rule {
        &self.cron
    }

    /// Occurrence starts strictly after `after`, in order, inside the `from..=until` window.
    pub fn starts_after(&self, after: DateTime<Utc>) -> Occurrences<'_> {
        // An occurrence exactly at `from` is included.
        let after = match self.from {
            Some(from) if from > after => Some(from - TimeDelta::seconds(1)),
            _ => Some(after),
        };
        // A day's occurrences can lie before its own midnight only through a gap, so start
        // one local day early (and never miss the first pass of a repeated hour).
        let day = after
            .map(|a| a.with_timezone(&self.timezone).date_naive())
            .and_then(|d| d.pred_opt());
        Occurrences {
            schedule: self,
            after: after.unwrap_or(DateTime::<Utc>::MIN_UTC),
            day,
            pending: VecDeque::new(),
            scratch: Vec::new(),
        }
    }
}

/// At most this many occurrences of one series may fall in one book-ahead window: each is a
/// create request and a record, so a dense rule with a long window would flood the API.
pub const MAX_OCCURRENCES_PER_WINDOW: u64 = 1000;

/// Why a series is too dense to book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Density {
    /// The rule fires more than once in some minute (a 6-field rule with several seconds).
    TooFrequent,
    /// Two occurrences start closer together than one lasts.
    Overlaps { gap: TimeDelta },
    /// Some book-ahead window holds more than [`MAX_OCCURRENCES_PER_WINDOW`] occurrences.
    TooMany { count: u64 },
}

impl Schedule {
    /// Checks that the series is bookable: at most once a minute, never overlapping itself,
    /// and at most [`MAX_OCCURRENCES_PER_WINDOW`] occurrences in any book-ahead window, over
    /// the year from `now` (or from `from`, when later). Costs a few hundred day checks, and a
    /// few days' occurrences around each daylight-saving change.
    pub fn check_density(&self, now: DateTime<Utc>) -> Result<(), Density> {
        let rule = &self.cron;
        if rule.seconds.count_ones() > 1 {
            return Err(Density::TooFrequent);
        }
        let duration = self.duration.num_seconds();
        let per_day = rule.times_per_day() as u64;
        let window_days = usize::try_from(self.book_ahead.num_days()).unwrap_or(366) + 1;
        // The shortest gap between two starts on one day, and across midnight when two days
        // in a row match, by the clock.
        let (mut within, mut first, mut last) = (i64::MAX, None, None);
        for (h, m, s) in rule.times() {
            let t = i64::from(h * 3600 + m * 60 + s);
            match last {
                Some(before) => within = within.min(t - before),
                None => first = Some(t),
            }
            last = Some(t);
        }
        let across = match (first, last) {
            (Some(first), Some(last)) => 86_400 - last + first,
            _ => i64::MAX,
        };
        // Most rules are far from every limit: then no day needs looking at. A daylight-saving
        // change shortens a gap by at most two hours.
        const MAX_SHIFT: i64 = 2 * 3600;
        let need_count = per_day.saturating_mul(window_days as u64) > MAX_OCCURRENCES_PER_WINDOW;
        let need_days = across < duration;
        let need_dst = within.min(across) < duration.saturating_add(MAX_SHIFT);
        if within < duration {
            return Err(Density::Overlaps {
                gap: TimeDelta::seconds(within),
            });
        }
        if !(need_count || need_days || need_dst) {
            return Ok(());
        }
        let tz = self.timezone;
        let start = self.from.map_or(now, |f| f.max(now));
        let Some(first_day) = start.with_timezone(&tz).date_naive().pred_opt() else {
            return Ok(());
        };
        let last_day = self.until.map(|u| u.with_timezone(&tz).date_naive());
        // Which days of the coming year (and one window more) the rule fires on, and the
        // offset each starts with.
        let offset = |day: NaiveDate| {
            start_of_day(tz, day).map(|t| tz.offset_from_utc_datetime(&t.naive_utc()))
        };
        let mut matches = Vec::with_capacity(367 + window_days);
        let mut day = first_day;
        for _ in 0..367 + window_days {
            if last_day.is_some_and(|last| day > last) {
                break;
            }
            let offset = if need_dst { offset(day) } else { None };
            matches.push((day, rule.day_matches(day), offset));
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        // The most matching days in any window, times the occurrences of a day.
        let mut in_window = 0usize;
        let mut most = 0usize;
        for (i, (_, hit, _)) in matches.iter().enumerate() {
            in_window += usize::from(*hit);
            if i >= window_days {
                in_window -= usize::from(matches[i - window_days].1);
            }
            most = most.max(in_window);
        }
        let count = (most as u64).saturating_mul(per_day);
        let mut shortest = within;
        if matches.windows(2).any(|w| w[0].1 && w[1].1) {
            shortest = shortest.min(across);
        }
        // Around each daylight-saving change the clock's gaps are not the real ones: look at
        // the instants themselves.
        let mut around = Vec::new();
        let mut scratch = Vec::new();
        for w in matches.windows(2).filter(|w| need_dst && w[0].2 != w[1].2) {
            around.clear();
            let mut d = w[0].0.pred_opt();
            for _ in 0..3 {
                let Some(this) = d else { break };
                rule.instants_on(tz, this, &mut scratch);
                around.extend_from_slice(&scratch);
                d = this.succ_opt();
            }
            around.sort_unstable();
            around.dedup();
            for pair in around.windows(2) {
                shortest = shortest.min((pair[1] - pair[0]).num_seconds());
            }
        }
        if shortest < duration {
            return Err(Density::Overlaps {
                gap: TimeDelta::seconds(shortest),
            });
        }
        if count > MAX_OCCURRENCES_PER_WINDOW {
            return Err(Density::TooMany { count });
        }
        Ok(())
    }
}

/// Iterator over a schedule's occurrence starts; ends at `until`, or when the rule has not
/// fired for 400 years (it never will).
pub struct Occurrences<'a> {
    schedule: &'a Schedule,
    /// Only instants after this one are yielded; it moves up with each yielded instant, so
    /// nothing repeats even when a gap pushes one day's time onto the next day's.
    after: DateTime<Utc>,
    /// The next local day to look at.
    day: Option<NaiveDate>,
    /// Occurrences of the day last looked at, not yet yielded.
    pending: VecDeque<DateTime<Utc>>,
    scratch: Vec<DateTime<Utc>>,
}

impl Iterator for Occurrences<'_> {
    type Item = DateTime<Utc>;

    fn next(&mut self) -> Option<DateTime<Utc>> {
        let s = self.schedule;
        let last_day = s.until.map(|u| u.with_timezone(&s.timezone).date_naive());
        let mut empty_days = 0;
        loop {
            while let Some(t) = self.pending.pop_front() {
                if t <= self.after {
                    continue;
                }
                if s.until.is_some_and(|until| t > until) {
                    self.day = None;
                    self.pending.clear();
                    return None;
                }
                self.after = t;
                if !s.skip.is_empty() && s.skip.contains(&t.with_timezone(&s.timezone).date_naive())
                {
                    continue;
                }
                return Some(t);
            }
            let day = self.day?;
            // A gap can push a day's time into the next day, never further than one.
            if last_day.is_some_and(|last| day > last.succ_opt().unwrap_or(last))
                || empty_days > MAX_DAYS_WITHOUT_MATCH
            {
                self.day = None;
                return None;
            }
            self.day = day.succ_opt();
            s.cron.instants_on(s.timezone, day, &mut self.scratch);
            if self.scratch.is_empty() {
                empty_days += 1;
            } else {
                empty_days = 0;
            }
            self.pending.extend(self.scratch.drain(..));
        }
    }
}

#[cfg(test)]
mod tests;
