//! Retry delays: exponential with full jitter, `random(0, min(max_delay, base_delay * 2^n))`
//! before retry `n + 1`, or the server's `Retry-After` when it sent one (capped at
//! `max_delay`).

use std::time::Duration;

use rand::{Rng, RngExt};

use crate::config::RetryConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl From<&RetryConfig> for Backoff {
    fn from(r: &RetryConfig) -> Self {
        Backoff {
            max_attempts: r.max_attempts.max(1),
            base_delay: r.base_delay,
            max_delay: r.max_delay,
        }
    }
}

impl Backoff {
    /// The ceiling of the delay after failed attempt `n` (0-based).
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.min(31));
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The delay after failed attempt `n` (0-based).
    pub fn delay(&self, n: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_delay);
        }
        let ceiling = self.ceiling(n);
        if ceiling.is_zero() {
            return ceiling;
        }
        Duration::from_nanos(rng.random_range(0..=ceiling.as_nanos().min(u64::MAX as u128) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn backoff() -> Backoff {
        Backoff {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }

    #[test]
    fn ceilings_double_up_to_the_max() {
        let b = backoff();
        let got: Vec<u64> = (0..12).map(|n| b.ceiling(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(b.ceiling(1000), Duration::from_secs(300));
    }

    #[test]
    fn delays_are_fully_jittered_below_the_ceiling() {
        let b = backoff();
        let mut rng = StdRng::seed_from_u64(7);
        for n in 0..10 {
            let ceiling = b.ceiling(n);
            let delays: Vec<Duration> = (0..2000).map(|_| b.delay(n, None, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling));
            // Full jitter spreads over the whole range: some near zero, some near the top,
            // mean near half.
            assert!(delays.iter().any(|d| *d < ceiling / 10), "n={n}");
            assert!(delays.iter().any(|d| *d > ceiling * 9 / 10), "n={n}");
            let mean = delays.iter().sum::<Duration>() / delays.len() as u32;
            assert!(
                mean > ceiling * 4 / 10 && mean < ceiling * 6 / 10,
                "n={n} mean={mean:?}"
            );
        }
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let b = backoff();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(30)), &mut rng),
            Duration::from_secs(30)
        );
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(3600)), &mut rng),
            Duration::from_secs(300)
        );
    }
}
