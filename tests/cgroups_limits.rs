//! linux.resources as the host's cgroup files show them, on v1 files where
//! the controller is bound to v1 and v2 files where it lives in cgroup2;
//! bad input and unavailable controllers change nothing. Needs root.

#[path = "cgroups_support.rs"]
mod support;

use oci_spec::runtime::LinuxResources;
use rt::cgroups::Manager;
use support::TestCg;

fn res(j: &str) -> LinuxResources {
    serde_json::from_str(j).unwrap()
}

const MIB: i64 = 1 << 20;

#[test]
fn resources_land_in_host_files() {
    require_root!();
    let cg = TestCg::new("files");
    let swap_known = cg
        .dir("memory", "memory")
        .join("memory.memsw.limit_in_bytes")
        .exists()
        || cg.dir("memory", "memory").join("memory.swap.max").exists();
    let swap = if swap_known {
        format!(r#","swap":{}"#, 128 * MIB)
    } else {
        String::new()
    };
    let r = res(&format!(
        r#"{{"memory":{{"limit":{},"reservation":{}{swap}}},
            "cpu":{{"shares":512,"quota":20000,"period":100000,"cpus":"0","mems":"0"}},
            "pids":{{"limit":20}}}}"#,
        64 * MIB,
        32 * MIB
    ));
    cg.mgr.apply(&r).unwrap();
    let mem = |a, b| cg.file("memory", "memory", a, b);
    assert_eq!(
        mem("memory.limit_in_bytes", "memory.max"),
        (64 * MIB).to_string()
    );
    assert_eq!(
        mem("memory.soft_limit_in_bytes", "memory.low"),
        (32 * MIB).to_string()
    );
    if swap_known {
        // The spec's swap is memory+swap: v1 takes it as is, v2 gets swap
        // alone.
        let want = if cg.is_v2("memory", "memory") {
            64 * MIB
        } else {
            128 * MIB
        };
        assert_eq!(
            mem("memory.memsw.limit_in_bytes", "memory.swap.max"),
            want.to_string()
        );
    }
    let cpu = |a, b| cg.file("cpu", "cpu", a, b);
    if cg.is_v2("cpu", "cpu") {
        assert_eq!(cpu("", "cpu.weight"), "20"); // 512 shares, runc's mapping
        assert_eq!(cpu("", "cpu.max"), "20000 100000");
    } else {
        assert_eq!(cpu("cpu.shares", ""), "512");
        assert_eq!(cpu("cpu.cfs_quota_us", ""), "20000");
        assert_eq!(cpu("cpu.cfs_period_us", ""), "100000");
    }
    assert_eq!(
        cg.file("cpuset", "cpuset", "cpuset.cpus", "cpuset.cpus"),
        "0"
    );
    assert_eq!(
        cg.file("cpuset", "cpuset", "cpuset.mems", "cpuset.mems"),
        "0"
    );
    assert_eq!(cg.file("pids", "pids", "pids.max", "pids.max"), "20");
}

