//! The vendor's creation quota, kept before sending: at most `api.creates_per_hour_per_user`
//! creates in any rolling hour for each user. Pure bookkeeping on the daemon's clock, so it
//! is tested without waiting.
//!
//! The daemon asks [`Quotas::admit`] before each create, in order of meeting start (soonest
//! first). A user at the limit waits until the oldest of their last hour's creates leaves the
//! window; other users go on. When the server refuses for a quota anyway (error 500029 or
//! 190311: another program books as the same user, or the daemon restarted and forgot its
//! count), the user's (or the whole app's) queue is paused once, until the window frees,
//! instead of each booking finding out on its own.
//!
//! **The monthly create budget.** The vendor caps an account's creates per month (doc
//! 1095/105276: premium accounts × 10 from 50 of them, × 2 below; error 500168 past it).
//! With `api.creates_per_month` set, the daemon counts its creates by month and holds the
//! rest until the month turns, soonest meeting first (the planner admits in start order). A
//! 500168 holds every create until then, whatever the count says. The month turns at 00:00
//! Asia/Shanghai on the 1st: the docs name no boundary, and the service counts in China
//! time. Should its month turn later (in UTC, 8 hours on), a 500168 on the first day of ours
//! holds creates for an hour, not a month. The count is kept in the store ([`MonthCount`]),
//! so a restart does not forget it.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};

pub use crate::state::MonthCount;

/// How long a server-side quota refusal pauses a queue when our own count cannot say when
/// the server's window frees.
pub const REFUSAL_PAUSE: TimeDelta = TimeDelta::hours(1);

/// Creates per user in a rolling hour.
#[derive(Debug, Default)]
pub struct Quotas {
    /// 0: not kept.
    per_hour: usize,
    /// The starts of each user's creates in the last hour, oldest first (at most `per_hour`).
    recent: HashMap<String, VecDeque<DateTime<Utc>>>,
    /// Users whose creates the server refused for quota, until when.
    paused: HashMap<String, DateTime<Utc>>,
    /// The whole app (190311, the daily total), until when.
    app_paused: Option<DateTime<Utc>>,
    /// The account's creates a month; 0: not kept.
    per_month: u32,
    /// This month's creates, and whether the service refused for the month.
    month: MonthCount,
}

/// Why a create must wait, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub until: DateTime<Utc>,
    pub reason: WaitReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// Our count of the user's creates in the last hour is at the limit.
    HourlyCreates,
    /// The server refused the user's creates for quota.
    UserRefused,
    /// The server refused the app's requests for the daily quota.
    AppRefused,
    /// Our count of the account's creates this month is at `api.creates_per_month`.
    MonthlyCreates,
    /// The server refused for the account's monthly creates (500168).
    MonthRefused,
}

impl WaitReason {
    /// "ops-bot's hourly create quota", for logs, `plan` and `status`.
    pub fn describe(self, user: &str) -> String {
        match self {
            WaitReason::HourlyCreates => format!("{user}'s hourly create quota"),
            WaitReason::UserRefused => {
                format!("{user}'s create quota (the service refused; it counts more than we do)")
            }
            WaitReason::AppRefused => "the app's daily request quota (the service refused)".into(),
            WaitReason::MonthlyCreates => {
                "the account's monthly create budget (api.creates_per_month)".into()
            }
            WaitReason::MonthRefused => {
                "the account's monthly create quota (the service refused: 500168)".into()
            }
        }
    }
}

impl Quotas {
    pub fn new(creates_per_hour_per_user: u32) -> Quotas {
        Quotas {
            per_hour: creates_per_hour_per_user as usize,
            ..Quotas::default()
        }
    }

    /// With the account's monthly budget (0: not kept), and this month's count as the store
    /// kept it.
    pub fn with_month(mut self, creates_per_month: u32, kept: Option<MonthCount>) -> Quotas {
        self.per_month = creates_per_month;
        self.month = kept.unwrap_or_default();
        self
    }

