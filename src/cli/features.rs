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
    // What parse() honours; docs/mount-options.md lists what it refuses.
    let mut mount_options: Vec<&str> = crate::rootfs::options::KNOWN.to_vec();
    mount_options.extend_from_slice(&crate::rootfs::attr::OPTIONS);
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
            "cgroup": crate::cgroups::features(),
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                               "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": crate::security::seccomp::kernel_flags(),
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}},
        },
        "annotations": {
            "org.opencontainers.runtime.name": "rt",
            "org.opencontainers.runtime.version": env!("CARGO_PKG_VERSION"),
            // What `enabled: false` means for the LSM fields of a config.
            "rt.selinux": "process.selinuxLabel is refused; linux.mountLabel is ignored when \
                           SELinux is not enabled on the host and refused when it is",
            "rt.apparmor": "process.apparmorProfile is refused",
        },
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}
