//! Differential tests: the same bundle under runc (the reference, always)
//! and under the runtime being tested; the probe's view from inside, exit
//! codes and the shape of `state` must match.
//!
//! With RT_TEST_RUNTIME=runc both sides are runc, which validates that the
//! comparisons only look at stable fields.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::runtime::runc_available;
use common::{Bundle, Case, Kind};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(10);

/// (reference on runc, subject on the runtime under test), or None (with a
/// note) when runc is not installed.
fn pair(name: &str) -> Option<(Case, Case)> {
    if !runc_available() {
        eprintln!("note: runc not installed, differential test skipped");
        return None;
    }
    Some((
        Case::with_kind(&format!("{name}-ref"), Kind::Runc),
        Case::with_kind(&format!("{name}-sub"), Kind::from_env()),
    ))
}

/// The stable parts of a mount: where, what, and the flags a config sets.
fn mount_shape(all: &Value) -> BTreeSet<String> {
    let flags = ["ro", "rw", "nosuid", "nodev", "noexec"];
    all["mounts"]["mounts"]
        .as_array()
        .unwrap()
        .iter()
        // On a hybrid host rt also gives the container its cgroup2 subtree
        // (/sys/fs/cgroup/unified, as systemd lays it out); runc 1.1 does not.
        .filter(|m| m["destination"] != "/sys/fs/cgroup/unified")
        .map(|m| {
            let mut opts: Vec<&str> = m["options"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|o| o.as_str())
                .filter(|o| flags.contains(o))
                .collect();
            opts.sort();
            // runc leaves the tmpfs holding the v1 hierarchies writable even
            // when the cgroup mount asks for ro; rt honours ro. Compare the
            // hierarchies below it, not that flag.
            if m["destination"] == "/sys/fs/cgroup" && m["type"] == "tmpfs" {
                opts.retain(|o| *o != "ro" && *o != "rw");
            }
            format!(
                "{} {} {} {}",
                m["destination"],
                m["type"],
                opts.join(","),
                m["propagation"]
            )
        })
        .collect()
}

/// Namespace kinds that differ from ours (the ones the runtime created).
fn new_ns_kinds(all: &Value) -> BTreeSet<String> {
    use std::os::unix::fs::MetadataExt;
    all["ns"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| {
            let host = std::fs::metadata(format!("/proc/self/ns/{k}"))
                .map(|m| m.ino())
                .ok();
            v.as_u64() != host
        })
        .map(|(k, _)| k.clone())
        .collect()
}

fn env_without_marker(all: &Value) -> BTreeSet<String> {
    all["env"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .filter(|e| !e.starts_with(common::bundle::MARKER_VAR))
        .map(str::to_string)
        .collect()
}

/// Apply `edit` to both bundles, run `probe all` in each, compare.
fn compare_all(name: &str, edit: impl Fn(&mut Bundle)) {
    let Some((mut a, mut b)) = pair(name) else {
        return;
    };
    edit(&mut a.bundle);
    edit(&mut b.bundle);
    let (ra, rb) = (a.probe(&["all"]), b.probe(&["all"]));
    for k in [
        "ids",
        "caps",
        "rlimits",
        "hostname",
        "cwd",
        "umask",
        "oom_score_adj",
    ] {
        assert_eq!(ra[k], rb[k], "{k} differs");
    }
    assert_eq!(ra["pid"]["pid"] == 1, rb["pid"]["pid"] == 1, "pid 1 or not");
    assert_eq!(
        env_without_marker(&ra),
        env_without_marker(&rb),
        "env differs"
    );
    assert_eq!(new_ns_kinds(&ra), new_ns_kinds(&rb), "namespaces differ");
    assert_eq!(mount_shape(&ra), mount_shape(&rb), "mounts differ");
    for (args, what) in [(&["fds"][..], "fds"), (&["ls", "/dev"][..], "/dev")] {
        let fa = a.probe(args);
        let fb = b.probe(args);
        let norm = |v: &Value| -> Vec<Value> {
            let list = v
                .get("fds")
                .or(v.get("entries"))
                .cloned()
                .unwrap_or(Value::Null);
            list.as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.get("fd").cloned().unwrap_or(e))
                .collect()
        };
        assert_eq!(norm(&fa), norm(&fb), "{what} differs");
    }
    a.assert_nothing_left();
    b.assert_nothing_left();
}

