use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::{self, CreateOptions};
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Path to the bundle directory.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub flags: CreateFlags,
    pub id: String,
}

/// Flags `create` and `run` share.
#[derive(Debug, ClapArgs)]
pub struct CreateFlags {
    /// Write the container's pid to this file.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Move the rootfs over / and chroot instead of pivot_root.
    #[arg(long)]
    pub no_pivot: bool,
    /// Keep the caller's session keyring instead of a new one.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra descriptors (from 3 up) to the container.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

impl CreateFlags {
    pub fn options<'a>(
        &'a self,
        root: &'a Path,
        rootless: bool,
        driver: crate::cgroups::Driver,
        id: &'a str,
        bundle: &'a Path,
    ) -> CreateOptions<'a> {
        CreateOptions {
            root,
            rootless,
            id,
            bundle,
            pid_file: self.pid_file.as_deref(),
            console_socket: self.console_socket.as_deref(),
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds + super::listen_fds(),
            no_new_keyring: self.no_new_keyring,
            console_fd: None,
            cgroup_driver: driver,
        }
    }
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    container::create(
        a.flags
            .options(&g.root, g.rootless(), g.cgroup_driver(), &a.id, &a.bundle),
    )?;
    Ok(0)
}
