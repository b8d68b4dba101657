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
        // --systemd-cgroup: scopes through the system instance of systemd,
        // and for rootless containers through the user's own instance,
        // which (as in runc) needs a pure cgroup v2 host: elsewhere it is
        // refused. Both are tested in tests/vm-systemd.
        "systemd": true,
        "systemdUser": l.is_pure_v2(),
        "rdma": rdma,
    })
}
