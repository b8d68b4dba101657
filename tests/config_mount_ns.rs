//! A container without a mount namespace of its own: one joined by path,
//! or none at all (it shares the runtime's). The container is placed in
//! that namespace and its root is root.path (a chroot); rt mounts nothing
//! there, so the namespace's mount table is the same before, during and
//! after, and fields that need mounts are refused with the reason.
//!
//! Each test's namespace is a private one of its own (common::mountns),
//! never the host's: the runtime runs in it for the shared case, and the
//! config joins it for the joined case. The /proc the exec fifo needs
//! inside the root is mounted there by the test, as whoever sets up such
//! a namespace must.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::mountns::MountNs;
use common::{mount_at, runc_is_wrong, Case};
use serde_json::{json, Value};

/// Fields drop in order: the container goes before its namespace.
struct NsCase {
    c: Case,
    ns: MountNs,
}

/// A bundle with nothing that needs a mount: no mounts, masked or
/// read-only paths, a writable root.
fn mountless(name: &str, extra_setup: &str) -> NsCase {
    let mut c = Case::new(name);
    c.bundle.set("/mounts", json!([]));
    c.bundle.remove("/linux/maskedPaths");
    c.bundle.remove("/linux/readonlyPaths");
    c.bundle.readonly_root(false);
    let r = c.bundle.rootfs();
    fs::create_dir_all(r.join("mnt/marker")).unwrap();
    let r = r.display();
    let ns = MountNs::new(&format!("mount -t proc proc {r}/proc\n{extra_setup}"));
    NsCase { c, ns }
}

fn ns_ino(path: &str) -> u64 {
    fs::metadata(path).map(|m| m.ino()).unwrap_or(0)
}

/// What the probe sees: the namespace given, the bundle's rootfs as /
/// (its own /etc/passwd), and the namespace's mounts below it.
fn check_inside(v: &Value, ns: &MountNs) {
    assert_eq!(v["ns"]["mnt"].as_u64(), Some(ns_ino(&ns.ns_path())), "{v}");
    let passwd = &v["passwd"]["content"];
    assert!(
        passwd.as_str().unwrap_or("").contains("tester:x:1000"),
        "root is the bundle's rootfs: {v}"
    );
    assert!(mount_at(&v["mounts"], "/proc").is_some(), "{v}");
}

/// What the container's init and an `exec` in it see, and the watched
/// part of the namespace's mount table while the container runs.
fn run_and_exec(t: &NsCase) -> (Value, Value, Vec<String>) {
    let c = &t.c;
    c.bundle.save();
    c.create().expect_ok("create");
    c.start().expect_ok("start");
    let during = t.ns.watched(&c.dir);
    let mut exec = json!({});
    for (key, probe) in [
        ("ns", &["ns"][..]),
        ("mounts", &["mounts"]),
        ("passwd", &["read", "/etc/passwd"]),
    ] {
        let mut a = vec!["exec", &c.id, "/probe"];
        a.extend(probe);
        let out = c.rt.cmd(&a);
        exec[key] = if out.ok() {
            out.json()
        } else {
            json!({"failed": out.last_err_line()})
        };
    }
    // The init's own view, from /proc/PID of the container's pid 1.
    let pid = c.rt.state_json(&c.id)["pid"].as_i64().unwrap_or(0);
    let init = json!({
        "ns": {"mnt": ns_ino(&format!("/proc/{pid}/ns/mnt"))},
        "passwd": {"content": fs::read_to_string(format!("/proc/{pid}/root/etc/passwd")).unwrap_or_default()},
        "mounts": {"mounts": fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default()
            .lines().filter_map(|l| l.split(' ').nth(4)).map(|d| json!({"destination": d})).collect::<Vec<_>>()},
    });
    c.rt.kill(&c.id, "KILL").expect_ok("kill");
    assert!(c
        .rt
        .wait_status(&c.id, "stopped", std::time::Duration::from_secs(10)));
    c.rt.delete(&c.id).expect_ok("delete");
    (init, exec, during)
}

