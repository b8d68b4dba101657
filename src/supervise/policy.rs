//! Restart policies and the back-off between restarts: pure decisions,
//! kept apart from the event loop so they can be tested without a
//! container.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A container that ran at least this long starts the back-off over: it
/// was working, so its next failure is treated as a first one.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Policy {
    No,
    /// Restart after a non-zero exit, at most this many times (None: no
    /// limit) since the container was last started by hand.
    OnFailure(Option<u32>),
    Always,
    UnlessStopped,
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "no" => Ok(Policy::No),
            "always" => Ok(Policy::Always),
            "unless-stopped" => Ok(Policy::UnlessStopped),
            "on-failure" => Ok(Policy::OnFailure(None)),
            _ => match s.strip_prefix("on-failure:") {
                Some(n) => n
                    .parse()
                    .map(|n| Policy::OnFailure(Some(n)))
                    .map_err(|_| format!("invalid restart count in {s:?}")),
                None => Err(format!(
                    "invalid restart policy {s:?} (no, on-failure[:N], always or unless-stopped)"
                )),
            },
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::No => f.write_str("no"),
            Policy::OnFailure(None) => f.write_str("on-failure"),
            Policy::OnFailure(Some(n)) => write!(f, "on-failure:{n}"),
            Policy::Always => f.write_str("always"),
            Policy::UnlessStopped => f.write_str("unless-stopped"),
        }
    }
}

impl TryFrom<String> for Policy {
    type Error = String;
    fn try_from(s: String) -> Result<Policy, String> {
        s.parse()
    }
}

impl From<Policy> for String {
    fn from(p: Policy) -> String {
        p.to_string()
    }
}

impl Policy {
    /// Should a container that ended on its own (not `rt stop`, not
    /// deleted) be started again? `failed`: non-zero or unknown status,
    /// or killed for being unhealthy. `restarts`: restarts so far.
    pub fn restarts(self, failed: bool, restarts: u32) -> bool {
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure(max) => failed && max.is_none_or(|m| restarts < m),
        }
    }

    /// After a reboot (`rt supervise --all`): which stopped containers
    /// come back. `unless-stopped` honours an earlier `rt stop`, `always`
    /// does not.
    pub fn starts_at_boot(self, stopped_on_purpose: bool) -> bool {
        match self {
            Policy::Always => true,
            Policy::UnlessStopped => !stopped_on_purpose,
            _ => false,
        }
    }
}

/// Exponential back-off: `first`, doubled for every quick failure in a
/// row, capped at `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before the next start, given how many quick failures came
    /// in a row before this one (`streak`) and how long this run lasted.
    /// Returns the delay and the new streak.
    pub fn next(&self, streak: u32, ran_for: Duration) -> (Duration, u32) {
        let streak = if ran_for >= RESET_AFTER { 0 } else { streak };
        let factor = 1u32.checked_shl(streak.min(31)).unwrap_or(u32::MAX);
        let delay = self.first.saturating_mul(factor).min(self.max);
        (delay, streak.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_print() {
        for s in [
            "no",
            "on-failure",
            "on-failure:3",
            "always",
            "unless-stopped",
        ] {
            assert_eq!(s.parse::<Policy>().unwrap().to_string(), s);
        }
        assert!("on-failure:x".parse::<Policy>().is_err());
        assert!("sometimes".parse::<Policy>().is_err());
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let p = Policy::OnFailure(Some(3));
        assert!(p.restarts(true, 0));
        assert!(p.restarts(true, 2));
        assert!(!p.restarts(true, 3));
        assert!(!p.restarts(false, 0));
        assert!(Policy::Always.restarts(false, 1000));
        assert!(!Policy::No.restarts(true, 0));
    }

    #[test]
    fn boot_policy() {
        assert!(Policy::Always.starts_at_boot(true));
        assert!(!Policy::UnlessStopped.starts_at_boot(true));
        assert!(Policy::UnlessStopped.starts_at_boot(false));
        assert!(!Policy::OnFailure(None).starts_at_boot(false));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let b = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let quick = Duration::from_millis(1);
        let (d1, s) = b.next(0, quick);
        let (d2, s) = b.next(s, quick);
        let (d3, s) = b.next(s, quick);
        let (d4, s) = b.next(s, quick);
        assert_eq!(
            [d1, d2, d3, d4].map(|d| d.as_millis()),
            [100, 200, 400, 500]
        );
        let (d5, s) = b.next(s, RESET_AFTER);
        assert_eq!((d5.as_millis(), s), (100, 1));
        let (d, _) = b.next(u32::MAX, quick);
        assert_eq!(d.as_millis(), 500);
    }
}
