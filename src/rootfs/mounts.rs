//! `mounts` from config.json, applied in order below the rootfs.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use super::bind::{bind, remount_bind};
use super::options::{self, MountOptions};
use super::resolve::resolve_in_root;
use super::{cgroupfs, do_mount, io_err, Context, Error, Result};
use super::{copyup, sys_err};

pub fn mount_all(ctx: &Context) -> Result<()> {
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        let idmapped = ctx
            .idmapped
            .iter()
            .find(|(at, _)| *at == i)
            .map(|(_, fd)| *fd);
        mount_one(ctx, m, idmapped)?;
    }
    Ok(())
}

fn mount_one(ctx: &Context, m: &Mount, idmapped: Option<std::os::fd::RawFd>) -> Result<()> {
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
    let is_bind = opts.bind || fstype == "bind";
    if opts.copy_up && (is_bind || fstype != "tmpfs") {
        return Err(Error::Invalid(format!(
            "mount {}: tmpcopyup needs a tmpfs mount",
            m.destination().display()
        )));
    }
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    if is_bind {
        let source = source_path(ctx, m)?;
        if opts.copy_symlink && fs::symlink_metadata(&source).is_ok_and(|s| s.is_symlink()) {
            // The destination itself is replaced, never what it points to.
            let d = m.destination();
            let (Some(parent), Some(name)) = (d.parent(), d.file_name()) else {
                return Err(Error::Invalid("copy-symlink onto /".into()));
            };
            let parent = resolve_in_root(ctx.rootfs, parent)
                .map_err(io_err(format!("resolve {}", parent.display())))?;
            return copy_symlink(&source, &parent.join(name));
        }
        if opts.remount {
            let wanted = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
            remount_bind(&dest, wanted, opts.cleared)?;
        } else if let Some(tree) = idmapped {
            super::bind::prepare_target(&source, &dest)?;
            super::idmap::attach(tree, &dest)?;
            let wanted = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
            if !wanted.is_empty() {
                remount_bind(&dest, wanted, opts.cleared)?;
            }
        } else {
            bind(&source, &dest, &opts)?;
        }
    } else if opts.remount {
        let flags = opts.flags | MsFlags::MS_REMOUNT;
        do_mount(None, &dest, Some(fstype), flags, data)?;
    } else {
        super::create_dirs(&dest)?;
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(fstype));
        // The covered directory, to copy from once the tmpfs is on it; the
        // tmpfs is writable until filled, then made what was asked.
        let copy_from = match opts.copy_up {
            true => copyup::open_source(&dest)?,
            false => None,
        };
        let ro = copy_from.is_some() && opts.flags.contains(MsFlags::MS_RDONLY);
        let first = if ro {
            opts.flags & !MsFlags::MS_RDONLY
        } else {
            opts.flags
        };
        do_mount(Some(&source), &dest, Some(fstype), first, data)?;
        if let Some(from) = copy_from {
            copyup::copy_up(&from, &dest)?;
        }
        if ro {
            do_mount(
                None,
                &dest,
                Some(fstype),
                opts.flags | MsFlags::MS_REMOUNT,
                data,
            )?;
        }
    }
    super::attr::apply(&dest, &opts.recursive_attrs)?;
    set_root_attributes(&dest, &opts)?;
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

/// copy-symlink (crun's extension): the destination becomes a symlink
/// with the source's target, which then resolves inside the container
/// instead of binding whatever the host's link points to.
fn copy_symlink(source: &Path, dest: &Path) -> Result<()> {
    let target =
        fs::read_link(source).map_err(io_err(format!("read symlink {}", source.display())))?;
    if let Some(parent) = dest.parent() {
        super::create_dirs(parent)?;
    }
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            return Err(Error::Invalid(format!(
                "copy-symlink: {} is a directory",
                dest.display()
            )))
        }
        Ok(_) => fs::remove_file(dest).map_err(io_err(format!("replace {}", dest.display())))?,
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&target, dest).map_err(io_err(format!("symlink {}", dest.display())))
}

/// X-mount.owner=, X-mount.group=, X-mount.mode= (mount(8)): the new
/// mount's root gets them after mounting.
fn set_root_attributes(dest: &Path, opts: &MountOptions) -> Result<()> {
    if opts.owner.is_some() || opts.group.is_some() {
        let (uid, gid) = (
            opts.owner.map(nix::unistd::Uid::from_raw),
            opts.group.map(nix::unistd::Gid::from_raw),
        );
        nix::unistd::chown(dest, uid, gid).map_err(sys_err(format!("chown {}", dest.display())))?;
    }
    if let Some(mode) = opts.mode {
        let mode = nix::sys::stat::Mode::from_bits_truncate(mode);
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            dest,
            mode,
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(sys_err(format!("chmod {}", dest.display())))?;
    }
    Ok(())
}
