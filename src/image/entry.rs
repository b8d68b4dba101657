//! Creating one tar entry and applying its metadata, all relative to an
//! already-resolved parent directory descriptor with `*at()` calls that do
//! not follow the final component.

use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::os::fd::RawFd;
use std::os::unix::fs::FileExt;

use super::fsops;
use super::tarstream::{self, EntryType, Header};
use super::xattr;
use super::Error;

#[derive(Debug, Clone)]
pub struct Meta {
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
    pub mtime: (i64, i64),
    pub atime: (i64, i64),
    /// Attributes to set, already vetted by `xattr::plan`.
    pub xattrs: Vec<(CString, Vec<u8>)>,
    /// Attributes not applied, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// What `apply_meta` could not apply: ownership (rootless) and attributes.
#[derive(Debug, Default)]
pub struct Unapplied {
    pub owner: Option<(u64, u64)>,
    pub xattrs: Vec<(String, String)>,
}

/// A PAX time, `[-]SECONDS[.FRACTION]`. The sign belongs to the whole
/// value: "-0.5" is half a second before the epoch, which as a timespec is
/// (-1, 500000000). A value outside the timespec range is invalid.
fn parse_time(v: &[u8]) -> Option<(i64, i64)> {
    let s = std::str::from_utf8(v).ok()?;
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    if sec.is_empty() || !sec.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Magnitudes up to u64::MAX so that i64::MIN itself can be written.
    let sec = i128::from(sec.parse::<u64>().ok()?);
    let mut nsec: i64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        nsec += (c - b'0') as i64 * 10i64.pow(8 - i as u32);
    }
    let (sec, nsec) = match (negative, nsec) {
        (false, n) => (sec, n),
        (true, 0) => (-sec, 0),
        (true, n) => (-sec - 1, 1_000_000_000 - n),
    };
    Some((i64::try_from(sec).ok()?, nsec))
}

impl Meta {
    /// Numeric ids from the header (or PAX records) win; user and group
    /// names in the archive are ignored, as the image spec asks.
    pub fn from_header(h: &Header) -> Result<Meta, Error> {
        let bad = |what: &str| Error::Invalid(format!("tar header has an invalid {what}"));
        let mtime = i64::try_from(h.mtime).map_err(|_| bad("mtime"))?;
        let mut m = Meta {
            uid: h.uid,
            gid: h.gid,
            mode: h.mode & 0o7777,
            mtime: (mtime, 0),
            atime: (mtime, 0),
            xattrs: Vec::new(),
            skipped: Vec::new(),
        };
        let mut atime = None;
        if let Some(pax) = &h.pax {
            // tar-core resolved the integer fields; what it does not keep is
            // the fraction of a second.
            for r in tarstream::pax_records(pax) {
                let (k, v) = r?;
                match k {
                    b"mtime" => m.mtime = parse_time(v).ok_or_else(|| bad("pax mtime"))?,
                    b"atime" => atime = parse_time(v),
                    _ => {}
                }
            }
        }
        m.atime = atime.unwrap_or(m.mtime);
        for (k, v) in xattr::from_header(h)? {
            match xattr::plan(&k, &v)? {
                xattr::Plan::Set(name, value) => m.xattrs.push((name, value)),
                xattr::Plan::Skip(name, why) => m.skipped.push((name, why.to_string())),
            }
        }
        Ok(m)
    }
}

/// Removes whatever is at `name` so another entry type can take its place.
pub fn replace(pfd: RawFd, name: &CStr, existing: Option<&libc::stat>) -> Result<(), Error> {
    if existing.is_none() {
        return Ok(());
    }
    fsops::remove_all_at(pfd, name).map_err(|e| Error::io("replace existing entry", e))
}

pub fn mkdir(pfd: RawFd, name: &CStr) -> Result<(), Error> {
    // SAFETY: valid fd and name.
    fsops::check(unsafe { libc::mkdirat(pfd, name.as_ptr(), 0o700) })
        .map_err(|e| Error::io("create directory", e))
}

pub fn symlink(pfd: RawFd, name: &CStr, target: &[u8]) -> Result<(), Error> {
    let t = fsops::cstr(target).map_err(|e| Error::io("symlink target", e))?;
    // SAFETY: valid fd and names.
    fsops::check(unsafe { libc::symlinkat(t.as_ptr(), pfd, name.as_ptr()) })
        .map_err(|e| Error::io("create symlink", e))
}

