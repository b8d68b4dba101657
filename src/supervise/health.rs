//! Health checks: the probe's verdicts turned into starting / healthy /
//! unhealthy. Docker's rules: failures inside the start period do not
//! count (a success there still makes the container healthy), `retries`
//! failures in a row make it unhealthy, one success makes it healthy.

use super::record::{HealthRecord, ProbeResult};

/// Probes kept in the record.
const KEPT: usize = 5;
/// Output kept per probe.
pub const OUTPUT_MAX: usize = 4096;

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

pub fn initial() -> HealthRecord {
    HealthRecord {
        status: STARTING.into(),
        failing_streak: 0,
        log: Vec::new(),
    }
}

/// Record one probe; true when this made the container unhealthy.
pub fn record(h: &mut HealthRecord, r: ProbeResult, in_start_period: bool, retries: u32) -> bool {
    let ok = r.exit_code == 0;
    h.log.push(r);
    if h.log.len() > KEPT {
        let extra = h.log.len() - KEPT;
        h.log.drain(..extra);
    }
    if ok {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
        return false;
    }
    if in_start_period && h.status == STARTING {
        return false;
    }
    h.failing_streak += 1;
    if h.failing_streak >= retries.max(1) && h.status != UNHEALTHY {
        h.status = UNHEALTHY.into();
        return true;
    }
    false
}

/// `--health-cmd`: a JSON array of strings is the argv itself (for images
/// without a shell); anything else runs through /bin/sh -c, as docker's
/// CMD-SHELL does.
pub fn parse_cmd(s: &str) -> Result<Vec<String>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("--health-cmd is empty".into());
    }
    if t.starts_with('[') {
        let v: Vec<String> = serde_json::from_str(t)
            .map_err(|e| format!("--health-cmd {t:?}: not a JSON array of strings: {e}"))?;
        if v.is_empty() || v[0].is_empty() {
            return Err("--health-cmd: the array needs a program".into());
        }
        return Ok(v);
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(code: i32) -> ProbeResult {
        ProbeResult {
            start: String::new(),
            end: String::new(),
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn streaks_and_start_period() {
        let mut h = initial();
        assert!(!record(&mut h, probe(1), true, 2));
        assert!(!record(&mut h, probe(1), true, 2));
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        assert!(!record(&mut h, probe(1), false, 2));
        assert!(record(&mut h, probe(-1), false, 2));
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        // Only the transition reports.
        assert!(!record(&mut h, probe(1), false, 2));
        assert!(!record(&mut h, probe(0), false, 2));
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        // Once healthy, the start period no longer excuses failures.
        assert!(!record(&mut h, probe(1), true, 2));
        assert_eq!(h.failing_streak, 1);
        assert_eq!(h.log.len(), KEPT);
    }

    #[test]
    fn commands() {
        assert_eq!(
            parse_cmd("test -f /x").unwrap(),
            ["/bin/sh", "-c", "test -f /x"]
        );
        assert_eq!(
            parse_cmd(r#"["/probe","exit","0"]"#).unwrap(),
            ["/probe", "exit", "0"]
        );
        assert!(parse_cmd("[1]").is_err());
        assert!(parse_cmd(" ").is_err());
    }
}
