//! Starting the container's process: one clone with every new namespace,
//! a typed channel back to rt, and the init phases in the child
//! (namespaces -> rootfs -> process attributes -> security -> execve).

use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hooks, Process, Spec};

use crate::namespaces::Plan;

pub mod channel;
mod console;
mod exec;
mod finish;
mod init;
mod join;
pub(crate) mod limits;
mod spawn;
pub mod supervise;
mod user;

pub use exec::{find_executable, ExecError};
pub use join::{spawn_exec, ExecConfig};
pub use spawn::spawn;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    /// The root cause as the child reported it.
    #[error("{0}")]
    Child(String),
    #[error("container process protocol: {0}")]
    Protocol(String),
    #[error(transparent)]
    Namespace(#[from] crate::namespaces::Error),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::Error),
    #[error(transparent)]
    Security(#[from] crate::security::Error),
    #[error(transparent)]
    Hook(#[from] crate::hooks::Error),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            context: context.into(),
            source,
        }
    }
}

/// Everything the child needs, prepared by rt before cloning. The child
/// gets a copy of this memory, so nothing is serialised.
pub struct InitConfig<'a> {
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a Plan,
    pub hooks: Option<&'a Hooks>,
    /// O_PATH descriptor of exec.fifo, opened by rt: the init may not be
    /// able to reach the state directory once it is in a user namespace.
    pub fifo: RawFd,
    /// Connected console socket (or our end of one) when a terminal is used.
    pub console_socket: Option<RawFd>,
    pub cgroup_dirs: &'a [(String, PathBuf)],
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// rt's lock on the state directory; the child must not hold it.
    pub lock_fd: RawFd,
    pub seccomp: Option<&'a crate::security::seccomp::Filter>,
    /// The container's cgroup2 directory: the child is born there
    /// (CLONE_INTO_CGROUP) instead of being moved.
    pub cgroup_fd: Option<RawFd>,
    /// The cgroup v1 `tasks` files the init writes "0" to, first thing,
    /// to move itself (see cgroups::Manager::v1_task_files).
    pub cgroup_tasks: &'a [RawFd],
    /// Keep the caller's session keyring (--no-new-keyring).
    pub keep_keyring: bool,
    /// Idmapped bind sources rt cloned and mapped: (index in `mounts`,
    /// detached tree) for the init to attach (rootfs::idmap).
    pub idmapped: &'a [(usize, RawFd)],
    /// The sealed exec stub the init execs the program through (None when
    /// rt itself runs sealed): see security::exe.
    pub exec_stub: Option<RawFd>,
    /// rt has no privileges: it writes our id maps as an ordinary user.
    /// Decided by rt, since our own geteuid changes once the map exists.
    pub unprivileged: bool,
}
