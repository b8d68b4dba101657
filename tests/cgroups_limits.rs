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
    // A shell holding a 2 MB variable: usage the 4 KiB limit below is under.
    cg.spawn_bg("x=$(head -c 2000000 /dev/zero | tr '\\0' a); sleep 30");
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
    let t = std::time::Instant::now();
    while cg.mgr.stats().unwrap().memory.usage.usage < 1 << 20 {
        assert!(t.elapsed().as_secs() < 10, "memory never charged");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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

/// A block device's "major:minor", if the machine has a real one.
fn block_device() -> Option<String> {
    let mut names: Vec<_> = std::fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !["loop", "ram", "zram"].iter().any(|p| n.starts_with(p)))
        .collect();
    names.sort();
    let dev = std::fs::read_to_string(format!("/sys/block/{}/dev", names.first()?)).ok()?;
    Some(dev.trim().to_string())
}

#[test]
fn other_fields_land_in_host_files() {
    require_root!();
    let cg = TestCg::new("more");
    let mut r = serde_json::json!({
        "cpu": {"quota": 50000, "period": 100000, "burst": 20000, "idle": 0},
        "pids": {"limit": 33},
    });
    let v2_mem = cg.is_v2("memory", "memory");
    if !v2_mem {
        r["memory"] = serde_json::json!({
            "limit": 67108864, "swappiness": 10, "disableOOMKiller": true,
            "kernelTCP": 16777216, "useHierarchy": true
        });
    } else {
        r["memory"] = serde_json::json!({"limit": 67108864});
    }
    if !cg.is_v2("cpu", "cpu") {
        r["cpu"]["realtimePeriod"] = 1000000.into();
        r["cpu"]["realtimeRuntime"] = 1000.into();
    }
    let dev = block_device();
    let blkio_ok = cg.mgr.layout().home("blkio", "io") != rt::cgroups::layout::Home::Absent;
    if let (Some(d), true) = (&dev, blkio_ok) {
        let (maj, min) = d.split_once(':').unwrap();
        let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
        r["blockIO"] = serde_json::json!({
            "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 100}]
        });
    }
    let huge = rt::cgroups::convert::host_hugepage_sizes();
    let huge_ok = cg.mgr.layout().home("hugetlb", "hugetlb") != rt::cgroups::layout::Home::Absent;
    if huge_ok && huge.iter().any(|s| s == "2MB") {
        r["hugepageLimits"] = serde_json::json!([{"pageSize": "2MB", "limit": 4194304}]);
    }
    // A raw v2 key that exists on this layout: memory.high on pure v2,
    // the cgroup2-bound hugetlb on this hybrid host.
    let unified_key = if v2_mem {
        Some(("memory.high", "50331648"))
    } else if cg.is_v2("hugetlb", "hugetlb") && huge.iter().any(|s| s == "1GB") {
        Some(("hugetlb.1GB.max", "0"))
    } else {
        None
    };
    if let Some((k, v)) = unified_key {
        r["unified"] = serde_json::json!({ k: v });
    }
    cg.mgr
        .apply(&serde_json::from_value(r.clone()).unwrap())
        .unwrap();

    if cg.is_v2("cpu", "cpu") {
        assert_eq!(cg.file("", "cpu", "", "cpu.max.burst"), "20000");
        assert_eq!(cg.file("", "cpu", "", "cpu.idle"), "0");
    } else {
        assert_eq!(cg.file("cpu", "", "cpu.cfs_burst_us", ""), "20000");
        assert_eq!(cg.file("cpu", "", "cpu.idle", ""), "0");
        assert_eq!(cg.file("cpu", "", "cpu.rt_runtime_us", ""), "1000");
        assert_eq!(cg.file("cpu", "", "cpu.rt_period_us", ""), "1000000");
    }
    if !v2_mem {
        assert_eq!(cg.file("memory", "", "memory.swappiness", ""), "10");
        let oc = cg.file("memory", "", "memory.oom_control", "");
        assert!(oc.contains("oom_kill_disable 1"), "{oc}");
        assert_eq!(
            cg.file("memory", "", "memory.kmem.tcp.limit_in_bytes", ""),
            "16777216"
        );
    }
    if r.get("blockIO").is_some() {
        let d = dev.unwrap();
        let (rb, wi) = if cg.is_v2("blkio", "io") {
            let line = cg.file("", "io", "", "io.max");
            assert!(line.contains(&format!("{d} rbps=1048576")), "{line}");
            assert!(line.contains("wiops=100"), "{line}");
            (String::new(), String::new())
        } else {
            (
                cg.file("blkio", "", "blkio.throttle.read_bps_device", ""),
                cg.file("blkio", "", "blkio.throttle.write_iops_device", ""),
            )
        };
        if !cg.is_v2("blkio", "io") {
            assert_eq!(rb, format!("{d} 1048576"));
            assert_eq!(wi, format!("{d} 100"));
        }
    }
    if r.get("hugepageLimits").is_some() {
        let v = cg.file(
            "hugetlb",
            "hugetlb",
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.max",
        );
        assert_eq!(v, "4194304");
    }
    if let Some((k, v)) = unified_key {
        let dir = cg.mgr.unified_dir().unwrap();
        assert_eq!(std::fs::read_to_string(dir.join(k)).unwrap().trim(), v);
    }
    assert_eq!(cg.file("pids", "pids", "pids.max", "pids.max"), "33");
}

