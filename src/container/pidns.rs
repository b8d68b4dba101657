//! The processes of a container that has no cgroup (rootless): found by
//! their pid namespace, which the container does not share with the host.

use std::fs;

use nix::unistd::Pid;

/// The init and every process in its pid namespace, sorted. When the init
/// shares our pid namespace, only the init: the rest of that namespace is
/// not the container's.
pub fn members(init: i32) -> Vec<Pid> {
    let ns = |pid: &str| fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let Some(theirs) = ns(&init.to_string()) else {
        return vec![Pid::from_raw(init)];
    };
    if ns("self").as_ref() == Some(&theirs) {
        return vec![Pid::from_raw(init)];
    }
    let mut pids: Vec<Pid> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|name| ns(name).as_ref() == Some(&theirs))
        .filter_map(|name| name.parse().ok())
        .map(Pid::from_raw)
        .collect();
    pids.sort();
    pids
}
