//! An independent cron reference for `tests/cron_differential.rs`: parses rules itself (no
//! croner) and maps wall-clock times to instants with chrono-tz, by the README's semantics.
//!
//! Independent brute-force REFERENCE implementation of cron scheduling, used
//! as the oracle of a differential test. Deliberately simple: it walks local
//! calendar dates one by one, decides whether each date matches, and maps
//! every (hour, minute, second) combination of the rule to instants with
//! `chrono-tz`'s `from_local_datetime`.
//!
//! Semantics (Vixie-style):
//! * 5 fields `min hour dom month dow` (second = 0) or 6 fields
//!   `sec min hour dom month dow`; case-insensitive; nicknames `@yearly`,
//!   `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`.
//! * Items: `*`, `N`, `A-B` (A <= B), `*/S`, `A-B/S` (S >= 1); names JAN..DEC,
//!   SUN..SAT; day-of-week 0..7 with 0 and 7 both Sunday. Day-of-month
//!   specials `L`, `LW`, `NW`; day-of-week specials `D#K` and `DL`.
//! * Day rule: if the dom OR the dow field starts with `*`, both must match,
//!   otherwise either may match.
//! * Fixed-time rule = neither minute nor hour field starts with `*`.
//!   Ambiguous local time: fixed -> earlier instant only, interval -> both.
//!   Nonexistent local time: fixed -> first valid instant after it (gap end),
//!   interval -> skipped. Instants are de-duplicated and sorted.
#![allow(dead_code)]

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// When a fixed-time occurrence falls in a spring-forward gap, the reference
/// steps the wall-clock time forward one minute at a time. With `false`
/// (default) the seconds are first truncated to zero, so the result is the
/// first valid instant after the nonexistent time, i.e. the gap end
/// (`02:30:15` in a 02:00->03:00 gap becomes `03:00:00`). With `true` the
/// seconds are kept (`02:30:15` becomes `03:00:15`). Both agree for
/// 5-field rules (second = 0).
pub const GAP_KEEP_SECONDS: bool = false;

/// A rule parsed by the reference.
#[derive(Debug, Clone)]
pub struct RefRule {
    /// Sorted, distinct.
    seconds: Vec<u32>,
    minutes: Vec<u32>,
    hours: Vec<u32>,
    /// `months[m]` for m in 1..=12.
    months: [bool; 13],
    /// Plain day-of-month values: `dom_days[d]` for d in 1..=31.
    dom_days: [bool; 32],
    dom_last: bool,
    dom_last_weekday: bool,
    /// `NW` items: N values.
    dom_nearest: Vec<u32>,
    /// Plain weekdays, 0 = Sunday .. 6 = Saturday.
    dow_days: [bool; 7],
    /// `D#K` items: (D, K).
    dow_nth: Vec<(u32, u32)>,
    /// `DL` items: D.
    dow_last: Vec<u32>,
    dom_star: bool,
    dow_star: bool,
    /// Neither minute nor hour field starts with `*`.
    fixed_time: bool,
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DOW_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Second,
    Minute,
    Hour,
    Dom,
    Month,
    Dow,
}

impl Kind {
    fn bounds(self) -> (u32, u32) {
        match self {
            Kind::Second | Kind::Minute => (0, 59),
            Kind::Hour => (0, 23),
            Kind::Dom => (1, 31),
            Kind::Month => (1, 12),
            Kind::Dow => (0, 7),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Kind::Second => "second",
            Kind::Minute => "minute",
            Kind::Hour => "hour",
            Kind::Dom => "day-of-month",
            Kind::Month => "month",
            Kind::Dow => "day-of-week",
        }
    }
}

fn parse_number(s: &str, kind: Kind) -> Result<u32, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let v: u32 = s.parse().map_err(|_| format!("bad number {s:?}"))?;
        let (lo, hi) = kind.bounds();
        if v < lo || v > hi {
            return Err(format!("{} value {v} out of range {lo}-{hi}", kind.name()));
        }
        return Ok(v);
    }
    let names: &[&str] = match kind {
        Kind::Month => &MONTH_NAMES,
        Kind::Dow => &DOW_NAMES,
        _ => &[],
    };
    let base = if kind == Kind::Month { 1 } else { 0 };
    names
        .iter()
        .position(|n| *n == s)
        .map(|i| i as u32 + base)
        .ok_or_else(|| format!("bad {} value {s:?}", kind.name()))
}

/// Parses the plain items (`*`, `N`, `A-B`, `*/S`, `A-B/S`) into a value list.
fn parse_plain_item(item: &str, kind: Kind, out: &mut Vec<u32>) -> Result<(), String> {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => {
            let step: u32 = if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().map_err(|_| format!("bad step {s:?}"))?
            } else {
                return Err(format!("bad step {s:?}"));
            };
            if step == 0 {
                return Err("step 0".into());
            }
            (r, Some(step))
        }
        None => (item, None),
    };
    let (lo, hi) = if range == "*" {
        kind.bounds()
    } else if let Some((a, b)) = range.split_once('-') {
        let a = parse_number(a, kind)?;
        let b = parse_number(b, kind)?;
        if a > b {
            return Err(format!("reversed range {item:?}"));
        }
        (a, b)
    } else {
        if step.is_some() {
            return Err(format!("step without range: {item:?}"));
        }
        let v = parse_number(range, kind)?;
        (v, v)
    };
    let step = step.unwrap_or(1);
    let mut v = lo;
    while v <= hi {
        out.push(v);
        v += step;
    }
    Ok(())
}

