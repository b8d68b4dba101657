//! The device rules a container's cgroup actually gets: default deny, then
//! the spec's rules, then the devices every container needs (the ones rt
//! creates in /dev), appended last as runc does so a spec cannot lock a
//! container out of /dev/null.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().unwrap_or_default()
}

/// Devices allowed in every container: null, zero, full, random, urandom,
/// tty, ptmx, the pty slaves, tun, and mknod of anything (mknod alone
/// grants no access). The same set as runc 1.1: /dev/console is a pty
/// slave bind-mounted there, covered by 136:*.
pub fn defaults() -> Vec<LinuxDeviceCgroup> {
    use LinuxDeviceType::{B, C};
    let mut v = vec![rule(C, None, None, "m"), rule(B, None, None, "m")];
    for (maj, min) in [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 2),
        (10, 200),
    ] {
        v.push(rule(C, Some(maj), Some(min), "rwm"));
    }
    v.push(rule(C, Some(136), None, "rwm"));
    v
}

pub fn effective(spec: Option<&Vec<LinuxDeviceCgroup>>) -> Vec<LinuxDeviceCgroup> {
    let deny_all = LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .unwrap_or_default();
    let mut v = vec![deny_all];
    v.extend(spec.iter().flat_map(|s| s.iter().cloned()));
    v.extend(defaults());
    v
}
