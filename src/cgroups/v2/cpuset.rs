//! v2 `cpuset`: cpuset.cpus and cpuset.mems (empty means "inherit", so no
//! copying from the parent is needed, unlike v1).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::util::write;
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
