//! Wall-clock time for the daemon, injectable: the real clock in production, a manual one in
//! tests, so that "the next occurrence is booked when time moves on" is tested without
//! waiting.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

/// The daemon's source of "now" and of timed waits.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    /// Completes at or after `when` (wall clock).
    fn sleep_until(&self, when: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The system clock. Sleeps are re-checked at least every minute, so a wall-clock jump (NTP
/// step, suspend) delays a booking by a minute at most.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, when: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let left = (when - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                if left.is_zero() {
                    return;
                }
                tokio::time::sleep(left.min(Duration::from_secs(60))).await;
            }
        })
    }
}

/// A clock that moves only when told to: for tests.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    changed: watch::Sender<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
            changed: watch::channel(start).0,
        }
    }

    /// Moves the clock to `t`, waking every sleep that is due.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = t;
        self.changed.send_replace(t);
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        self.set(self.now() + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(&self, when: DateTime<Utc>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut rx = self.changed.subscribe();
        Box::pin(async move {
            // `wait_for` checks the current value first, then each change.
            let _ = rx.wait_for(|now| *now >= when).await;
        })
    }
}

/// The fake API's quota clock runs on the daemon's clock in tests and the demo.
impl wemeet_fake_api::Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Clock::now(self)
    }
}

impl wemeet_fake_api::Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[tokio::test]
    async fn manual_sleeps_wake_when_the_clock_reaches_them() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let clock = std::sync::Arc::new(ManualClock::new(t0));
        let c = clock.clone();
        let sleeper =
            tokio::spawn(async move { c.sleep_until(t0 + chrono::TimeDelta::hours(1)).await });
        clock.advance(chrono::TimeDelta::minutes(30));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(chrono::TimeDelta::minutes(30));
        sleeper.await.unwrap();
        assert_eq!(clock.now(), t0 + chrono::TimeDelta::hours(1));
    }
}
