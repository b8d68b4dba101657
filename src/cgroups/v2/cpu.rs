//! v2 `cpu`: cpu.weight (converted from shares), cpu.max, cpu.max.burst,
//! cpu.idle. cgroup v2 has no realtime group budget.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::convert::shares_to_weight;
use crate::cgroups::stats::Stats;
use crate::cgroups::util::{flat_keyed, read, read_opt, write};
use crate::cgroups::{Error, Result};

pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
        return Err(Error::NotSupported(
            "linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no realtime budget"
                .into(),
        ));
    }
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write(dir, "cpu.weight", shares_to_weight(s))?;
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        // cpu.max holds both: keep whichever half the spec leaves out.
        let cur = read(dir, "cpu.max")?;
        let mut it = cur.split_whitespace();
        let (cur_q, cur_p) = (it.next().unwrap_or("max"), it.next().unwrap_or("100000"));
        let q = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            None => cur_q.to_string(),
        };
        let p = period.map(|p| p.to_string()).unwrap_or(cur_p.to_string());
        write(dir, "cpu.max", format!("{q} {p}"))?;
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.max.burst", b)?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", i)?;
    }
    Ok(())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    let Some(text) = read_opt(dir, "cpu.stat")? else {
        return Ok(());
    };
    let m = flat_keyed(&text);
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = g("usage_usec") * 1000;
    s.cpu.usage.user = g("user_usec") * 1000;
    s.cpu.usage.kernel = g("system_usec") * 1000;
    s.cpu.throttling.periods = g("nr_periods");
    s.cpu.throttling.throttled_periods = g("nr_throttled");
    s.cpu.throttling.throttled_time = g("throttled_usec") * 1000;
    Ok(())
}
