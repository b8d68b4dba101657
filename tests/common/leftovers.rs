//! After delete, nothing of a container may remain: state, cgroups, mounts,
//! processes.

use std::fs;
use std::path::{Path, PathBuf};

use super::bundle::MARKER_VAR;

/// Every place a cgroup `rel` could live on this (hybrid or pure v2) host:
/// under each hierarchy's root and, because runc nests a container without
/// cgroupsPath under the caller's own cgroup, under each of our own paths.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    let base = Path::new("/sys/fs/cgroup");
    let mut own: Vec<String> = fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .map(|p| p.trim_start_matches('/').to_string())
        .collect();
    own.push(String::new());
    own.sort();
    own.dedup();
    let mut hier = vec![base.to_path_buf()];
    if let Ok(rd) = fs::read_dir(base) {
        // Directories are the v1 hierarchies (and unified/ on hybrid); on
        // pure v2 they are cgroups themselves, which is harmless.
        hier.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    let mut out = Vec::new();
    for h in &hier {
        for o in &own {
            out.push(h.join(o).join(rel));
        }
    }
    out
}

/// Pids whose environment carries the marker of container `id`, or whose
/// working directory is inside `dir` (where the harness runs runtimes).
pub fn processes_of(id: &str, dir: &Path) -> Vec<i32> {
    let marker = format!("{MARKER_VAR}={id}");
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    let mut pids = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return pids;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let env_hit = fs::read(e.path().join("environ"))
            .map(|b| b.split(|c| *c == 0).any(|kv| kv == marker.as_bytes()))
            .unwrap_or(false);
        let cwd_hit = fs::read_link(e.path().join("cwd"))
            .map(|c| c.starts_with(dir))
            .unwrap_or(false);
        if env_hit || cwd_hit {
            pids.push(pid);
        }
    }
    pids
}

/// Mount points in our namespace that reference `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(d.as_ref()))
        .map(str::to_string)
        .collect()
}

/// Panics listing whatever container `id` left behind: its state dir under
/// `root`, cgroup `cgroup_rel` in any hierarchy, mounts referencing
/// `test_dir` (the bundle's parent) or processes that belong to it.
#[track_caller]
pub fn assert_nothing_left(root: &Path, id: &str, cgroup_rel: &str, test_dir: &Path) {
    let mut problems = Vec::new();
    let state = root.join(id);
    if state.exists() {
        problems.push(format!("state dir {} exists", state.display()));
    }
    for d in cgroup_dirs(cgroup_rel) {
        if d.exists() {
            problems.push(format!("cgroup {} exists", d.display()));
        }
    }
    for m in mounts_under(test_dir) {
        problems.push(format!("mount left: {m}"));
    }
    for pid in processes_of(id, test_dir) {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        problems.push(format!("process {pid} left: {cmd}"));
    }
    assert!(
        problems.is_empty(),
        "container {id} left things behind:\n{}",
        problems.join("\n")
    );
}

/// Last-resort cleanup after a failed test: SIGKILL the processes that belong
/// to this test's container (by cgroup membership and environment marker)
/// and remove its cgroups, so a broken runtime does not pollute the host.
pub fn reap(id: &str, cgroup_rel: &str, test_dir: &Path) {
    let dirs: Vec<PathBuf> = cgroup_dirs(cgroup_rel)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    let mut pids = processes_of(id, test_dir);
    for d in &dirs {
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    for pid in &pids {
        // SAFETY: killing processes of this test's own container by pid.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    for d in &dirs {
        for _ in 0..50 {
            if fs::remove_dir(d).is_ok() || !d.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
