//! `tmpcopyup`: a tmpfs mounted over a directory of the image starts with a
//! copy of what that directory held (podman puts one on /run, /tmp and
//! /var/tmp with --read-only, and on every --tmpfs). The directory is
//! opened before the mount, so its contents stay reachable through the
//! descriptor once the tmpfs covers it, and copied entry by entry with
//! *at() calls that never follow a symlink: owner, mode, times, extended
//! attributes, symlinks, device nodes and hard links are kept. Attributes
//! the tmpfs cannot hold (a user.* xattr on kernels before 6.6) are skipped,
//! as crun does.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{
    fchmod, fchmodat, fstatat, futimens, mkdirat, mknodat, utimensat, FchmodatFlags, FileStat,
    Mode, SFlag, UtimensatFlags,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};

use super::{Error, Result};

/// Open `dir` for reading its entries later, or None when it is not a
/// directory (nothing to copy up).
pub fn open_source(dir: &Path) -> Result<Option<OwnedFd>> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match nix::fcntl::open(dir, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOTDIR | Errno::ENOENT) => Ok(None),
        Err(e) => Err(fail(dir, "open", e)),
    }
}

/// Copy everything in `from` (the covered directory) into `to` (the new
/// tmpfs's root, at `dest`).
pub fn copy_up(from: &OwnedFd, dest: &Path) -> Result<()> {
    let to = open_dir(None, dest.as_os_str(), dest)?;
    let mut walk = Walk {
        dest: dest.to_path_buf(),
        links: HashMap::new(),
        root: to.try_clone().map_err(|e| Error::Io {
            context: format!("tmpcopyup {}", dest.display()),
            source: e,
        })?,
    };
    walk.dir(from.as_fd(), to.as_fd(), Path::new(""))
}

struct Walk {
    dest: PathBuf,
    /// First copy of each multiply-linked file: (dev, ino) -> path below
    /// the tmpfs root, to link the others to.
    links: HashMap<(u64, u64), PathBuf>,
    root: OwnedFd,
}

fn fail(path: &Path, what: &str, e: Errno) -> Error {
    Error::Sys {
        context: format!("tmpcopyup: {what} {}", path.display()),
        source: e,
    }
}

fn open_dir(at: Option<BorrowedFd>, name: &OsStr, shown: &Path) -> Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let r = match at {
        Some(d) => openat(d, name, flags, Mode::empty()),
        None => nix::fcntl::open(name, flags, Mode::empty()),
    };
    r.map_err(|e| fail(shown, "open", e))
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

fn perm(st: &FileStat) -> Mode {
    Mode::from_bits_truncate(st.st_mode & 0o7777)
}

