//! linux.devices and the default devices every container gets.

mod common;

use common::Case;
use serde_json::{json, Value};

fn check_dev(v: &Value, path: &str, kind: &str, major: u64, minor: u64) {
    let d = &v[path];
    assert_eq!(d["type"], kind, "{path}: {d}");
    assert_eq!(d["major"], major, "{path}: {d}");
    assert_eq!(d["minor"], minor, "{path}: {d}");
}

#[test]
fn configured_devices_with_owner_and_mode() {
    let mut c = Case::new("devices");
    c.bundle.set(
        "/linux/devices",
        json!([
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
             "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/sub/loop7", "type": "b", "major": 7, "minor": 7,
             "fileMode": 0o660, "uid": 0, "gid": 6},
            {"path": "/dev/myfifo", "type": "p", "fileMode": 0o600}
        ]),
    );
    let v = c.probe(&["stat", "/dev/fuse", "/dev/sub/loop7", "/dev/myfifo"]);
    check_dev(&v, "/dev/fuse", "char", 10, 229);
    check_dev(&v, "/dev/sub/loop7", "block", 7, 7);
    assert_eq!(v["/dev/fuse"]["octal"], "0640", "{v}");
    assert_eq!(v["/dev/fuse"]["uid"], 1000);
    assert_eq!(v["/dev/fuse"]["gid"], 1001);
    assert_eq!(v["/dev/sub/loop7"]["octal"], "0660", "{v}");
    assert_eq!(v["/dev/sub/loop7"]["gid"], 6);
    assert_eq!(v["/dev/myfifo"]["type"], "fifo", "{v}");
}

#[test]
fn default_devices_present() {
    let mut c = Case::new("default-devices");
    let paths = [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/ptmx",
        "/dev/pts",
        "/dev/shm",
        "/dev/fd",
        "/dev/stdin",
        "/dev/stdout",
        "/dev/stderr",
    ];
    let v = c.probe(&[&["stat"][..], &paths[..]].concat());
    for (p, minor) in [
        ("/dev/null", 3),
        ("/dev/zero", 5),
        ("/dev/full", 7),
        ("/dev/random", 8),
        ("/dev/urandom", 9),
    ] {
        check_dev(&v, p, "char", 1, minor);
        assert_eq!(v[p]["octal"], "0666", "{p}: {v}");
    }
    check_dev(&v, "/dev/tty", "char", 5, 0);
    assert_eq!(v["/dev/ptmx"]["type"], "symlink", "{v}");
    assert_eq!(v["/dev/ptmx"]["target"], "pts/ptmx", "{v}");
    assert_eq!(v["/dev/pts"]["type"], "dir");
    assert_eq!(v["/dev/shm"]["type"], "dir");
    for (p, t) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        assert_eq!(v[p]["type"], "symlink", "{p}: {v}");
        assert_eq!(v[p]["target"], t, "{p}: {v}");
    }
}

#[test]
fn default_devices_usable() {
    let mut c = Case::new("devices-usable");
    assert_eq!(c.probe(&["write", "/dev/null", "x"])["ok"], true);
    // ENOSPC proves /dev/full is the real device and the cgroup allows it.
    assert_eq!(c.probe(&["write", "/dev/full", "x"])["errno"], 28);
    let ls = c.probe(&["ls", "/dev/pts"]);
    let entries = ls["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e == "ptmx"), "{ls}");
}

#[test]
fn host_devices_not_visible() {
    let mut c = Case::new("devices-host");
    let v = c.probe(&["ls", "/dev"]);
    let entries: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    for host_only in ["sda", "vda", "kmsg", "mem", "loop0"] {
        assert!(
            !entries.contains(&host_only),
            "{host_only} leaked into /dev: {v}"
        );
    }
}
