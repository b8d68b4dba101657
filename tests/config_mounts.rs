//! mounts, root.readonly, root.path, maskedPaths, readonlyPaths: checked
//! from /proc/self/mountinfo and file access inside the container.

mod common;

use std::fs;

use common::{has_opt, mount_at, Case};
use serde_json::json;

const EROFS: i64 = 30;

#[test]
fn default_mounts_match_config() {
    let mut c = Case::new("mounts-default");
    let v = c.probe(&["mounts"]);
    let mounts = c.bundle.get("/mounts");
    for m in mounts.as_array().unwrap() {
        let dest = m["destination"].as_str().unwrap();
        let got = mount_at(&v, dest).unwrap_or_else(|| panic!("no mount at {dest}: {v}"));
        if m["type"] != "bind" && m["type"] != "cgroup" {
            assert_eq!(got["type"], m["type"], "{dest}");
        }
        // runc leaves the v1 cgroup tmpfs itself rw (only the hierarchies
        // below are ro): options of cgroup mounts are checked below.
        if m["type"] == "cgroup" {
            continue;
        }
        for opt in m["options"].as_array().unwrap_or(&vec![]) {
            let o = opt.as_str().unwrap();
            if ["nosuid", "noexec", "nodev", "ro"].contains(&o) {
                assert!(has_opt(got, o), "{dest} lacks {o}: {got}");
            }
        }
    }
    for m in v["mounts"].as_array().unwrap() {
        let dest = m["destination"].as_str().unwrap();
        if dest.starts_with("/sys/fs/cgroup/") {
            assert!(has_opt(m, "ro"), "cgroup hierarchy {dest} not ro: {m}");
        }
    }
    let root = mount_at(&v, "/").expect("root mount");
    assert!(has_opt(root, "ro"), "root.readonly: {root}");
    let shm = mount_at(&v, "/dev/shm").unwrap();
    assert!(has_opt(shm, "size=65536k"), "{shm}");
}

#[test]
fn bind_mount_read_only() {
    let mut c = Case::new("bind-ro");
    let src = c.dir.join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "hello").unwrap();
    c.bundle
        .add_mount(json!({"destination": "/mnt/ro", "type": "bind",
        "source": src, "options": ["rbind", "ro"]}));
    let v = c.probe(&["mounts"]);
    let m = mount_at(&v, "/mnt/ro").expect("bind mount present");
    assert!(has_opt(m, "ro"), "{m}");
    assert_eq!(c.probe(&["read", "/mnt/ro/f"])["content"], "hello");
    assert_eq!(c.probe(&["write", "/mnt/ro/f", "x"])["errno"], EROFS);
    assert_eq!(fs::read_to_string(src.join("f")).unwrap(), "hello");
}

#[test]
fn bind_mount_read_write_reaches_host() {
    let mut c = Case::new("bind-rw");
    let src = c.dir.join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "").unwrap();
    c.bundle
        .add_mount(json!({"destination": "/data", "type": "bind",
        "source": src, "options": ["bind"]}));
    assert_eq!(c.probe(&["write", "/data/f", "from inside"])["ok"], true);
    assert_eq!(fs::read_to_string(src.join("f")).unwrap(), "from inside");
}

#[test]
fn bind_mount_of_a_file() {
    let mut c = Case::new("bind-file");
    let src = c.dir.join("file.txt");
    fs::write(&src, "file content").unwrap();
    c.bundle
        .add_mount(json!({"destination": "/etc/mounted.txt", "type": "bind",
        "source": src, "options": ["bind", "ro"]}));
    let v = c.probe(&["stat", "/etc/mounted.txt"]);
    assert_eq!(v["/etc/mounted.txt"]["type"], "file", "{v}");
    assert_eq!(
        c.probe(&["read", "/etc/mounted.txt"])["content"],
        "file content"
    );
}

#[test]
fn tmpfs_with_size_and_mode_created_when_missing() {
    let mut c = Case::new("tmpfs");
    c.bundle
        .add_mount(json!({"destination": "/new/deep/scratch", "type": "tmpfs",
        "source": "tmpfs", "options": ["nosuid", "nodev", "size=1m", "mode=700"]}));
    let v = c.probe(&["mounts"]);
    let m = mount_at(&v, "/new/deep/scratch").expect("tmpfs mounted");
    assert_eq!(m["type"], "tmpfs");
    for o in ["nosuid", "nodev", "size=1024k", "mode=700"] {
        assert!(has_opt(m, o), "{o}: {m}");
    }
    // Not checked: the tmpfs root's mode. runc chmods it to the mode of an
    // existing mount point, overriding mode= (runc quirk).
}

#[test]
fn special_filesystems() {
    let mut c = Case::new("special-fs");
    let v = c.probe(&["mounts"]);
    for (dest, ty) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
    ] {
        let m = mount_at(&v, dest).unwrap_or_else(|| panic!("{dest} missing"));
        assert_eq!(m["type"], ty, "{dest}");
    }
    let pts = mount_at(&v, "/dev/pts").unwrap();
    for o in ["ptmxmode=666", "mode=620", "gid=5"] {
        assert!(has_opt(pts, o), "devpts {o}: {pts}");
    }
}

#[test]
fn mount_propagation_options() {
    let mut c = Case::new("propagation");
    for (dest, opt) in [
        ("/p-shared", "shared"),
        ("/p-private", "private"),
        ("/p-unbind", "unbindable"),
    ] {
        c.bundle.add_mount(
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs",
            "options": [opt]}),
        );
    }
    let v = c.probe(&["mounts"]);
    for (dest, want) in [
        ("/p-shared", "shared"),
        ("/p-private", "private"),
        ("/p-unbind", "unbindable"),
    ] {
        let m = mount_at(&v, dest).unwrap_or_else(|| panic!("{dest} missing"));
        assert_eq!(m["propagation"], want, "{m}");
    }
}

