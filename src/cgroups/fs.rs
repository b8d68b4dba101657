//! The cgroupfs manager for v1, hybrid and unified hosts. The container's
//! cgroup is created in every mounted hierarchy (each v1 hierarchy, named
//! ones included, and the cgroup2 mount) so /proc/PID/cgroup is coherent
//! and `kill --all` sees every process, as runc does; each resource is
//! written where its controller lives on this host (see layout.rs).

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::layout::{Home, Layout};
use super::oom::OomWatcher;
use super::plan::{plan, Ctrl, Step, V2_NAMES};
use super::stats::Stats;
use super::util::{self, read, read_opt, write};
use super::{devices, v1, v2, validate, Error, Manager, Result};

pub struct FsManager {
    path: PathBuf,
    layout: Layout,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl FsManager {
    pub fn new(path: PathBuf) -> Self {
        Self::with_layout(path, Layout::detect())
    }

    /// A manager over a given host layout (tests use `unified_only()`).
    pub fn with_layout(path: PathBuf, layout: Layout) -> Self {
        FsManager { path, layout }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn rel(&self) -> &Path {
        self.path.strip_prefix("/").unwrap_or(&self.path)
    }

    /// The container's directory in the unified hierarchy, if mounted.
    pub fn unified_dir(&self) -> Option<PathBuf> {
        self.layout.unified.as_ref().map(|u| u.join(self.rel()))
    }

    /// The container's directory in every mounted hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.hierarchy_dirs().into_iter().map(|(_, d)| d).collect()
    }

    /// (mount point, container directory) for every mounted hierarchy.
    pub fn hierarchy_dirs(&self) -> Vec<(PathBuf, PathBuf)> {
        let mounts = self.layout.v1.iter().map(|m| &m.mount);
        mounts
            .chain(self.layout.unified.iter())
            .map(|m| (m.clone(), m.join(self.rel())))
            .collect()
    }

    fn ctrl(&self, v1: &str, v2: &str) -> Option<Ctrl> {
        match self.layout.home(v1, v2) {
            Home::V1(m) => Some(Ctrl::V1(m.join(self.rel()))),
            Home::V2 => self.unified_dir().map(Ctrl::V2),
            Home::Absent => None,
        }
    }

    /// mkdir each missing level below `root`; returns what was created so a
    /// failure can undo exactly that.
    fn mkdirs(&self, root: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
        // Usually only the leaf is missing: one mkdir per hierarchy, and
        // the walk from the top only when a parent is missing too.
        let leaf = root.join(self.rel());
        match fs::create_dir(&leaf) {
            Ok(()) => {
                created.push(leaf);
                return Ok(());
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists && leaf.is_dir() => return Ok(()),
            Err(e) => return Err(io(&leaf)(e)),
        }
        let mut dir = root.to_path_buf();
        for c in self.rel().components() {
            dir.push(c);
            match fs::create_dir(&dir) {
                Ok(()) => created.push(dir.clone()),
                Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => {}
                Err(e) => return Err(io(&dir)(e)),
            }
        }
        Ok(())
    }

    fn create_all(&self, created: &mut Vec<PathBuf>) -> Result<()> {
        for m in &self.layout.v1 {
            let before = created.len();
            self.mkdirs(&m.mount, created)?;
            if m.controllers.iter().any(|c| c == "cpuset") {
                for d in &created[before..] {
                    v1::cpuset::inherit(d)?;
                }
            }
        }
        if let Some(u) = &self.layout.unified {
            self.mkdirs(u, created)?;
            if self.layout.is_pure_v2() {
                // As runc does on v2: every controller the host offers, so
                // stats and later updates find their files. Refusals (a
                // controller a parent cannot delegate) surface when a
                // resource needs that controller.
                let all: Vec<String> = self.layout.v2_controllers.clone();
                let _ = self.enable(&all.iter().map(String::as_str).collect::<Vec<_>>(), false);
            }
        }
        Ok(())
    }

    /// Enable v2 controllers in cgroup.subtree_control of every ancestor of
    /// the container's cgroup, from the top down.
    fn enable(&self, ctrls: &[&str], strict: bool) -> Result<()> {
        let Some(root) = &self.layout.unified else {
            return Ok(());
        };
        let mut dir = root.clone();
        let comps: Vec<_> = self.rel().components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            self.enable_in(&dir, ctrls, strict)?;
            dir.push(c);
        }
        self.enable_in(&dir, ctrls, strict)
    }

    fn enable_in(&self, dir: &Path, ctrls: &[&str], strict: bool) -> Result<()> {
        let on = read(dir, "cgroup.subtree_control")?;
        for c in ctrls {
            if on.split_whitespace().any(|x| x == *c) {
                continue;
            }
            if let Err(e) = write(dir, "cgroup.subtree_control", format!("+{c}")) {
                if strict {
                    return Err(Error::NoController {
                        controller: c.to_string(),
                        field: c.to_string(),
                        detail: format!("cannot enable it: {e}"),
                    });
                }
            }
        }
        Ok(())
    }

    fn run_plan(&self, r: &LinuxResources, steps: Vec<Step>) -> Result<()> {
        let v2_needed: Vec<&str> = steps.iter().filter_map(Step::v2_controller).collect();
        self.enable(&v2_needed, true)?;
        // Raw unified keys name their controller in their prefix; a refusal
        // shows up as the key's file missing, with the key in the error.
        let raw: Vec<&str> = r
            .unified()
            .iter()
            .flatten()
            .filter_map(|(k, _)| k.split('.').next())
            .filter(|c| V2_NAMES.contains(c))
            .collect();
        if !raw.is_empty() && self.layout.unified.is_some() {
            self.enable(&raw, false)?;
        }
        let journal = util::dry_run(|| steps.iter().try_for_each(|s| s.run(r)))?;
        let applied = steps.iter().try_for_each(|s| s.run(r));
        if applied.is_err() {
            util::restore(&journal);
        }
        applied
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        match self.ctrl("freezer", "") {
            Some(Ctrl::V1(d)) => v1::freezer::set(&d, frozen),
            Some(Ctrl::V2(d)) => v2::freezer::set(&d, frozen),
            None => Err(Error::NoController {
                controller: "freezer".into(),
                field: "pause".into(),
                detail: "no freezer hierarchy and no cgroup2 mount".into(),
            }),
        }
    }

    /// SIGKILL everything in the cgroup (the systemd driver does this
    /// before stopping a scope).
    pub(crate) fn kill_all(&self) {
        if let Some(d) = self.unified_dir() {
            // cgroup.kill (5.14+) kills atomically, even tasks forking.
            if write(&d, "cgroup.kill", 1).is_ok() {
                return;
            }
        }
        for p in self.pids().unwrap_or_default() {
            let _ = kill(p, Signal::SIGKILL);
        }
    }
}

impl Manager for FsManager {
    fn container_dirs(&self) -> Vec<(String, PathBuf)> {
        let base = Path::new("/sys/fs/cgroup");
        self.hierarchy_dirs()
            .into_iter()
            .filter_map(|(mount, dir)| {
                let name = mount.strip_prefix(base).ok()?.to_string_lossy().to_string();
                Some((name, dir))
            })
            .collect()
    }

