//! v2 `io`: io.weight (or io.bfq.weight) converted from blkio weights, and
//! io.max for the throttles. leafWeight has no v2 equivalent.

use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::cgroups::convert::blkio_weight_to_io_weight;
use crate::cgroups::stats::{blkio_from_io_stat, Stats};
use crate::cgroups::util::{read_opt, write};
use crate::cgroups::{Error, Result};

fn weight(dir: &Path, dev: Option<(i64, i64)>, w: u16) -> Result<()> {
    let v = blkio_weight_to_io_weight(u64::from(w));
    let prefix = dev.map(|(a, b)| format!("{a}:{b} ")).unwrap_or_default();
    // io.weight needs the io.cost controller; with BFQ the knob is
    // io.bfq.weight and takes the v1 range unchanged.
    if dir.join("io.bfq.weight").exists() {
        write(dir, "io.bfq.weight", format!("{prefix}{w}"))
    } else {
        let prefix = if prefix.is_empty() {
            "default ".to_string()
        } else {
            prefix
        };
        write(dir, "io.weight", format!("{prefix}{v}"))
    }
}

pub fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    let leaf = b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some());
    if leaf {
        return Err(Error::NotSupported(
            "linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights".into(),
        ));
    }
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        weight(dir, None, w)?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            weight(dir, Some((d.major(), d.minor())), w)?;
        }
    }
    // One io.max line per device carrying every limit given for it.
    let mut lines: BTreeMap<(i64, i64), Vec<String>> = BTreeMap::new();
    for (key, list) in [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ] {
        for d in list.iter().flatten() {
            let v = if d.rate() == 0 {
                "max".to_string()
            } else {
                d.rate().to_string()
            };
            lines
                .entry((d.major(), d.minor()))
                .or_default()
                .push(format!("{key}={v}"));
        }
    }
    for ((maj, min), kv) in lines {
        write(dir, "io.max", format!("{maj}:{min} {}", kv.join(" ")))?;
    }
    Ok(())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    if let Some(t) = read_opt(dir, "io.stat")? {
        s.blkio = blkio_from_io_stat(&t);
    }
    Ok(())
}