#[test]
fn blkio_weight_where_the_host_has_it() {
    require_root!();
    let cg = TestCg::new("weight");
    let r = res(r#"{"blockIO":{"weight":300}}"#);
    match cg.mgr.layout().home("blkio", "io") {
        rt::cgroups::layout::Home::Absent => {
            let e = cg.mgr.apply(&r).unwrap_err().to_string();
            assert!(e.contains("blkio"), "{e}");
        }
        rt::cgroups::layout::Home::V1(_) => {
            let dir = cg.dir("blkio", "io");
            if dir.join("blkio.weight").exists() || dir.join("blkio.bfq.weight").exists() {
                cg.mgr.apply(&r).unwrap();
                let f = if dir.join("blkio.weight").exists() {
                    "blkio.weight"
                } else {
                    "blkio.bfq.weight"
                };
                let v = std::fs::read_to_string(dir.join(f)).unwrap();
                assert!(v.contains("300"), "{v}");
            } else {
                let e = cg.mgr.apply(&r).unwrap_err().to_string();
                assert!(e.contains("blkio.weight"), "{e}");
            }
        }
        rt::cgroups::layout::Home::V2 => {
            let dir = cg.dir("blkio", "io");
            match cg.mgr.apply(&r) {
                // io.weight converted from the v1 range (300 -> 2930), or
                // io.bfq.weight taking it unchanged.
                Ok(()) if dir.join("io.bfq.weight").exists() => {
                    let v = std::fs::read_to_string(dir.join("io.bfq.weight")).unwrap();
                    assert!(v.contains("300"), "{v}");
                }
                Ok(()) => {
                    let v = std::fs::read_to_string(dir.join("io.weight")).unwrap();
                    assert!(v.contains("default 2930"), "{v}");
                }
                Err(e) => assert!(e.to_string().contains("io."), "{e}"),
            }
        }
    }
}

#[test]
fn kernel_refusal_midway_is_rolled_back() {
    require_root!();
    let cg = TestCg::new("rollback");
    cg.mgr
        .apply(&res(&format!(r#"{{"memory":{{"limit":{}}}}}"#, 64 * MIB)))
        .unwrap();
    let limit = || cg.file("memory", "memory", "memory.limit_in_bytes", "memory.max");
    // memory is written before cpu; a realtime runtime above its period is
    // refused by the kernel (v1) or unsupported (v2) only at the cpu step.
    let err = cg
        .mgr
        .update(&res(&format!(
            r#"{{"memory":{{"limit":{}}},"cpu":{{"realtimeRuntime":2000000,"realtimePeriod":1000000}}}}"#,
            32 * MIB
        )))
        .unwrap_err()
        .to_string();
    assert!(err.contains("rt_") || err.contains("realtime"), "{err}");
    assert_eq!(limit(), (64 * MIB).to_string());
}
