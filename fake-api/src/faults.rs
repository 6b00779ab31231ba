//! Faults the fake injects on demand, each as a rate (`"20%"`) or a count (`"3"`: the next
//! three eligible requests).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::{Rng, RngExt};

/// How often one fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FaultSpec {
    #[default]
    Off,
    /// Each eligible request, with this probability (0 to 1).
    Rate(f64),
    /// The next `n` eligible requests.
    Count(u64),
}

impl FaultSpec {
    /// Whether the fault fires for this request (and, for a count, uses one up).
    pub fn fire(&mut self, rng: &mut impl Rng) -> bool {
        match self {
            FaultSpec::Off => false,
            FaultSpec::Rate(p) => rng.random_bool(p.clamp(0.0, 1.0)),
            FaultSpec::Count(0) => false,
            FaultSpec::Count(n) => {
                *n -= 1;
                true
            }
        }
    }
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "off" || s == "0" || s == "0%" {
            return Ok(FaultSpec::Off);
        }
        if let Some(pct) = s.strip_suffix('%') {
            return match pct.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(FaultSpec::Rate(p / 100.0)),
                _ => Err(format!("{s:?}: a rate is 0% to 100%")),
            };
        }
        s.parse::<u64>()
            .map(FaultSpec::Count)
            .map_err(|_| format!("{s:?}: give a rate like \"20%\" or a count like \"3\""))
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultSpec::Off => f.write_str("off"),
            FaultSpec::Rate(p) => write!(f, "{}%", p * 100.0),
            FaultSpec::Count(n) => write!(f, "{n}"),
        }
    }
}

/// An error answer injected for one kind of request, written `CODE:STATUS:RATE`
/// (`9100:500:100%`: no permission, as HTTP 500, every time; `13602:500:1`: the next one
/// answers "meeting started"). The request is not acted on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErrorFault {
    /// The `error_info.error_code` answered.
    pub code: i64,
    /// The HTTP status answered (the service sends 500 for service errors, 400 for request
    /// errors).
    pub status: u16,
    pub spec: FaultSpec,
}

impl FromStr for ErrorFault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let usage = || format!("{s:?}: write CODE:STATUS:RATE, e.g. \"9100:500:100%\"");
        let mut parts = s.splitn(3, ':');
        let (Some(code), Some(status), Some(spec)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(usage());
        };
        let code = code.trim().parse().map_err(|_| usage())?;
        let status = match status.trim().parse::<u16>() {
            Ok(s) if (400..=599).contains(&s) => s,
            _ => {
                return Err(format!(
                    "{s:?}: the status is an HTTP error status, 400 to 599"
                ));
            }
        };
        Ok(ErrorFault {
            code,
            status,
            spec: spec.parse()?,
        })
    }
}

impl fmt::Display for ErrorFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.code, self.status, self.spec)
    }
}

/// Every fault the fake can inject. All can be on at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// HTTP 500 with error 5108 (internal error), before the request is acted on.
    pub internal_error: FaultSpec,
    /// HTTP 500 with error 190310 (per-minute limit), as the real service answers.
    pub rate_limited: FaultSpec,
    /// A delay of `latency` before the request is handled.
    pub slow: FaultSpec,
    pub latency: Duration,
    /// Creates the meeting, then holds the answer for `hang_for` (past the client's timeout).
    pub create_then_hang: FaultSpec,
    pub hang_for: Duration,
    /// Creates the meeting, then resets the connection instead of answering.
    pub create_then_reset: FaultSpec,
    /// Error answers for creates, modifies and cancels, each on its own.
    pub create_error: Option<ErrorFault>,
    pub modify_error: Option<ErrorFault>,
    pub cancel_error: Option<ErrorFault>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            internal_error: FaultSpec::Off,
            rate_limited: FaultSpec::Off,
            slow: FaultSpec::Off,
            latency: Duration::from_secs(2),
            create_then_hang: FaultSpec::Off,
            hang_for: Duration::from_secs(60),
            create_then_reset: FaultSpec::Off,
            create_error: None,
            modify_error: None,
            cancel_error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn specs_parse() {
        assert_eq!("20%".parse(), Ok(FaultSpec::Rate(0.2)));
        assert_eq!("3".parse(), Ok(FaultSpec::Count(3)));
        assert_eq!("off".parse(), Ok(FaultSpec::Off));
        assert!("150%".parse::<FaultSpec>().is_err());
        assert!("often".parse::<FaultSpec>().is_err());
        assert_eq!(
            "9100:500:100%".parse(),
            Ok(ErrorFault {
                code: 9100,
                status: 500,
                spec: FaultSpec::Rate(1.0)
            })
        );
        assert_eq!(
            "13602:500:2".parse::<ErrorFault>().map(|f| f.to_string()),
            Ok("13602:500:2".to_string())
        );
        assert!("9100:200:1".parse::<ErrorFault>().is_err());
        assert!("9100:500".parse::<ErrorFault>().is_err());
    }

    #[test]
    fn counts_run_out_and_rates_fire_about_as_often_as_asked() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut two = FaultSpec::Count(2);
        let fired: Vec<bool> = (0..4).map(|_| two.fire(&mut rng)).collect();
        assert_eq!(fired, [true, true, false, false]);
        let mut fifth = FaultSpec::Rate(0.2);
        let n = (0..10_000).filter(|_| fifth.fire(&mut rng)).count();
        assert!((1800..2200).contains(&n), "{n}");
    }
}