#[test]
fn destination_symlink_escaping_rootfs_stays_inside() {
    let mut c = Case::new("mount-escape");
    let outside = c.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    let rootfs = c.bundle.rootfs();
    std::os::unix::fs::symlink(&outside, rootfs.join("abs-escape")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../outside", rootfs.join("rel-escape"))
        .unwrap();
    c.bundle.readonly_root(false);
    c.bundle
        .add_mount(json!({"destination": "/abs-escape/x", "type": "tmpfs", "source": "tmpfs"}));
    c.bundle
        .add_mount(json!({"destination": "/rel-escape/y", "type": "tmpfs", "source": "tmpfs"}));
    c.bundle.probe(&["mounts"]);
    // Either refused or resolved inside the rootfs: never on the host.
    let _ = c.run();
    assert!(
        !outside.join("x").exists(),
        "mount target created outside the rootfs"
    );
    assert!(
        !outside.join("y").exists(),
        "mount target created outside the rootfs"
    );
    assert!(common::leftovers::mounts_under(&outside).is_empty());
    c.assert_nothing_left();
}

#[test]
fn root_readonly() {
    let mut c = Case::new("root-ro");
    assert_eq!(c.probe(&["create", "/newfile"])["errno"], EROFS);
    c.bundle.readonly_root(false);
    assert_eq!(c.probe(&["create", "/newfile"])["ok"], true);
}

#[test]
fn root_path_absolute() {
    let mut c = Case::new("root-abs");
    let abs = c.bundle.rootfs();
    c.bundle.set("/root/path", json!(abs));
    assert_eq!(c.probe(&["pid"])["pid"], 1);
}

#[test]
fn masked_paths() {
    let mut c = Case::new("masked");
    fs::write(c.bundle.rootfs().join("etc/secret"), "top secret").unwrap();
    fs::create_dir_all(c.bundle.rootfs().join("secretdir")).unwrap();
    fs::write(c.bundle.rootfs().join("secretdir/inner"), "x").unwrap();
    let mut masked = c.bundle.get("/linux/maskedPaths");
    masked
        .as_array_mut()
        .unwrap()
        .extend([json!("/etc/secret"), json!("/secretdir")]);
    c.bundle.set("/linux/maskedPaths", masked);
    let secret = c.probe(&["read", "/etc/secret"]);
    assert_eq!(secret["content"], "", "{secret}");
    // /proc/keys rather than /proc/kcore: this kernel has no kcore.
    assert_eq!(c.probe(&["read", "/proc/keys"])["content"], "");
    let ls = c.probe(&["ls", "/secretdir"]);
    assert_eq!(ls["entries"], json!([]), "{ls}");
    let st = c.probe(&["stat", "/proc/keys"]);
    assert_eq!(
        st["/proc/keys"]["type"], "char",
        "masked by /dev/null: {st}"
    );
}

#[test]
fn readonly_paths() {
    let mut c = Case::new("ro-paths");
    c.bundle.readonly_root(false);
    fs::create_dir_all(c.bundle.rootfs().join("rodir")).unwrap();
    fs::write(c.bundle.rootfs().join("rodir/f"), "x").unwrap();
    let mut ro = c.bundle.get("/linux/readonlyPaths");
    ro.as_array_mut().unwrap().push(json!("/rodir"));
    c.bundle.set("/linux/readonlyPaths", ro);
    assert_eq!(c.probe(&["write", "/rodir/f", "y"])["errno"], EROFS);
    assert_eq!(
        c.probe(&["write", "/proc/sys/kernel/hostname", "y"])["errno"],
        EROFS
    );
    assert_eq!(c.probe(&["create", "/elsewhere"])["ok"], true);
}

/// linux.mountLabel on a host without SELinux names a context that does
/// not exist here: accepted and ignored (with a debug message), as crun and
/// runc do. podman and CRI-O built with SELinux support always send one.
#[test]
fn mount_label_without_selinux_is_ignored() {
    let mut c = Case::new("mount-label");
    if std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        eprintln!("note: SELinux is enabled here: not checked");
        return;
    }
    c.bundle.set(
        "/linux/mountLabel",
        json!("system_u:object_r:container_file_t:s0:c1,c2"),
    );
    c.bundle.probe(&["exit", "0"]);
    c.bundle.save();
    // runc 1.1 adds context="..." to every mount's data even without
    // SELinux, and the kernel refuses the tmpfs on /dev with EINVAL.
    if common::runc_is_wrong(&c, "mountLabel becomes context= without SELinux") {
        return;
    }
    let dir = c.bundle.dir.to_string_lossy().into_owned();
    let out = c.rt.cmd(&["--debug", "run", "--bundle", &dir, &c.id]);
    out.expect_ok("run with a mountLabel");
    if c.is_rt() {
        assert!(
            out.stderr.contains("mountLabel ignored"),
            "a debug message says so: {out:#?}"
        );
    }
    c.assert_nothing_left();
}

/// Directories rt creates for mount points are 0755, as runc makes them,
/// not world-writable: the init's umask is 0.
#[test]
fn created_mount_point_parents_are_not_world_writable() {
    let mut c = Case::new("mountpoint-mode");
    let src = c.dir.join("src");
    fs::create_dir_all(&src).unwrap();
    c.bundle
        .add_mount(json!({"destination": "/opt/rt-new/data", "type": "bind",
        "source": src, "options": ["rbind"]}));
    let v = c.probe(&["stat", "/opt", "/opt/rt-new"]);
    assert_eq!(v["/opt"]["octal"], "0755", "{v}");
    assert_eq!(v["/opt/rt-new"]["octal"], "0755", "{v}");
}