/// Device nodes need privilege; without it (rootless) they become empty
/// regular files, as umoci does, so the tree is still complete.
pub fn mknod(
    pfd: RawFd,
    name: &CStr,
    ty: EntryType,
    dev: (u32, u32),
    rootless: bool,
) -> Result<(), Error> {
    let kind = match ty {
        EntryType::Char => libc::S_IFCHR,
        EntryType::Block => libc::S_IFBLK,
        _ => libc::S_IFIFO,
    };
    if rootless && kind != libc::S_IFIFO {
        let fd = fsops::openat(
            pfd,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
        )
        .map_err(|e| Error::io("create device placeholder", e))?;
        drop(fd);
        return Ok(());
    }
    let rdev = libc::makedev(dev.0, dev.1);
    // SAFETY: valid fd and name.
    fsops::check(unsafe { libc::mknodat(pfd, name.as_ptr(), kind | 0o600, rdev) })
        .map_err(|e| Error::io("create device node", e))
}

thread_local! {
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 << 10]);
}

/// Writes a regular file's content. A sparse entry's regions are written
/// at their offsets, so the holes between them stay holes.
pub fn write_file<R: Read>(
    pfd: RawFd,
    name: &CStr,
    src: &mut R,
    sparse: Option<&(Vec<(u64, u64)>, u64)>,
) -> Result<u64, Error> {
    let fd = fsops::openat(
        pfd,
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
    )
    .map_err(|e| Error::io("create file", e))?;
    let mut f = std::fs::File::from(fd);
    let werr = |e| Error::io("write file", e);
    let rerr = |e| Error::io("read layer", e);
    BUF.with(|b| {
        let mut buf = b.borrow_mut();
        let Some((map, real_size)) = sparse else {
            let mut n_total: u64 = 0;
            loop {
                let n = src.read(&mut buf).map_err(rerr)?;
                if n == 0 {
                    return Ok(n_total);
                }
                f.write_all(&buf[..n]).map_err(werr)?;
                n_total += n as u64;
            }
        };
        let mut written = 0;
        for &(off, len) in map {
            let end = off
                .checked_add(len)
                .filter(|e| e <= real_size)
                .ok_or_else(|| Error::Invalid("sparse region beyond the file size".into()))?;
            let mut pos = off;
            while pos < end {
                let want = buf.len().min((end - pos) as usize);
                src.read_exact(&mut buf[..want]).map_err(rerr)?;
                f.write_all_at(&buf[..want], pos).map_err(werr)?;
                pos += want as u64;
            }
            written += len;
        }
        f.set_len(*real_size).map_err(werr)?;
        Ok(written)
    })
}

