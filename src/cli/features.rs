//! `features`: what rt implements, per runtime-spec features.md. Callers
//! (containerd, CRI-O) decide what to ask for from this, so it lists only
//! what really works.

use clap::Args as ClapArgs;
use serde_json::json;

use super::GlobalArgs;
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {}

pub fn run(_g: &GlobalArgs, _a: Args) -> Result<u8> {
    let mut mount_options: Vec<&str> = crate::rootfs::options::KNOWN.to_vec();
    mount_options.push("runbindable");
    let caps: Vec<String> = caps::all()
        .into_iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let v = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}},
        },
        "annotations": {
            "org.opencontainers.runtime.name": "rt",
            "org.opencontainers.runtime.version": env!("CARGO_PKG_VERSION"),
        },
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}