impl Walk {
    fn dir(&mut self, from: BorrowedFd, to: BorrowedFd, rel: &Path) -> Result<()> {
        let shown = self.dest.join(rel);
        let dup = from.try_clone_to_owned().map_err(|e| Error::Io {
            context: format!("tmpcopyup {}", shown.display()),
            source: e,
        })?;
        let mut entries = Dir::from_fd(dup).map_err(|e| fail(&shown, "read", e))?;
        let mut names = Vec::new();
        for e in entries.iter() {
            let e = e.map_err(|e| fail(&shown, "read", e))?;
            let name = OsStr::from_bytes(e.file_name().to_bytes()).to_os_string();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        for name in names {
            self.entry(from, to, &name, &rel.join(&name))?;
        }
        Ok(())
    }

    fn entry(&mut self, from: BorrowedFd, to: BorrowedFd, name: &OsStr, rel: &Path) -> Result<()> {
        let shown = self.dest.join(rel);
        let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| fail(&shown, "stat", e))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let (atime, mtime) = times(&st);
        let (uid, gid) = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(to, name, Mode::from_bits_truncate(0o700))
                    .map_err(|e| fail(&shown, "mkdir", e))?;
                let src = open_dir(Some(from), name, &shown)?;
                let dst = open_dir(Some(to), name, &shown)?;
                self.dir(src.as_fd(), dst.as_fd(), rel)?;
                fchown(&dst, uid, gid).map_err(|e| fail(&shown, "chown", e))?;
                fchmod(&dst, perm(&st)).map_err(|e| fail(&shown, "chmod", e))?;
                copy_xattrs(from, to, name, &shown)?;
                // Last: filling the directory changed its times.
                futimens(&dst, &atime, &mtime).map_err(|e| fail(&shown, "set times of", e))?;
                return Ok(());
            }
            SFlag::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key) {
                        return linkat(&self.root, first.as_path(), to, name, AtFlags::empty())
                            .map_err(|e| fail(&shown, "link", e));
                    }
                    self.links.insert(key, rel.to_path_buf());
                }
                self.file(from, to, name, &st, &shown)?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(from, name).map_err(|e| fail(&shown, "readlink", e))?;
                symlinkat(target.as_os_str(), to, name).map_err(|e| fail(&shown, "symlink", e))?;
                fchownat(to, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| fail(&shown, "chown", e))?;
            }
            _ => {
                mknodat(to, name, kind, perm(&st), st.st_rdev)
                    .map_err(|e| fail(&shown, "mknod", e))?;
                fchownat(to, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(|e| fail(&shown, "chown", e))?;
                fchmodat(to, name, perm(&st), FchmodatFlags::FollowSymlink)
                    .map_err(|e| fail(&shown, "chmod", e))?;
            }
        }
        copy_xattrs(from, to, name, &shown)?;
        utimensat(to, name, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
            .map_err(|e| fail(&shown, "set times of", e))
    }

    fn file(
        &self,
        from: BorrowedFd,
        to: BorrowedFd,
        name: &OsStr,
        st: &FileStat,
        shown: &Path,
    ) -> Result<()> {
        let src = openat(
            from,
            name,
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(shown, "open", e))?;
        let dst = openat(
            to,
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| fail(shown, "create", e))?;
        let (mut src, mut dst) = (File::from(src), File::from(dst));
        std::io::copy(&mut src, &mut dst).map_err(|e| Error::Io {
            context: format!("tmpcopyup: copy {}", shown.display()),
            source: e,
        })?;
        // chown before chmod: a chown clears set-id bits.
        fchown(
            &dst,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        )
        .map_err(|e| fail(shown, "chown", e))?;
        fchmod(&dst, perm(st)).map_err(|e| fail(shown, "chmod", e))
    }
}

/// "/proc/self/fd/DIR/NAME": a path to an entry by its directory's
/// descriptor, for the l*xattr calls (there are no *at() ones, and the f*
/// ones need an open file, which a symlink or a device cannot give).
fn fd_path(dir: BorrowedFd, name: &OsStr) -> Option<CString> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.as_bytes());
    CString::new(p).ok()
}

fn copy_xattrs(from: BorrowedFd, to: BorrowedFd, name: &OsStr, shown: &Path) -> Result<()> {
    let (Some(src), Some(dst)) = (fd_path(from, name), fd_path(to, name)) else {
        return Ok(());
    };
    let list = match xattr_call(|buf, len| {
        // SAFETY: the buffer is `len` bytes long (or null with len 0).
        unsafe { libc::llistxattr(src.as_ptr(), buf.cast(), len) }
    }) {
        Ok(l) => l,
        Err(Errno::ENOTSUP) => return Ok(()),
        Err(e) => return Err(fail(shown, "list xattrs of", e)),
    };
    for key in list.split(|b| *b == 0).filter(|k| !k.is_empty()) {
        let Ok(key) = CString::new(key) else { continue };
        let value = xattr_call(|buf, len| {
            // SAFETY: as above; `key` is a NUL-terminated name.
            unsafe { libc::lgetxattr(src.as_ptr(), key.as_ptr(), buf.cast(), len) }
        })
        .map_err(|e| fail(shown, "read xattr of", e))?;
        // SAFETY: pointers to live buffers of the given lengths.
        let rc = unsafe {
            libc::lsetxattr(
                dst.as_ptr(),
                key.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc != 0 {
            match Errno::last() {
                // What this tmpfs cannot hold (or a symlink's user.*).
                Errno::ENOTSUP | Errno::EINVAL | Errno::EPERM => {
                    crate::log::debug(&format!(
                        "tmpcopyup: {} keeps no xattr {}",
                        shown.display(),
                        key.to_string_lossy()
                    ));
                }
                e => return Err(fail(shown, "set xattr of", e)),
            }
        }
    }
    Ok(())
}

/// Call a size-probing xattr function: once for the size, then for the data
/// (again if it grew in between).
fn xattr_call(f: impl Fn(*mut u8, usize) -> isize) -> std::result::Result<Vec<u8>, Errno> {
    loop {
        let size = f(std::ptr::null_mut(), 0);
        if size < 0 {
            return Err(Errno::last());
        }
        let mut buf = vec![0u8; size as usize];
        let got = f(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        if Errno::last() != Errno::ERANGE {
            return Err(Errno::last());
        }
    }
}