    /// New limits (after a reload), keeping what was counted.
    pub fn set_limit(&mut self, creates_per_hour_per_user: u32, creates_per_month: u32) {
        self.per_hour = creates_per_hour_per_user as usize;
        self.per_month = creates_per_month;
    }

    /// This month's count at `now`, for the store and `status`.
    pub fn month_count(&self, now: DateTime<Utc>) -> MonthCount {
        let month = month_of(now);
        if self.month.month == month {
            self.month.clone()
        } else {
            MonthCount {
                month,
                ..MonthCount::default()
            }
        }
    }

    /// The account's creates a month (0: not kept).
    pub fn per_month(&self) -> u32 {
        self.per_month
    }

    /// Whether `user` may send a create at `now`; if so, it is counted.
    pub fn admit(&mut self, user: &str, now: DateTime<Utc>) -> Result<(), Wait> {
        self.forget(now);
        self.check(user, now)?;
        self.month = self.month_count(now);
        self.month.creates = self.month.creates.saturating_add(1);
        if self.per_hour > 0 {
            let recent = self.recent.entry(user.to_string()).or_default();
            recent.push_back(now);
            while recent.len() > self.per_hour {
                recent.pop_front();
            }
        }
        Ok(())
    }

    /// Whether a server refusal pauses `user`'s creates at `now`: asked again by a create
    /// that was admitted but still waits for its turn to be sent.
    pub fn paused(&self, user: &str, now: DateTime<Utc>) -> Result<(), Wait> {
        if let Some(until) = self.month_count(now).refused_until
            && until > now.timestamp()
        {
            return Err(Wait {
                until: DateTime::from_timestamp(until, 0).unwrap_or_else(|| next_month(now)),
                reason: WaitReason::MonthRefused,
            });
        }
        if let Some(until) = self.app_paused.filter(|until| *until > now) {
            return Err(Wait {
                until,
                reason: WaitReason::AppRefused,
            });
        }
        if let Some(until) = self.paused.get(user).filter(|until| **until > now) {
            return Err(Wait {
                until: *until,
                reason: WaitReason::UserRefused,
            });
        }
        Ok(())
    }

    /// Whether `user` may send a create at `now`, without counting it.
    pub fn check(&self, user: &str, now: DateTime<Utc>) -> Result<(), Wait> {
        self.paused(user, now)?;
        if self.per_month > 0 && self.month_count(now).creates >= self.per_month {
            return Err(Wait {
                until: next_month(now),
                reason: WaitReason::MonthlyCreates,
            });
        }
        if self.per_hour == 0 {
            return Ok(());
        }
        let Some(recent) = self.recent.get(user) else {
            return Ok(());
        };
        // Oldest first: those older than an hour are at the front.
        let hour_ago = now - TimeDelta::hours(1);
        let in_window = recent.len() - recent.partition_point(|t| *t <= hour_ago);
        if in_window >= self.per_hour {
            // The oldest of the last `per_hour` creates leaves the window first.
            let oldest = recent[recent.len() - self.per_hour];
            return Err(Wait {
                until: oldest + TimeDelta::hours(1),
                reason: WaitReason::HourlyCreates,
            });
        }
        Ok(())
    }

    /// The server refused a create of `user` for the hourly quota: pause the user's queue
    /// until our window frees, or for [`REFUSAL_PAUSE`] when our count is not at the limit
    /// (someone else books as this user).
    pub fn refused_user(&mut self, user: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let ours = self
            .recent
            .get(user)
            .and_then(|r| r.front())
            .map(|oldest| *oldest + TimeDelta::hours(1))
            .filter(|t| {
                *t > now
                    && self
                        .recent
                        .get(user)
                        .is_some_and(|r| r.len() >= self.per_hour)
            });
        let until = ours.unwrap_or(now + REFUSAL_PAUSE);
        self.paused.insert(user.to_string(), until);
        until
    }

