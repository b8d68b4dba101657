//! `mounts` from config.json, applied in order below the rootfs.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::Mount;

use super::options::{self, MountOptions};
use super::resolve::resolve_in_root;
use super::{cgroupfs, do_mount, io_err, Context, Error, Result};

pub fn mount_all(ctx: &Context) -> Result<()> {
    for m in ctx.spec.mounts().iter().flatten() {
        mount_one(ctx, m)?;
    }
    Ok(())
}

fn mount_one(ctx: &Context, m: &Mount) -> Result<()> {
    let opts =
        options::parse(m.options().as_deref().unwrap_or(&[])).map_err(|source| Error::Option {
            dest: m.destination().clone(),
            source,
        })?;
    let fstype = m.typ().as_deref().unwrap_or("none");
    let dest = resolve_in_root(ctx.rootfs, m.destination())
        .map_err(io_err(format!("resolve {}", m.destination().display())))?;
    if !dest.starts_with(ctx.rootfs) {
        return Err(Error::Invalid(format!(
            "mount destination {} escapes the rootfs",
            m.destination().display()
        )));
    }
    if fstype == "cgroup" || fstype == "cgroup2" {
        return cgroupfs::mount(ctx, &dest, &opts);
    }
    if opts.bind || fstype == "bind" {
        let source = source_path(ctx, m)?;
        bind(&source, &dest, &opts)?;
    } else {
        fs::create_dir_all(&dest).map_err(io_err(format!("create {}", dest.display())))?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(fstype));
        do_mount(Some(&source), &dest, Some(fstype), opts.flags, data)?;
    }
    for p in &opts.propagation {
        do_mount(None, &dest, None, *p, None)?;
    }
    Ok(())
}

/// A relative bind source is taken relative to the bundle, as runc does.
fn source_path(ctx: &Context, m: &Mount) -> Result<PathBuf> {
    let src = m.source().clone().ok_or_else(|| {
        Error::Invalid(format!(
            "bind mount {} has no source",
            m.destination().display()
        ))
    })?;
    Ok(if src.is_absolute() {
        src
    } else {
        ctx.bundle.join(src)
    })
}

/// Bind `source` onto `dest`, creating `dest` as a file or directory to
/// match, then remount with the requested flags (a bind ignores them on
/// the first call).
pub fn bind(source: &Path, dest: &Path, opts: &MountOptions) -> Result<()> {
    let meta = fs::metadata(source).map_err(io_err(format!("bind source {}", source.display())))?;
    if meta.is_dir() {
        fs::create_dir_all(dest).map_err(io_err(format!("create {}", dest.display())))?;
    } else {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(format!("create {}", parent.display())))?;
        }
        if fs::symlink_metadata(dest).is_err() {
            fs::write(dest, b"").map_err(io_err(format!("create {}", dest.display())))?;
        }
    }
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
