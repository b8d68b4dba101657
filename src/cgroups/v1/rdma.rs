//! `rdma` (same file format on v1 and v2): linux.resources.rdma.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use crate::cgroups::util::write;
use crate::cgroups::Result;

pub fn apply(dir: &Path, rdma: &HashMap<String, LinuxRdma>) -> Result<()> {
    for (dev, l) in rdma {
        let mut line = dev.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        write(dir, "rdma.max", line)?;
    }
    Ok(())
}
