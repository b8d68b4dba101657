//! Entry points for the cargo-fuzz targets in `fuzz/` (see fuzz/README.md).
//! Each takes arbitrary bytes and runs the code rt runs on untrusted input
//! before anything exists on the host, so a panic here is a panic of
//! `rt create` or `rt image unpack`. Not an API.

use std::path::PathBuf;

use oci_spec::runtime::Spec;

use crate::cgroups::plan::{self, Ctrl};
use crate::cgroups::{convert, devices, systemd, v1, v2, validate};
use crate::rootfs::options;
use crate::security::seccomp;
use crate::spec::lsm::Lsm;

pub use crate::image::fuzzing::{image, layer};

/// config.json as `rt create` reads it: parse, validate, and everything
/// derived from it without touching the system (mount options, cgroup
/// plans and values for both drivers, seccomp compilation, namespaces).
pub fn config(data: &[u8]) {
    let Ok(spec) = serde_json::from_slice::<Spec>(data) else {
        return;
    };
    // Both answers of the host check, so neither branch depends on the
    // machine the fuzzer runs on.
    for lsm in [
        Lsm::default(),
        Lsm {
            selinux: true,
            apparmor: true,
        },
    ] {
        let _ = crate::spec::validate_on(&spec, lsm);
    }
    for m in spec.mounts().iter().flatten() {
        let _ = options::parse(m.options().as_deref().unwrap_or(&[]));
    }
    let _ = crate::namespaces::time_offsets_text(&spec);
    let _ = crate::namespaces::mount_ns(&spec);
    if let Some(p) = spec.process() {
        if let Some(a) = p.exec_cpu_affinity() {
            for l in [a.initial(), a.cpu_affinity_final()].into_iter().flatten() {
                let _ = crate::process::limits::parse_cpu_list(l);
            }
        }
    }
    let Some(linux) = spec.linux() else {
        return;
    };
    let _ = options::root_propagation(linux.rootfs_propagation().as_deref());
    for maps in [linux.uid_mappings(), linux.gid_mappings()]
        .into_iter()
        .flatten()
    {
        let _ = crate::namespaces::map_text(maps);
    }
    if let Some(s) = linux.seccomp() {
        let _ = seccomp::compile(s);
        let _ = seccomp::allows(s, "read");
    }
    let _ = systemd::Unit::from_cgroups_path(
        linux.cgroups_path().as_ref().and_then(|p| p.to_str()),
        "fuzz",
        false,
    );
    if let Some(r) = linux.resources() {
        resources(r);
    }
}

fn resources(r: &oci_spec::runtime::LinuxResources) {
    let checked = validate::resources(r).is_ok();
    for h in r.hugepage_limits().iter().flatten() {
        let _ = convert::hugepage_size(h.page_size());
    }
    if let Some(m) = r.memory() {
        let _ = convert::swap_to_v2(m.swap(), m.limit());
    }
    if let Some(c) = r.cpu() {
        let _ = convert::shares_to_weight(c.shares().unwrap_or(0));
        for l in [c.cpus(), c.mems()].into_iter().flatten() {
            let _ = systemd::props::list_to_bits(l);
        }
    }
    if let Some(b) = r.block_io() {
        let _ = convert::blkio_weight_to_io_weight(b.weight().unwrap_or(0).into());
    }
    // The rest is only reached with resources that passed validation.
    if !checked {
        return;
    }
    let rules = devices::effective(r.devices().as_ref());
    let _ = v2::devices::program(&rules);
    for d in &rules {
        let _ = v1::devices::rule_lines(d);
    }
    let _ = systemd::props::device_props(&rules);
    for v2 in [false, true] {
        let _ = systemd::props::split(r, Some(&rules), v2);
        let ctrl = |v1: &str, v2name: &str| {
            Some(if v2 {
                Ctrl::V2(PathBuf::from("/sys/fs/cgroup/fuzz").join(v2name))
            } else {
                Ctrl::V1(PathBuf::from("/sys/fs/cgroup").join(v1).join("fuzz"))
            })
        };
        let _ = plan::plan(r, Some(&rules), &ctrl);
    }
}
