//! `pids` (same files on v1 and v2): linux.resources.pids.limit.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::cgroups::stats::Stats;
use crate::cgroups::util::{read_u64, write};
use crate::cgroups::Result;

pub fn apply(dir: &Path, p: &LinuxPids) -> Result<()> {
    match p.limit() {
        0 => Ok(()),
        l if l < 0 => write(dir, "pids.max", "max"),
        l => write(dir, "pids.max", l),
    }
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    s.pids.current = read_u64(dir, "pids.current")?.unwrap_or(0);
    s.pids.limit = match read_u64(dir, "pids.max")? {
        Some(u64::MAX) | None => 0,
        Some(v) => v,
    };
    Ok(())
}
