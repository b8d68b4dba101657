//! `rt events [--stats] [--interval D] ID`: runc's event stream. Stats
//! events every interval and an `oom` event for each OOM in the container's
//! cgroup, one JSON object per line, until the container stops. `--stats`
//! prints one stats event and exits.

use std::io::Write;
use std::time::{Duration, Instant};

use clap::Args as ClapArgs;
use serde_json::json;

use super::GlobalArgs;
use crate::cgroups::{Manager, Wake};
use crate::container::Container;
use crate::state::Status;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Display the container's stats once, then exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats events (Go duration: 5s, 500ms, 1m).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Container id.
    pub id: String,
}

/// A Go duration string ("1m30s", "250ms", "1.5s").
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("invalid duration {s:?} (examples: 5s, 500ms, 1m)");
    let mut rest = s.trim();
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += num * scale;
        rest = &rest[u..];
    }
    if total <= 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(total))
}

/// One event line. A reader that went away (closed pipe) ends the stream
/// with an error instead of a panic.
fn emit(kind: &str, id: &str, data: Option<serde_json::Value>) -> Result<()> {
    let mut ev = json!({ "type": kind, "id": id });
    if let Some(d) = data {
        ev["data"] = d;
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{ev}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::io("write event", e))
}

fn stats_event(cg: &dyn Manager, id: &str) -> Result<()> {
    let s = cg.stats()?;
    let data = serde_json::to_value(&s).map_err(|e| Error::Usage(format!("stats: {e}")))?;
    emit("stats", id, Some(data))
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    // Read what we need, then let go of the container's lock: events can
    // run for hours and must not block kill or delete.
    let (state, cg) = {
        let c = Container::load(&g.root, &a.id)?;
        c.require(
            "events",
            &[Status::Created, Status::Running, Status::Paused],
            "created, running or paused",
        )?;
        (c.state.clone(), c.cgroup()?)
    };
    if a.stats {
        stats_event(cg.as_ref(), &a.id)?;
        return Ok(0);
    }
    // Without a memory controller there are no OOM events to wait for.
    let mut oom = cg.oom_watcher().ok();
    let mut next = Instant::now();
    let tick = Duration::from_millis(200);
    while state.init_alive() {
        let now = Instant::now();
        if now >= next {
            match stats_event(cg.as_ref(), &a.id) {
                Err(crate::Error::Io { .. }) => break, // reader gone
                Err(_) if !cg.exists() => break,
                _ => {}
            }
            next = now + a.interval;
        }
        let wait = next.saturating_duration_since(Instant::now()).min(tick);
        match oom.as_mut().map(|w| w.wait(Some(wait))) {
            Some(Ok(Wake::Oom(n))) => {
                for _ in 0..n {
                    if emit("oom", &a.id, None).is_err() {
                        return Ok(0);
                    }
                }
            }
            Some(Ok(Wake::Timeout)) => {}
            Some(Ok(Wake::Gone)) | Some(Err(_)) => oom = None,
            None => std::thread::sleep(wait),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "5", "s", "5x", "-1s", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
