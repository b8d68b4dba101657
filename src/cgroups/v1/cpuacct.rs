//! v1 `cpuacct`: usage statistics only (it has no limits).

use std::path::Path;

use crate::cgroups::stats::Stats;
use crate::cgroups::util::{flat_keyed, read_opt, read_u64};
use crate::cgroups::Result;

fn list(dir: &Path, file: &str) -> Result<Vec<u64>> {
    Ok(read_opt(dir, file)?
        .map(|t| {
            t.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    let u = &mut s.cpu.usage;
    u.total = read_u64(dir, "cpuacct.usage")?.unwrap_or(0);
    u.percpu = list(dir, "cpuacct.usage_percpu")?;
    u.percpu_kernel = list(dir, "cpuacct.usage_percpu_sys")?;
    u.percpu_user = list(dir, "cpuacct.usage_percpu_user")?;
    // cpuacct.stat counts in clock ticks; runc reports nanoseconds.
    // SAFETY: sysconf has no memory effects.
    let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        n if n > 0 => n as u64,
        _ => 100,
    };
    if let Some(t) = read_opt(dir, "cpuacct.stat")? {
        let m = flat_keyed(&t);
        u.user = m.get("user").copied().unwrap_or(0) * 1_000_000_000 / hz;
        u.kernel = m.get("system").copied().unwrap_or(0) * 1_000_000_000 / hz;
    }
    Ok(())
}