    /// The server refused a request for the app's daily quota: pause every create.
    pub fn refused_app(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let until = now + REFUSAL_PAUSE;
        self.app_paused = Some(until);
        until
    }

    /// The server refused a create for the account's monthly quota: every create waits until
    /// the month turns (not an hourly retry: the answer cannot change before then).
    /// On the first day of the month (ours), the service's month may not have turned yet
    /// (the docs name no boundary): then an hour, not a month.
    pub fn refused_month(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.month = self.month_count(now);
        let first_day = now.with_timezone(&SERVICE_ZONE).day() == 1;
        let until = if first_day {
            now + REFUSAL_PAUSE
        } else {
            next_month(now)
        };
        self.month.refused_until = Some(until.timestamp());
        until
    }

    /// Drops what left the window, and pauses that ended.
    fn forget(&mut self, now: DateTime<Utc>) {
        let hour_ago = now - TimeDelta::hours(1);
        self.recent.retain(|_, r| {
            while r.front().is_some_and(|t| *t <= hour_ago) {
                r.pop_front();
            }
            !r.is_empty()
        });
        self.paused.retain(|_, until| *until > now);
        if self.app_paused.is_some_and(|until| until <= now) {
            self.app_paused = None;
        }
    }
}

/// The zone the service counts its months in.
const SERVICE_ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// `now`'s month in the service's zone: "2026-12".
fn month_of(now: DateTime<Utc>) -> String {
    now.with_timezone(&SERVICE_ZONE).format("%Y-%m").to_string()
}

