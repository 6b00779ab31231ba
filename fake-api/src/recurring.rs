//! Recurring meetings (`meeting_type = 1`) as the vendor's docs describe them, written for the
//! fake on its own (the client's mapping must not be checked against its own reading):
//!
//! - `recurring_type` (doc 1095/42417): 0 every day, 1 Monday to Friday, 2 every week, 3 every
//!   two weeks, 4 every month, 5 custom. Weekly, biweekly and monthly repeat the first start's
//!   weekday or day of the month.
//! - Custom (doc 1095/81181): `customized_recurring_type` 0 every `step` days; 1 every `step`
//!   weeks on the weekdays of `customized_recurring_days` (1 Sunday, 2 Monday, ... 64
//!   Saturday); 2 every `step` months on a weekday (the same bits) in a week (128 the first,
//!   256 the second, ... 2048 the fifth: the nth such weekday of the month, as the docs'
//!   example "1026 = the fourth Monday" for 26 September 2022 shows; months without a fifth
//!   are skipped); 3 every `step` months on days (bit `d - 1` for day `d`). For 1 to 3 the days
//!   must include the first start's, else 190004 "recurring_days no include firstStartTime".
//! - `until_type` 0 ends on `until_date` (unix seconds; the fake counts the whole local day),
//!   1 after `until_count` occurrences; at most [`MAX_OCCURRENCES`] either way (the docs'
//!   narrowest reading; beyond it, 190004).
//! - Numbers may come as JSON numbers or as strings of digits (the docs' examples send both).
//!
//! What the docs leave open, the fake decides, and says so: a day of the month a month lacks is
//! skipped in that month; a series is expanded in its `time_zone` keeping the first start's
//! wall-clock time ([`Dst::Zone`]), or, with [`Dst::Fixed`], at the first start's UTC offset
//! (the reading under which a daylight-saving day comes out an hour off). A wall-clock time a
//! zone skips is taken at the first instant after the gap; one it repeats, at its first pass.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::readings::Readings;

/// The most occurrences one create may book.
pub const MAX_OCCURRENCES: usize = 50;

/// How the fake expands a series across daylight-saving changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Dst {
    /// Each occurrence at the first start's wall-clock time in the series' zone.
    #[default]
    Zone,
    /// Each occurrence a whole number of days (of 86,400 s) after the first start.
    Fixed,
}

/// A `recurring_rule` as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub recurring_type: i64,
    pub until_type: i64,
    pub until_count: i64,
    pub until_date: Option<i64>,
    pub custom_type: i64,
    pub step: i64,
    pub days: i64,
}

/// A field of the rule: a number, a string of digits, or absent (`default`).
fn number(obj: &Map<String, Value>, key: &str, default: i64) -> Result<i64, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("{key} must be an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("{key} must be an integer")),
        Some(_) => Err(format!("{key} must be an integer")),
    }
}

impl Rule {
    pub fn parse(v: &Value) -> Result<Rule, String> {
        let obj = v.as_object().ok_or("recurring_rule must be an object")?;
        let rule = Rule {
            recurring_type: number(obj, "recurring_type", 0)?,
            until_type: number(obj, "until_type", 0)?,
            until_count: number(obj, "until_count", 7)?,
            until_date: match obj.get("until_date") {
                None | Some(Value::Null) => None,
                Some(_) => Some(number(obj, "until_date", 0)?),
            },
            custom_type: number(obj, "customized_recurring_type", 0)?,
            step: number(obj, "customized_recurring_step", 1)?,
            days: number(obj, "customized_recurring_days", 0)?,
        };
        if !(0..=5).contains(&rule.recurring_type) {
            return Err("recurring_type must be 0 to 5".into());
        }
        if !(0..=1).contains(&rule.until_type) {
            return Err("until_type must be 0 or 1".into());
        }
        if rule.recurring_type == 5 {
            if !(0..=3).contains(&rule.custom_type) {
                return Err("customized_recurring_type must be 0 to 3".into());
            }
            if !(1..=1000).contains(&rule.step) {
                return Err("customized_recurring_step must be at least 1".into());
            }
        }
        Ok(rule)
    }

