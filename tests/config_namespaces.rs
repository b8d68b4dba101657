//! linux.namespaces (new and joined by path), user namespace id mappings,
//! time offsets, hostname/domainname, sysctl and personality.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{runc_too_old, Case};
use serde_json::{json, Value};

/// (config type, /proc/self/ns entry)
const KINDS: [(&str, &str); 8] = [
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
    ("user", "user"),
    ("time", "time"),
];

fn ns_inode(pid: &str, entry: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{entry}"))
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// Each configured namespace is new (differs from ours); each other is ours.
fn check_namespaces(c: &mut Case) -> Value {
    let configured = c.bundle.namespaces();
    let v = c.probe(&["ns"]);
    for (kind, entry) in KINDS {
        let host = ns_inode("self", entry);
        let inside = v[entry].as_u64().unwrap_or(0);
        if configured.iter().any(|k| k == kind) {
            assert_ne!(inside, host, "{kind} namespace should be new: {v}");
        } else {
            assert_eq!(inside, host, "{kind} namespace should be the host's: {v}");
        }
    }
    v
}

#[test]
fn default_namespaces_are_new() {
    let mut c = Case::new("ns-default");
    check_namespaces(&mut c);
}

#[test]
fn pid_namespace_makes_process_pid_1() {
    let mut c = Case::new("ns-pid");
    assert_eq!(c.probe(&["pid"])["pid"], 1);
}

#[test]
fn without_pid_and_network_namespaces() {
    let mut c = Case::new("ns-fewer");
    c.bundle.remove_namespace("pid").remove_namespace("network");
    check_namespaces(&mut c);
    assert_ne!(c.probe(&["pid"])["pid"], 1);
}

#[test]
fn cgroup_namespace_hides_host_paths() {
    let mut c = Case::new("ns-cgroup");
    c.bundle.namespace("cgroup", None);
    check_namespaces(&mut c);
    let v = c.probe(&["cgroup"]);
    for cg in v["cgroup"].as_array().unwrap() {
        assert_eq!(cg["path"], "/", "{v}");
    }
}

#[test]
fn user_namespace_with_mappings() {
    let mut c = Case::new("ns-user");
    c.bundle.user_ns(100_000, 200_000, 65_536);
    check_namespaces(&mut c);
    let ids = c.probe(&["ids"]);
    assert_eq!(ids["uid"], 0);
    assert_eq!(ids["gid"], 0);
    let uid_map = c.probe(&["read", "/proc/self/uid_map"]);
    let gid_map = c.probe(&["read", "/proc/self/gid_map"]);
    let fields = |v: &Value| -> Vec<String> {
        v["content"]
            .as_str()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(fields(&uid_map), ["0", "100000", "65536"]);
    assert_eq!(fields(&gid_map), ["0", "200000", "65536"]);
}

#[test]
fn time_namespace_offsets() {
    let mut c = Case::new("ns-time");
    if runc_too_old(&c, (1, 2), "time namespaces") {
        return;
    }
    c.bundle.namespace("time", None);
    c.bundle.set(
        "/linux/timeOffsets",
        json!({"boottime": {"secs": 86400, "nanosecs": 0}, "monotonic": {"secs": 3600, "nanosecs": 0}}),
    );
    check_namespaces(&mut c);
    let v = c.probe(&["read", "/proc/uptime"]);
    let inside: f64 = v["content"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let diff = inside - host;
    assert!((86_390.0..86_410.0).contains(&diff), "uptime offset {diff}");
}

#[test]
fn hostname_and_domainname() {
    let mut c = Case::new("uts");
    c.bundle.hostname("box-1");
    assert_eq!(c.probe(&["hostname"])["hostname"], "box-1");
    if runc_too_old(&c, (1, 2), "domainname") {
        return;
    }
    c.bundle.set("/domainname", json!("example.org"));
    let v = c.probe(&["hostname"]);
    assert_eq!(v, json!({"hostname": "box-1", "domainname": "example.org"}));
}

/// A process of ours holding fresh namespaces, to be joined by path.
struct Holder(Child);

impl Holder {
    fn start(flags: &[&str]) -> Holder {
        let child = Command::new("unshare")
            .args(flags)
            .args(["--", "sleep", "60"])
            .spawn()
            .expect("start unshare holder");
        let h = Holder(child);
        let pid = h.pid();
        let end = Instant::now() + Duration::from_secs(5);
        // The namespace exists once unshare has exec'd sleep.
        while Instant::now() < end {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                return h;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("namespace holder did not start");
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn join_namespaces_by_path() {
    let holder = Holder::start(&["--net", "--ipc", "--uts"]);
    let pid = holder.pid();
    let mut c = Case::new("ns-join");
    for (kind, entry) in [("network", "net"), ("ipc", "ipc"), ("uts", "uts")] {
        c.bundle
            .namespace(kind, Some(&format!("/proc/{pid}/ns/{entry}")));
    }
    let v = c.probe(&["ns"]);
    for entry in ["net", "ipc", "uts"] {
        assert_eq!(
            v[entry].as_u64(),
            Some(ns_inode(&pid, entry)),
            "{entry}: {v}"
        );
    }
    assert_ne!(v["mnt"].as_u64(), Some(ns_inode("self", "mnt")));
}

#[test]
fn join_missing_namespace_path_fails() {
    let mut c = Case::new("ns-join-missing");
    c.bundle
        .namespace("network", Some("/proc/999999999/ns/net"));
    let out = c.run();
    c.assert_failed_cleanly(&out);
}

#[test]
fn sysctl() {
    let mut c = Case::new("sysctl");
    c.bundle.set(
        "/linux/sysctl",
        json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"}),
    );
    let v = c.probe(&["sysctl", "net.ipv4.ip_forward", "kernel.msgmax"]);
    assert_eq!(v["net.ipv4.ip_forward"]["value"], "1", "{v}");
    assert_eq!(v["kernel.msgmax"]["value"], "12345", "{v}");
    // The host's values are untouched (the container has its own net/ipc).
    let host = std::fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    assert_ne!(host.trim(), "12345");
}

#[test]
fn personality_linux32() {
    let mut c = Case::new("personality");
    if runc_too_old(&c, (1, 2), "linux.personality") {
        return;
    }
    c.bundle
        .set("/linux/personality", json!({"domain": "LINUX32"}));
    assert_eq!(c.probe(&["personality"])["domain"], "LINUX32");
}

#[test]
fn rootless_shaped_config() {
    // The shape of `runc spec --rootless` (single-id mapping, no network
    // namespace, /sys bind-mounted), run by root mapping to itself.
    let mut c = Case::new("rootless-shape");
    c.bundle.rootless(0, 0);
    check_namespaces(&mut c);
    let map = c.probe(&["read", "/proc/self/uid_map"]);
    let fields: Vec<&str> = map["content"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(fields, ["0", "0", "1"]);
    assert_eq!(c.probe(&["ids"])["uid"], 0);
}

#[test]
fn join_pid_namespace_by_path() {
    // unshare --fork: its child (sleep) is pid 1 of the new namespace;
    // --kill-child takes it down with the holder.
    let holder = Holder::start_forked(&["--pid", "--fork", "--kill-child"]);
    let mut c = Case::new("ns-join-pid");
    let path = format!("/proc/{}/ns/pid", holder.child_pid());
    c.bundle.namespace("pid", Some(&path));
    let v = c.probe(&["ns"]);
    assert_eq!(
        v["pid"].as_u64(),
        Some(ns_inode(&holder.child_pid(), "pid")),
        "{v}"
    );
    let p = c.probe(&["pid"]);
    assert!(p["pid"].as_i64().unwrap() > 1, "sleep is pid 1 there: {p}");
}

impl Holder {
    /// For `unshare --fork`: wait until the forked child exists.
    fn start_forked(flags: &[&str]) -> Holder {
        let child = Command::new("unshare")
            .args(flags)
            .args(["--", "sleep", "60"])
            .spawn()
            .expect("start unshare holder");
        let h = Holder(child);
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            let kid = h.child_pid();
            let comm = std::fs::read_to_string(format!("/proc/{kid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                return h;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("forked namespace holder did not start");
    }

    fn child_pid(&self) -> String {
        let pid = self.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("0")
            .to_string()
    }
}