#[test]
fn default_config() {
    compare_all("diff-default", |_| {});
}

#[test]
fn non_root_user_with_groups_and_umask() {
    compare_all("diff-user", |b| {
        b.user(1000, 1000);
        b.set("/process/user/additionalGids", json!([5, 2000]));
        b.set("/process/user/umask", json!(0o077));
        b.all_caps(&["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]);
        b.cwd("/home/tester");
    });
}

#[test]
fn rlimits_oom_nnp_env_hostname() {
    compare_all("diff-limits", |b| {
        b.add_rlimit("RLIMIT_NPROC", 100, 200);
        b.add_rlimit("RLIMIT_CORE", 0, 0);
        b.set("/process/noNewPrivileges", json!(false));
        b.set("/process/oomScoreAdj", json!(500));
        b.add_env("A=1").add_env("B=two words");
        b.hostname("differential");
    });
}

#[test]
fn user_namespace() {
    compare_all("diff-userns", |b| {
        b.user_ns(100_000, 100_000, 65_536);
    });
}

#[test]
fn fewer_namespaces_and_cgroup_namespace() {
    compare_all("diff-ns", |b| {
        b.remove_namespace("pid")
            .remove_namespace("network")
            .remove_namespace("ipc");
        b.namespace("cgroup", None);
    });
}

#[test]
fn writable_root_with_extra_mounts() {
    compare_all("diff-mounts", |b| {
        b.readonly_root(false);
        b.add_mount(
            json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "noexec", "size=1m"]}),
        );
        b.add_mount(json!({"destination": "/etc/hosts", "type": "bind",
            "source": "/etc/hosts", "options": ["rbind", "ro"]}));
    });
}

#[test]
fn scheduling_and_personality_defaults() {
    let Some((mut a, mut b)) = pair("diff-sched") else {
        return;
    };
    for args in [&["sched"][..], &["ioprio"][..], &["personality"][..]] {
        assert_eq!(a.probe(args), b.probe(args), "{args:?} differs");
    }
}

#[test]
fn exit_codes() {
    let Some((mut a, mut b)) = pair("diff-exit") else {
        return;
    };
    for code in ["0", "1", "7", "255"] {
        a.bundle.probe(&["exit", code]);
        b.bundle.probe(&["exit", code]);
        assert_eq!(a.run().code, b.run().code, "exit {code}");
    }
    // Outside a pid namespace: its init could not SIGKILL itself.
    for c in [&mut a, &mut b] {
        c.bundle.remove_namespace("pid");
        c.bundle.args(&["sh", "-c", "kill -9 $$"]);
    }
    let (ca, cb) = (a.run().code, b.run().code);
    assert_eq!(ca, cb, "killed by SIGKILL");
    assert_eq!(ca, 137);
}

/// Keys and JSON types of a state object (values differ: pids, paths, times).
fn shape(v: &Value) -> Vec<(String, &'static str)> {
    let ty = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut out: Vec<_> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), ty(v)))
        .collect();
    out.sort();
    out
}

