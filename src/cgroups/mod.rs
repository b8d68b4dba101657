//! Control groups. `Manager` is what the rest of rt sees; `FsManager` hides
//! whether the host is cgroup v1, hybrid (v1 controllers plus a cgroup2
//! mount) or unified v2, deciding per controller where its files are.
//!
//! cgroups-rs is not used by the back end: its `auto()` sees a hybrid host
//! as pure v1 (no unified mount, no controllers bound to cgroup2), it has
//! no v2 device filter, and its errors lose the file and value that failed.
//! Writing the files ourselves is a few lines per controller (v1/, v2/).
//!
//! Two drivers implement `Manager`: cgroupfs (`FsManager`, rt writes the
//! tree itself) and systemd (`systemd::SystemdManager`, `--systemd-cgroup`:
//! each container is a transient scope systemd owns). `Driver` picks one at
//! create time; the container's state records which, so later commands
//! need no flag.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

pub mod convert;
pub(crate) mod devices;
mod features;
mod fs;
pub mod layout;
pub mod oom;
pub(crate) mod plan;
pub mod stats;
pub mod systemd;
mod util;
pub mod v1;
pub mod v2;
pub(crate) mod validate;

pub use features::features;
pub use fs::FsManager;
pub use layout::Layout;
pub use oom::{OomWatcher, Wake};
pub use stats::Stats;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: std::io::Error,
    },
    #[error("{path} does not exist: the controller or knob is not available on this host")]
    MissingFile { path: PathBuf },
    #[error("linux.resources.{field} needs the {controller} cgroup controller: {detail}")]
    NoController {
        controller: String,
        field: String,
        detail: String,
    },
    #[error("invalid linux.resources.{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0}")]
    NotSupported(String),
    #[error("invalid cgroupsPath {0:?}: {1}")]
    InvalidPath(String, &'static str),
    #[error("cgroup v2 device filter: {what}: {source}")]
    Bpf {
        what: String,
        source: std::io::Error,
    },
    #[error("cgroup: timed out {0}")]
    Timeout(String),
    #[error(transparent)]
    Systemd(#[from] systemd::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The caller may not create or write the cgroup (rootless rt then
    /// runs without one).
    pub fn is_permission(&self) -> bool {
        let source = match self {
            Error::Io { source, .. } | Error::Write { source, .. } => source,
            _ => return false,
        };
        matches!(
            source.raw_os_error(),
            Some(libc::EACCES | libc::EPERM | libc::EROFS)
        )
    }
}

pub trait Manager {
    /// Create the cgroup in every hierarchy (idempotent; on failure nothing
    /// it created is left behind).
    fn create(&self) -> Result<()>;
    /// Move a process into the cgroup in every hierarchy.
    fn add_task(&self, pid: Pid) -> Result<()>;
    /// Hand a new container's init to the cgroup's owner before the init
    /// sets itself up (it mounts its cgroup directories then). The systemd
    /// driver starts the container's scope with this pid here: the cgroup
    /// exists only from then on. Nothing for cgroupfs, which created it.
    fn adopt(&self, _pid: Pid) -> Result<()> {
        Ok(())
    }
    /// Apply `linux.resources` at create time: validated first, every
    /// controller checked before anything is written; device rules always
    /// installed (default deny + spec rules + the standard /dev nodes).
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Change limits of a live container (`rt update`): like `apply`, but
    /// device rules are only replaced when the update carries some.
    fn update(&self, resources: &LinuxResources) -> Result<()>;
    /// Every process in the cgroup (all hierarchies), sorted.
    fn pids(&self) -> Result<Vec<Pid>>;
    /// Remove the cgroup everywhere, thawing and killing stragglers first
    /// if needed. Succeeds when it is already gone.
    fn destroy(&self) -> Result<()>;
    /// The path relative to each hierarchy's root, as stored in state.
    fn path(&self) -> &Path;
    /// Does the cgroup still exist in some hierarchy?
    fn exists(&self) -> bool;
    /// Freeze every task (v1 freezer or v2 cgroup.freeze), waiting until
    /// the kernel reports them frozen.
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn is_frozen(&self) -> Result<bool>;
    /// runc-shaped statistics for `events --stats`.
    fn stats(&self) -> Result<Stats>;
    /// A watcher that wakes on OOM events in this cgroup.
    fn oom_watcher(&self) -> Result<OomWatcher>;
    /// An O_DIRECTORY fd of the container's cgroup2 directory, for
    /// clone3(CLONE_INTO_CGROUP). None without a cgroup2 mount. `add_task`
    /// is still needed afterwards for the v1 hierarchies of a hybrid host.
    fn join_fd(&self) -> Result<Option<OwnedFd>>;
    /// For the container's /sys/fs/cgroup: one entry per host hierarchy,
    /// with its name below /sys/fs/cgroup ("" on a unified-only host, where
    /// the hierarchy is /sys/fs/cgroup itself) and the host directory of
    /// the container's cgroup in it. From the layout the manager already
    /// read, so create reads mountinfo once.
    fn container_dirs(&self) -> Vec<(String, PathBuf)>;
    /// The `tasks` file of the cgroup in each v1 hierarchy, opened for
    /// writing, for the container's init to move itself with "0". Moving
    /// another process (cgroup.procs) takes a global lock whose first use
    /// after a quiet spell waits for an RCU grace period (5-20 ms here,
    /// more than the rest of create); a single-threaded process moving
    /// itself through `tasks` does not take it. The opener's credentials
    /// are the ones checked, so the init may already be in its user
    /// namespace when it writes.
    fn v1_task_files(&self) -> Result<Vec<OwnedFd>>;
    /// `add_task` for the cgroup2 hierarchy only (the v1 ones placed
    /// through `v1_task_files`); nothing without a cgroup2 mount.
    fn add_task_v2(&self, pid: Pid) -> Result<()>;
}

/// rt's own cgroup, which relative cgroupsPaths are taken from: the
/// unified entry of /proc/self/cgroup when there is one, else the first.
fn own_cgroup() -> PathBuf {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut first = None;
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(_), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if id == "0" {
            return PathBuf::from(path);
        }
        first.get_or_insert_with(|| PathBuf::from(path));
    }
    first.unwrap_or_else(|| PathBuf::from("/"))
}

