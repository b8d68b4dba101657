//! Device nodes and the standard /dev symlinks. As root in the host's user
//! namespace nodes are made with mknod; inside a new user namespace mknod
//! is refused, so the host's node is bind-mounted instead.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::MsFlags;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chown, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::bind::bind;
use super::options::MountOptions;
use super::resolve::resolve_in_root;
use super::{do_mount, io_err, sys_err, Context, Error, Result};

/// The devices every container gets: (path, major, minor).
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

const LINKS: [(&str, &str); 5] = [
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
];

/// Does the config give /dev from the host (a bind), so rt must not add
/// nodes of its own?
fn dev_is_bound(ctx: &Context) -> bool {
    ctx.spec.mounts().iter().flatten().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    })
}

pub fn create(ctx: &Context) -> Result<()> {
    let bound = dev_is_bound(ctx);
    if !bound {
        for (path, major, minor) in DEFAULT_DEVICES {
            let dev = Node {
                path: PathBuf::from(path),
                kind: SFlag::S_IFCHR,
                major,
                minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            };
            make(ctx, &dev)?;
        }
    }
    for d in ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        make(ctx, &Node::from_spec(d)?)?;
    }
    if !bound {
        for (target, link) in LINKS {
            let at = ctx.rootfs.join(link.trim_start_matches('/'));
            // /dev/ptmx may exist as a node from the image; the symlink to
            // the container's own devpts instance must win.
            if link == "/dev/ptmx" {
                let _ = fs::remove_file(&at);
            }
            match symlink(target, &at) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(format!("symlink {link}"))(e)),
            }
        }
        if Path::new("/proc/kcore").exists() {
            let _ = symlink("/proc/kcore", ctx.rootfs.join("dev/core"));
        }
    }
    Ok(())
}

struct Node {
    path: PathBuf,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

impl Node {
    fn from_spec(d: &LinuxDevice) -> Result<Node> {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Invalid(format!(
                    "device {}: type 'a' is only valid in cgroup rules",
                    d.path().display()
                )))
            }
        };
        Ok(Node {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        })
    }
}

fn make(ctx: &Context, dev: &Node) -> Result<()> {
    if !dev.path.starts_with("/dev") {
        return Err(Error::Invalid(format!(
            "device path {} must be under /dev",
            dev.path.display()
        )));
    }
    let at = resolve_in_root(ctx.rootfs, &dev.path)
        .map_err(io_err(format!("resolve {}", dev.path.display())))?;
    if let Some(parent) = at.parent() {
        super::create_dirs(parent)?;
    }
    if ctx.new_user_ns {
        let host = dev.path.clone();
        return bind(&host, &at, &MountOptions::default());
    }
    let _ = fs::remove_file(&at);
    mknod(
        &at,
        dev.kind,
        Mode::from_bits_truncate(dev.mode & 0o7777),
        makedev(dev.major, dev.minor),
    )
    .map_err(sys_err(format!("mknod {}", dev.path.display())))?;
    chown(
        &at,
        Some(Uid::from_raw(dev.uid)),
        Some(Gid::from_raw(dev.gid)),
    )
    .map_err(sys_err(format!("chown {}", dev.path.display())))?;
    Ok(())
}

/// Create the container's terminal from its own devpts instance (after
/// pivot_root), make the slave the process's controlling terminal and
/// stdio, bind it to /dev/console, and return the master to hand to the
/// console socket.
pub fn setup_console(size: Option<(u16, u16)>) -> Result<OwnedFd> {
    open_console(size, true)
}

/// A terminal for a process joining a running container: the same, except
/// /dev/console stays the init's.
pub fn setup_console_exec(size: Option<(u16, u16)>) -> Result<OwnedFd> {
    open_console(size, false)
}

fn open_console(size: Option<(u16, u16)>, bind_console: bool) -> Result<OwnedFd> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(sys_err("open /dev/ptmx"))?;
    grantpt(&master).map_err(sys_err("grantpt"))?;
    unlockpt(&master).map_err(sys_err("unlockpt"))?;
    let name = ptsname_r(&master).map_err(sys_err("ptsname"))?;
    let slave = open(
        Path::new(&name),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(sys_err(format!("open {name}")))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a valid pointer.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    if bind_console {
        let console = Path::new("/dev/console");
        if fs::symlink_metadata(console).is_err() {
            let _ = fs::write(console, b"");
        }
        do_mount(
            Some(Path::new(&name)),
            console,
            None,
            MsFlags::MS_BIND,
            None,
        )?;
    }
    nix::unistd::setsid().map_err(sys_err("setsid"))?;
    // SAFETY: TIOCSCTTY on a terminal we just opened.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(sys_err("set controlling terminal")(nix::Error::last()));
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors, which we own.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(sys_err("dup terminal onto stdio")(nix::Error::last()));
        }
    }
    // SAFETY: PtyMaster owns the descriptor; into_raw_fd hands it over.
    Ok(unsafe { OwnedFd::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) })
}
