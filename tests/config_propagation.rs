//! linux.rootfsPropagation: every value, checked from inside (the
//! propagation fields of the container's /proc/self/mountinfo) and by
//! mounts made after start: one on the host side, which a slave or shared
//! rootfs must receive and a private or unbindable one must not, and one
//! inside, which must never reach the host ("shared" means a new peer
//! group, not the host's).
//!
//! This host's own mounts are all private, so there would be nothing to
//! receive: each test's "host" is a private mount namespace of its own
//! (common::mountns) where the bundle's rootfs is a shared mount, and the
//! runtime runs there. Its mount table must be unchanged afterwards.

mod common;

use std::fs;

use common::mountns::MountNs;
use common::{mount_at, runc_is_wrong, Case};
use serde_json::{json, Value};

/// Values runc 1.1 gets wrong: it applies the value to / before it binds
/// the rootfs, and makes the mount holding the rootfs private for that
/// bind, so a slave, shared or unbindable rootfs is none of these and
/// receives nothing (and runbindable fails: the bind source is unbindable).
const RUNC_WRONG: &[&str] = &["slave", "shared", "rshared", "unbindable"];

/// Fields drop in order: the container goes before its namespace.
struct Prop {
    c: Case,
    ns: MountNs,
}

fn prop_case(name: &str, value: &str) -> Prop {
    let mut c = Case::new(name);
    let r = c.bundle.rootfs();
    for d in ["mnt/host", "mnt/inside"] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    let r = r.display();
    let ns = MountNs::new(&format!("mount --bind {r} {r}\nmount --make-shared {r}"));
    ns.wrap(&mut c);
    c.bundle.set("/linux/rootfsPropagation", json!(value));
    c.bundle.probe(&["sleep", "60"]);
    Prop { c, ns }
}

fn inside_mounts(c: &Case) -> Value {
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "mounts"]);
    out.expect_ok("exec probe mounts");
    out.json()
}

fn propagation(mounts: &Value, dest: &str) -> String {
    let m = mount_at(mounts, dest).unwrap_or_else(|| panic!("no mount at {dest}: {mounts}"));
    m["propagation"].as_str().unwrap_or("").to_string()
}

fn all_mounts(mounts: &Value) -> Vec<&Value> {
    mounts["mounts"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// What a value must look like from inside: the root's fields, and
/// whether every other mount shares them (the recursive values) or keeps
/// its own.
fn check_inside(value: &str, mounts: &Value) {
    let root = propagation(mounts, "/");
    let proc_ = propagation(mounts, "/proc");
    let every = |want: &str| {
        for m in all_mounts(mounts) {
            let p = m["propagation"].as_str().unwrap_or("");
            assert!(
                p.contains(want),
                "{value}: {} is {p}: {mounts}",
                m["destination"]
            );
        }
    };
    match value {
        "private" => {
            assert_eq!(root, "private", "{mounts}");
        }
        "rprivate" => every("private"),
        "slave" => {
            assert_eq!(root, "slave", "{mounts}");
            assert_eq!(proc_, "private", "not recursive: {mounts}");
        }
        "rslave" => {
            assert_eq!(root, "slave", "{mounts}");
            for m in all_mounts(mounts) {
                let p = m["propagation"].as_str().unwrap_or("");
                assert!(!p.contains("shared"), "{}: {mounts}", m["destination"]);
            }
        }
        "shared" => {
            // In a peer group of its own, and still the host's slave.
            assert_eq!(root, "shared,slave", "{mounts}");
            assert!(!proc_.contains("shared"), "not recursive: {mounts}");
        }
        "rshared" => every("shared"),
        "unbindable" => {
            assert_eq!(root, "unbindable", "{mounts}");
            assert!(!proc_.contains("unbindable"), "not recursive: {mounts}");
        }
        "runbindable" => every("unbindable"),
        other => panic!("unknown value {other}"),
    }
}

fn rootfs_propagation(value: &str, receives: bool) {
    let Prop { c, ns } = &prop_case(&format!("prop-{value}"), value);
    let before = ns.mounts_below(&c.dir);
    let out = c.create();
    if !out.ok() && runc_is_wrong(c, "an unbindable root makes the rootfs bind fail") {
        return;
    }
    out.expect_ok("create");
    c.start().expect_ok("start");
    assert_eq!(
        ns.mounts_below(&c.dir),
        before,
        "the container's setup changed the host's mount table"
    );
    let mounts = inside_mounts(c);
    let runc_lost_it = RUNC_WRONG.contains(&value)
        && runc_is_wrong(c, "runc 1.1 applies the value before the rootfs bind");
    if !runc_lost_it {
        check_inside(value, &mounts);
    }

    let r = c.bundle.rootfs();
    let host_side = r.join("mnt/host");
    let o = ns.sh(&format!(
        "mount -t tmpfs rt-host-side {}",
        host_side.display()
    ));
    assert!(o.status.success(), "{o:?}");
    let mounts = inside_mounts(c);
    let seen = mount_at(&mounts, "/mnt/host").is_some();
    if !runc_lost_it {
        assert_eq!(
            seen, receives,
            "{value}: host-side mount seen inside: {mounts}"
        );
    }

    let o = c.rt.cmd(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &c.id,
        "mount",
        "-t",
        "tmpfs",
        "rt-inside",
        "/mnt/inside",
    ]);
    o.expect_ok("mount inside the container");
    assert!(mount_at(&inside_mounts(c), "/mnt/inside").is_some());
    let host = ns.mounts_below(&r.join("mnt/inside"));
    assert!(
        host.is_empty(),
        "{value}: a mount inside reached the host: {host:?}"
    );

    c.rt.kill(&c.id, "KILL").expect_ok("kill");
    assert!(c
        .rt
        .wait_status(&c.id, "stopped", std::time::Duration::from_secs(10)));
    c.rt.delete(&c.id).expect_ok("delete");
    let o = ns.sh(&format!("umount {}", host_side.display()));
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        ns.mounts_below(&c.dir),
        before,
        "the host's mount table changed"
    );
    c.assert_nothing_left();
}

#[test]
fn rootfs_private() {
    rootfs_propagation("private", false);
}

#[test]
fn rootfs_rprivate() {
    rootfs_propagation("rprivate", false);
}

#[test]
fn rootfs_slave() {
    rootfs_propagation("slave", true);
}

#[test]
fn rootfs_rslave() {
    rootfs_propagation("rslave", true);
}

#[test]
fn rootfs_shared() {
    rootfs_propagation("shared", true);
}

#[test]
fn rootfs_rshared() {
    rootfs_propagation("rshared", true);
}

#[test]
fn rootfs_unbindable() {
    rootfs_propagation("unbindable", false);
}

#[test]
fn rootfs_runbindable() {
    rootfs_propagation("runbindable", false);
}