/// When the month after `now`'s begins: 00:00 on the 1st in the service's zone.
pub fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&SERVICE_ZONE).date_naive();
    let (year, month) = match local.month() {
        12 => (local.year() + 1, 1),
        m => (local.year(), m + 1),
    };
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .and_then(|t| SERVICE_ZONE.from_local_datetime(&t).earliest())
        .map_or(now + TimeDelta::days(31), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn a_user_at_the_limit_waits_for_the_oldest_to_leave_the_window() {
        let mut q = Quotas::new(3);
        q.admit("alice", t(0)).unwrap();
        q.admit("alice", t(10)).unwrap();
        q.admit("alice", t(20)).unwrap();
        assert_eq!(
            q.admit("alice", t(30)),
            Err(Wait {
                until: t(60),
                reason: WaitReason::HourlyCreates
            })
        );
        // Others are not held back.
        q.admit("bob", t(30)).unwrap();
        // An hour after the first, one slot frees; the next frees ten minutes later.
        q.admit("alice", t(60)).unwrap();
        assert_eq!(q.admit("alice", t(61)).unwrap_err().until, t(70));
    }

    #[test]
    fn a_server_refusal_pauses_the_queue_once() {
        let mut q = Quotas::new(2000);
        q.admit("alice", t(0)).unwrap();
        // Our count is far from the limit: someone else books as alice. Pause an hour.
        assert_eq!(q.refused_user("alice", t(5)), t(65));
        assert_eq!(
            q.check("alice", t(30)).unwrap_err().reason,
            WaitReason::UserRefused
        );
        q.admit("bob", t(30)).unwrap();
        q.admit("alice", t(65)).unwrap();
        // The daily total stops everyone.
        assert_eq!(q.refused_app(t(70)), t(130));
        assert_eq!(
            q.check("bob", t(71)).unwrap_err().reason,
            WaitReason::AppRefused
        );
        q.admit("bob", t(130)).unwrap();
    }

    #[test]
    fn a_refusal_at_our_own_limit_waits_for_our_window() {
        let mut q = Quotas::new(2);
        q.admit("alice", t(0)).unwrap();
        q.admit("alice", t(40)).unwrap();
        assert_eq!(q.refused_user("alice", t(41)), t(60));
    }

    #[test]
    fn zero_keeps_no_count_and_memory_stays_bounded() {
        let mut q = Quotas::new(0);
        for i in 0..10_000 {
            q.admit("alice", t(0) + TimeDelta::seconds(i)).unwrap();
        }
        assert!(q.recent.is_empty());
        let mut q = Quotas::new(5);
        for i in 0..100 {
            let _ = q.admit("alice", t(i));
        }
        assert!(q.recent["alice"].len() <= 5);
    }

    #[test]
    fn the_monthly_budget_holds_creates_until_the_month_turns_in_china_time() {
        // 2030-01-31 15:59:59 UTC is 23:59:59 on the 31st in Shanghai.
        let end = Utc.with_ymd_and_hms(2030, 1, 31, 15, 59, 59).unwrap();
        let turn = Utc.with_ymd_and_hms(2030, 1, 31, 16, 0, 0).unwrap();
        assert_eq!(next_month(end), turn);
        let mut q = Quotas::new(0).with_month(2, None);
        q.admit("alice", end - TimeDelta::days(3)).unwrap();
        q.admit("bob", end - TimeDelta::days(2)).unwrap();
        assert_eq!(
            q.admit("carol", end),
            Err(Wait {
                until: turn,
                reason: WaitReason::MonthlyCreates
            })
        );
        // The month turned: the count starts again.
        q.admit("carol", turn).unwrap();
        assert_eq!(q.month_count(turn).creates, 1);
        assert_eq!(q.month_count(turn).month, "2030-02");
    }

    #[test]
    fn a_monthly_refusal_holds_every_create_until_the_month_turns_and_survives_a_restart() {
        let now = Utc.with_ymd_and_hms(2030, 12, 10, 1, 0, 0).unwrap();
        let turn = Utc.with_ymd_and_hms(2030, 12, 31, 16, 0, 0).unwrap();
        // Unlimited by our count, but the service says no.
        let mut q = Quotas::new(2000);
        q.admit("alice", now).unwrap();
        assert_eq!(q.refused_month(now), turn);
        for user in ["alice", "bob"] {
            assert_eq!(
                q.check(user, now + TimeDelta::days(5)),
                Err(Wait {
                    until: turn,
                    reason: WaitReason::MonthRefused
                })
            );
        }
        // What the store keeps brings it back after a restart.
        let kept = q.month_count(now);
        assert_eq!(
            kept,
            MonthCount {
                month: "2030-12".into(),
                creates: 1,
                refused_until: Some(turn.timestamp())
            }
        );
        let again = Quotas::new(2000).with_month(0, Some(kept));
        assert_eq!(
            again.paused("bob", now).unwrap_err().reason,
            WaitReason::MonthRefused
        );
        // A new year's January is free again.
        again.check("bob", turn).unwrap();
    }

    #[test]
    fn a_refusal_on_the_first_day_of_the_month_holds_for_an_hour() {
        // 02:00 on 1 January in China: the service's month may turn at 00:00 UTC, six hours
        // on. A month's hold would lose the whole month.
        let now = Utc.with_ymd_and_hms(2030, 12, 31, 18, 0, 0).unwrap();
        let mut q = Quotas::new(0);
        assert_eq!(q.refused_month(now), now + REFUSAL_PAUSE);
        assert_eq!(
            q.check("bob", now).unwrap_err().reason,
            WaitReason::MonthRefused
        );
        q.check("bob", now + REFUSAL_PAUSE).unwrap();
        // The next day, it holds until the month turns.
        let later = now + TimeDelta::days(1);
        assert_eq!(
            q.refused_month(later),
            Utc.with_ymd_and_hms(2031, 1, 31, 16, 0, 0).unwrap()
        );
    }

    #[test]
    fn the_count_is_kept_without_a_budget() {
        let now = Utc.with_ymd_and_hms(2030, 3, 1, 0, 0, 0).unwrap();
        let mut q = Quotas::new(0);
        for i in 0..10 {
            q.admit("alice", now + TimeDelta::minutes(i)).unwrap();
        }
        assert_eq!(q.month_count(now).creates, 10);
    }
}
