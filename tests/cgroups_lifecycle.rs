//! Placement, removal and cgroupsPath handling, on whatever layout the host
//! has (hybrid here, pure v2 in the VM lane). Needs root.

#[path = "cgroups_support.rs"]
mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use nix::unistd::Pid;
use rt::cgroups::{self, FsManager, Manager};
use support::{exists_anywhere, proc_cgroups, unique, TestCg};

#[test]
fn task_joins_every_hierarchy_and_destroy_removes_it() {
    require_root!();
    let mut cg = TestCg::new("place");
    let mut child = cg.spawn("exec sleep 30");
    let pid = child.id();
    std::thread::sleep(std::time::Duration::from_millis(50));
    let want = cg.mgr.path().to_str().unwrap().to_string();
    // Every mounted hierarchy shows the same path (the hybrid coherence
    // runc and systemd keep).
    let lines = proc_cgroups(pid);
    let mounted = cg.mgr.dirs().len();
    let ours = lines.iter().filter(|(_, p)| *p == want).count();
    assert_eq!(ours, mounted, "/proc/{pid}/cgroup: {lines:?}");
    assert_eq!(cg.mgr.pids().unwrap(), vec![Pid::from_raw(pid as i32)]);
    // destroy with a live task: killed, then removed everywhere.
    cg.mgr.destroy().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9));
    assert!(!exists_anywhere(cg.mgr.path()));
}

#[test]
fn destroy_after_init_was_killed_and_when_already_gone() {
    require_root!();
    let mut cg = TestCg::new("dead");
    let mut child = cg.spawn("sleep 30 & sleep 30");
    std::thread::sleep(std::time::Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphaned background sleep keeps the cgroup busy.
    assert!(!cg.mgr.pids().unwrap().is_empty());
    cg.mgr.destroy().unwrap();
    assert!(!exists_anywhere(cg.mgr.path()));
    cg.mgr.destroy().unwrap();
}

#[test]
fn failed_create_leaves_nothing() {
    require_root!();
    let top = unique("fail");
    // The last level collides with a cgroup core file: mkdir must fail
    // after the parent was created in some hierarchies.
    let mgr = FsManager::new(top.join("cgroup.procs"));
    let err = mgr.create().unwrap_err().to_string();
    assert!(err.contains("cgroup.procs"), "{err}");
    assert!(!exists_anywhere(&top), "{} left behind", top.display());
}

#[test]
fn frozen_cgroup_is_destroyed() {
    require_root!();
    let mut cg = TestCg::new("frzdel");
    let mut child = cg.spawn("sleep 30");
    cg.mgr.freeze().unwrap();
    cg.mgr.destroy().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(9));
    assert!(!exists_anywhere(cg.mgr.path()));
}

#[test]
fn relative_nested_paths_and_bad_paths() {
    require_root!();
    let top = unique("rel");
    let rel = format!("{}/a/b", top.to_str().unwrap().trim_start_matches('/'));
    let path = cgroups::container_path(Some(Path::new(&rel)), "x").unwrap();
    assert!(path.ends_with(&rel), "{}", path.display());
    let mgr = FsManager::new(path.clone());
    mgr.create().unwrap();
    for d in mgr.dirs() {
        assert!(d.is_dir(), "{} missing", d.display());
    }
    mgr.destroy().unwrap();
    support::assert_nothing_left(&mgr);
    // The parents are the caller's (shared by containers): remove ours.
    let parent_of = |p: &Path| p.parent().unwrap().to_path_buf();
    for p in [parent_of(&path), parent_of(&parent_of(&path))] {
        FsManager::new(p).destroy().unwrap();
    }
    assert!(!exists_anywhere(&parent_of(&parent_of(&path))));

    for bad in ["/a/../../etc", "..", "/"] {
        let e = cgroups::container_path(Some(Path::new(bad)), "x").unwrap_err();
        assert!(e.to_string().contains("invalid cgroupsPath"), "{bad}: {e}");
    }
}

#[test]
fn clone_into_cgroup_with_join_fd() {
    require_root!();
    let cg = TestCg::new("clone3");
    let Some(fd) = cg.mgr.join_fd().unwrap() else {
        eprintln!("skipped: no cgroup2 mount");
        return;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: a fork-like clone3 (no shared VM); the child only calls
    // async-signal-safe functions before _exit.
    let pid = unsafe { rt::syscall::clone3(0, Some(fd.as_raw_fd())) }.expect("clone3");
    if pid == 0 {
        unsafe {
            libc::pause();
            libc::_exit(0);
        }
    }
    let lines = proc_cgroups(pid as u32);
    let unified = lines.iter().find(|(c, _)| c.is_empty()).unwrap();
    assert_eq!(Path::new(&unified.1), cg.mgr.path());
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
        libc::waitpid(pid as i32, std::ptr::null_mut(), 0);
    }
}

#[test]
fn features_tell_the_truth() {
    let f = cgroups::features();
    assert_eq!(f["v1"], true);
    assert_eq!(f["v2"], true);
    assert_eq!(f["systemd"], true);
    let l = cgroups::Layout::detect();
    assert_eq!(f["systemdUser"], l.is_pure_v2());
    let rdma = l.v1_mount("rdma").is_some() || l.v2_controllers.iter().any(|c| c == "rdma");
    assert_eq!(f["rdma"], rdma);
}
