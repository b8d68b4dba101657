//! Mount attributes through mount_setattr(2) (Linux 5.12): the recursive
//! options of config.md (`rro`, `rnosuid`, ...), which mount(2) cannot
//! apply to every mount below a bind, and the idmap of idmap.rs.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Error, Result};

/// What the recursive options set and clear, as MOUNT_ATTR_* bits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recursive {
    pub set: u64,
    pub clr: u64,
}

impl Recursive {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clr == 0
    }
}

/// Every recursive option rt honours, for `rt features`.
pub const OPTIONS: [&str; 18] = [
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rnoatime",
    "ratime",
    "rrelatime",
    "rnorelatime",
    "rstrictatime",
    "rnostrictatime",
    "rnosymfollow",
    "rsymfollow",
];

/// The bits of one recursive option, or None for any other option.
/// The access-time modes are one field: changing it clears all of it.
pub fn recursive_option(opt: &str) -> Option<Recursive> {
    use libc::{
        MOUNT_ATTR_NOATIME as NOATIME, MOUNT_ATTR_NODEV as NODEV,
        MOUNT_ATTR_NODIRATIME as NODIRATIME, MOUNT_ATTR_NOEXEC as NOEXEC,
        MOUNT_ATTR_NOSUID as NOSUID, MOUNT_ATTR_NOSYMFOLLOW as NOSYMFOLLOW,
        MOUNT_ATTR_RDONLY as RDONLY, MOUNT_ATTR_RELATIME as RELATIME,
        MOUNT_ATTR_STRICTATIME as STRICTATIME, MOUNT_ATTR__ATIME as ATIME,
    };
    let set = |b: u64| Recursive { set: b, clr: 0 };
    let clr = |b: u64| Recursive { set: 0, clr: b };
    let atime = |mode: u64| Recursive {
        set: mode,
        clr: ATIME,
    };
    Some(match opt {
        "rro" => set(RDONLY),
        "rrw" => clr(RDONLY),
        "rnosuid" => set(NOSUID),
        "rsuid" => clr(NOSUID),
        "rnodev" => set(NODEV),
        "rdev" => clr(NODEV),
        "rnoexec" => set(NOEXEC),
        "rexec" => clr(NOEXEC),
        "rnodiratime" => set(NODIRATIME),
        "rdiratime" => clr(NODIRATIME),
        "rnoatime" => atime(NOATIME),
        // mount(8): atime and nostrictatime leave the kernel's default,
        // relatime; norelatime asks for every access to be recorded.
        "ratime" | "rrelatime" | "rnostrictatime" => atime(RELATIME),
        "rnorelatime" | "rstrictatime" => atime(STRICTATIME),
        "rnosymfollow" => set(NOSYMFOLLOW),
        "rsymfollow" => clr(NOSYMFOLLOW),
        _ => return None,
    })
}

/// Fold the recursive options of a mount together (later ones win) and
/// return the options that are left for mount(2).
pub fn split(options: &[String]) -> (Recursive, Vec<String>) {
    let mut r = Recursive::default();
    let mut rest = Vec::new();
    for o in options {
        match recursive_option(o) {
            Some(x) => {
                r.set = (r.set & !x.clr) | x.set;
                r.clr = (r.clr & !x.set) | x.clr;
            }
            None => rest.push(o.clone()),
        }
    }
    (r, rest)
}

/// mount_setattr on `fd` (with `path` relative to it, or the descriptor
/// itself), for one mount or the whole tree below it.
pub fn setattr(
    fd: RawFd,
    path: Option<&Path>,
    recursive: bool,
    attr: &libc::mount_attr,
) -> std::io::Result<()> {
    let p = match path {
        Some(p) => CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?,
        None => CString::default(),
    };
    let mut flags = 0;
    if path.is_none() {
        flags |= libc::AT_EMPTY_PATH;
    }
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: a valid path and a mount_attr of the size we pass.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            p.as_ptr(),
            flags,
            attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Apply recursive options to the mount at `dest` and everything below.
pub fn apply(dest: &Path, r: &Recursive) -> Result<()> {
    if r.is_empty() {
        return Ok(());
    }
    let attr = libc::mount_attr {
        attr_set: r.set,
        attr_clr: r.clr,
        propagation: 0,
        userns_fd: 0,
    };
    setattr(libc::AT_FDCWD, Some(dest), true, &attr).map_err(|source| Error::Io {
        context: format!("set recursive mount options on {}", dest.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn recursive_options_fold_and_the_rest_stays() {
        let (r, rest) = split(&opts(&["rbind", "rro", "rnosuid", "nodev", "rrw"]));
        assert_eq!(rest, opts(&["rbind", "nodev"]));
        assert_eq!(r.set, libc::MOUNT_ATTR_NOSUID);
        assert_eq!(r.clr, libc::MOUNT_ATTR_RDONLY);
        let (r, _) = split(&opts(&["rnoatime"]));
        assert_eq!(r.clr, libc::MOUNT_ATTR__ATIME);
        assert_eq!(r.set, libc::MOUNT_ATTR_NOATIME);
        assert!(OPTIONS.iter().all(|o| recursive_option(o).is_some()));
    }
}