#[test]
fn state_json_shape_through_lifecycle() {
    let Some((mut a, mut b)) = pair("diff-state") else {
        return;
    };
    for c in [&mut a, &mut b] {
        c.bundle.probe(&["sleep", "30"]);
        c.create().expect_ok("create");
    }
    let check = |want: &str| {
        let (sa, sb) = (a.rt.state_json(&a.id), b.rt.state_json(&b.id));
        assert_eq!(
            shape(&sa),
            shape(&sb),
            "state shape when {want}: {sa} vs {sb}"
        );
        assert_eq!(sa["status"], want);
        assert_eq!(sb["status"], want);
        assert_eq!(sa["ociVersion"], sb["ociVersion"]);
    };
    check("created");
    for c in [&a, &b] {
        c.start().expect_ok("start");
    }
    check("running");
    for c in [&a, &b] {
        c.rt.kill(&c.id, "KILL").expect_ok("kill");
        assert!(c.rt.wait_status(&c.id, "stopped", T));
    }
    check("stopped");
    for c in [&a, &b] {
        c.rt.delete(&c.id).expect_ok("delete");
        c.assert_nothing_left();
    }
}

#[test]
fn devices_masked_and_readonly_paths() {
    let Some((mut a, mut b)) = pair("diff-dev") else {
        return;
    };
    let paths = [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/ptmx",
        "/dev/fd",
        "/dev/stdin",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/dev/console",
        "/dev/core",
        "/proc/keys",
        "/proc/acpi",
        "/sys/firmware",
        "/proc/sys",
    ];
    let args: Vec<&str> = [&["stat"][..], &paths[..]].concat();
    for c in [&mut a, &mut b] {
        c.bundle.set(
            "/linux/devices",
            json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600}]),
        );
    }
    let (sa, sb) = (a.probe(&args), b.probe(&args));
    for p in paths {
        // Size and the inode-specific fields of tmpfs dirs may differ.
        let norm = |v: &Value| {
            let mut v = v[p].clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("size");
            }
            v
        };
        assert_eq!(norm(&sa), norm(&sb), "{p} differs");
    }
    let w = ["write", "/proc/sys/kernel/hostname", "x"];
    assert_eq!(a.probe(&w), b.probe(&w), "readonly /proc/sys");
    let d = ["stat", "/dev/fuse"];
    assert_eq!(a.probe(&d), b.probe(&d), "linux.devices");
}

/// containerd's CRI writes `linux.cgroupsPath` as "slice:prefix:name" when
/// a pod's cgroup parent ends in ".slice", whatever the driver. Without
/// --systemd-cgroup runc takes it as a relative path (one component with
/// colons, below the caller's own cgroup); so does rt, and limits apply.
///
/// Where they differ on purpose: runc resolves "the caller's own cgroup"
/// per v1 hierarchy, rt once (from the unified entry) for all of them, so
/// one path names the container everywhere. Only the tail is compared.
#[test]
fn systemd_style_cgroups_path_under_cgroupfs() {
    let Some((mut a, mut b)) = pair("diff-colon") else {
        return;
    };
    let mut tails = Vec::new();
    for c in [&mut a, &mut b] {
        let rel = format!("test.slice:cri-containerd:{}", c.id);
        c.bundle.set("/linux/cgroupsPath", json!(rel));
        c.bundle
            .set("/linux/resources/memory/limit", json!(64 * 1024 * 1024));
        c.bundle.args(&[
            "/bin/sh",
            "-c",
            "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes \
             /sys/fs/cgroup/memory.max 2>/dev/null; true",
        ]);
        // The container's own cgroup namespace would hide the path.
        c.bundle.remove_namespace("cgroup");
        let out = c.run();
        out.expect_ok("run with a colon cgroupsPath");
        let mem = out
            .stdout
            .lines()
            .find(|l| l.contains(":memory:") || l.starts_with("0::"))
            .unwrap_or_else(|| panic!("no memory cgroup line: {out:#?}"))
            .to_string();
        assert!(mem.ends_with(&format!("/{rel}")), "{}: {mem}", c.id);
        assert!(
            out.stdout.contains("67108864"),
            "limit not applied: {out:#?}"
        );
        tails.push(mem.rsplit('/').next().unwrap().replace(&c.id, "ID"));
        c.assert_nothing_left();
    }
    assert_eq!(tails[0], tails[1]);
}
