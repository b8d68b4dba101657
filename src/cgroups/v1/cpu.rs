//! v1 `cpu`: linux.resources.cpu shares, CFS quota/period/burst, realtime
//! budget, idle.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::stats::Stats;
use crate::cgroups::util::{flat_keyed, read_opt, write};
use crate::cgroups::Result;

pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|s| *s != 0) {
        write(dir, "cpu.shares", s)?;
    }
    if let Some(p) = c.period().filter(|p| *p != 0) {
        write(dir, "cpu.cfs_period_us", p)?;
    }
    if let Some(q) = c.quota().filter(|q| *q != 0) {
        write(dir, "cpu.cfs_quota_us", q)?;
    }
    if let Some(b) = c.burst() {
        write(dir, "cpu.cfs_burst_us", b)?;
    }
    // The kernel checks runtime <= period on every write: when shrinking
    // the period, the runtime has to go first.
    let (rt_p, rt_r) = (
        c.realtime_period().filter(|p| *p != 0),
        c.realtime_runtime(),
    );
    if let Some(p) = rt_p {
        if let Err(e) = write(dir, "cpu.rt_period_us", p) {
            let Some(r) = rt_r else { return Err(e) };
            write(dir, "cpu.rt_runtime_us", r)?;
            write(dir, "cpu.rt_period_us", p)?;
        }
    }
    if let Some(r) = rt_r {
        write(dir, "cpu.rt_runtime_us", r)?;
    }
    if let Some(i) = c.idle() {
        write(dir, "cpu.idle", i)?;
    }
    Ok(())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    if let Some(text) = read_opt(dir, "cpu.stat")? {
        let m = flat_keyed(&text);
        let t = &mut s.cpu.throttling;
        t.periods = m.get("nr_periods").copied().unwrap_or(0);
        t.throttled_periods = m.get("nr_throttled").copied().unwrap_or(0);
        t.throttled_time = m.get("throttled_time").copied().unwrap_or(0);
    }
    Ok(())
}