    /// Whether `date` repeats the series that starts on `first`.
    fn matches(&self, first: NaiveDate, date: NaiveDate) -> bool {
        let days = (date - first).num_days();
        let months = i64::from(date.year() - first.year()) * 12 + i64::from(date.month())
            - i64::from(first.month());
        let sunday = date.weekday().num_days_from_sunday();
        let bit = |b: u32| self.days >> b & 1 == 1;
        match (self.recurring_type, self.custom_type) {
            (0, _) => true,
            (1, _) => (1..=5).contains(&sunday),
            (2, _) => days % 7 == 0,
            (3, _) => days % 14 == 0,
            (4, _) => date.day() == first.day(),
            (5, 0) => days % self.step == 0,
            (5, 1) => {
                // Weeks from Sunday to Saturday, counted from the first start's.
                let week0 =
                    first - TimeDelta::days(i64::from(first.weekday().num_days_from_sunday()));
                ((date - week0).num_days() / 7) % self.step == 0 && bit(sunday)
            }
            (5, 2) => months % self.step == 0 && bit(sunday) && bit(7 + (date.day() - 1) / 7),
            (5, 3) => months % self.step == 0 && bit(date.day() - 1),
            _ => false,
        }
    }
}

/// The instant of `date` at `time` in `tz`: the first pass of a repeated time, the end of the
/// gap for a skipped one.
fn at(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let mut local = date.and_time(time);
    for _ in 0..=24 * 4 {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return Some(t.with_timezone(&Utc));
            }
            LocalResult::None => local += TimeDelta::minutes(15),
        }
    }
    None
}

/// The sub-meetings `(start, end)` of a series created with `start`..`end`, in unix seconds.
pub fn expand(
    start: i64,
    end: i64,
    rule: &Rule,
    tz: Tz,
    dst: Dst,
) -> Result<Vec<(i64, i64)>, String> {
    let first = DateTime::<Utc>::from_timestamp(start, 0)
        .ok_or("start_time out of range")?
        .with_timezone(&tz);
    let (first_date, time) = (first.date_naive(), first.time());
    let custom_days = rule.recurring_type == 5 && rule.custom_type != 0;
    if custom_days && !rule.matches(first_date, first_date) {
        return Err("recurring_days no include firstStartTime".into());
    }
    let last_date = match (rule.until_type, rule.until_date) {
        (1, _) => None,
        (_, Some(until)) => Some(
            DateTime::<Utc>::from_timestamp(until, 0)
                .ok_or("until_date out of range")?
                .with_timezone(&tz)
                .date_naive(),
        ),
        // The docs: "如未填写，默认为当前日期往后推7天" (the fake counts from the first start).
        (_, None) => Some(first_date + TimeDelta::days(7)),
    };
    if rule.until_type == 1 && !(1..=MAX_OCCURRENCES as i64).contains(&rule.until_count) {
        return Err(format!("until_count must be 1 to {MAX_OCCURRENCES}"));
    }
    let mut out = Vec::new();
    let mut date = first_date;
    // Ten years of days: a fifth-weekday rule every 12 months finds 50 well within it.
    for _ in 0..3660 * 10 {
        if last_date.is_some_and(|last| date > last)
            || (rule.until_type == 1 && out.len() as i64 >= rule.until_count)
        {
            break;
        }
        if rule.matches(first_date, date) {
            if out.len() == MAX_OCCURRENCES {
                return Err(format!("more than {MAX_OCCURRENCES} occurrences"));
            }
            let s = match dst {
                Dst::Zone => at(tz, date, time).map(|t| t.timestamp()),
                Dst::Fixed => Some(start + (date - first_date).num_days() * 86_400),
            }
            .ok_or("an occurrence is out of range")?;
            out.push((s, s + (end - start)));
        }
        date = date.succ_opt().ok_or("an occurrence is out of range")?;
    }
    Ok(out)
}

