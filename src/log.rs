//! Where messages go. The final error line always goes to stderr as
//! `rt: ...`; with `--log FILE` the same message is also appended to FILE,
//! as text or as runc-style JSON lines (`--log-format json`), because
//! containerd and conmon read the runtime's log file to show the user why a
//! container failed.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where and how to log, as the command line asked (`cli` builds it, so
/// this module knows nothing of the command line).
#[derive(Clone, Debug, Default)]
pub struct LogConfig {
    /// Also append every message to this file.
    pub file: Option<PathBuf>,
    /// runc's JSON lines instead of text in `file`.
    pub json: bool,
    /// Print debug messages.
    pub debug: bool,
}

#[derive(Clone)]
pub struct Logger {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

impl Logger {
    pub fn new(cfg: LogConfig) -> Self {
        Logger {
            file: cfg.file,
            json: cfg.json,
            debug: cfg.debug,
        }
    }

    pub fn error(&self, msg: &str) {
        eprintln!("rt: {msg}");
        self.write("error", msg);
    }

    pub fn warn(&self, msg: &str) {
        eprintln!("rt: warning: {msg}");
        self.write("warning", msg);
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            eprintln!("rt: debug: {msg}");
            self.write("debug", msg);
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let line = if self.json {
            let obj = serde_json::json!({ "level": level, "msg": msg, "time": rfc3339_now() });
            format!("{obj}\n")
        } else {
            format!("{} {level} {msg}\n", rfc3339_now())
        };
        if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

/// The process's logger for code far from the command line (phase timings).
static GLOBAL: OnceLock<Logger> = OnceLock::new();

pub fn install(logger: &Logger) {
    let _ = GLOBAL.set(logger.clone());
}

fn debugging() -> Option<&'static Logger> {
    GLOBAL.get().filter(|l| l.debug)
}

/// A warning from code far from the command line (the create guard).
pub fn warn_message(msg: &str) {
    match GLOBAL.get() {
        Some(log) => log.warn(msg),
        None => eprintln!("rt: warning: {msg}"),
    }
}

/// A debug message from code that has no logger at hand.
pub fn debug(msg: &str) {
    if let Some(l) = debugging() {
        l.debug(msg);
    }
}

/// With --debug, how long each phase of a command took: where a container
/// start spends its time, without strace. Free when --debug is off.
pub struct Phases {
    what: &'static str,
    start: Instant,
    last: Instant,
}

impl Phases {
    pub fn start(what: &'static str) -> Phases {
        let now = Instant::now();
        Phases {
            what,
            start: now,
            last: now,
        }
    }

    pub fn mark(&mut self, phase: &str) {
        let Some(log) = debugging() else { return };
        let now = Instant::now();
        log.debug(&format!(
            "{} {phase}: {:.2} ms (at {:.2} ms)",
            self.what,
            (now - self.last).as_secs_f64() * 1e3,
            (now - self.start).as_secs_f64() * 1e3
        ));
        self.last = now;
    }
}

/// UTC timestamp in RFC 3339 without pulling in a date crate.
pub fn rfc3339_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_leap_day() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_798_761_599, 0), "2026-12-31T23:59:59.000000000Z");
    }
}