/// Compute the cgroup for a container, as a path from the hierarchy root:
/// an absolute `linux.cgroupsPath` as given; a relative one below rt's own
/// cgroup (runc's cgroupfs semantics); `/rt/<id>` when absent. `..` is
/// refused rather than cleaned away so a config cannot aim elsewhere.
///
/// A systemd-style "slice:prefix:name" is, as in runc's cgroupfs driver,
/// just a relative path whose one component contains colons: containerd's
/// CRI writes it whenever a pod's cgroup parent ends in ".slice", whichever
/// driver the runtime uses.
pub fn container_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf> {
    resolve(cgroups_path, id, &own_cgroup())
}

fn resolve(cgroups_path: Option<&Path>, id: &str, own: &Path) -> Result<PathBuf> {
    let p = match cgroups_path {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("/rt").join(id),
    };
    let s = p.to_string_lossy().to_string();
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::InvalidPath(s, "must not contain '..'"));
    }
    let base = if p.is_absolute() { Path::new("/") } else { own };
    let rel: PathBuf = base
        .join(&p)
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        return Err(Error::InvalidPath(s, "must name a cgroup below the root"));
    }
    Ok(PathBuf::from("/").join(rel))
}

/// `container_dirs` for a container without a cgroup of its own (rootless):
/// in each hierarchy the cgroup rt itself is in, which the container
/// inherits.
pub fn own_dirs() -> Vec<(String, PathBuf)> {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    own_dirs_in(&Layout::detect(), &text)
}

fn own_dirs_in(layout: &Layout, proc_cgroup: &str) -> Vec<(String, PathBuf)> {
    let base = Path::new("/sys/fs/cgroup");
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let mount = if id == "0" {
            layout.unified.as_deref()
        } else {
            let ctrls: Vec<&str> = ctrls.split(',').collect();
            layout
                .v1
                .iter()
                .find(|m| m.controllers.iter().all(|c| ctrls.contains(&c.as_str())))
                .map(|m| m.mount.as_path())
        };
        let Some(mount) = mount else { continue };
        let Ok(name) = mount.strip_prefix(base) else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        out.push((name.to_string_lossy().to_string(), mount.join(rel)));
    }
    out
}