    fn create(&self) -> Result<()> {
        let mut created = Vec::new();
        let r = self.create_all(&mut created);
        if r.is_err() {
            for d in created.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        }
        r
    }

    fn add_task(&self, pid: Pid) -> Result<()> {
        for d in self.dirs() {
            write(&d, "cgroup.procs", pid)?;
        }
        Ok(())
    }

    fn v1_task_files(&self) -> Result<Vec<OwnedFd>> {
        let open = |m: &super::layout::V1Mount| {
            let f = m.mount.join(self.rel()).join("tasks");
            File::options()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&f)
                .map(OwnedFd::from)
                .map_err(io(&f))
        };
        self.layout.v1.iter().map(open).collect()
    }

    fn add_task_v2(&self, pid: Pid) -> Result<()> {
        match self.unified_dir() {
            Some(d) => write(&d, "cgroup.procs", pid),
            None => Ok(()),
        }
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        validate::resources(r)?;
        let rules = devices::effective(r.devices().as_ref());
        let steps = plan(r, Some(&rules), &|a, b| self.ctrl(a, b))?;
        self.run_plan(r, steps)
    }

    fn update(&self, r: &LinuxResources) -> Result<()> {
        validate::resources(r)?;
        let rules = r.devices().as_ref().map(|d| devices::effective(Some(d)));
        let steps = plan(r, rules.as_ref(), &|a, b| self.ctrl(a, b))?;
        self.run_plan(r, steps)
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        let mut out: Vec<Pid> = Vec::new();
        for d in self.dirs() {
            let Some(text) = read_opt(&d, "cgroup.procs")? else {
                continue;
            };
            for p in text.lines().filter_map(|l| l.trim().parse().ok()) {
                let p = Pid::from_raw(p);
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn destroy(&self) -> Result<()> {
        // Frozen tasks cannot die. Read first: the thaw is a write and a
        // read back that nearly every delete would pay for nothing.
        if self.is_frozen().unwrap_or(false) {
            let _ = self.set_frozen(false);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut delay = Duration::from_millis(1);
        loop {
            let mut busy = None;
            for d in self.dirs().iter().rev() {
                match fs::remove_dir(d) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => busy = Some((d.clone(), e)),
                }
            }
            match busy {
                None => return Ok(()),
                Some((d, e)) if Instant::now() > deadline => return Err(io(&d)(e)),
                Some(_) => {
                    self.kill_all();
                    sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(50));
                }
            }
        }
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.exists())
    }

    fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    fn is_frozen(&self) -> Result<bool> {
        match self.ctrl("freezer", "") {
            Some(Ctrl::V1(d)) => v1::freezer::is_frozen(&d),
            Some(Ctrl::V2(d)) => v2::freezer::is_frozen(&d),
            None => Ok(false),
        }
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        match self.ctrl("cpu", "cpu") {
            Some(Ctrl::V1(d)) => v1::cpu::stats(&d, &mut s)?,
            Some(Ctrl::V2(d)) => v2::cpu::stats(&d, &mut s)?,
            None => {}
        }
        if let Some(Ctrl::V1(d)) = self.ctrl("cpuacct", "cpu") {
            v1::cpuacct::stats(&d, &mut s)?;
        }
        match self.ctrl("memory", "memory") {
            Some(Ctrl::V1(d)) => v1::memory::stats(&d, &mut s)?,
            Some(Ctrl::V2(d)) => v2::memory::stats(&d, &mut s)?,
            None => {}
        }
        if let Some(Ctrl::V1(d) | Ctrl::V2(d)) = self.ctrl("pids", "pids") {
            v1::pids::stats(&d, &mut s)?;
        }
        match self.ctrl("blkio", "io") {
            Some(Ctrl::V1(d)) => v1::blkio::stats(&d, &mut s)?,
            Some(Ctrl::V2(d)) => v2::io::stats(&d, &mut s)?,
            None => {}
        }
        match self.ctrl("hugetlb", "hugetlb") {
            Some(Ctrl::V1(d)) => v1::hugetlb::stats(&d, &mut s)?,
            Some(Ctrl::V2(d)) => v2::hugetlb::stats(&d, &mut s)?,
            None => {}
        }
        Ok(s)
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        match self.ctrl("memory", "memory") {
            Some(Ctrl::V1(d)) => OomWatcher::v1(&d),
            Some(Ctrl::V2(d)) => OomWatcher::v2(&d),
            None => Err(Error::NoController {
                controller: "memory".into(),
                field: "events".into(),
                detail: "the memory controller is not available".into(),
            }),
        }
    }

    fn join_fd(&self) -> Result<Option<OwnedFd>> {
        let Some(d) = self.unified_dir() else {
            return Ok(None);
        };
        let f = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(&d)
            .map_err(io(&d))?;
        Ok(Some(f.into()))
    }
}
