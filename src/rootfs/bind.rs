//! Bind mounts and their remounts: the one home of the helpers that
//! config mounts, the cgroup filesystem, device nodes and masked or
//! read-only paths all use.

use std::fs;
use std::path::Path;

use nix::mount::MsFlags;
use nix::sys::statvfs::{statvfs, FsFlags};

use super::options::MountOptions;
use super::{do_mount, io_err, Result};

/// Bind `source` onto `dest`, creating `dest` as a file or directory to
/// match, then remount with the requested flags (a bind ignores them on
/// the first call).
pub fn bind(source: &Path, dest: &Path, opts: &MountOptions) -> Result<()> {
    prepare_target(source, dest)?;
    let mut flags = MsFlags::MS_BIND;
    if opts.recursive {
        flags |= MsFlags::MS_REC;
    }
    do_mount(Some(source), dest, None, flags, None)?;
    let wanted = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    if !wanted.is_empty() {
        remount_bind(dest, wanted, opts.cleared)?;
    }
    Ok(())
}

/// Create `dest` as a directory or an empty file, whichever `source` is.
pub fn prepare_target(source: &Path, dest: &Path) -> Result<()> {
    let meta = fs::metadata(source).map_err(io_err(format!("bind source {}", source.display())))?;
    if meta.is_dir() {
        super::create_dirs(dest)?;
    } else {
        if let Some(parent) = dest.parent() {
            super::create_dirs(parent)?;
        }
        if fs::symlink_metadata(dest).is_err() {
            fs::write(dest, b"").map_err(io_err(format!("create {}", dest.display())))?;
        }
    }
    Ok(())
}

/// Remount a bind with `flags`, keeping the flags the kernel locks on
/// mounts inherited from a more privileged namespace (dropping them would
/// be refused with EPERM).
pub fn remount_bind(dest: &Path, flags: MsFlags, cleared: MsFlags) -> Result<()> {
    let locked = locked_flags(dest) & !cleared;
    do_mount(
        None,
        dest,
        None,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | flags | locked,
        None,
    )
}

fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs_flag) {
            out |= ms_flag;
        }
    }
    out
}
