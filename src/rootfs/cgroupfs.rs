//! The cgroup filesystem inside the container. Each host hierarchy's
//! directory for this container is bind-mounted, so the container sees its
//! own cgroup as the root of every hierarchy, on v1, hybrid and v2 hosts
//! alike, with or without a cgroup namespace.

use std::path::Path;

use nix::mount::MsFlags;

use super::bind::{bind, remount_bind};
use super::options::MountOptions;
use super::{do_mount, Context, Result};

pub fn mount(ctx: &Context, dest: &Path, opts: &MountOptions) -> Result<()> {
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let bind_opts = MountOptions {
        flags: opts.flags,
        recursive: false,
        bind: true,
        ..Default::default()
    };
    // A unified-only host: the one hierarchy is the mount itself.
    if let [(name, dir)] = ctx.cgroup_dirs {
        if name.is_empty() {
            return bind(dir, dest, &bind_opts);
        }
    }
    super::create_dirs(dest)?;
    let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    do_mount(
        Some(Path::new("tmpfs")),
        dest,
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )?;
    for (name, dir) in ctx.cgroup_dirs {
        bind(dir, &dest.join(name), &bind_opts)?;
    }
    if ro {
        remount_bind(dest, tmpfs_flags | MsFlags::MS_RDONLY, MsFlags::empty())?;
    }
    Ok(())
}