fn to_set(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

fn parse_simple_field(field: &str, kind: Kind) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in field.split(',') {
        parse_plain_item(item, kind, &mut out)?;
    }
    Ok(to_set(out))
}

/// Expands a nickname (the whole rule) to its 5-field form.
fn expand_nickname(rule: &str) -> Result<&'static str, String> {
    Ok(match rule {
        "@YEARLY" | "@ANNUALLY" => "0 0 1 1 *",
        "@MONTHLY" => "0 0 1 * *",
        "@WEEKLY" => "0 0 * * 0",
        "@DAILY" | "@MIDNIGHT" => "0 0 * * *",
        "@HOURLY" => "0 * * * *",
        _ => return Err(format!("unknown nickname {rule:?}")),
    })
}

pub fn parse(rule: &str) -> Result<RefRule, String> {
    let upper = rule.trim().to_ascii_uppercase();
    let text: String = if upper.starts_with('@') {
        expand_nickname(&upper)?.to_string()
    } else {
        upper
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    let (sec, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        n => return Err(format!("expected 5 or 6 fields, got {n}")),
    };
    let (min, hour, dom, mon, dow) = (rest[0], rest[1], rest[2], rest[3], rest[4]);

    let seconds = parse_simple_field(sec, Kind::Second)?;
    let minutes = parse_simple_field(min, Kind::Minute)?;
    let hours = parse_simple_field(hour, Kind::Hour)?;
    let mut months = [false; 13];
    for m in parse_simple_field(mon, Kind::Month)? {
        months[m as usize] = true;
    }

    // Day of month.
    let mut dom_days = [false; 32];
    let (mut dom_last, mut dom_last_weekday, mut dom_nearest) = (false, false, Vec::new());
    for item in dom.split(',') {
        if item == "L" {
            dom_last = true;
        } else if item == "LW" {
            dom_last_weekday = true;
        } else if let Some(n) = item.strip_suffix('W') {
            dom_nearest.push(parse_number(n, Kind::Dom)?);
        } else {
            let mut v = Vec::new();
            parse_plain_item(item, Kind::Dom, &mut v)?;
            for d in v {
                dom_days[d as usize] = true;
            }
        }
    }

    // Day of week.
    let mut dow_days = [false; 7];
    let (mut dow_nth, mut dow_last) = (Vec::new(), Vec::new());
    for item in dow.split(',') {
        if let Some((d, k)) = item.split_once('#') {
            let d = parse_number(d, Kind::Dow)? % 7;
            let k: u32 = if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) {
                k.parse().map_err(|_| format!("bad #K {k:?}"))?
            } else {
                return Err(format!("bad #K {k:?}"));
            };
            if !(1..=5).contains(&k) {
                return Err(format!("#K out of range: {k}"));
            }
            dow_nth.push((d, k));
        } else if item.len() > 1 && item.ends_with('L') {
            let d = parse_number(&item[..item.len() - 1], Kind::Dow)? % 7;
            dow_last.push(d);
        } else {
            let mut v = Vec::new();
            parse_plain_item(item, Kind::Dow, &mut v)?;
            for d in v {
                dow_days[(d % 7) as usize] = true;
            }
        }
    }

    Ok(RefRule {
        seconds,
        minutes,
        hours,
        months,
        dom_days,
        dom_last,
        dom_last_weekday,
        dom_nearest,
        dow_days,
        dow_nth,
        dow_last,
        dom_star: dom.starts_with('*'),
        dow_star: dow.starts_with('*'),
        fixed_time: !min.starts_with('*') && !hour.starts_with('*'),
    })
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(y, m, 1).unwrap();
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .unwrap();
    (next - first).num_days() as u32
}

/// 0 = Sunday .. 6 = Saturday.
fn weekday0(y: i32, m: u32, d: u32) -> u32 {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .weekday()
        .num_days_from_sunday()
}

/// The weekday (Mon-Fri) nearest day `n` within the same month, if day `n` exists.
fn nearest_weekday(y: i32, m: u32, n: u32) -> Option<u32> {
    let last = days_in_month(y, m);
    if n > last {
        return None;
    }
    Some(match weekday0(y, m, n) {
        6 => {
            if n == 1 {
                3
            } else {
                n - 1
            }
        }
        0 => {
            if n == last {
                n - 2
            } else {
                n + 1
            }
        }
        _ => n,
    })
}

