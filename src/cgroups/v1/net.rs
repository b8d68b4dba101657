//! v1 `net_cls` and `net_prio`: linux.resources.network. Neither exists on
//! cgroup v2 (BPF socket programs replaced them).

use std::path::Path;

use oci_spec::runtime::LinuxNetwork;

use crate::cgroups::util::write;
use crate::cgroups::Result;

pub fn apply_classid(dir: &Path, n: &LinuxNetwork) -> Result<()> {
    match n.class_id() {
        Some(id) => write(dir, "net_cls.classid", id),
        None => Ok(()),
    }
}

pub fn apply_priorities(dir: &Path, n: &LinuxNetwork) -> Result<()> {
    for p in n.priorities().iter().flatten() {
        write(
            dir,
            "net_prio.ifpriomap",
            format!("{} {}", p.name(), p.priority()),
        )?;
    }
    Ok(())
}