/// One occurrence of a series (a sub-meeting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sub {
    /// Opaque to clients; the fake uses the occurrence's first start, as the docs' example does.
    pub id: String,
    pub start: i64,
    pub end: i64,
    pub cancelled: bool,
}

/// What makes a meeting a series: its rule as sent (echoed by get and list), its zone, and
/// its occurrences.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub rule: Value,
    pub time_zone: String,
    pub subs: Vec<Sub>,
}

/// The zone the docs fall back to (the service is in China).
pub const DEFAULT_ZONE: &str = "Asia/Shanghai";

impl Series {
    /// The series a create (or a rule's modify) books from `start`..`end`.
    pub fn new(
        rule: &Value,
        time_zone: Option<&str>,
        (start, end): (i64, i64),
        dst: Dst,
    ) -> Result<Series, String> {
        let time_zone = time_zone.unwrap_or(DEFAULT_ZONE);
        let tz: Tz = time_zone
            .parse()
            .map_err(|_| format!("time_zone {time_zone:?} is not a known zone"))?;
        let subs = expand(start, end, &Rule::parse(rule)?, tz, dst)?
            .into_iter()
            .map(|(start, end)| Sub {
                id: start.to_string(),
                start,
                end,
                cancelled: false,
            })
            .collect();
        Ok(Series {
            rule: rule.clone(),
            time_zone: time_zone.to_string(),
            subs,
        })
    }

    /// The docs' current sub-meeting: in progress or next to start, at `now_s`.
    pub fn current(&self, now_s: i64) -> Option<&Sub> {
        self.subs.iter().find(|s| !s.cancelled && s.end > now_s)
    }

    /// Whether some occurrence is not cancelled.
    pub fn live(&self) -> bool {
        self.subs.iter().any(|s| !s.cancelled)
    }

    pub fn sub_mut(&mut self, id: &str) -> Option<&mut Sub> {
        self.subs.iter_mut().find(|s| s.id == id && !s.cancelled)
    }