/// Owner, mode, xattrs and times, in that order: chown clears setuid bits and
/// security.capability, so those come after it. Returns what could not be
/// applied: ownership in rootless mode, attributes the kernel refused for
/// lack of privilege or support.
pub fn apply_meta(
    pfd: RawFd,
    name: &CStr,
    m: &Meta,
    ty: EntryType,
    rootless: bool,
) -> Result<Unapplied, Error> {
    let is_symlink = ty == EntryType::Symlink;
    let mut unapplied = Unapplied {
        owner: None,
        xattrs: m.skipped.clone(),
    };
    let (uid, gid) = (
        u32::try_from(m.uid).map_err(|_| Error::Invalid(format!("uid {} out of range", m.uid)))?,
        u32::try_from(m.gid).map_err(|_| Error::Invalid(format!("gid {} out of range", m.gid)))?,
    );
    // SAFETY: valid fd and name; AT_SYMLINK_NOFOLLOW keeps it on the entry.
    let r = unsafe { libc::fchownat(pfd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) };
    if let Err(e) = fsops::check(r) {
        if !(rootless && matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EINVAL))) {
            return Err(Error::io(format!("chown to {uid}:{gid}"), e));
        }
        unapplied.owner = Some((m.uid, m.gid));
        if !is_symlink {
            record_rootless_owner(pfd, name, uid, gid);
        }
    }
    if !is_symlink {
        // SAFETY: valid fd and name; the entry was just created by us and is
        // not a symlink, so following it is not possible.
        let r = unsafe { libc::fchmodat(pfd, name.as_ptr(), m.mode, 0) };
        fsops::check(r).map_err(|e| Error::io("chmod", e))?;
    }
    if !m.xattrs.is_empty() {
        let p = fsops::fd_path(pfd, name.to_bytes()).map_err(|e| Error::io("xattr path", e))?;
        // The kernel keeps user.* to regular files and directories.
        let plain = !matches!(
            ty,
            EntryType::Symlink | EntryType::Char | EntryType::Block | EntryType::Fifo
        );
        for (k, v) in &m.xattrs {
            // SAFETY: valid C strings and buffer.
            let r =
                unsafe { libc::lsetxattr(p.as_ptr(), k.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
            let Err(e) = fsops::check(r) else { continue };
            let why = match e.raw_os_error() {
                Some(libc::ENOTSUP) => "the file system does not support it",
                Some(libc::EPERM) if rootless => "not permitted without privilege",
                Some(libc::EPERM) if !plain => "not permitted on this file type",
                _ => return Err(Error::io(format!("set xattr {}", k.to_string_lossy()), e)),
            };
            unapplied
                .xattrs
                .push((k.to_string_lossy().into_owned(), why.to_string()));
        }
    }
    let ts = [
        libc::timespec {
            tv_sec: m.atime.0,
            tv_nsec: m.atime.1,
        },
        libc::timespec {
            tv_sec: m.mtime.0,
            tv_nsec: m.mtime.1,
        },
    ];
    // SAFETY: valid fd, name and two timespecs.
    let r = unsafe { libc::utimensat(pfd, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    fsops::check(r).map_err(|e| Error::io("set times", e))?;
    Ok(unapplied)
}

/// umoci's convention for ownership a rootless unpack cannot apply: the
/// `user.rootlesscontainers` xattr holding a protobuf `Resource{uid, gid}`.
fn record_rootless_owner(pfd: RawFd, name: &CStr, uid: u32, gid: u32) {
    fn varint(out: &mut Vec<u8>, mut v: u32) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let mut pb = Vec::new();
    if uid != 0 {
        pb.push(0x08);
        varint(&mut pb, uid);
    }
    if gid != 0 {
        pb.push(0x10);
        varint(&mut pb, gid);
    }
    let Ok(p) = fsops::fd_path(pfd, name.to_bytes()) else {
        return;
    };
    // Best effort: the ownership is also in the unpack report.
    // SAFETY: valid C strings and buffer.
    unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            c"user.rootlesscontainers".as_ptr(),
            pb.as_ptr().cast(),
            pb.len(),
            0,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn pax_times() {
        assert_eq!(parse_time(b"1700000000"), Some((1700000000, 0)));
        assert_eq!(parse_time(b"1700000000.5"), Some((1700000000, 500_000_000)));
        assert_eq!(parse_time(b"1.123456789123"), Some((1, 123_456_789)));
        assert_eq!(parse_time(b"-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_time(b"x"), None);
    }

    /// A negative time with a fraction: "-0.5" lost its sign (seconds
    /// parsed as 0, then the fraction added forward), and the borrow from
    /// the seconds overflowed at i64::MIN (a panic in debug builds).
    #[test]
    fn negative_fractional_pax_times() {
        assert_eq!(parse_time(b"-0.5"), Some((-1, 500_000_000)));
        assert_eq!(parse_time(b"-0.000000001"), Some((-1, 999_999_999)));
        assert_eq!(parse_time(b"-0"), Some((0, 0)));
        assert_eq!(parse_time(b"-2.25"), Some((-3, 750_000_000)));
        assert_eq!(parse_time(b"-9223372036854775808"), Some((i64::MIN, 0)));
        assert_eq!(parse_time(b"-9223372036854775808.5"), None);
        assert_eq!(
            parse_time(b"-9223372036854775807.5"),
            Some((i64::MIN, 500_000_000))
        );
        assert_eq!(parse_time(b"9223372036854775808"), None);
        assert_eq!(parse_time(b"--1"), None);
        assert_eq!(parse_time(b"-+1"), None);
        assert_eq!(parse_time(b"-"), None);
        assert_eq!(parse_time(b"-.5"), None);
    }
}
