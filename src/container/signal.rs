//! Signal names and numbers as `kill` accepts them: `KILL`, `SIGKILL`,
//! `9`, and the real-time forms `RTMIN+N` / `RTMAX-N`.

use std::str::FromStr;

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid signal {0:?}")]
pub struct BadSignal(pub String);

pub fn parse_signal(s: &str) -> Result<i32, BadSignal> {
    let bad = || BadSignal(s.to_string());
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt_offset(libc::SIGRTMIN(), rest, 1).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt_offset(libc::SIGRTMAX(), rest, -1).ok_or_else(bad);
    }
    Signal::from_str(&format!("SIG{name}"))
        .map(|sig| sig as i32)
        .map_err(|_| bad())
}

fn rt_offset(base: i32, rest: &str, dir: i32) -> Option<i32> {
    if rest.is_empty() {
        return Some(base);
    }
    let sign = if dir > 0 { '+' } else { '-' };
    let n: i32 = rest.strip_prefix(sign)?.parse().ok()?;
    let sig = base + dir * n;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&sig)
        .then_some(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("KILL"), Ok(9));
        assert_eq!(parse_signal("SIGTERM"), Ok(15));
        assert_eq!(parse_signal("sigint"), Ok(2));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("RTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert_eq!(parse_signal("SIGRTMAX"), Ok(libc::SIGRTMAX()));
    }

    #[test]
    fn rejects_nonsense() {
        for s in ["", "0", "-1", "999", "FOO", "SIGFOO", "RTMIN-1", "RTMAX+1"] {
            assert!(parse_signal(s).is_err(), "{s}");
        }
    }
}
