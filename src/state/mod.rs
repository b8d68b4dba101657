//! Container state on disk: one directory per container under `--root`,
//! holding `state.json` (written atomically), the exec fifo and a lock.
//!
//! The directory is created with `mkdir`, which is atomic: of two `create`
//! calls for one id exactly one wins (runc has no such guard).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{renameat2, RenameFlags, AT_FDCWD};
use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};

mod id;
mod status;

pub use id::validate_id;
pub use status::{process_start_time, Status};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0:?} does not exist")]
    NotFound(String),
    #[error("container {0:?} already exists")]
    Exists(String),
    #[error("invalid container id {0:?}: {1}")]
    InvalidId(String, &'static str),
    #[error("container {id:?} has a corrupt state file: {cause}")]
    Corrupt { id: String, cause: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// What rt remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// Init pid as seen from the host, or 0 before it exists.
    pub pid: i32,
    /// Start time of the init (field 22 of /proc/PID/stat) so a recycled pid
    /// is never mistaken for the container.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// None when rootless rt could not create a cgroup: the container then
    /// lives in the caller's cgroup, which rt must never kill or remove.
    #[serde(default)]
    pub cgroup_path: Option<PathBuf>,
    /// The systemd scope holding the container (`--systemd-cgroup`); None
    /// on the cgroupfs driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<crate::cgroups::systemd::Unit>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub created: String,
    #[serde(default)]
    pub hooks: Option<Hooks>,
    /// Set once the init has been released to exec the user's program.
    #[serde(default)]
    pub started: bool,
    #[serde(default)]
    pub paused: bool,
    /// `create` has not finished: it saves the state as it goes, so that a
    /// create killed midway leaves a record `delete` can clean up after.
    #[serde(default)]
    pub creating: bool,
}

/// A container's directory under the state root.
pub struct StateDir {
    pub id: String,
    pub path: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Create a new, locked, state directory. Fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| {
                let hint = unprivileged_hint(&e);
                io(format!("create state root {}{hint}", root.display()))(e)
            })?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => {
                let hint = unprivileged_hint(&e);
                return Err(io(format!("create {}{hint}", path.display()))(e));
            }
        }
        let lock = lock(&path)?;
        Ok(StateDir {
            id: id.to_string(),
            path,
            _lock: lock,
        })
    }

    /// Open and lock an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match lock(&path) {
            Err(Error::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            other => other?,
        };
        Ok(StateDir {
            id: id.to_string(),
            path,
            _lock: lock,
        })
    }

    pub fn load(&self) -> Result<State> {
        let file = self.path.join(STATE_FILE);
        let data = match fs::read(&file) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound(self.id.clone()))
            }
            Err(e) => return Err(io(format!("read {}", file.display()))(e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::Corrupt {
            id: self.id.clone(),
            cause: e.to_string(),
        })
    }

    /// Write state.json through a temporary file and rename, so readers
    /// never see half a file. A state that replaces another is swapped in
    /// with RENAME_EXCHANGE and the old one, now under the temporary name,
    /// removed: a plain rename over an existing file makes ext4
    /// (auto_da_alloc) write the new file out at once, a disk write per
    /// state change that `delete`'s unlink then waits for (delete 0.2 ms
    /// faster measured here with /run on ext4). The durability it buys is
    /// of no use for state that describes processes of this boot.
    pub fn save(&self, state: &State) -> Result<()> {
        let tmp = self.path.join(".state.json.tmp");
        let data = serde_json::to_vec(state).map_err(|e| Error::Corrupt {
            id: self.id.clone(),
            cause: e.to_string(),
        })?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(format!("write {}", tmp.display())))?;
        f.write_all(&data)
            .map_err(io(format!("write {}", tmp.display())))?;
        drop(f);
        let target = self.path.join(STATE_FILE);
        match renameat2(
            AT_FDCWD,
            &tmp,
            AT_FDCWD,
            &target,
            RenameFlags::RENAME_EXCHANGE,
        ) {
            Ok(()) => {
                // A leftover would hold only the superseded state, and the
                // next save truncates it.
                let _ = fs::remove_file(&tmp);
                Ok(())
            }
            // The first save, or a file system without exchange.
            Err(_) => fs::rename(&tmp, &target).map_err(io(format!("rename {}", tmp.display()))),
        }
    }

    /// The lock's descriptor, which a cloned child must close at once:
    /// it shares the lock until then.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        self._lock.as_raw_fd()
    }

    /// Let other commands on this container proceed while this one waits
    /// for something they may have to do first (an exec into a paused
    /// container waits for `resume`). Only for the end of a command:
    /// nothing may be written here afterwards.
    pub fn unlock(&self) {
        // SAFETY: flock on our own open descriptor.
        unsafe { libc::flock(self._lock.as_raw_fd(), libc::LOCK_UN) };
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Remove the directory and everything in it.
    pub fn remove(self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", self.path.display()))(e)),
        }
    }
}

/// The usual cause of a permission error here: an unprivileged user and
/// the default /run/rt.
fn unprivileged_hint(e: &std::io::Error) -> &'static str {
    if e.kind() == ErrorKind::PermissionDenied && !nix::unistd::geteuid().is_root() {
        " (running unprivileged: set XDG_RUNTIME_DIR or pass --root)"
    } else {
        ""
    }
}

/// Take an exclusive flock on the directory itself; commands on one id are
/// serialised, commands on different ids never wait for each other.
fn lock(path: &Path) -> Result<File> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map_err(io(format!("open {}", path.display())))?;
    // SAFETY: flock on a valid, owned descriptor.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        return Err(io(format!("lock {}", path.display()))(
            std::io::Error::last_os_error(),
        ));
    }
    Ok(f)
}

/// Ids of every container directory under the root, sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("read {}", root.display()))(e)),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pid: i32) -> State {
        State {
            oci_version: "1.2.0".into(),
            id: "s".into(),
            pid,
            pid_start_time: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            cgroup_path: None,
            systemd_unit: None,
            annotations: BTreeMap::new(),
            created: String::new(),
            hooks: None,
            started: false,
            paused: false,
            creating: false,
        }
    }

    #[test]
    fn every_save_replaces_the_state_and_leaves_no_temporary() {
        let root = std::env::temp_dir().join(format!("rt-state-test-{}", std::process::id()));
        let dir = StateDir::create(&root, "s").unwrap();
        for pid in [1, 2, 3] {
            dir.save(&state(pid)).unwrap();
            assert_eq!(dir.load().unwrap().pid, pid);
            let names: Vec<_> = fs::read_dir(&dir.path)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, [STATE_FILE], "after save {pid}");
        }
        dir.remove().unwrap();
        fs::remove_dir(&root).unwrap();
    }
}
