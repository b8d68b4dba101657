//! The container's root filesystem: mounts, devices, pivot_root, masked and
//! read-only paths. `prepare` runs before the runtime hooks (the host is
//! still visible), `finish` switches root and seals it.

use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Spec;

pub mod attr;
mod bind;
mod cgroupfs;
mod copyup;
mod devices;
pub mod idmap;
mod mounts;
pub mod options;
mod paths;
mod pivot;
mod propagation;
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

/// Create `dir` and its missing parents with mode 0755, as runc does. The
/// init runs with umask 0 (device nodes get exact modes), so a plain
/// create_dir_all would leave them world-writable: a container user could
/// then write in the /opt that a mount of /opt/data made.
pub(crate) fn create_dirs(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(io_err(format!("create {}", dir.display())))
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
    /// The container has a mount namespace of its own. Without one
    /// (shared with rt, or joined) rt mounts nothing and only changes root
    /// (spec validation refused every field that would need a mount).
    pub own_mount_ns: bool,
    /// Idmapped trees rt prepared (idmap.rs): (index in `mounts`, fd).
    pub idmapped: &'a [(usize, std::os::fd::RawFd)],
}

/// Everything up to (not including) the switch of root.
pub fn prepare(ctx: &Context) -> Result<()> {
    if !ctx.own_mount_ns {
        return create_cwd(ctx);
    }
    let prop = root_propagation(ctx)?;
    // First cut our copy of the host's tree off from propagating back, so
    // nothing rt mounts leaks out (propagation.rs): the exact value is
    // applied to the new root after pivot_root.
    do_mount(
        None,
        Path::new("/"),
        None,
        propagation::first_root_flags(prop),
        None,
    )?;
    if prop.contains(MsFlags::MS_SHARED) {
        propagation::slave_rootfs_parent(ctx.rootfs)?;
    }
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

fn rootfs_propagation<'a>(ctx: &Context<'a>) -> Option<&'a str> {
    let linux = ctx.spec.linux().as_ref()?;
    linux
        .rootfs_propagation()
        .as_deref()
        .filter(|p| !p.is_empty())
}

/// linux.rootfsPropagation as mount flags (rslave when unset, as runc).
fn root_propagation(ctx: &Context) -> Result<MsFlags> {
    options::root_propagation(rootfs_propagation(ctx)).map_err(|source| Error::Option {
        dest: "/".into(),
        source,
    })
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
        create_dirs(&dir)?;
    }
    Ok(())
}

/// Switch root, then apply what must be done from inside: sysctls,
/// read-only and masked paths, a read-only root.
pub fn finish(ctx: &Context) -> Result<()> {
    if !ctx.own_mount_ns {
        // pivot_root would move every process of the namespace whose root
        // is its root (the host's, or those of whoever made a joined one)
        // into the container: chroot moves only us.
        pivot::chroot_into(ctx.rootfs)?;
        return paths::write_sysctls(ctx.spec);
    }
    pivot::switch_root(ctx.rootfs, ctx.no_pivot)?;
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
    // Last: an unbindable /proc or /dev would refuse the binds of masked
    // and read-only paths above.
    if rootfs_propagation(ctx).is_some() {
        do_mount(None, Path::new("/"), None, root_propagation(ctx)?, None)?;
    }
    Ok(())
}
