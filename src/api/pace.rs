//! Client-side limits shared by every request of the process: request starts evenly spaced
//! so that no 60-second window holds more than `requests_per_minute` of them, no 24-hour
//! window more than `requests_per_day`, and at most `concurrency` requests in flight.
//!
//! Even spacing (a token bucket of depth one) rather than a deep bucket: a deep bucket lets a
//! burst of a full minute's quota through at once and then the next minute's too, twice the
//! limit inside one window. The pacer runs on tokio's clock, so tests drive it with
//! `tokio::time::pause()` instead of waiting.

use std::collections::VecDeque;
use std::time::Duration;

use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

pub struct Pacer {
    /// The limits it was made with: per minute, in flight, per day.
    limits: (u32, usize, u32),
    /// Time between two request starts; `None` when pacing is off.
    interval: Option<Duration>,
    starts: Mutex<Starts>,
    in_flight: Semaphore,
}

/// When requests may start.
#[derive(Default)]
struct Starts {
    /// The earliest start the next request may have.
    next: Option<Instant>,
    /// The starts of the last 24 hours, oldest first (at most `requests_per_day`).
    day: VecDeque<Instant>,
}

const DAY: Duration = Duration::from_secs(86_400);

/// Held while a request is in flight.
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
}

impl Pacer {
    /// `requests_per_minute == 0` turns pacing off, `requests_per_day == 0` the daily limit;
    /// `concurrency` is at least 1.
    pub fn new(requests_per_minute: u32, concurrency: usize, requests_per_day: u32) -> Pacer {
        let interval = (requests_per_minute > 0)
            .then(|| Duration::from_secs(60).div_f64(f64::from(requests_per_minute)));
        Pacer {
            limits: (requests_per_minute, concurrency, requests_per_day),
            interval,
            starts: Mutex::new(Starts::default()),
            in_flight: Semaphore::new(concurrency.max(1)),
        }
    }

    /// `(requests_per_minute, concurrency, requests_per_day)`.
    pub fn limits(&self) -> (u32, usize, u32) {
        self.limits
    }

    /// A pacer with new limits that goes on from where `old` is: its next start is no
    /// earlier than `old`'s and the day's starts are kept, so a reload never lets a burst
    /// through.
    pub fn continuing(
        old: &Pacer,
        requests_per_minute: u32,
        concurrency: usize,
        requests_per_day: u32,
    ) -> Pacer {
        let new = Pacer::new(requests_per_minute, concurrency, requests_per_day);
        let starts = {
            let old = old.lock();
            Starts {
                next: old.next,
                day: old.day.clone(),
            }
        };
        *new.lock() = starts;
        new
    }

    /// The start times. Held only to read and reserve a start, never across an await; a
    /// panic while holding it cannot leave half a reservation, so a poisoned lock is used as is.
    fn lock(&self) -> std::sync::MutexGuard<'_, Starts> {
        self.starts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request may start: a free place among the `concurrency`, then the next
    /// start time. Hold the returned slot until the answer is read.
    pub async fn acquire(&self) -> Slot<'_> {
        // The semaphore is never closed, so `acquire` cannot fail.
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("pacer semaphore is never closed");
        let per_day = self.limits.2 as usize;
        if self.interval.is_some() || per_day > 0 {
            let start = {
                let mut starts = self.lock();
                let now = Instant::now();
                let mut start = starts.next.map_or(now, |n| n.max(now));
                if per_day > 0 {
                    let day = &mut starts.day;
                    while day.front().is_some_and(|t| *t + DAY <= start) {
                        day.pop_front();
                    }
                    if day.len() >= per_day {
                        // The oldest of the day's last `per_day` starts leaves the window.
                        start = start.max(day[day.len() - per_day] + DAY);
                    }
                    day.push_back(start);
                    while day.len() > per_day {
                        day.pop_front();
                    }
                }
                starts.next = self.interval.map(|i| start + i);
                start
            };
            // A timer, even one already due, waits for the timer driver's next tick: skip it
            // when the start is now (the common case below the limits).
            if start > Instant::now() {
                tokio::time::sleep_until(start).await;
            }
        }
        Slot { _permit: permit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn no_sixty_second_window_holds_more_than_the_limit() {
        let pacer = Arc::new(Pacer::new(300, 8, 0));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let p = pacer.clone();
            tasks.push(tokio::spawn(async move {
                let _slot = p.acquire().await;
                let started = Instant::now();
                tokio::time::sleep(Duration::from_millis(50)).await; // the request
                started
            }));
        }
        let mut starts = Vec::new();
        for t in tasks {
            starts.push(t.await.unwrap() - t0);
        }
        starts.sort();
        // Any 60 s window [t, t + 60 s) holds at most 300 starts.
        for (i, s) in starts.iter().enumerate() {
            let in_window = starts[i..]
                .iter()
                .take_while(|x| **x < *s + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 300,
                "{in_window} starts in the window from {s:?}"
            );
        }
        // And the limit is used: 1,000 requests in 200 s at 300/min is 100% of the rate.
        let span = *starts.last().unwrap();
        let rate = 999.0 / span.as_secs_f64() * 60.0;
        assert!((0.95 * 300.0..=300.0).contains(&rate), "rate {rate}/min");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_capped() {
        let pacer = Arc::new(Pacer::new(0, 3, 0));
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (p, f, m) = (pacer.clone(), in_flight.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = p.acquire().await;
                let now = f.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                m.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                f.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_continuing_pacer_keeps_the_spacing() {
        let old = Pacer::new(60, 4, 0);
        let t0 = Instant::now();
        drop(old.acquire().await);
        drop(old.acquire().await);
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
        // Reloaded with a new limit: the next start is still a second after the last one.
        let new = Pacer::continuing(&old, 120, 4, 0);
        drop(new.acquire().await);
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
        drop(new.acquire().await);
        assert_eq!(Instant::now() - t0, Duration::from_millis(2500));
    }

    #[tokio::test(start_paused = true)]
    async fn no_day_holds_more_than_the_daily_limit() {
        let pacer = Pacer::new(0, 4, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            drop(pacer.acquire().await);
        }
        assert_eq!(Instant::now(), t0, "the first three go at once");
        drop(pacer.acquire().await);
        assert_eq!(Instant::now() - t0, DAY, "the fourth waits a day");
        // A reload keeps the day's count.
        let again = Pacer::continuing(&pacer, 0, 4, 3);
        drop(again.acquire().await);
        assert_eq!(Instant::now() - t0, DAY);
        drop(again.acquire().await);
        assert_eq!(
            Instant::now() - t0,
            DAY,
            "three starts at DAY: the window is full"
        );
        drop(again.acquire().await);
        assert_eq!(Instant::now() - t0, DAY * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn pacing_off_does_not_wait() {
        let pacer = Pacer::new(0, 4, 0);
        let t0 = Instant::now();
        for _ in 0..100 {
            drop(pacer.acquire().await);
        }
        assert_eq!(Instant::now(), t0);
    }
}
