//! Path resolution and file-system primitives that never leave a root
//! directory. Every lookup goes through `openat2(RESOLVE_IN_ROOT)`, so `..`,
//! absolute symlinks and symlink chains are all clamped to the root by the
//! kernel itself rather than by string checks that races or edge cases defeat.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Opens `path` (relative, already normalised) under `root` with every
/// component resolved inside it. Symlinks are followed, but only within root.
pub fn open_in_root(root: RawFd, path: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let c = cstr(if path.is_empty() { b"." } else { path })?;
    // SAFETY: open_how is plain data; all-zero is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // EAGAIN means a concurrent rename or mount change raced the lookup;
    // bounded, so a lookup the kernel can never complete fails instead.
    for _ in 0..1000 {
        // SAFETY: `how` and `c` outlive the call; the kernel copies both.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if r >= 0 {
            // SAFETY: the kernel just handed us this descriptor.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

/// Opens a directory inside root, creating missing components (mode 0755) on
/// the way, the way tar does for entries whose parents were not archived.
pub fn mkdir_all_in_root(root: RawFd, path: &[u8]) -> io::Result<OwnedFd> {
    mkdir_all_depth(root, path, 0)
}

/// Like tar and umoci, a dangling symlink on the way is followed (inside
/// the root) and its target directory created; `depth` bounds symlink loops.
fn mkdir_all_depth(root: RawFd, path: &[u8], depth: u32) -> io::Result<OwnedFd> {
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    match open_in_root(root, path, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let mut cur = open_in_root(root, b"", libc::O_PATH | libc::O_DIRECTORY)?;
    let mut prefix: Vec<u8> = Vec::new();
    for comp in path.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        prefix.extend_from_slice(comp);
        match open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => cur = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // The missing component may be a dangling symlink: mkdirat on
                // it fails with EEXIST instead of creating the target, which
                // is the safe outcome.
                let name = cstr(comp)?;
                // SAFETY: valid fd and NUL-terminated name.
                if unsafe { libc::mkdirat(cur.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
                    let e = io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(e);
                    }
                    if let Some(target) = readlink_at(cur.as_raw_fd(), &name)? {
                        let parent = &prefix[..prefix.len() - comp.len()];
                        let full = if target.starts_with(b"/") {
                            target
                        } else {
                            [parent, &target[..]].concat()
                        };
                        let clean = super::whiteout::normalize(&full);
                        mkdir_all_depth(root, &clean, depth + 1)?;
                    }
                }
                cur = open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(cur)
}

/// The target of `name` if it is a symlink.
fn readlink_at(dir: RawFd, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: buffer is valid for its length.
    let n = unsafe { libc::readlinkat(dir, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(None),
            _ => Err(e),
        };
    }
    buf.truncate(n as usize);
    Ok(Some(buf))
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`; `None` when absent.
pub fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is written by the kernel on success only.
    let r = unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        // SAFETY: fstatat succeeded and filled st.
        return Ok(Some(unsafe { st.assume_init() }));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => Ok(None),
        _ => Err(e),
    }
}

/// Removes `name` in `dir`, recursing into directories without ever
/// following a symlink (each level is opened with O_NOFOLLOW).
pub fn remove_all_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: valid fd and name.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => return Ok(()),
        Some(libc::EISDIR) | Some(libc::EPERM) => {}
        _ => return Err(e),
    }
    let sub = openat(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
    )?;
    clear_dir(sub.as_raw_fd(), &|_| false)?;
    drop(sub);
    // SAFETY: valid fd and name.
    if unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ENOENT) {
            return Err(e);
        }
    }
    Ok(())
}

/// Removes every child of the open directory `dir` for which `keep` is false.
pub fn clear_dir(dir: RawFd, keep: &dyn Fn(&[u8]) -> bool) -> io::Result<()> {
    for name in list_dir(dir)? {
        if keep(name.as_bytes()) {
            continue;
        }
        remove_all_at(dir, &name)?;
    }
    Ok(())
}

/// Names in a directory (without `.` and `..`), read through a duplicate so
/// the caller's descriptor offset is untouched.
pub fn list_dir(dir: RawFd) -> io::Result<Vec<CString>> {
    let fd = openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut d = nix::dir::Dir::from_fd(fd).map_err(io::Error::from)?;
    let mut out = Vec::new();
    for ent in d.iter() {
        let ent = ent.map_err(io::Error::from)?;
        let n = ent.file_name();
        if n.to_bytes() == b"." || n.to_bytes() == b".." {
            continue;
        }
        out.push(n.to_owned());
    }
    Ok(out)
}

pub fn openat(dir: RawFd, name: &CStr, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and name; mode is used only with O_CREAT.
    let r = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

pub fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains NUL"))
}

pub fn check(r: libc::c_int) -> io::Result<()> {
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `/proc/self/fd/N/name`: lets path-only calls (lsetxattr) act on an entry
/// relative to a directory descriptor; only the final name is not followed.
pub fn fd_path(dir: RawFd, name: &[u8]) -> io::Result<CString> {
    let mut p = format!("/proc/self/fd/{dir}/").into_bytes();
    p.extend_from_slice(name);
    cstr(&p)
}
