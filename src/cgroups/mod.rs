//! Control groups. `Manager` is what the rest of rt sees; back ends hide
//! whether the host is cgroup v1, hybrid or unified v2.
//!
//! This is the minimal placement the core needs (create, join, list, kill,
//! remove). Resource limits, stats, freezer and events belong here too.

use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

mod fs;

pub use fs::FsManager;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid cgroupsPath {0:?}: {1}")]
    InvalidPath(String, &'static str),
    #[error("cgroup resources are not supported yet: linux.resources.{0}")]
    Unsupported(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub trait Manager {
    /// Create the cgroup directories (idempotent).
    fn create(&self) -> Result<()>;
    /// Move a process into the cgroup.
    fn add_task(&self, pid: Pid) -> Result<()>;
    /// Apply `linux.resources`.
    fn apply(&self, resources: &LinuxResources) -> Result<()>;
    /// Every process in the cgroup.
    fn pids(&self) -> Result<Vec<Pid>>;
    /// Remove the cgroup directories, killing stragglers if needed.
    fn destroy(&self) -> Result<()>;
    /// The path relative to each hierarchy's root, as stored in state.
    fn path(&self) -> &Path;
}

/// Compute the cgroup for a container: `linux.cgroupsPath` when given (an
/// absolute path is taken from the hierarchy root; a relative one is put
/// under it too, as runc's cgroupfs driver does), else `/rt/<id>`.
pub fn container_path(cgroups_path: Option<&Path>, id: &str) -> Result<PathBuf> {
    let p = match cgroups_path {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from("/rt").join(id),
    };
    let s = p.to_string_lossy().to_string();
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(Error::InvalidPath(s, "must not contain '..'"));
    }
    let rel: PathBuf = p
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        return Err(Error::InvalidPath(s, "must name a cgroup below the root"));
    }
    Ok(PathBuf::from("/").join(rel))
}

/// For the container's /sys/fs/cgroup: one entry per host hierarchy, with
/// its name below /sys/fs/cgroup ("" on a unified-only host, where the
/// hierarchy is /sys/fs/cgroup itself) and the host directory of the
/// container's cgroup in it.
pub fn container_dirs(path: &Path) -> Vec<(String, PathBuf)> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let base = Path::new("/sys/fs/cgroup");
    fs::hierarchies()
        .into_iter()
        .filter_map(|h| {
            let name = h.strip_prefix(base).ok()?.to_string_lossy().to_string();
            Some((name, h.join(rel)))
        })
        .collect()
}

pub fn manager(cgroups_path: Option<&Path>, id: &str) -> Result<Box<dyn Manager>> {
    let path = container_path(cgroups_path, id)?;
    Ok(Box::new(FsManager::new(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_given_paths() {
        assert_eq!(container_path(None, "abc").unwrap(), Path::new("/rt/abc"));
        assert_eq!(
            container_path(Some(Path::new("/a/b")), "x").unwrap(),
            Path::new("/a/b")
        );
        assert_eq!(
            container_path(Some(Path::new("a/b")), "x").unwrap(),
            Path::new("/a/b")
        );
        assert!(container_path(Some(Path::new("/a/../b")), "x").is_err());
        assert!(container_path(Some(Path::new("/")), "x").is_err());
    }
}
