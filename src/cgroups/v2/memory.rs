//! v2 `memory`: memory.max, memory.low (reservation), memory.swap.max (swap
//! alone, converted from the spec's memory+swap). v1-only knobs are a clear
//! error rather than silently dropped.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::convert::{swap_to_v2, v2_limit};
use crate::cgroups::stats::{MemoryEntry, Stats};
use crate::cgroups::util::{flat_keyed, read_opt, read_u64, write};
use crate::cgroups::{Error, Result};

pub fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if m.disable_oom_killer() == Some(true) {
        return Err(Error::NotSupported(
            "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer"
                .into(),
        ));
    }
    if m.swappiness().is_some() {
        return Err(Error::NotSupported(
            "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness".into(),
        ));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(Error::NotSupported(
            "linux.resources.memory.useHierarchy=false: cgroup v2 is always hierarchical".into(),
        ));
    }
    let limit = m.limit().filter(|v| *v != 0);
    let swap = swap_to_v2(m.swap(), m.limit()).map_err(|r| Error::Invalid {
        field: "memory.swap".into(),
        reason: r.into(),
    })?;
    if m.check_before_update() == Some(true) {
        if let (Some(l), Some(cur)) = (limit, read_u64(dir, "memory.current")?) {
            if l > 0 && cur > l as u64 {
                return Err(Error::Invalid {
                    field: "memory.limit".into(),
                    reason: format!("{l} is below the current usage {cur}"),
                });
            }
        }
    }
    // Swap first: lowering memory.max with swap.max unset could push the
    // workload into swap the new config forbids.
    if let Some(s) = swap {
        write(dir, "memory.swap.max", v2_limit(s))?;
    }
    if let Some(l) = limit {
        write(dir, "memory.max", v2_limit(l))?;
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        write(dir, "memory.low", v2_limit(r))?;
    }
    // kernel and kernelTCP are v1-only and deprecated in runtime-spec:
    // nothing to apply on v2, as runc does.
    Ok(())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    let m = &mut s.memory;
    let limit = |v: Option<u64>| v.unwrap_or(0);
    let events = read_opt(dir, "memory.events")?
        .map(|t| flat_keyed(&t))
        .unwrap_or_default();
    let current = read_u64(dir, "memory.current")?.unwrap_or(0);
    m.usage = MemoryEntry {
        limit: limit(read_u64(dir, "memory.max")?),
        usage: current,
        max: read_u64(dir, "memory.peak")?.unwrap_or(0),
        failcnt: events.get("max").copied().unwrap_or(0),
    };
    // runc reports v2 swap as memory+swap so it reads like v1's memsw.
    let swap_cur = read_u64(dir, "memory.swap.current")?.unwrap_or(0);
    let swap_max = limit(read_u64(dir, "memory.swap.max")?);
    m.swap = MemoryEntry {
        limit: swap_max.saturating_add(m.usage.limit),
        usage: swap_cur + current,
        max: 0,
        failcnt: 0,
    };
    m.raw = read_opt(dir, "memory.stat")?
        .map(|t| flat_keyed(&t))
        .unwrap_or_default();
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    Ok(())
}

/// Number of OOM kills so far (memory.events oom_kill).
pub fn oom_kills(dir: &Path) -> Result<u64> {
    Ok(read_opt(dir, "memory.events")?
        .map(|t| flat_keyed(&t).get("oom_kill").copied().unwrap_or(0))
        .unwrap_or(0))
}
