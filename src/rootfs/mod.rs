//! The container's root filesystem: mounts, devices, pivot_root, masked and
//! read-only paths. `prepare` runs before the runtime hooks (the host is
//! still visible), `finish` switches root and seals it.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;

mod bind;
mod cgroupfs;
mod devices;
mod mounts;
pub mod options;
mod paths;
mod pivot;
pub mod resolve;

pub use devices::{setup_console, setup_console_exec};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("mount {what} on {dest}: {source}")]
    Mount {
        what: String,
        dest: PathBuf,
        source: nix::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error("mount {dest}: {source}")]
    Option {
        dest: PathBuf,
        source: options::UnsupportedOption,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

pub(crate) fn sys_err(context: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let context = context.into();
    move |source| Error::Sys { context, source }
}

pub(crate) fn do_mount(
    source: Option<&Path>,
    dest: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(source, dest, fstype, flags, data).map_err(|e| Error::Mount {
        what: source
            .map(|s| s.display().to_string())
            .or(fstype.map(String::from))
            .unwrap_or_else(|| format!("{flags:?}")),
        dest: dest.to_path_buf(),
        source: e,
    })
}

/// What the rootfs code needs beyond the spec.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub new_user_ns: bool,
    /// (name under /sys/fs/cgroup, host directory of the container's cgroup)
    pub cgroup_dirs: &'a [(String, PathBuf)],
    pub no_pivot: bool,
}

/// Everything up to (not including) the switch of root.
pub fn prepare(ctx: &Context) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let prop = options::root_propagation(linux.and_then(|l| l.rootfs_propagation().as_deref()))
        .map_err(|source| Error::Option {
            dest: "/".into(),
            source,
        })?;
    // Detach from the host's propagation so nothing we mount leaks out; a
    // shared rootfsPropagation is applied after pivot_root.
    let first = if prop.contains(MsFlags::MS_SHARED) {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    } else {
        prop | MsFlags::MS_REC
    };
    do_mount(None, Path::new("/"), None, first, None)?;
    // pivot_root needs the new root to be a mount point.
    do_mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    mounts::mount_all(ctx)?;
    devices::create(ctx)?;
    create_cwd(ctx)
}

/// A missing working directory is created, as runc does, so that images
/// with a WorkingDir that no layer made still start.
fn create_cwd(ctx: &Context) -> Result<()> {
    let Some(cwd) = ctx.spec.process().as_ref().map(|p| p.cwd()) else {
        return Ok(());
    };
    let dir = resolve::resolve_in_root(ctx.rootfs, cwd)
        .map_err(io_err(format!("resolve cwd {}", cwd.display())))?;
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(io_err(format!("create cwd {}", cwd.display())))?;
    }
    Ok(())
}

/// Switch root, then apply what must be done from inside: sysctls,
/// read-only and masked paths, a read-only root.
pub fn finish(ctx: &Context) -> Result<()> {
    pivot::switch_root(ctx.rootfs, ctx.no_pivot)?;
    let linux = ctx.spec.linux().as_ref();
    if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        let flags = options::root_propagation(Some(p)).map_err(|source| Error::Option {
            dest: "/".into(),
            source,
        })?;
        do_mount(None, Path::new("/"), None, flags, None)?;
    }
    paths::write_sysctls(ctx.spec)?;
    paths::readonly_paths(ctx.spec)?;
    paths::masked_paths(ctx.spec)?;
    if ctx
        .spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        paths::remount_readonly(Path::new("/"))?;
    }
    Ok(())
}
