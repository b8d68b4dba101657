//! containerd's CRI with `SystemdCgroup = true` for the runtime handlers
//! `runc` and `rt` (tests/cri/ has the harness; Driver::Systemd sets the
//! option and makes each pod's cgroup a kubelet-style slice, started with
//! StartTransientUnit before RunPodSandbox and stopped after
//! RemovePodSandbox). Driven the way kubelet drives a pod: RunPodSandbox,
//! CreateContainer, StartContainer, ExecSync, UpdateContainerResources,
//! StopContainer, StopPodSandbox, RemoveContainer, RemovePodSandbox. From
//! the node, `systemctl show` must report the sandbox and the container as
//! `cri-containerd-<id>.scope` units in the pod's slice, with the same
//! properties under rt as under runc, and none of them once the pod is
//! gone. Runs in the systemd VM lane (tests/vm-systemd); skips elsewhere.

mod common;
mod cri;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use cri::daemon::unit_prop;
use cri::pod::{best_effort, EXITED, RUNNING};
use cri::{Driver, Pod, PodOpts};

/// Properties that must not depend on the runtime (names, descriptions
/// and paths do; they are checked separately).
const SAME: &[&str] = &[
    "ActiveState",
    "Delegate",
    "DefaultDependencies",
    "MemoryAccounting",
    "CPUAccounting",
    "TasksAccounting",
    "CPUWeight",
    "CPUShares",
    "CPUQuotaPerSecUSec",
    "MemoryMax",
    "MemoryLimit",
    "TasksMax",
    "DevicePolicy",
    "DeviceAllow",
];

fn show(unit: &str) -> BTreeMap<String, String> {
    let mut c = Command::new("systemctl");
    c.args(["show", unit]);
    for p in SAME.iter().chain(&["Slice", "ControlGroup", "LoadState"]) {
        c.arg("-p").arg(p);
    }
    let out = c.output().expect("systemctl");
    let mut m = BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = l.split_once('=') {
            // Repeated keys (DeviceAllow=) are joined, sorted.
            m.entry(k.to_string())
                .and_modify(|o: &mut Vec<String>| o.push(v.to_string()))
                .or_insert_with(|| vec![v.to_string()]);
        }
    }
    m.into_iter()
        .map(|(k, mut v)| {
            v.sort();
            (k, v.join("\n"))
        })
        .collect()
}

/// `unit` is a live scope of the pod's slice holding `pid`; its
/// runtime-independent properties.
#[track_caller]
fn scope_of(pod: &Pod, unit: &str, pid: Option<i64>) -> BTreeMap<String, String> {
    let mut p = show(unit);
    assert_eq!(p["LoadState"], "loaded", "{}: {unit} {p:?}", pod.handler);
    assert_eq!(p["ActiveState"], "active", "{}: {unit} {p:?}", pod.handler);
    assert_eq!(p["Slice"], pod.cgroup_parent, "{}: {unit}", pod.handler);
    let cg = format!("{}/{unit}", pod.cgroup);
    assert_eq!(p["ControlGroup"], cg, "{}", pod.handler);
    if let Some(pid) = pid {
        let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        assert!(
            own.lines()
                .any(|l| l.starts_with("0::") && l.ends_with(&cg))
                || own
                    .lines()
                    .any(|l| l.contains("name=systemd") && l.ends_with(&cg)),
            "{}: {pid} is not in {cg}: {own}",
            pod.handler
        );
        let cgls = Command::new("systemd-cgls")
            .args(["--no-pager", "-u", unit])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&cgls.stdout).contains(&format!("{pid} ")),
            "{}: {cgls:?}",
            pod.handler
        );
    }
    for k in ["Slice", "ControlGroup", "LoadState"] {
        p.remove(k);
    }
    p
}

#[track_caller]
fn assert_unit_gone(handler: &str, unit: &str) {
    assert_eq!(
        unit_prop(unit, "LoadState"),
        "not-found",
        "{handler}: {unit} is still loaded"
    );
}

/// rt's properties as runc 1.1 (the guest's, Debian's 1.1.5) would set
/// them: it leaves out DeviceAllow entries whose /dev/{char,block}/M:m
/// node is missing (runc 1.2 and later, like rt, keep them: systemd 240
/// and later read the numbers from the path, so /dev/net/tun stays allowed
/// before its module is loaded).
fn as_runc_1_1(p: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut p = p.clone();
    if let Some(list) = p.get_mut("DeviceAllow") {
        let kept: Vec<&str> = list
            .lines()
            .filter(|l| {
                let path = l.split(' ').next().unwrap_or_default();
                !path.starts_with("/dev/")
                    || Path::new(path).exists()
                    || Path::new(&format!("/sys{path}")).exists()
            })
            .collect();
        *list = kept.join("\n");
    }
    p
}

