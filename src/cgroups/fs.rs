//! A cgroupfs back end that works on v1, hybrid and unified hosts by walking
//! the mounted hierarchies in /proc/self/mountinfo. cgroups-rs's `auto()`
//! treats this hybrid host as pure v1 and ignores the unified mount, which
//! systemd and runc also populate, so placement is done here directly.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::{Error, Manager, Result};

pub struct FsManager {
    path: PathBuf,
    dirs: Vec<PathBuf>,
}

/// Mount points of every cgroup hierarchy (v1 controllers and cgroup2).
pub fn hierarchies() -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = post.split(' ').next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mnt) = pre.split(' ').nth(4) {
            let mnt = PathBuf::from(mnt);
            // Comounted v1 controllers (cpu,cpuacct) appear once per mount.
            if !out.contains(&mnt) {
                out.push(mnt);
            }
        }
    }
    out
}

impl FsManager {
    pub fn new(path: PathBuf) -> Self {
        let rel = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
        let dirs = hierarchies().into_iter().map(|h| h.join(&rel)).collect();
        FsManager { path, dirs }
    }

    fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl Manager for FsManager {
    fn create(&self) -> Result<()> {
        for d in &self.dirs {
            fs::create_dir_all(d).map_err(|e| Self::io(d, e))?;
            inherit_cpuset(d)?;
        }
        Ok(())
    }

    fn add_task(&self, pid: Pid) -> Result<()> {
        for d in &self.dirs {
            let procs = d.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).map_err(|e| Self::io(&procs, e))?;
        }
        Ok(())
    }

    fn apply(&self, resources: &LinuxResources) -> Result<()> {
        let v = serde_json::to_value(resources).unwrap_or_default();
        if let Some(obj) = v.as_object() {
            for (k, val) in obj {
                // Placeholder until the device controller lands: device
                // rules are enforced by the cgroups module's back ends.
                if k == "devices" {
                    continue;
                }
                // An empty device list is what every generated config carries.
                let empty = val.is_null() || val.as_array().is_some_and(|a| a.is_empty());
                if !empty {
                    return Err(Error::Unsupported(k.clone()));
                }
            }
        }
        Ok(())
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        let mut out: Vec<Pid> = Vec::new();
        for d in &self.dirs {
            let procs = d.join("cgroup.procs");
            let text = match fs::read_to_string(&procs) {
                Ok(t) => t,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(Self::io(&procs, e)),
            };
            for p in text.lines().filter_map(|l| l.trim().parse().ok()) {
                let p = Pid::from_raw(p);
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

    fn destroy(&self) -> Result<()> {
        for attempt in 0..100 {
            let mut busy = None;
            for d in self.dirs.iter().rev() {
                match fs::remove_dir(d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => busy = Some((d.clone(), e)),
                }
            }
            match busy {
                None => return Ok(()),
                Some((d, e)) if attempt == 99 => return Err(Self::io(&d, e)),
                Some(_) => {
                    for p in self.pids()? {
                        let _ = kill(p, Signal::SIGKILL);
                    }
                    sleep(Duration::from_millis(10));
                }
            }
        }
        Ok(())
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// A new v1 cpuset cgroup starts with no cpus and no memory nodes, and no
/// task can join it until they are set: copy them down from the parent,
/// level by level.
fn inherit_cpuset(dir: &Path) -> Result<()> {
    if !dir.join("cpuset.cpus").exists() || dir.join("cgroup.subtree_control").exists() {
        return Ok(());
    }
    let mut chain = Vec::new();
    let mut cur = dir.to_path_buf();
    while cur.join("cpuset.cpus").exists() {
        chain.push(cur.clone());
        match cur.parent() {
            Some(p) => cur = p.to_path_buf(),
            None => break,
        }
    }
    for d in chain.iter().rev() {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let f = d.join(file);
            let val = fs::read_to_string(&f).map_err(|e| FsManager::io(&f, e))?;
            if val.trim().is_empty() {
                if let Some(parent) = d.parent() {
                    let pv = fs::read_to_string(parent.join(file))
                        .map_err(|e| FsManager::io(parent, e))?;
                    fs::write(&f, pv.trim()).map_err(|e| FsManager::io(&f, e))?;
                }
            }
        }
    }
    Ok(())
}
