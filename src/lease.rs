//! The leader's lease: how long a daemon on a shared (PostgreSQL) store may still send
//! requests to the API after the server last confirmed that it leads.
//!
//! **Why.** The advisory lock says who leads *on the database server*. A leader that is
//! paused (SIGSTOP, a VM migration, an overloaded host) does not know that its session was
//! ended and a standby took over: when it resumes, requests it had queued would go out beside
//! the new leader's. So every request is checked against the lease immediately before it is
//! written to the socket, after any pacing or queueing wait, and none goes out once the lease
//! may have lapsed until the server confirms the lead again.
//!
//! **The numbers.** Let `T` be `state.takeover` and `A` be `api.timeout`.
//!
//! - The leader's session is ended by the server after `T` of silence
//!   (`idle_session_timeout`, `idle_in_transaction_session_timeout`), or sooner (TCP
//!   keepalives, an operator). A standby can take the lock only after that.
//! - A confirmation (`pg_try_advisory_lock` at the start, then the heartbeat every `T/3`) sent
//!   at `s` on this machine's clock proves the session was alive at some moment after `s`.
//!   The lease runs to `s + T - T/10`: never later than the earliest moment a standby could
//!   lead, if the session ended at once after answering, with a tenth of `T` to spare for the
//!   two clocks' rates. Measured from the send, not the answer, so the round trip is on the
//!   safe side.
//! - The clock is `CLOCK_BOOTTIME`: monotonic, and it goes on while the machine is suspended,
//!   so a suspend counts as the time it took.
//! - A request checked just before the lease lapsed is written at once, and is then either
//!   answered or given up within `A`; the server may still act on one it received up to `A`
//!   later (the same assumption as the lookup's settle wait). So a daemon that takes the lead
//!   from another waits `T + 2A` before it sends anything: by then whatever the old leader
//!   sent under its lease has landed, and the lookups see it.
//! - Not covered: a pause that falls between the check and the write itself (microseconds of
//!   work in this process). The API takes no fencing token, so no client can close that gap;
//!   the API's 5-minute window on `X-TC-Timestamp` (signed at the check) bounds it.

use std::sync::Mutex;
use std::time::Duration;

/// The lease's arithmetic, with the time as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    /// `state.takeover`.
    takeover: Duration,
    /// On the boot clock; `None` until the lead is first confirmed.
    until: Option<Duration>,
}

impl LeaseState {
    pub fn new(takeover: Duration) -> LeaseState {
        LeaseState {
            takeover,
            until: None,
        }
    }

    /// How long a confirmation sent at `s` keeps the lease: the takeover time less a tenth.
    pub fn length(&self) -> Duration {
        self.takeover - self.takeover / 10
    }

    /// The server confirmed the lead, in answer to a query sent at `sent` (boot clock). A
    /// confirmation older than the one held changes nothing.
    pub fn confirmed(&mut self, sent: Duration) {
        let until = sent.saturating_add(self.length());
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
    }

    /// Whether a request may go out at `now` (boot clock).
    pub fn valid_at(&self, now: Duration) -> bool {
        self.until.is_some_and(|u| now < u)
    }
}

/// [`LeaseState`] on the boot clock, shared by the daemon (which confirms it) and the API
/// client (which checks it before each request).
#[derive(Debug)]
pub struct Lease(Mutex<LeaseState>);

impl Lease {
    pub fn new(takeover: Duration) -> Lease {
        Lease(Mutex::new(LeaseState::new(takeover)))
    }

    /// The boot clock now (`CLOCK_BOOTTIME`): take it before sending a confirmation query.
    pub fn now() -> Duration {
        boot_clock()
    }

    pub fn confirmed(&self, sent: Duration) {
        if let Ok(mut s) = self.0.lock() {
            s.confirmed(sent);
        }
    }

    /// Whether a request may go out now.
    pub fn valid(&self) -> bool {
        self.0.lock().is_ok_and(|s| s.valid_at(boot_clock()))
    }
}

#[cfg(target_os = "linux")]
fn boot_clock() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer given, which is valid.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        // Cannot happen for CLOCK_BOOTTIME on Linux; a zero reading makes every lease look
        // lapsed, which sends nothing rather than too much.
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

#[cfg(not(target_os = "linux"))]
fn boot_clock() -> Duration {
    use std::sync::OnceLock;
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(30);

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn the_lease_runs_from_the_confirmations_send_for_nine_tenths_of_the_takeover() {
        let mut l = LeaseState::new(T);
        // Never confirmed: nothing goes out.
        assert!(!l.valid_at(s(0)));
        l.confirmed(s(100));
        for (now, valid) in [(100, true), (126, true), (127, false), (200, false)] {
            assert_eq!(l.valid_at(s(now)), valid, "at {now}");
        }
        // The heartbeat renews it; an older confirmation arriving late does not shorten it.
        l.confirmed(s(110));
        assert!(l.valid_at(s(136)));
        assert!(!l.valid_at(s(137)));
        l.confirmed(s(105));
        assert!(l.valid_at(s(136)));
    }

    #[test]
    fn a_lease_ends_before_a_standby_could_lead() {
        // The server ends a silent session `takeover` after the last statement it received,
        // which came after the send: a standby leads at `sent + T` at the earliest.
        for takeover in [1, 3, 30, 3600] {
            let t = s(takeover);
            let mut l = LeaseState::new(t);
            l.confirmed(s(1000));
            assert!(!l.valid_at(s(1000) + t));
            assert!(!l.valid_at(s(1000) + t - t / 10));
            assert!(l.valid_at(s(1000) + t - t / 10 - Duration::from_millis(1)));
        }
    }

    #[test]
    fn the_boot_clock_moves_forward() {
        let a = Lease::now();
        let b = Lease::now();
        assert!(b >= a);
        assert!(a > Duration::ZERO);
    }
}