    /// Adds the series' fields to a get or list answer (doc 1095/42418): the rule, every
    /// occurrence with its status (1 for a cancelled one), and the current one's times as the
    /// meeting's.
    pub fn show(&self, info: &mut Map<String, Value>, readings: &Readings, now_s: i64) {
        let subs: Vec<Value> = self
            .subs
            .iter()
            .map(|s| {
                json!({
                    "sub_meeting_id": s.id,
                    "status": i32::from(s.cancelled),
                    "start_time": readings.time(s.start),
                    "end_time": readings.time(s.end),
                })
            })
            .collect();
        let current = self.current(now_s);
        info.insert("meeting_type".into(), json!(1));
        info.insert("recurring_rule".into(), self.rule.clone());
        info.insert("time_zone".into(), json!(self.time_zone));
        info.insert("sub_meetings".into(), json!(subs));
        info.insert("has_more_sub_meeting".into(), json!(0));
        info.insert(
            "remain_sub_meetings".into(),
            json!(
                self.subs
                    .iter()
                    .filter(|s| !s.cancelled && s.end > now_s)
                    .count()
            ),
        );
        if let Some(c) = current {
            info.insert("current_sub_meeting_id".into(), json!(c.id));
            info.insert("start_time".into(), readings.time(c.start));
            info.insert("end_time".into(), readings.time(c.end));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expand_json(start: i64, rule: Value, tz: Tz) -> Result<Vec<i64>, String> {
        let rule = Rule::parse(&rule)?;
        Ok(expand(start, start + 1800, &rule, tz, Dst::Zone)?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    fn local_dates(starts: Vec<i64>, tz: Tz) -> Vec<String> {
        starts
            .into_iter()
            .map(|s| {
                DateTime::from_timestamp(s, 0)
                    .unwrap()
                    .with_timezone(&tz)
                    .format("%F")
                    .to_string()
            })
            .collect()
    }

    /// The four examples of doc 1095/81181, all from Monday 26 September 2022 (+08:00).
    #[test]
    fn the_docs_custom_examples() {
        let sh = chrono_tz::Asia::Shanghai;
        let start = 1_664_204_280; // 2022-09-26 22:58 +08:00, a Monday.
        let day = 86_400;
        // Every 3 days, 7 times (sent as strings, as the example does).
        let every3 = json!({"recurring_type": "5", "customized_recurring_type": "0",
            "customized_recurring_step": "3", "until_type": "1", "until_count": "7"});
        assert_eq!(
            expand_json(start, every3, sh),
            Ok((0..7).map(|i| start + 3 * i * day).collect())
        );
        // Every 3 weeks on Monday and Tuesday, to the default end (a week on).
        let weekly = json!({"recurring_type": 5, "customized_recurring_type": 1,
            "customized_recurring_step": 3, "customized_recurring_days": 6});
        assert_eq!(expand_json(start, weekly, sh), Ok(vec![start, start + day]));
        // Every 3 months on the 1st and the 26th, until 2023-09-26 20:54:37.
        let monthly = json!({"recurring_type": 5, "customized_recurring_type": 3,
            "customized_recurring_step": 3, "customized_recurring_days": 33_554_433,
            "until_type": 0, "until_date": 1_695_732_877});
        let dates = local_dates(expand_json(start, monthly, sh).unwrap(), sh);
        assert_eq!(
            dates,
            [
                "2022-09-26",
                "2022-12-01",
                "2022-12-26",
                "2023-03-01",
                "2023-03-26",
                "2023-06-01",
                "2023-06-26",
                "2023-09-01",
                "2023-09-26"
            ]
        );
        // Every 3 months on the fourth Monday: 1026.
        let fourth = json!({"recurring_type": 5, "customized_recurring_type": 2,
            "customized_recurring_step": 3, "customized_recurring_days": 1026,
            "until_type": 1, "until_count": 3});
        let dates = local_dates(expand_json(start, fourth, sh).unwrap(), sh);
        assert_eq!(dates, ["2022-09-26", "2022-12-26", "2023-03-27"]);
        // Days that leave out the first start's.
        let without = json!({"recurring_type": 5, "customized_recurring_type": 1,
            "customized_recurring_days": 4});
        assert_eq!(
            expand_json(start, without, sh),
            Err("recurring_days no include firstStartTime".into())
        );
        assert!(expand_json(start, json!({"until_type": 1, "until_count": 51}), sh).is_err());
    }

    /// New York falls back on 1 November 2026: a weekly 09:00 stays 09:00 in the zone, and
    /// comes out at 08:00 at a fixed offset.
    #[test]
    fn the_two_daylight_saving_readings() {
        let ny = chrono_tz::America::New_York;
        let start = ny
            .with_ymd_and_hms(2026, 10, 26, 9, 0, 0)
            .unwrap()
            .timestamp();
        let rule =
            Rule::parse(&json!({"recurring_type": 2, "until_type": 1, "until_count": 2})).unwrap();
        let local = |dst| -> Vec<String> {
            expand(start, start + 1800, &rule, ny, dst)
                .unwrap()
                .into_iter()
                .map(|(s, _)| {
                    DateTime::from_timestamp(s, 0)
                        .unwrap()
                        .with_timezone(&ny)
                        .format("%F %R")
                        .to_string()
                })
                .collect()
        };
        assert_eq!(local(Dst::Zone), ["2026-10-26 09:00", "2026-11-02 09:00"]);
        assert_eq!(local(Dst::Fixed), ["2026-10-26 09:00", "2026-11-02 08:00"]);
    }
}