fn last_weekday_of_month(y: i32, m: u32) -> u32 {
    let last = days_in_month(y, m);
    match weekday0(y, m, last) {
        6 => last - 1,
        0 => last - 2,
        _ => last,
    }
}

impl RefRule {
    /// Whether the local calendar date matches the month and day fields.
    pub fn date_matches(&self, date: NaiveDate) -> bool {
        let (y, m, d) = (date.year(), date.month(), date.day());
        if !self.months[m as usize] {
            return false;
        }
        let last = days_in_month(y, m);
        let wd = date.weekday().num_days_from_sunday();
        let dom_ok = self.dom_days[d as usize]
            || (self.dom_last && d == last)
            || (self.dom_last_weekday && d == last_weekday_of_month(y, m))
            || self
                .dom_nearest
                .iter()
                .any(|&n| nearest_weekday(y, m, n) == Some(d));
        let dow_ok = self.dow_days[wd as usize]
            || self
                .dow_nth
                .iter()
                .any(|&(dd, k)| dd == wd && (d - 1) / 7 + 1 == k)
            || self.dow_last.iter().any(|&dd| dd == wd && d + 7 > last);
        if self.dom_star || self.dow_star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        }
    }

    /// Whether the rule is "fixed-time" (neither minute nor hour field starts with `*`).
    pub fn is_fixed_time(&self) -> bool {
        self.fixed_time
    }

    /// All occurrence instants generated by one local date (unsorted, may contain duplicates).
    fn instants_of_date(&self, tz: Tz, date: NaiveDate, out: &mut Vec<DateTime<Utc>>) {
        for &h in &self.hours {
            for &mi in &self.minutes {
                for &s in &self.seconds {
                    let naive = date.and_hms_opt(h, mi, s).unwrap();
                    match tz.from_local_datetime(&naive) {
                        LocalResult::Single(t) => out.push(t.with_timezone(&Utc)),
                        LocalResult::Ambiguous(a, b) => {
                            let (a, b) = if a <= b { (a, b) } else { (b, a) };
                            out.push(a.with_timezone(&Utc));
                            if !self.fixed_time {
                                out.push(b.with_timezone(&Utc));
                            }
                        }
                        LocalResult::None => {
                            if self.fixed_time
                                && let Some(t) = gap_end(tz, naive)
                            {
                                out.push(t);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The first `n` occurrence instants strictly after `after`, at or after `from` (if any),
    /// at or before `until` (if any), ascending, distinct. Search stops after `horizon_days`
    /// local days past `after` (so never-matching rules terminate).
    pub fn starts_after(
        &self,
        tz: Tz,
        after: DateTime<Utc>,
        from: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        n: usize,
        horizon_days: u32,
    ) -> Vec<DateTime<Utc>> {
        if n == 0 {
            return Vec::new();
        }
        let in_window = |t: &DateTime<Utc>| {
            *t > after && from.is_none_or(|f| *t >= f) && until.is_none_or(|u| *t <= u)
        };
        let after_date = after.with_timezone(&tz).date_naive();
        let start_instant = match from {
            Some(f) if f > after => f,
            _ => after,
        };
        let mut date = start_instant.with_timezone(&tz).date_naive() - Duration::days(1);
        let last_date = after_date + Duration::days(horizon_days as i64);
        // Local dates far past `until` cannot produce instants <= until.
        let until_date = until.map(|u| u.with_timezone(&tz).date_naive() + Duration::days(2));

        let mut found: Vec<DateTime<Utc>> = Vec::new();
        let mut day_buf = Vec::new();
        // Once n instants are found, process two more dates: mapped instants of a date can
        // (in rare transition cases) precede those of the previous date by a little.
        let mut extra_days: Option<u32> = None;
        while date <= last_date {
            if until_date.is_some_and(|u| date > u) {
                break;
            }
            if self.date_matches(date) {
                day_buf.clear();
                self.instants_of_date(tz, date, &mut day_buf);
                found.extend(day_buf.iter().copied().filter(|t| in_window(t)));
                // Count distinct instants: two gap times can land on one.
                found.sort();
                found.dedup();
            }
            if let Some(k) = extra_days.as_mut() {
                if *k == 0 {
                    break;
                }
                *k -= 1;
            } else if found.len() >= n {
                extra_days = Some(2);
            }
            date = match date.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        found.sort();
        found.dedup();
        found.truncate(n);
        found
    }
}

/// For a nonexistent local time: step forward one minute at a time (at most 48 hours)
/// until the local time exists; return its earliest instant.
fn gap_end(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut t = if GAP_KEEP_SECONDS {
        naive
    } else {
        naive.with_second(0).unwrap()
    };
    for _ in 0..(48 * 60) {
        t += Duration::minutes(1);
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => return Some(a.min(b).with_timezone(&Utc)),
            LocalResult::None => {}
        }
    }
    None
}

/// UTC offset (seconds) of the zone at an instant.
fn offset_secs(tz: Tz, t: DateTime<Utc>) -> i32 {
    tz.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

/// DST transitions of a zone between two instants (instants at which the UTC offset
/// changes), found by scanning hourly and bisecting to the second. Each returned instant
/// is the first second with the new offset.
pub fn transitions(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let step = Duration::hours(1);
    let mut a = from;
    let mut off_a = offset_secs(tz, a);
    while a < to {
        let b = (a + step).min(to);
        let off_b = offset_secs(tz, b);
        if off_b != off_a {
            // Invariant: offset(lo) == off_a, offset(hi) != off_a.
            let (mut lo, mut hi) = (a, b);
            while (hi - lo).num_seconds() > 1 {
                let mid = lo + Duration::seconds((hi - lo).num_seconds() / 2);
                if offset_secs(tz, mid) == off_a {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            out.push(hi);
        }
        a = b;
        off_a = off_b;
    }
    out
}

/// A seeded random rule generator: returns rule text that a Vixie-style cron parser accepts.
#[derive(Debug, Clone)]
pub struct RuleGen {
    state: u64,
}

impl RuleGen {
    pub fn new(seed: u64) -> Self {
        RuleGen { state: seed }
    }

    /// splitmix64.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        self.next_u64() % n
    }

    fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as u64) as u32
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Random letter case: upper, lower or capitalized.
    fn cased(&mut self, name: &str) -> String {
        match self.below(4) {
            0 => name.to_ascii_lowercase(),
            1 => {
                let lower = name.to_ascii_lowercase();
                name[..1].to_string() + &lower[1..]
            }
            _ => name.to_string(),
        }
    }

    /// Two distinct sorted values in lo..=hi joined by a comma.
    fn pair(&mut self, lo: u32, hi: u32) -> String {
        let a = self.range(lo, hi);
        let mut b = self.range(lo, hi);
        while b == a {
            b = self.range(lo, hi);
        }
        format!("{},{}", a.min(b), a.max(b))
    }

    fn second_field(&mut self) -> String {
        match self.below(4) {
            0 => "0".into(),
            1 => self.pick(&["15", "30", "45", "59"]).to_string(),
            2 => self.range(0, 59).to_string(),
            _ => match self.below(3) {
                0 => "0,30".into(),
                1 => "15,45".into(),
                _ => self.pair(0, 59),
            },
        }
    }

    fn minute_field(&mut self) -> String {
        match self.below(20) {
            0 | 1 => "*".into(),
            2 | 3 => format!("*/{}", self.pick(&[5, 7, 10, 15, 20, 30])),
            4..=8 => self.pick(&["0", "15", "30", "45"]).into(),
            9 | 10 => self.range(0, 59).to_string(),
            11 | 12 => "0,30".into(),
            13 => self.pick(&["15,45", "0,15,30,45", "5,35,55"]).into(),
            14 => self.pair(0, 59),
            15 => self.pick(&["10-40/10", "0-45/15", "5-59/20"]).into(),
            16 => {
                let a = self.range(0, 55);
                format!("{}-{}", a, a + self.range(0, 4))
            }
            _ => "0".into(),
        }
    }

    fn hour_field(&mut self) -> String {
        match self.below(20) {
            0 | 1 => "*".into(),
            2 => format!("*/{}", self.pick(&[2, 3, 4, 6, 12])),
            3..=8 => self.pick(&["0", "1", "2", "3", "23"]).into(),
            9 | 10 => self.range(0, 23).to_string(),
            11 | 12 => self.pick(&["1,13", "0,23", "2,14", "1,2", "0,12"]).into(),
            13 => self.pair(0, 23),
            14 | 15 => self.pick(&["2-3", "1-3", "0-2", "22-23", "1-2"]).into(),
            16 => {
                let a = self.range(0, 20);
                format!("{}-{}", a, a + self.range(0, 3))
            }
            17 => self.pick(&["0-23/6", "1-23/2", "0-12/4"]).into(),
            _ => "2".into(),
        }
    }

    fn dom_field(&mut self) -> String {
        if self.chance(55) {
            return "*".into();
        }
        match self.below(16) {
            0..=2 => self.range(1, 28).to_string(),
            3 => self.range(29, 31).to_string(),
            4 => self.pair(1, 28),
            5 => {
                let a = self.range(1, 25);
                format!("{}-{}", a, a + self.range(0, 6))
            }
            6 => "*/2".into(),
            7 => format!("*/{}", self.range(3, 10)),
            8 => self.pick(&["1-15/3", "10-28/2"]).into(),
            9 | 10 => "L".into(),
            11 => "LW".into(),
            12 | 13 => format!("{}W", self.pick(&[1, 15, 15, 30, 31, 10, 28])),
            14 => format!("{}W", self.range(1, 28)),
            _ => "1".into(),
        }
    }

    fn month_field(&mut self) -> String {
        if self.chance(70) {
            return "*".into();
        }
        match self.below(8) {
            0 | 1 => self.range(1, 12).to_string(),
            2 | 3 => {
                let m = self.range(0, 11) as usize;
                self.cased(MONTH_NAMES[m])
            }
            4 => {
                let a = self.range(0, 9) as usize;
                let b = a + self.range(1, 2) as usize;
                format!(
                    "{}-{}",
                    self.cased(MONTH_NAMES[a]),
                    self.cased(MONTH_NAMES[b])
                )
            }
            5 => self.pick(&["3,11", "10,11", "3,4,10,11", "1,6"]).into(),
            6 => self.pick(&["*/3", "*/2", "3-11/2"]).into(),
            _ => {
                let a = self.range(1, 10);
                format!("{}-{}", a, a + self.range(1, 2))
            }
        }
    }

    fn dow_field(&mut self) -> String {
        if self.chance(60) {
            return "*".into();
        }
        match self.below(16) {
            0 | 1 => self.range(0, 6).to_string(),
            2 => "7".into(),
            3 | 4 => {
                let d = self.range(0, 6) as usize;
                self.cased(DOW_NAMES[d])
            }
            5 => {
                let a = self.range(1, 5) as usize;
                let b = self.range(a as u32, 6) as usize;
                if self.chance(50) {
                    format!("{}-{}", self.cased(DOW_NAMES[a]), self.cased(DOW_NAMES[b]))
                } else {
                    format!("{a}-{b}")
                }
            }
            6 => self.cased("MON-FRI"),
            7 => self.pick(&["1-5", "0,6", "SAT,SUN", "1,3,5"]).into(),
            8 => self.pick(&["*/2", "1-5/2"]).into(),
            9 | 10 => {
                let d = self.range(0, 6) as usize;
                let k = self.range(1, 5);
                if self.chance(50) {
                    format!("{}#{k}", self.cased(DOW_NAMES[d]))
                } else {
                    format!("{d}#{k}")
                }
            }
            11 => format!("{}#1", self.cased("FRI")),
            12 | 13 => {
                let d = self.range(0, 6) as usize;
                if self.chance(50) {
                    format!("{d}L")
                } else {
                    format!("{}L", self.cased(DOW_NAMES[d]))
                }
            }
            14 => "5L".into(),
            _ => "0".into(),
        }
    }

    /// A random rule.
    pub fn rule(&mut self) -> String {
        if self.chance(8) {
            let nick = self.pick(&[
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@midnight",
                "@hourly",
            ]);
            return self.cased(nick);
        }
        let mut parts = Vec::new();
        if self.chance(25) {
            parts.push(self.second_field());
        }
        parts.push(self.minute_field());
        parts.push(self.hour_field());
        parts.push(self.dom_field());
        parts.push(self.month_field());
        parts.push(self.dow_field());
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn run(rule: &str, tz: Tz, after: &str, until: Option<&str>, n: usize) -> Vec<String> {
        parse(rule)
            .unwrap()
            .starts_after(tz, utc(after), None, until.map(utc), n, 3000)
            .into_iter()
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect()
    }

    #[test]
    fn ny_fall_back_fixed_time_first_pass() {
        // 2027-11-07 is the first Sunday of November: 02:00 EDT -> 01:00 EST.
        // (After 12:00Z on Nov 6 the first match would be Nov 6 13:30 EDT = 17:30Z,
        // so start the window after that.)
        let got = run(
            "30 1,13 * * *",
            chrono_tz::America::New_York,
            "2027-11-06T18:00:00Z",
            None,
            3,
        );
        assert_eq!(
            got,
            [
                "2027-11-07T05:30:00Z",
                "2027-11-07T18:30:00Z",
                "2027-11-08T06:30:00Z"
            ]
        );
        let got = run(
            "30 1,13 * * *",
            chrono_tz::America::New_York,
            "2027-11-06T12:00:00Z",
            None,
            2,
        );
        assert_eq!(got, ["2027-11-06T17:30:00Z", "2027-11-07T05:30:00Z"]);
    }

    #[test]
    fn london_fall_back_fixed_time() {
        // 2027-10-31 (last Sunday of October): 02:00 BST -> 01:00 GMT.
        let got = run(
            "0,30 1 * * *",
            chrono_tz::Europe::London,
            "2027-10-30T23:00:00Z",
            Some("2027-10-31T23:59:59Z"),
            10,
        );
        assert_eq!(got, ["2027-10-31T00:00:00Z", "2027-10-31T00:30:00Z"]);
    }

    #[test]
    fn ny_spring_forward_gap_collapses() {
        // 2027-03-14 (second Sunday of March): 02:00 EST -> 03:00 EDT. Both 02:00 and 02:30
        // map to 03:00 EDT (07:00Z), de-duplicated. 2028-03-14 is after that year's DST start.
        let got = run(
            "0,30 2 14 3 *",
            chrono_tz::America::New_York,
            "2027-03-13T00:00:00Z",
            None,
            3,
        );
        assert_eq!(
            got,
            [
                "2027-03-14T07:00:00Z",
                "2028-03-14T06:00:00Z",
                "2028-03-14T06:30:00Z"
            ]
        );
    }

    #[test]
    fn ny_gap_time_and_ordinary_time() {
        let got = run(
            "30 2-3 * * *",
            chrono_tz::America::New_York,
            "2027-03-14T05:00:00Z",
            Some("2027-03-15T03:59:00Z"),
            10,
        );
        assert_eq!(got, ["2027-03-14T07:00:00Z", "2027-03-14T07:30:00Z"]);
        // A gap time landing on an ordinary occurrence is de-duplicated.
        let got = run(
            "0 2,3 * * *",
            chrono_tz::America::New_York,
            "2027-03-14T05:00:00Z",
            Some("2027-03-15T03:59:00Z"),
            10,
        );
        assert_eq!(got, ["2027-03-14T07:00:00Z"]);
    }

    #[test]
    fn interval_rule_both_passes_and_gap_skipped() {
        let got = run(
            "*/30 * * * *",
            chrono_tz::America::New_York,
            "2027-11-07T04:40:00Z",
            Some("2027-11-07T07:10:00Z"),
            100,
        );
        assert_eq!(
            got,
            [
                "2027-11-07T05:00:00Z",
                "2027-11-07T05:30:00Z",
                "2027-11-07T06:00:00Z",
                "2027-11-07T06:30:00Z",
                "2027-11-07T07:00:00Z"
            ]
        );
        // Spring forward: 01:30 EST (06:30Z) then 03:00 EDT (07:00Z); 02:xx skipped.
        let got = run(
            "*/30 * * * *",
            chrono_tz::America::New_York,
            "2027-03-14T06:10:00Z",
            None,
            2,
        );
        assert_eq!(got, ["2027-03-14T06:30:00Z", "2027-03-14T07:00:00Z"]);
        // Interval in the hour field only: `0 */1 ...` is interval too.
        let got = run(
            "30 * 14 3 *",
            chrono_tz::America::New_York,
            "2027-03-14T06:10:00Z",
            None,
            2,
        );
        assert_eq!(got, ["2027-03-14T06:30:00Z", "2027-03-14T07:30:00Z"]);
    }

    #[test]
    fn day_rule_and_vs_or() {
        // Jan 2027: Jan 1 is a Friday; Mondays 4, 11, 18, 25; `*/2` = odd days.
        let got = run(
            "0 9 */2 * MON",
            chrono_tz::UTC,
            "2027-01-01T00:00:00Z",
            Some("2027-01-31T23:59:59Z"),
            10,
        );
        assert_eq!(got, ["2027-01-11T09:00:00Z", "2027-01-25T09:00:00Z"]);
        // OR: days 1-7 plus Fridays 8, 15, 22, 29; then Feb 1 (a Monday).
        let got = run(
            "0 9 1-7 * FRI",
            chrono_tz::UTC,
            "2027-01-01T00:00:00Z",
            None,
            12,
        );
        let days: Vec<&str> = got.iter().map(|s| &s[..10]).collect();
        assert_eq!(
            days,
            [
                "2027-01-01",
                "2027-01-02",
                "2027-01-03",
                "2027-01-04",
                "2027-01-05",
                "2027-01-06",
                "2027-01-07",
                "2027-01-08",
                "2027-01-15",
                "2027-01-22",
                "2027-01-29",
                "2027-02-01"
            ]
        );
        // `*` in dow: AND with an unrestricted field = dom alone.
        let got = run(
            "0 9 13 * *",
            chrono_tz::UTC,
            "2027-01-01T00:00:00Z",
            None,
            2,
        );
        assert_eq!(got, ["2027-01-13T09:00:00Z", "2027-02-13T09:00:00Z"]);
    }

    #[test]
    fn santiago_fall_back_at_midnight() {
        // tzdata rule "Chile 2023 max Apr Sun>=2 3:00u": 2027-04-04 03:00Z, i.e. local
        // 2027-04-04 00:00 -03 -> 2027-04-03 23:00 -04 (verified below with transitions()).
        let tz = chrono_tz::America::Santiago;
        let tr = transitions(tz, utc("2027-04-01T00:00:00Z"), utc("2027-04-10T00:00:00Z"));
        assert_eq!(tr, [utc("2027-04-04T03:00:00Z")]);
        let got = run(
            "*/30 23 * * *",
            tz,
            "2027-04-03T12:00:00Z",
            Some("2027-04-04T12:00:00Z"),
            10,
        );
        assert_eq!(
            got,
            [
                "2027-04-04T02:00:00Z",
                "2027-04-04T02:30:00Z",
                "2027-04-04T03:00:00Z",
                "2027-04-04T03:30:00Z"
            ]
        );
        // Fixed-time variant: only the first pass.
        let got = run(
            "0,30 23 * * *",
            tz,
            "2027-04-03T12:00:00Z",
            Some("2027-04-04T12:00:00Z"),
            10,
        );
        assert_eq!(got, ["2027-04-04T02:00:00Z", "2027-04-04T02:30:00Z"]);
    }

    #[test]
    fn lord_howe_half_hour_gap() {
        // First Sunday of October 2027 is Oct 3: 02:00 +10:30 -> 02:30 +11:00.
        let tz = chrono_tz::Australia::Lord_Howe;
        let tr = transitions(tz, utc("2027-10-01T00:00:00Z"), utc("2027-10-05T00:00:00Z"));
        assert_eq!(tr, [utc("2027-10-02T15:30:00Z")]);
        let got = run("15 2 * * *", tz, "2027-10-02T00:00:00Z", None, 2);
        // 02:15 is in the gap -> 02:30 +11 = 15:30Z; next day 02:15 +11 = 15:15Z.
        assert_eq!(got, ["2027-10-02T15:30:00Z", "2027-10-03T15:15:00Z"]);
        // Interval rule skips the gap: 01:15 +10:30 (14:45Z), [02:15 skipped], 03:15 +11 (16:15Z).
        let got = run("15 * 3 10 *", tz, "2027-10-02T14:00:00Z", None, 2);
        assert_eq!(got, ["2027-10-02T14:45:00Z", "2027-10-02T16:15:00Z"]);
    }

    #[test]
    fn gap_with_seconds() {
        let got = run(
            "15 30 2 14 3 *",
            chrono_tz::America::New_York,
            "2027-03-14T00:00:00Z",
            None,
            1,
        );
        let want = if GAP_KEEP_SECONDS {
            "2027-03-14T07:00:15Z"
        } else {
            "2027-03-14T07:00:00Z"
        };
        assert_eq!(got, [want]);
    }

    fn dates(rule: &str, after: &str, n: usize) -> Vec<String> {
        run(rule, chrono_tz::UTC, after, None, n)
            .into_iter()
            .map(|s| s[..10].to_string())
            .collect()
    }

    #[test]
    fn special_day_items() {
        assert_eq!(
            dates("0 0 L * *", "2027-01-31T00:00:00Z", 4),
            ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
        );
        assert_eq!(
            dates("0 0 L 2 *", "2027-03-01T00:00:00Z", 1),
            ["2028-02-29"]
        );
        // Feb 28 2027 is a Sunday; Jul 31 2027 a Saturday.
        assert_eq!(
            dates("0 0 LW * *", "2027-02-01T00:00:00Z", 2),
            ["2027-02-26", "2027-03-31"]
        );
        assert_eq!(
            dates("0 0 LW 7 *", "2027-01-01T00:00:00Z", 1),
            ["2027-07-30"]
        );
        // Feb 15 Mon; May 15 Sat -> Fri 14; Aug 15 Sun -> Mon 16.
        assert_eq!(
            dates("0 0 15W 2,5,8 *", "2027-01-01T00:00:00Z", 3),
            ["2027-02-15", "2027-05-14", "2027-08-16"]
        );
        // Jan 1 Fri; Feb 1 Mon; May 1 Sat -> Mon 3 (not Apr 30); Aug 1 Sun -> Mon 2.
        assert_eq!(
            dates("0 0 1W 1,2,5,8 *", "2026-12-31T00:00:00Z", 4),
            ["2027-01-01", "2027-02-01", "2027-05-03", "2027-08-02"]
        );
        // 31W: Jan 31 Sun (last day) -> Fri 29; Mar 31 Wed; May 31 Mon; Jul 31 Sat -> Fri 30;
        // Aug 31 Tue; Oct 31 Sun (last day) -> Fri 29; Dec 31 Fri; 30-day months: nothing.
        assert_eq!(
            dates("0 0 31W * *", "2027-01-01T00:00:00Z", 7),
            [
                "2027-01-29",
                "2027-03-31",
                "2027-05-31",
                "2027-07-30",
                "2027-08-31",
                "2027-10-29",
                "2027-12-31"
            ]
        );
        assert_eq!(
            dates("0 0 * * FRI#1", "2026-12-31T00:00:00Z", 5),
            [
                "2027-01-01",
                "2027-02-05",
                "2027-03-05",
                "2027-04-02",
                "2027-05-07"
            ]
        );
        assert_eq!(
            dates("0 0 * * 5L", "2027-01-01T00:00:00Z", 4),
            ["2027-01-29", "2027-02-26", "2027-03-26", "2027-04-30"]
        );
        assert_eq!(
            dates("0 0 * * fril", "2027-01-01T00:00:00Z", 1),
            ["2027-01-29"]
        );
        // Fifth Friday only exists in some months: Jan 29, Apr 30, Jul 30, Oct 29 2027.
        assert_eq!(
            dates("0 0 * * 5#5", "2027-01-01T00:00:00Z", 4),
            ["2027-01-29", "2027-04-30", "2027-07-30", "2027-10-29"]
        );
    }

    #[test]
    fn never_matching_rule_terminates() {
        assert!(
            run(
                "0 0 30 2 *",
                chrono_tz::UTC,
                "2027-01-01T00:00:00Z",
                None,
                5
            )
            .is_empty()
        );
        assert!(
            run(
                "0 0 31 4,6,9,11 *",
                chrono_tz::UTC,
                "2027-01-01T00:00:00Z",
                None,
                5
            )
            .is_empty()
        );
    }

    #[test]
    fn nicknames_names_and_sunday_7() {
        assert_eq!(dates("@weekly", "2027-01-01T00:00:00Z", 1), ["2027-01-03"]);
        assert_eq!(
            dates("0 0 * * 7", "2027-01-01T00:00:00Z", 1),
            ["2027-01-03"]
        );
        assert_eq!(
            dates("0 0 * * sun", "2027-01-01T00:00:00Z", 1),
            ["2027-01-03"]
        );
        assert_eq!(dates("@YEARLY", "2027-01-01T00:00:00Z", 1), ["2028-01-01"]);
        assert_eq!(
            dates("@Midnight", "2027-01-01T00:00:00Z", 1),
            ["2027-01-02"]
        );
        assert_eq!(
            dates("0 0 1 mar-May *", "2027-01-01T00:00:00Z", 3),
            ["2027-03-01", "2027-04-01", "2027-05-01"]
        );
        let got = run("@hourly", chrono_tz::UTC, "2027-01-01T00:00:00Z", None, 2);
        assert_eq!(got, ["2027-01-01T01:00:00Z", "2027-01-01T02:00:00Z"]);
        assert!(!parse("@hourly").unwrap().is_fixed_time());
        assert!(parse("@daily").unwrap().is_fixed_time());
        assert!(!parse("0 */2 * * *").unwrap().is_fixed_time());
        assert!(!parse("*/5 1 * * *").unwrap().is_fixed_time());
        assert!(!parse("* 0-23/2 * * *").unwrap().is_fixed_time());
        assert!(parse("0 0-23/2 * * *").unwrap().is_fixed_time());
        let got = run(
            "10,20 5-15/10 10 1 * *",
            chrono_tz::UTC,
            "2027-01-01T00:00:00Z",
            None,
            3,
        );
        assert_eq!(
            got,
            [
                "2027-01-01T10:05:10Z",
                "2027-01-01T10:05:20Z",
                "2027-01-01T10:15:10Z"
            ]
        );
    }

    #[test]
    fn window_from_until() {
        let r = parse("0 * * * *").unwrap();
        let got = r.starts_after(
            chrono_tz::UTC,
            utc("2027-01-01T00:00:00Z"),
            Some(utc("2027-01-01T05:00:00Z")),
            Some(utc("2027-01-01T07:00:00Z")),
            10,
            10,
        );
        assert_eq!(
            got,
            [
                utc("2027-01-01T05:00:00Z"),
                utc("2027-01-01T06:00:00Z"),
                utc("2027-01-01T07:00:00Z")
            ]
        );
        // `from` earlier than `after`: `after` (strict) wins.
        let got = r.starts_after(
            chrono_tz::UTC,
            utc("2027-01-01T05:00:00Z"),
            Some(utc("2027-01-01T00:00:00Z")),
            None,
            1,
            10,
        );
        assert_eq!(got, [utc("2027-01-01T06:00:00Z")]);
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "5-2 * * * *",
            "0/10 * * * *",
            "? * * * *",
            "* * * *",
            "0 0 0 0 0 0 0",
            "@reboot",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "* * * * MON-",
            "* * * * 5#6",
            "* * * * 5#0",
            "* * 32W * *",
            "* * * JAN-FOO *",
        ] {
            assert!(parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn transitions_new_york_2027() {
        let tr = transitions(
            chrono_tz::America::New_York,
            utc("2027-01-01T00:00:00Z"),
            utc("2028-01-01T00:00:00Z"),
        );
        assert_eq!(
            tr,
            [utc("2027-03-14T07:00:00Z"), utc("2027-11-07T06:00:00Z")]
        );
    }

    #[test]
    fn generator_rules_parse() {
        let mut g = RuleGen::new(42);
        for _ in 0..5000 {
            let r = g.rule();
            assert!(parse(&r).is_ok(), "{r}");
            assert!(!r.contains('?'));
        }
        let mut a = RuleGen::new(7);
        let mut b = RuleGen::new(7);
        assert_eq!(a.rule(), b.rule());
    }

    /// Timing: `cargo test -- --ignored --nocapture timing`.
    #[test]
    #[ignore]
    fn timing_1000_rules_50_occurrences() {
        let zones = [
            chrono_tz::America::New_York,
            chrono_tz::Europe::London,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::America::Santiago,
            chrono_tz::UTC,
        ];
        let mut g = RuleGen::new(1);
        let start = std::time::Instant::now();
        let mut total = 0;
        for i in 0..1000 {
            let r = g.rule();
            let rule = parse(&r).unwrap();
            let after =
                utc("2027-01-01T00:00:00Z") + Duration::minutes(g.below(365 * 24 * 60) as i64);
            total += rule
                .starts_after(zones[i % zones.len()], after, None, None, 50, 3000)
                .len();
        }
        println!(
            "1000 rules x 50: {total} occurrences in {:?}",
            start.elapsed()
        );
        for _ in 0..15 {
            println!("{}", g.rule());
        }
    }
}
