//! v1 `hugetlb`: linux.resources.hugepageLimits.

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::cgroups::convert::{host_hugepage_sizes, hugepage_size};
use crate::cgroups::stats::{Hugetlb, Stats};
use crate::cgroups::util::{read_u64, write};
use crate::cgroups::Result;

pub fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for h in limits {
        let size = hugepage_size(h.page_size()).unwrap_or_default();
        write(dir, &format!("hugetlb.{size}.limit_in_bytes"), h.limit())?;
    }
    Ok(())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    for size in host_hugepage_sizes() {
        let f = |k: &str| read_u64(dir, &format!("hugetlb.{size}.{k}"));
        s.hugetlb.insert(
            size.clone(),
            Hugetlb {
                usage: f("usage_in_bytes")?.unwrap_or(0),
                max: f("max_usage_in_bytes")?.unwrap_or(0),
                failcnt: f("failcnt")?.unwrap_or(0),
            },
        );
    }
    Ok(())
}
