//! v1 `memory`: linux.resources.memory. `swap` is memory+swap here
//! (memory.memsw.limit_in_bytes), exactly as the spec defines it.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::stats::{MemoryEntry, Stats};
use crate::cgroups::util::{flat_keyed, read_opt, read_u64, write};
use crate::cgroups::{Error, Result};

pub fn apply(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().filter(|v| *v != 0);
    // An unlimited memory with no swap given lifts the swap limit too.
    let swap = m
        .swap()
        .filter(|v| *v != 0)
        .or(limit.filter(|l| *l == -1).map(|_| -1));
    if m.check_before_update() == Some(true) {
        if let (Some(l), Some(usage)) = (limit, read_u64(dir, "memory.usage_in_bytes")?) {
            if l > 0 && usage > l as u64 {
                return Err(Error::Invalid {
                    field: "memory.limit".into(),
                    reason: format!("{l} is below the current usage {usage}"),
                });
            }
        }
    }
    let has_memsw = dir.join("memory.memsw.limit_in_bytes").exists();
    match (limit, swap) {
        (Some(l), Some(s)) if has_memsw || m.swap().is_some() => {
            // memsw must stay >= limit at every step: raise memsw first when
            // growing, lower the limit first when shrinking.
            let cur = read_u64(dir, "memory.limit_in_bytes")?.unwrap_or(0);
            let growing = s == -1 || (s as u64) > cur;
            if growing {
                write(dir, "memory.memsw.limit_in_bytes", s)?;
                write(dir, "memory.limit_in_bytes", l)?;
            } else {
                write(dir, "memory.limit_in_bytes", l)?;
                write(dir, "memory.memsw.limit_in_bytes", s)?;
            }
        }
        (Some(l), _) => write(dir, "memory.limit_in_bytes", l)?,
        (None, Some(s)) => write(dir, "memory.memsw.limit_in_bytes", s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        write(dir, "memory.soft_limit_in_bytes", r)?;
    }
    // Deprecated in runtime-spec and gone from new kernels: applied where
    // the knob still exists, skipped where the kernel removed it.
    for (file, v) in [
        ("memory.kmem.limit_in_bytes", m.kernel()),
        ("memory.kmem.tcp.limit_in_bytes", m.kernel_tcp()),
    ] {
        if let Some(v) = v.filter(|v| *v != 0) {
            if dir.join(file).exists() {
                write(dir, file, v)?;
            }
        }
    }
    if let Some(s) = m.swappiness() {
        write(dir, "memory.swappiness", s)?;
    }
    if let Some(d) = m.disable_oom_killer() {
        write(dir, "memory.oom_control", u8::from(d))?;
    }
    if let Some(h) = m.use_hierarchy() {
        write(dir, "memory.use_hierarchy", u8::from(h))?;
    }
    Ok(())
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry> {
    let f = |k: &str| read_u64(dir, &format!("{prefix}.{k}"));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?.unwrap_or(0),
        usage: f("usage_in_bytes")?.unwrap_or(0),
        max: f("max_usage_in_bytes")?.unwrap_or(0),
        failcnt: f("failcnt")?.unwrap_or(0),
    })
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    let m = &mut s.memory;
    m.usage = entry(dir, "memory")?;
    m.swap = entry(dir, "memory.memsw")?;
    m.kernel = entry(dir, "memory.kmem")?;
    m.kernel_tcp = entry(dir, "memory.kmem.tcp")?;
    m.raw = read_opt(dir, "memory.stat")?
        .map(|t| flat_keyed(&t))
        .unwrap_or_default();
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    Ok(())
}
