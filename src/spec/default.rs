//! The config `rt spec` writes: runnable as is, with the same secure defaults
//! runc's callers expect (a small capability set, masked /proc entries, a
//! read-only root, no new privileges).

use serde_json::{json, Value};

const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

pub const MASKED_PATHS: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The default config; `rootless` maps the caller's ids to root inside a
/// user namespace and drops what an unprivileged user cannot set up.
pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> Value {
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc"}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    ];
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let mut linux = json!({
        "namespaces": [],
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
    });
    if rootless {
        // Without a network namespace of our own the host's sysfs cannot be
        // mounted, so bind it instead.
        namespaces.retain(|n| n["type"] != "network" && n["type"] != "cgroup");
        namespaces.push(json!({"type": "user"}));
        for m in mounts.iter_mut().filter(|m| m["type"] == "sysfs") {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
        for m in mounts.iter_mut() {
            if let Some(opts) = m.get_mut("options").and_then(|o| o.as_array_mut()) {
                opts.retain(|o| o != "gid=5");
            }
        }
        linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    } else {
        linux["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    }
    linux["namespaces"] = Value::Array(namespaces);
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": CAPS, "effective": CAPS, "permitted": CAPS, "ambient": CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "rt",
        "mounts": mounts,
        "linux": linux
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Spec;

    #[test]
    fn default_specs_parse_and_validate() {
        for rootless in [false, true] {
            let v = default_spec(rootless, 1000, 1000);
            let spec: Spec = serde_json::from_value(v).expect("parses");
            crate::spec::validate(&spec).expect("validates");
        }
    }

    #[test]
    fn rootless_has_user_namespace_and_binds_sys() {
        let v = default_spec(true, 1000, 1001);
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(ns.iter().any(|n| n["type"] == "user"));
        assert!(!ns.iter().any(|n| n["type"] == "network"));
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"], 1001);
        let mounts = v["mounts"].as_array().unwrap();
        assert!(!mounts.iter().any(|m| m["type"] == "sysfs"));
    }
}
