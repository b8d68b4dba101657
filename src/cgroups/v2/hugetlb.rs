//! v2 `hugetlb`: hugetlb.<size>.max.

use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::cgroups::convert::{host_hugepage_sizes, hugepage_size};
use crate::cgroups::stats::{Hugetlb, Stats};
use crate::cgroups::util::{flat_keyed, read_opt, read_u64, write};
use crate::cgroups::Result;

pub fn apply(dir: &Path, limits: &[LinuxHugepageLimit]) -> Result<()> {
    for h in limits {
        let size = hugepage_size(h.page_size()).unwrap_or_default();
        write(dir, &format!("hugetlb.{size}.max"), h.limit())?;
    }
    Ok(())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    for size in host_hugepage_sizes() {
        let events = read_opt(dir, &format!("hugetlb.{size}.events"))?
            .map(|t| flat_keyed(&t))
            .unwrap_or_default();
        let max = match read_u64(dir, &format!("hugetlb.{size}.max"))? {
            Some(u64::MAX) | None => 0,
            Some(v) => v,
        };
        s.hugetlb.insert(
            size.clone(),
            Hugetlb {
                usage: read_u64(dir, &format!("hugetlb.{size}.current"))?.unwrap_or(0),
                max,
                failcnt: events.get("max").copied().unwrap_or(0),
            },
        );
    }
    Ok(())
}
