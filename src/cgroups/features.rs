//! The `linux.cgroup` part of `rt features` (runtime-spec features.md),
//! describing what this build and this host really support.

use serde_json::{json, Value};

use super::layout::{Home, Layout};

pub fn features() -> Value {
    let l = Layout::detect();
    let rdma = !matches!(l.home("rdma", "rdma"), Home::Absent);
    json!({
        // Both back ends are built in; a pure v1 host still runs us.
        "v1": true,
        "v2": true,
        // --systemd-cgroup: scopes through the system instance of systemd
        // (tested in tests/vm-systemd). The user instance is not used:
        // rootless with --systemd-cgroup is refused.
        "systemd": true,
        "systemdUser": false,
        "rdma": rdma,
    })
}
