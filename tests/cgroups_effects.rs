//! Limits doing what they promise to real processes: OOM kill and its
//! event, CPU throttling, the pids limit, device rules (v1 lists and the v2
//! BPF filter), the freezer, and stats. Needs root.

#[path = "cgroups_support.rs"]
mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;
use rt::cgroups::{Manager, Wake};
use support::TestCg;

fn res(j: &str) -> LinuxResources {
    serde_json::from_str(j).unwrap()
}

fn output(mut child: std::process::Child) -> (String, String) {
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    (out, err)
}

#[test]
fn oom_kills_the_allocator_and_is_reported() {
    require_root!();
    let mut cg = TestCg::new("oom");
    cg.mgr
        .apply(&res(r#"{"memory":{"limit":16777216}}"#))
        .unwrap();
    let mut watcher = cg.mgr.oom_watcher().unwrap();
    // tail buffers a "line" of /dev/zero that never ends.
    let child = cg.spawn("tail /dev/zero; echo status=$?");
    let (out, _) = output(child);
    assert_eq!(out.trim(), "status=137");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = 0;
    while seen == 0 && Instant::now() < deadline {
        if let Wake::Oom(n) = watcher.wait(Some(Duration::from_millis(500))).unwrap() {
            seen += n;
        }
    }
    assert!(seen >= 1, "no oom event");
    let s = cg.mgr.stats().unwrap();
    assert!(s.memory.usage.failcnt > 0, "{:?}", s.memory.usage);
    assert_eq!(s.memory.usage.limit, 16777216);
}

#[test]
fn cpu_quota_throttles_a_busy_loop() {
    require_root!();
    let mut cg = TestCg::new("cpu");
    cg.mgr
        .apply(&res(r#"{"cpu":{"quota":10000,"period":100000}}"#))
        .unwrap();
    cg.spawn_bg("while :; do :; done");
    std::thread::sleep(Duration::from_millis(700));
    let s = cg.mgr.stats().unwrap();
    assert!(s.cpu.throttling.throttled_periods > 0, "{:?}", s.cpu);
    assert!(s.cpu.usage.total > 0);
    // 10% of one CPU over 0.7 s: far below what an unthrottled loop burns.
    assert!(s.cpu.usage.total < 300_000_000, "{:?}", s.cpu.usage);
}

#[test]
fn pids_limit_refuses_forks() {
    require_root!();
    let mut cg = TestCg::new("pids");
    cg.mgr.apply(&res(r#"{"pids":{"limit":4}}"#)).unwrap();
    let child = cg.spawn(
        "i=0; ok=0; while [ $i -lt 8 ]; do if sleep 2 & then ok=$((ok+1)); fi; i=$((i+1)); done; echo forks=$ok",
    );
    std::thread::sleep(Duration::from_millis(300));
    let current = cg.mgr.stats().unwrap().pids.current;
    assert!(current <= 4, "{current} tasks with a limit of 4");
    let (out, err) = output(child);
    assert!(
        err.to_lowercase().contains("fork"),
        "stderr: {err}\nstdout: {out}"
    );
}

const PROBE: &str =
    "if true < /dev/kmsg; then echo kmsg=open; else echo kmsg=denied; fi 2>/dev/null; \
     if true < /dev/null; then echo null=open; fi";

fn device_probe(cg: &mut TestCg) -> String {
    let (out, err) = output(cg.spawn(PROBE));
    format!("{out}{err}")
}

fn check_devices(deny: &mut TestCg, allow: &mut TestCg) {
    // Default deny plus the standard nodes: /dev/null yes, /dev/kmsg no.
    deny.mgr.apply(&res("{}")).unwrap();
    let out = device_probe(deny);
    assert!(
        out.contains("kmsg=denied") && out.contains("null=open"),
        "{out}"
    );
    // A spec rule granting read on kmsg.
    allow
        .mgr
        .apply(&res(
            r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":11,"access":"r"}]}"#,
        ))
        .unwrap();
    let out = device_probe(allow);
    assert!(
        out.contains("kmsg=open") && out.contains("null=open"),
        "{out}"
    );
    // Updated live to deny it again.
    allow
        .mgr
        .update(&res(
            r#"{"devices":[{"allow":false,"type":"c","major":1,"minor":11,"access":"rwm"}]}"#,
        ))
        .unwrap();
    let out = device_probe(allow);
    assert!(out.contains("kmsg=denied"), "{out}");
}

#[test]
fn device_rules_deny_access() {
    require_root!();
    check_devices(&mut TestCg::new("devdeny"), &mut TestCg::new("devallow"));
}

/// The v2 path (a BPF program) driven on the cgroup2 tree, which works on a
/// hybrid host too.
#[test]
fn bpf_device_filter_on_cgroup2() {
    require_root!();
    let (Some(mut a), Some(mut b)) = (
        TestCg::unified_only("bpfdeny"),
        TestCg::unified_only("bpfallow"),
    ) else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    check_devices(&mut a, &mut b);
    // The update replaced the program instead of stacking a second one.
    let f = std::fs::File::open(b.dir("", "")).unwrap();
    assert_eq!(rt::cgroups::v2::bpf::query(&f).unwrap().len(), 1);
}

fn counter(path: &std::path::Path) -> u64 {
    for _ in 0..100 {
        if let Some(n) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("counter {} unreadable", path.display());
}

fn check_freezer(mut cg: TestCg) {
    let file = std::env::temp_dir().join(format!(
        "rt-test-counter-{}-{}",
        std::process::id(),
        cg.mgr.path().file_name().unwrap().to_string_lossy()
    ));
    let script = format!(
        "i=0; while :; do i=$((i+1)); echo $i > {f}.tmp; mv {f}.tmp {f}; done",
        f = file.display()
    );
    cg.spawn_bg(&script);
    let first = counter(&file);
    std::thread::sleep(Duration::from_millis(100));
    assert!(counter(&file) > first, "counter not running");
    cg.mgr.freeze().unwrap();
    assert!(cg.mgr.is_frozen().unwrap());
    let a = counter(&file);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(&file), a, "counter advanced while frozen");
    cg.mgr.thaw().unwrap();
    assert!(!cg.mgr.is_frozen().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    assert!(counter(&file) > a, "counter did not resume");
    drop(cg);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(file.with_extension("tmp"));
}

#[test]
fn freezer_stops_and_resumes() {
    require_root!();
    check_freezer(TestCg::new("freeze"));
}

#[test]
fn cgroup2_freezer() {
    require_root!();
    match TestCg::unified_only("freeze2") {
        Some(cg) => check_freezer(cg),
        None => eprintln!("skipped: no cgroup2 mount"),
    }
}

#[test]
fn stats_report_usage() {
    require_root!();
    let mut cg = TestCg::new("stats");
    cg.mgr
        .apply(&res(r#"{"pids":{"limit":50},"memory":{"limit":67108864}}"#))
        .unwrap();
    cg.spawn_bg("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exec sleep 30");
    std::thread::sleep(Duration::from_millis(300));
    let s = cg.mgr.stats().unwrap();
    assert!(s.pids.current >= 1);
    assert_eq!(s.pids.limit, 50);
    assert!(s.memory.usage.usage > 0);
    assert_eq!(s.memory.usage.limit, 67108864);
    assert!(s.cpu.usage.total > 0, "{:?}", s.cpu);
    assert!(!s.memory.raw.is_empty());
    let j = serde_json::to_value(&s).unwrap();
    assert!(j["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
}
