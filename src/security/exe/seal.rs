//! rt re-executed from a copy of itself that nobody can write: needed when
//! the container's processes can get past non-dumpable (they hold
//! CAP_SYS_PTRACE over rt's user namespace) and so can open
//! /proc/PID/exe of rt's own processes in the container.
//!
//! First choice: an overlayfs made with fsopen() whose only layers are
//! rt's directory and an empty one, mounted read-only and never attached
//! anywhere. There is no upper layer, so the superblock itself is
//! read-only: unlike a read-only bind mount, it cannot be remounted
//! writable, and no mount namespace shows it. It costs no copy (the page
//! cache is the real file's). Overlayfs refuses a single lower layer
//! without an upper one, hence the empty directory. Fallback (no overlay,
//! no privileges): a sealed memfd copy, which costs a copy of the binary.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use super::super::{Error, Result};

/// Set in the environment of the re-executed copy: a second re-exec
/// would mean the check below is wrong, and must not loop.
const MARK: &str = "_RT_SEALED_EXE";
const BASE_SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

fn fail(what: &str, e: std::io::Error) -> Error {
    Error::SealedExe(format!("{what}: {e}"))
}

fn last(what: &str) -> Error {
    fail(what, std::io::Error::last_os_error())
}

/// Does rt run from a file no container can make writable: a sealed
/// memfd, or anything on a read-only mount or superblock (our overlay, or
/// rt installed on a read-only bind mount: the fast path)?
pub fn running_sealed() -> bool {
    let Ok(exe) = File::open("/proc/self/exe") else {
        return false;
    };
    let fd = exe.as_raw_fd();
    // SAFETY: fcntl on our own descriptor.
    let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
    if seals >= 0 && seals & BASE_SEALS == BASE_SEALS {
        return true;
    }
    // SAFETY: an all-zero statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatvfs fills `st` for our descriptor.
    unsafe { libc::fstatvfs(fd, &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0 }
}

/// Re-execute rt, with the same arguments and environment, from a sealed
/// copy; returns only on failure. `scratch` is a directory rt owns (the
/// state root), which holds the overlay's empty layer.
pub fn reexec(scratch: &Path) -> Result<std::convert::Infallible> {
    if std::env::var_os(MARK).is_some() {
        return Err(Error::SealedExe(
            "rt was re-executed from a sealed copy but does not run from one".into(),
        ));
    }
    let exe = match overlay(scratch) {
        Ok(fd) => fd,
        Err(e) => {
            crate::log::debug(&format!(
                "sealed exe: no overlay ({e}); copying rt into memory"
            ));
            memfd_copy()?
        }
    };
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(&v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).unwrap_or_default());
    let e = nix::unistd::execveat(&exe, c"", &args, &env, nix::fcntl::AtFlags::AT_EMPTY_PATH)
        .unwrap_err();
    Err(Error::SealedExe(format!("exec the sealed copy: {e}")))
}

/// overlayfs lowerdir syntax: ':' separates layers, '\' escapes.
fn escape(p: &Path) -> String {
    p.to_string_lossy()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

fn overlay(scratch: &Path) -> Result<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(|e| fail("read /proc/self/exe", e))?;
    let name = exe.file_name().map(OsStr::as_bytes).unwrap_or_default();
    // A replaced binary reads as "... (deleted)": its path names another
    // file now, so only a copy of what runs will do.
    if name.ends_with(b" (deleted)") {
        return Err(Error::SealedExe("rt's binary was replaced".into()));
    }
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let fs = syscall_fd(|| unsafe {
        // SAFETY: fsopen with a valid name.
        libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), libc::FSOPEN_CLOEXEC)
    })
    .map_err(|e| fail("fsopen overlay", e))?;
    layers(&fs, dir, scratch)?;
    // Best effort: without it, layers on two filesystems log a warning.
    let _ = set(&fs, "xino", "off");
    // SAFETY: FSCONFIG_CMD_CREATE takes no key or value.
    if unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_CMD_CREATE,
            0,
            0,
            0,
        )
    } < 0
    {
        return Err(last("create the overlay"));
    }
    let attrs = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOSUID;
    let mnt = syscall_fd(|| unsafe {
        // SAFETY: fsmount of our configured context.
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attrs,
        )
    })
    .map_err(|e| fail("fsmount overlay", e))?;
    let cname = CString::new(name).map_err(|_| Error::SealedExe("binary name has a NUL".into()))?;
    // SAFETY: openat relative to the detached mount's root.
    let fd = unsafe {
        libc::openat(
            mnt.as_raw_fd(),
            cname.as_ptr(),
            libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(last("open rt through the overlay"));
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// rt's directory on top (so nothing can mask the binary) and an empty
/// directory under `scratch` below. Overlayfs wants both reachable in our
/// mount namespace (it refuses a detached tmpfs as a layer) and refuses
/// layers that contain one another, so a scratch directory inside rt's
/// directory (or the other way round) means no overlay.
fn layers(fs: &OwnedFd, dir: &Path, scratch: &Path) -> Result<()> {
    let empty = scratch.join(".sealed-exe");
    if empty.starts_with(dir) || dir.starts_with(&empty) {
        return Err(Error::SealedExe(format!(
            "{} lies inside rt's directory {}",
            empty.display(),
            dir.display()
        )));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&empty)
        .map_err(|e| fail(&format!("create {}", empty.display()), e))?;
    set(
        fs,
        "lowerdir",
        &format!("{}:{}", escape(dir), escape(&empty)),
    )
}

fn set(fs: &OwnedFd, key: &str, value: &str) -> Result<()> {
    let (k, v) = (
        CString::new(key).unwrap_or_default(),
        CString::new(value).map_err(|_| Error::SealedExe("path has a NUL".into()))?,
    );
    // SAFETY: FSCONFIG_SET_STRING with valid strings.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            libc::FSCONFIG_SET_STRING,
            k.as_ptr(),
            v.as_ptr(),
            0,
        )
    };
    if rc < 0 {
        return Err(last(&format!("overlay option {key}={value}")));
    }
    Ok(())
}

fn syscall_fd(f: impl FnOnce() -> libc::c_long) -> std::io::Result<OwnedFd> {
    let fd = f();
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn memfd_copy() -> Result<OwnedFd> {
    let exe = File::open("/proc/self/exe").map_err(|e| fail("open /proc/self/exe", e))?;
    let size = exe
        .metadata()
        .map_err(|e| fail("stat /proc/self/exe", e))?
        .len();
    // SAFETY: memfd_create with a valid name; the fd is owned below.
    let fd =
        unsafe { libc::memfd_create(c"rt".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(last("memfd_create"));
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    let copy = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut left = size as usize;
    while left > 0 {
        // SAFETY: both descriptors are ours; sendfile copies in the kernel
        // (copy_file_range refuses to cross file systems).
        let n = unsafe {
            libc::sendfile(
                copy.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                left,
            )
        };
        if n <= 0 {
            return Err(last("copy rt into memory"));
        }
        left -= n as usize;
    }
    // SAFETY: fcntl on our own descriptor.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, BASE_SEALS) } < 0 {
        return Err(last("seal the copy"));
    }
    Ok(copy)
}
