//! v1 `cpuset`: cpus and mems. A new v1 cpuset starts empty and refuses
//! tasks, so every level rt creates first inherits its parent's sets.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::util::{read, write};
use crate::cgroups::Result;

pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// Fill empty cpuset.cpus/mems of `dir` from its parent (call top-down).
pub fn inherit(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if read(dir, f)?.trim().is_empty() {
            write(dir, f, read(parent, f)?.trim())?;
        }
    }
    Ok(())
}
