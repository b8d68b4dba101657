//! Which cgroup hierarchies exist is decided by the file system at each
//! mount point (statfs magic), not by mountinfo alone or by a path
//! existing: on a hybrid host whose /sys/fs/cgroup/unified is covered by
//! another file system, or is only an empty directory, containers run with
//! the v1 hierarchies alone.
//!
//! Each test runs the runtime in a private mount namespace of its own
//! (`unshare -m`, private propagation), where that path is changed; the
//! host's mounts are never touched.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::Case;

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Only a hybrid host has the path this is about.
fn hybrid_host() -> bool {
    let magic = nix::sys::statfs::statfs(UNIFIED).map(|s| s.filesystem_type().0);
    let hybrid = magic == Ok(0x6367_7270) && Path::new("/sys/fs/cgroup/memory").is_dir();
    if !hybrid {
        eprintln!("note: not a hybrid cgroup host ({UNIFIED} is not cgroup2): not checked");
    }
    hybrid
}

/// Make every runtime call of `c` run in a fresh private mount namespace
/// where `setup` (a shell command) ran first.
fn in_private_ns(c: &mut Case, setup: &str) {
    let wrapper = c.dir.join("runtime-in-private-ns");
    let script = format!(
        "#!/bin/sh\nexec unshare -m --propagation private sh -c '{setup} && exec \"$0\" \"$@\"' {} \"$@\"\n",
        c.rt.bin.display()
    );
    fs::write(&wrapper, script).expect("write wrapper");
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
    c.rt.bin = wrapper;
}

/// The container is in its own cgroup in every v1 hierarchy, and left in
/// the caller's cgroup2 (the runtime cannot see that tree).
fn runs_with_v1_only(name: &str, setup: &str) {
    let mut c = Case::new(name);
    if !hybrid_host() {
        return;
    }
    in_private_ns(&mut c, setup);
    let v = c.probe(&["cgroup"]);
    let list = v["cgroup"].as_array().expect("cgroup list");
    let v1: Vec<_> = list.iter().filter(|l| l["id"] != "0").collect();
    assert!(!v1.is_empty(), "{v}");
    for l in v1 {
        let path = l["path"].as_str().unwrap_or("");
        assert!(path.ends_with(&c.id), "v1 cgroup not the container's: {v}");
    }
    let unified = list.iter().find(|l| l["id"] == "0").expect("0:: line");
    let path = unified["path"].as_str().unwrap_or("");
    assert!(
        !path.contains(&c.id),
        "no cgroup2 tree is visible, yet the container has a cgroup2 cgroup: {v}"
    );
}

#[test]
fn unified_covered_by_a_tmpfs_means_v1_only() {
    runs_with_v1_only(
        "cg-unified-tmpfs",
        &format!("mount -t tmpfs rt-test {UNIFIED}"),
    );
}

#[test]
fn unified_as_a_plain_directory_means_v1_only() {
    runs_with_v1_only("cg-unified-dir", &format!("umount -l {UNIFIED}"));
}