/// The sandbox's scope and the container's, before and after an update,
/// for each handler; rt's must equal runc's.
type Seen = Vec<BTreeMap<String, String>>;

#[test]
fn pod_and_containers_are_scopes_in_the_pod_slice() {
    let seen: Vec<Seen> = cri::both_with(
        Driver::Systemd,
        "systemd: kubelet-shaped pod",
        |h, handler| {
            let mut pod = Pod::run(h, handler, "sdpod", PodOpts::default());
            let mut seen = Vec::new();
            let sandbox = format!("cri-containerd-{}.scope", pod.id);
            seen.push(scope_of(&pod, &sandbox, Some(pod.pause_pid())));

            let c = pod.sleeper("app");
            assert_eq!(pod.status(&c).state, RUNNING);
            let unit = format!("cri-containerd-{c}.scope");
            // The container's processes: its init and, once exec'd, a probe.
            // systemd tracks processes in the cgroup2 tree (v2 and hybrid).
            let unified = rt::cgroups::Layout::detect()
                .unified
                .expect("a cgroup2 mount");
            let procs = unified
                .join(pod.cgroup.trim_start_matches('/'))
                .join(&unit)
                .join("cgroup.procs");
            let procs = std::fs::read_to_string(&procs).unwrap_or_default();
            let init: Option<i64> = procs.lines().next().and_then(|l| l.trim().parse().ok());
            assert!(init.is_some(), "{handler}: nothing in {unit}");
            seen.push(scope_of(&pod, &unit, init));

            // ExecSync: its exit code, and the process runs in the scope (at
            // the root of the container's cgroup namespace, where it has one).
            let r = pod.exec(&c, &["/bin/sh", "-c", "echo out; exit 3"]);
            assert_eq!(
                (r.exit_code, String::from_utf8_lossy(&r.stdout).trim()),
                (3, "out"),
                "{handler}"
            );
            let own = pod.sh(&c, "grep ^0:: /proc/self/cgroup");
            assert!(
                own == "0::/" || own.ends_with(&unit),
                "{handler}: exec'd into {own}"
            );

            // UpdateContainerResources (in-place resize): new properties.
            let mut res = best_effort();
            res.cpu_shares = 512;
            res.memory_limit_in_bytes = 64 << 20;
            h.cri
                .update_resources(&c, res)
                .unwrap_or_else(|e| panic!("update ({handler}): {e}"));
            seen.push(scope_of(&pod, &unit, None));

            // StopContainer: the scope goes with its last process.
            h.cri
                .stop_container(&c, 2)
                .unwrap_or_else(|e| panic!("StopContainer ({handler}): {e}"));
            assert_eq!(pod.status(&c).state, EXITED);
            let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while unit_prop(&unit, "LoadState") != "not-found" && std::time::Instant::now() < end {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            assert_unit_gone(handler, &unit);

            let (slice, slice_dir) = (pod.cgroup_parent.clone(), pod.cgroup.clone());
            pod.teardown();
            assert_unit_gone(handler, &sandbox);
            // kubelet's stop of the pod slice: stopped, its cgroup removed.
            assert_eq!(
                unit_prop(&slice, "ActiveState"),
                "inactive",
                "{handler}: {slice}"
            );
            assert!(
                !unified.join(slice_dir.trim_start_matches('/')).exists(),
                "{handler}: {slice_dir} left"
            );
            seen
        },
    );
    if seen.len() == 2 {
        for (i, what) in ["sandbox", "container", "updated container"]
            .iter()
            .enumerate()
        {
            assert_eq!(
                as_runc_1_1(&seen[1][i]),
                seen[0][i],
                "{what}: rt (left) differs from runc (right)"
            );
        }
        // The update reached systemd (as CPUWeight or v1's CPUShares).
        let u = &seen[1][2];
        assert!(u["CPUWeight"] == "20" || u["CPUShares"] == "512", "{u:?}");
        assert!(
            u["MemoryMax"] == "67108864" || u["MemoryLimit"] == "67108864",
            "{u:?}"
        );
    }
}