#[test]
fn no_mount_namespace_shares_the_runtimes() {
    let mut t = mountless("mntns-shared", "true");
    t.c.bundle.remove_namespace("mount");
    t.c.bundle.probe(&["sleep", "60"]);
    t.ns.wrap(&mut t.c);
    let before = t.ns.watched(&t.c.dir);
    let (init, exec, during) = run_and_exec(&t);
    check_inside(&init, &t.ns);
    if !runc_is_wrong(
        &t.c,
        "runc's exec runs in the namespace's root, not the container's",
    ) {
        check_inside(&exec, &t.ns);
    }
    if !runc_is_wrong(&t.c, "runc leaves its rootfs bind in the shared namespace") {
        assert_eq!(during, before, "the runtime's mount table changed");
        assert_eq!(
            t.ns.watched(&t.c.dir),
            before,
            "the runtime's mount table changed"
        );
    }
    t.c.assert_nothing_left();
}

#[test]
fn joined_mount_namespace_by_path() {
    let mut t = mountless("mntns-joined", "");
    let marker = t.c.bundle.rootfs().join("mnt/marker");
    let o =
        t.ns.sh(&format!("mount -t tmpfs rt-marker {}", marker.display()));
    assert!(o.status.success(), "{o:?}");
    let path = t.ns.ns_path();
    t.c.bundle.namespace("mount", Some(&path));
    t.c.bundle.probe(&["sleep", "60"]);
    let before = t.ns.watched(&t.c.dir);
    let (init, exec, during) = run_and_exec(&t);
    check_inside(&init, &t.ns);
    check_inside(&exec, &t.ns);
    // The namespace's own mounts below the root are the container's.
    assert!(mount_at(&exec["mounts"], "/mnt/marker").is_some(), "{exec}");
    if !runc_is_wrong(
        &t.c,
        "runc binds and pivots into the rootfs inside the joined namespace",
    ) {
        assert_eq!(during, before, "the joined namespace's mount table changed");
        assert_eq!(
            t.ns.watched(&t.c.dir),
            before,
            "the joined namespace's mount table changed"
        );
    }
    t.c.assert_nothing_left();
}

/// Fields that need mounts are refused without a mount namespace of the
/// container's own, naming the field; nothing is left behind.
#[test]
fn fields_that_need_mounts_are_refused() {
    type Edit = fn(&mut common::Bundle);
    let edits: [(&str, Edit); 4] = [
        ("mounts", |b| {
            b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}));
        }),
        ("linux.maskedPaths", |b| {
            b.set("/linux/maskedPaths", json!(["/proc/kcore"]));
        }),
        ("linux.rootfsPropagation", |b| {
            b.set("/linux/rootfsPropagation", json!("rslave"));
        }),
        ("root.readonly", |b| {
            b.readonly_root(true);
        }),
    ];
    for (field, edit) in edits {
        for joined in [false, true] {
            let mut t = mountless(&format!("mntns-refuse-{}", joined as u8), "true");
            if joined {
                let path = t.ns.ns_path();
                t.c.bundle.namespace("mount", Some(&path));
            } else {
                t.c.bundle.remove_namespace("mount");
                t.ns.wrap(&mut t.c);
            }
            edit(&mut t.c.bundle);
            let before = t.ns.watched(&t.c.dir);
            let out = t.c.run();
            if !t.c.is_rt() {
                // runc runs most of these, mounting in a table it does not
                // own; only the refusals are rt's to check.
                continue;
            }
            t.c.assert_failed_cleanly(&out);
            let last = out.last_err_line();
            assert!(
                last.contains(field) && last.contains("needs a new mount namespace"),
                "{field}: {out:#?}"
            );
            assert_eq!(t.ns.watched(&t.c.dir), before, "{field}");
        }
    }
}
