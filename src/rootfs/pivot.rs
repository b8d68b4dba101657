//! Switching the process's root to the container's rootfs.

use std::path::Path;

use nix::mount::{umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, pivot_root};

use super::{do_mount, sys_err, Result};

/// pivot_root with the new and old root stacked on one directory, then the
/// old root detached: no temporary directory is needed in the image. With
/// `no_pivot` (initramfs hosts, where pivot_root fails) move the mount over
/// / and chroot instead.
pub fn switch_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    // The old root, to come back to once it is stacked on the new one.
    let old_root = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err("open /"))?;
    chdir(rootfs).map_err(sys_err(format!("chdir {}", rootfs.display())))?;
    if no_pivot {
        do_mount(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
        chroot(".").map_err(sys_err("chroot"))?;
    } else {
        pivot_root(".", ".").map_err(sys_err(format!("pivot_root {}", rootfs.display())))?;
        nix::unistd::fchdir(&old_root).map_err(sys_err("chdir to old root"))?;
        // The old root is on top now. Make sure unmounting it cannot
        // propagate to the host, then drop it.
        do_mount(
            None,
            Path::new("."),
            None,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None,
        )?;
        umount2(".", MntFlags::MNT_DETACH).map_err(sys_err("unmount old root"))?;
    }
    chdir("/").map_err(sys_err("chdir /"))
}

/// Change root to `rootfs` without touching any mount: for a container
/// without a mount namespace of its own. The path resolves in the
/// namespace the container is in (a joined one's, not rt's).
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    chdir(rootfs).map_err(sys_err(format!("chdir {}", rootfs.display())))?;
    chroot(".").map_err(sys_err(format!("chroot {}", rootfs.display())))?;
    chdir("/").map_err(sys_err("chdir /"))
}
