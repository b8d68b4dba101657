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
        "systemd": false,
        "systemdUser": false,
        "rdma": rdma,
    })
}
