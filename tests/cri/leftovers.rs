//! What must be gone once kubelet has removed a pod: the runtime's state of
//! the sandbox and its containers, their shim, every mount naming them, the
//! pod's network namespace and IP, the container cgroups below the pod's
//! cgroup, and every process the pod ran.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::daemon::{shims_of, Daemon};

/// Mount points of cgroup hierarchies (v1 ones and the cgroup2 one).
pub fn hierarchies() -> Vec<PathBuf> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let mp = pre.split(' ').nth(4)?;
            matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(mp))
        })
        .collect()
}

/// `rel` (a cgroup path) in every hierarchy where it exists.
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    let rel = rel.trim_start_matches('/');
    hierarchies()
        .into_iter()
        .map(|h| h.join(rel))
        .filter(|d| d.is_dir())
        .collect()
}

/// Kill whatever is in the cgroup tree `rel` and remove it, deepest first,
/// in every hierarchy.
pub fn remove_cgroup_tree(rel: &str) {
    fn walk(d: &Path) {
        for e in fs::read_dir(d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&e.path());
            }
        }
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: killing what the suite's containers left in its own tree.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = fs::write(d.join("freezer.state"), "THAWED");
        for _ in 0..100 {
            if fs::remove_dir(d).is_ok() || !d.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    for d in cgroup_dirs(rel) {
        walk(&d);
    }
}

/// Create a kubepods-style pod cgroup in every hierarchy, as kubelet's
/// cgroupfs driver does before RunPodSandbox (cpuset values copied down so
/// that children can take tasks).
pub fn create_pod_cgroup(rel: &str) {
    let rel = rel.trim_start_matches('/');
    for h in hierarchies() {
        let mut cur = h.clone();
        for part in Path::new(rel).components() {
            let parent = cur.clone();
            cur = cur.join(part);
            // Parallel scenarios share the upper levels.
            match fs::create_dir(&cur) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    panic!("mkdir {}: {e}", cur.display())
                }
                _ => {}
            }
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let mine = fs::read_to_string(cur.join(f)).unwrap_or_default();
                if cur.join(f).exists() && mine.trim().is_empty() {
                    let v = fs::read_to_string(parent.join(f)).unwrap_or_default();
                    let _ = fs::write(cur.join(f), v.trim());
                }
            }
        }
    }
}

/// Mount points in our namespace at or below `dir`.
pub fn mount_points_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&d))
        .collect()
}

/// Everything of a removed pod that is still there, as readable lines.
/// Polled for a while: the shim exits shortly after the last delete.
pub fn of_pod(
    d: &Daemon,
    handler: &str,
    sandbox: &str,
    containers: &[String],
    cgroup: &str,
    netns: Option<&Path>,
    marker: &str,
) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let p = check(d, handler, sandbox, containers, cgroup, netns, marker);
        if p.is_empty() || Instant::now() > end {
            return p;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check(
    d: &Daemon,
    handler: &str,
    sandbox: &str,
    containers: &[String],
    cgroup: &str,
    netns: Option<&Path>,
    marker: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let ids: Vec<&str> = std::iter::once(sandbox)
        .chain(containers.iter().map(String::as_str))
        .collect();
    let root = d.runtime_root(handler);
    for id in &ids {
        if root.join(id).exists() {
            problems.push(format!("{handler} state of {id} in {}", root.display()));
        }
    }
    for pid in shims_of(&d.sock) {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(sandbox) {
            problems.push(format!("shim {pid} left: {cmd}"));
        }
    }
    let shim_sock = super::daemon::shim_socket(&d.sock, sandbox);
    if shim_sock.exists() {
        problems.push(format!("shim socket {} left", shim_sock.display()));
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        let hit = ids.iter().any(|id| line.contains(id))
            || netns.is_some_and(|n| line.contains(&*n.to_string_lossy()));
        if hit {
            problems.push(format!("mount left: {line}"));
        }
    }
    if let Some(n) = netns {
        if n.exists() {
            problems.push(format!("network namespace {} left", n.display()));
        }
    }
    for dir in cgroup_dirs(cgroup) {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                problems.push(format!("cgroup left: {}", e.path().display()));
            }
        }
        let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if !procs.trim().is_empty() {
            problems.push(format!("processes left in {}: {procs}", dir.display()));
        }
    }
    for e in fs::read_dir(d.ipam_dir()).into_iter().flatten().flatten() {
        if fs::read_to_string(e.path()).is_ok_and(|s| s.contains(sandbox)) {
            problems.push(format!("IP lease left: {}", e.path().display()));
        }
    }
    for e in fs::read_dir(super::daemon::CNI_CACHE)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_name().to_string_lossy().contains(sandbox) {
            problems.push(format!("CNI cache entry left: {}", e.path().display()));
        }
    }
    for pid in processes_with(marker) {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        problems.push(format!("process {pid} left: {cmd}"));
    }
    problems
}

/// Pids whose environment holds `marker` (KEY=VALUE) exactly.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let env = fs::read(e.path().join("environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
            out.push(pid);
        }
    }
    out
}
