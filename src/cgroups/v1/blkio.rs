//! v1 `blkio`: linux.resources.blockIO. Weights live in the CFQ files on old
//! kernels and the BFQ ones on new kernels; runc tries both, so do we.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::cgroups::stats::{parse_blkio_v1, Stats};
use crate::cgroups::util::{read_opt, write};
use crate::cgroups::{Error, Result};

/// Write to the first of `files` that exists.
fn write_any(dir: &Path, files: &[&str], v: String) -> Result<()> {
    match files.iter().find(|f| dir.join(f).exists()) {
        Some(f) => write(dir, f, v),
        None => Err(Error::MissingFile {
            path: dir.join(files[0]),
        }),
    }
}

pub fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write_any(dir, &["blkio.weight", "blkio.bfq.weight"], w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write(dir, "blkio.leaf_weight", w)?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let v = format!("{}:{} {w}", d.major(), d.minor());
            write_any(dir, &["blkio.weight_device", "blkio.bfq.weight_device"], v)?;
        }
        if let Some(w) = d.leaf_weight() {
            write(
                dir,
                "blkio.leaf_weight_device",
                format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
    }
    let throttle = |file: &str, list: &Option<Vec<LinuxThrottleDevice>>| -> Result<()> {
        for d in list.iter().flatten() {
            write(
                dir,
                file,
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
        Ok(())
    };
    throttle(
        "blkio.throttle.read_bps_device",
        b.throttle_read_bps_device(),
    )?;
    throttle(
        "blkio.throttle.write_bps_device",
        b.throttle_write_bps_device(),
    )?;
    throttle(
        "blkio.throttle.read_iops_device",
        b.throttle_read_iops_device(),
    )?;
    throttle(
        "blkio.throttle.write_iops_device",
        b.throttle_write_iops_device(),
    )?;
    Ok(())
}

pub fn stats(dir: &Path, s: &mut Stats) -> Result<()> {
    // Same preference as runc: CFQ, then BFQ, then the throttle counters
    // (which every kernel keeps).
    for prefix in ["blkio", "blkio.bfq", "blkio.throttle"] {
        let bytes = read_opt(dir, &format!("{prefix}.io_service_bytes_recursive"))?;
        let ios = read_opt(dir, &format!("{prefix}.io_serviced_recursive"))?;
        let (Some(bytes), Some(ios)) = (bytes, ios) else {
            continue;
        };
        let bytes = parse_blkio_v1(&bytes);
        if bytes.is_empty() && prefix != "blkio.throttle" {
            continue;
        }
        s.blkio.io_service_bytes_recursive = bytes;
        s.blkio.io_serviced_recursive = parse_blkio_v1(&ios);
        break;
    }
    Ok(())
}