pub fn manager(cgroups_path: Option<&Path>, id: &str) -> Result<Box<dyn Manager>> {
    let path = container_path(cgroups_path, id)?;
    Ok(Box::new(FsManager::new(path)))
}

/// Who manages a container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// rt writes the cgroup tree itself.
    Cgroupfs,
    /// A transient systemd scope per container (`--systemd-cgroup`).
    Systemd,
}

/// A new container's cgroup: its path from the hierarchy root and, under
/// systemd, its unit.
#[derive(Debug, Clone)]
pub struct Placement {
    pub path: PathBuf,
    pub unit: Option<systemd::Unit>,
}

impl Placement {
    /// Where `linux.cgroupsPath` puts container `id` under `driver`. The
    /// systemd driver's refusals (rootless, no systemd) come here, before
    /// anything of the container exists.
    pub fn new(
        driver: Driver,
        cgroups_path: Option<&Path>,
        id: &str,
        rootless: bool,
    ) -> Result<Placement> {
        match driver {
            Driver::Cgroupfs => Ok(Placement {
                path: container_path(cgroups_path, id)?,
                unit: None,
            }),
            Driver::Systemd => {
                let text = cgroups_path.map(|p| p.to_string_lossy().into_owned());
                let unit = systemd::place(text.as_deref(), id, rootless)?;
                Ok(Placement {
                    path: unit.cgroup_path(),
                    unit: Some(unit),
                })
            }
        }
    }

    /// The manager that creates this cgroup.
    pub fn manager(&self) -> Box<dyn Manager> {
        match &self.unit {
            Some(u) => Box::new(systemd::SystemdManager::new(u.clone())),
            None => Box::new(FsManager::new(self.path.clone())),
        }
    }
}

/// The manager of an existing container's cgroup, from what its state
/// records: the unit if systemd manages it, else the path.
pub fn existing(path: &Path, unit: Option<&systemd::Unit>, id: &str) -> Result<Box<dyn Manager>> {
    match unit {
        Some(u) => Ok(Box::new(systemd::SystemdManager::existing(u.clone()))),
        None => manager(Some(path), id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_given_paths() {
        let root = Path::new("/");
        let own = Path::new("/user.slice/s.scope");
        let r = |p: Option<&str>, own: &Path| resolve(p.map(Path::new), "abc", own);
        assert_eq!(r(None, own).unwrap(), Path::new("/rt/abc"));
        assert_eq!(r(Some("/a/b"), own).unwrap(), Path::new("/a/b"));
        assert_eq!(r(Some("a/b"), root).unwrap(), Path::new("/a/b"));
        assert_eq!(
            r(Some("a/b"), own).unwrap(),
            Path::new("/user.slice/s.scope/a/b")
        );
        assert_eq!(r(Some("//a//b/"), own).unwrap(), Path::new("/a/b"));
        assert!(r(Some("/a/../b"), own).is_err());
        assert!(r(Some("../b"), own).is_err());
        assert!(r(Some("/"), own).is_err());
        assert_eq!(
            r(Some("test.slice:cri-containerd:abc"), own).unwrap(),
            Path::new("/user.slice/s.scope/test.slice:cri-containerd:abc")
        );
        assert_eq!(
            r(Some("/kubepods/a:b"), own).unwrap(),
            Path::new("/kubepods/a:b")
        );
        assert!(container_path(Some(Path::new("x")), "i").is_ok());
    }

    #[test]
    fn own_dirs_follow_proc_self_cgroup() {
        let layout = Layout::parse(
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        let dirs = own_dirs_in(
            &layout,
            "4:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice/s.scope\n0::/u\n9:memory:/x\n",
        );
        assert_eq!(
            dirs,
            vec![
                (
                    "cpu,cpuacct".into(),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/user.slice")
                ),
                (
                    "systemd".into(),
                    PathBuf::from("/sys/fs/cgroup/systemd/user.slice/s.scope")
                ),
                ("unified".into(), PathBuf::from("/sys/fs/cgroup/unified/u")),
            ]
        );
    }
}