#[test]
fn unlimited_values() {
    require_root!();
    let cg = TestCg::new("unlim");
    cg.mgr
        .apply(&res(
            r#"{"memory":{"limit":-1},"cpu":{"quota":-1},"pids":{"limit":-1}}"#,
        ))
        .unwrap();
    let mem = cg.file("memory", "memory", "memory.limit_in_bytes", "memory.max");
    assert!(
        mem == "max" || mem.parse::<u64>().unwrap() > 1 << 60,
        "{mem}"
    );
    let q = cg.file("cpu", "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(q == "-1" || q.starts_with("max"), "{q}");
    assert_eq!(cg.file("pids", "pids", "pids.max", "pids.max"), "max");
}

#[test]
fn bad_input_and_missing_controllers_change_nothing() {
    require_root!();
    let cg = TestCg::new("bad");
    cg.mgr
        .apply(&res(&format!(
            r#"{{"memory":{{"limit":{}}},"pids":{{"limit":20}}}}"#,
            64 * MIB
        )))
        .unwrap();
    let limit = || cg.file("memory", "memory", "memory.limit_in_bytes", "memory.max");
    let before = limit();
    for (j, want) in [
        (
            r#"{"memory":{"limit":33554432},"pids":{"limit":-5}}"#,
            "invalid linux.resources.pids",
        ),
        (
            r#"{"memory":{"limit":33554432},"cpu":{"quota":-7}}"#,
            "invalid linux.resources.cpu.quota",
        ),
        (
            r#"{"memory":{"limit":-3}}"#,
            "invalid linux.resources.memory.limit",
        ),
        (
            r#"{"memory":{"limit":33554432},"network":{"classID":1}}"#,
            "net_cls",
        ),
        (
            r#"{"memory":{"limit":33554432},"rdma":{"mlx5_0":{"hcaHandles":1}}}"#,
            "rdma",
        ),
        (
            r#"{"memory":{"limit":33554432},"devices":[{"allow":true,"access":"rwz"}]}"#,
            "devices.access",
        ),
        (
            r#"{"memory":{"limit":33554432},"unified":{"nosuch.knob":"1"}}"#,
            "nosuch.knob",
        ),
        (
            r#"{"memory":{"limit":33554432},"hugepageLimits":[{"pageSize":"3MB","limit":0}]}"#,
            "hugetlb",
        ),
    ] {
        let err = cg.mgr.apply(&res(j)).unwrap_err().to_string();
        assert!(err.contains(want), "{j}: {err}");
        assert_eq!(limit(), before, "{j} changed memory before failing");
    }
    assert_eq!(cg.file("pids", "pids", "pids.max", "pids.max"), "20");
}

#[test]
fn update_changes_live_limits() {
    require_root!();
    let mut cg = TestCg::new("update");
    cg.spawn_bg("exec sleep 30");
    cg.mgr
        .apply(&res(&format!(
            r#"{{"memory":{{"limit":{}}},"pids":{{"limit":20}}}}"#,
            64 * MIB
        )))
        .unwrap();
    cg.mgr
        .update(&res(&format!(
            r#"{{"memory":{{"limit":{}}},"pids":{{"limit":7}},"cpu":{{"quota":50000,"period":100000}}}}"#,
            96 * MIB
        )))
        .unwrap();
    let mem = cg.file("memory", "memory", "memory.limit_in_bytes", "memory.max");
    assert_eq!(mem, (96 * MIB).to_string());
    assert_eq!(cg.file("pids", "pids", "pids.max", "pids.max"), "7");
    let q = cg.file("cpu", "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(q == "50000" || q == "50000 100000", "{q}");
    // Only the period: the quota stays.
    cg.mgr.update(&res(r#"{"cpu":{"period":200000}}"#)).unwrap();
    let q = cg.file("cpu", "cpu", "cpu.cfs_quota_us", "cpu.max");
    assert!(q == "50000" || q == "50000 200000", "{q}");
    // checkBeforeUpdate refuses a limit below current usage.
    let err = cg
        .mgr
        .update(&res(
            r#"{"memory":{"limit":4096,"checkBeforeUpdate":true}}"#,
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("below the current usage"), "{err}");
}

#[test]
fn device_rules_in_v1_list() {
    require_root!();
    let cg = TestCg::new("devlist");
    if cg.is_v2("devices", "") {
        eprintln!("skipped: devices are a BPF program on this host (see cgroups_effects)");
        return;
    }
    cg.mgr
        .apply(&res(
            r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"r"}]}"#,
        ))
        .unwrap();
    let list = cg.file("devices", "", "devices.list", "");
    let lines: Vec<&str> = list.lines().collect();
    assert!(!lines.contains(&"a *:* rwm"), "{list}");
    for want in ["c 1:11 r", "c 1:3 rwm", "c 136:* rwm", "c *:* m", "b *:* m"] {
        assert!(lines.contains(&want), "{want} not in {list}");
    }
    // An update without devices leaves them alone.
    cg.mgr.update(&res(r#"{"pids":{"limit":5}}"#)).unwrap();
    assert_eq!(cg.file("devices", "", "devices.list", ""), list);
}
