//! The container mount namespace's first propagation change, made before
//! anything is mounted; the exact rootfsPropagation goes on the new root
//! after pivot_root (mod.rs, `finish`).
//!
//! Private and unbindable values start with every mount private (an
//! unbindable one could not be the source of the rootfs bind); slave
//! starts with every mount a slave, so the rootfs still receives what the
//! host mounts later but nothing flows back.
//!
//! A shared value (containerd's CRI sets rshared for any Bidirectional
//! hostPath volume) is applied to "/" as given: the namespace's copies of
//! shared host mounts then stay peers of the host's, so a bind of a shared
//! host directory joins the host's peer group and a mount made inside it
//! appears on the host. Starting with rslave instead leaves such a volume a
//! slave, and nothing goes back. The mount holding the rootfs is then made a
//! slave (in this namespace only) before the rootfs is bound onto itself:
//! the rootfs keeps receiving the host's mounts, but neither that bind nor
//! anything mounted inside the rootfs propagates out, and pivot_root, which
//! refuses a shared parent, accepts it.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::{do_mount, io_err, Result};

/// The flags for the first change of "/": a shared propagation as given,
/// slave for the slave values, private for the rest; all but shared
/// recursive, whatever the value's own recursion (nothing rt mounts may
/// leak out).
pub fn first_root_flags(prop: MsFlags) -> MsFlags {
    if prop.contains(MsFlags::MS_SHARED) {
        prop
    } else if prop.contains(MsFlags::MS_SLAVE) {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    } else {
        MsFlags::MS_PRIVATE | MsFlags::MS_REC
    }
}

/// Make the mount that holds `rootfs` a slave if it is shared (after
/// `first_root_flags` kept host peers).
pub fn slave_rootfs_parent(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(io_err("read /proc/self/mountinfo"))?;
    if let Some(mp) = shared_parent(&info, rootfs) {
        do_mount(None, &mp, None, MsFlags::MS_SLAVE, None)?;
    }
    Ok(())
}

/// The mount point holding `path` (the deepest one at or above it; the
/// topmost of a stack), if it is shared.
fn shared_parent(mountinfo: &str, path: &Path) -> Option<PathBuf> {
    let mut best: Option<(usize, PathBuf, bool)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mp) = fields.get(4).map(|m| PathBuf::from(unescape(m))) else {
            continue;
        };
        if !path.starts_with(&mp) {
            continue;
        }
        let depth = mp.components().count();
        // Optional fields run from the 7th field to the "-" separator.
        let shared = fields
            .iter()
            .skip(6)
            .take_while(|f| **f != "-")
            .any(|f| f.starts_with("shared:"));
        if best.as_ref().is_none_or(|(d, _, _)| depth >= *d) {
            best = Some((depth, mp, shared));
        }
    }
    best.filter(|(_, _, shared)| *shared).map(|(_, mp, _)| mp)
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).ok();
            if let Some(v) = oct.and_then(|o| u8::from_str_radix(o, 8).ok()) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:40 / /tmp rw,relatime - tmpfs tmpfs rw
41 40 0:41 / /tmp/b\\040x rw shared:7 master:2 - tmpfs tmpfs rw
42 41 0:42 / /tmp/b\\040x rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_the_deepest_topmost_mount() {
        let p = |s: &str| shared_parent(INFO, Path::new(s));
        assert_eq!(p("/srv/rootfs"), Some(PathBuf::from("/")));
        assert_eq!(p("/tmp/x/rootfs"), None);
        // The private tmpfs stacked on the shared one is what counts.
        assert_eq!(p("/tmp/b x/rootfs"), None);
        let unstacked: String = INFO.lines().take(3).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            shared_parent(&unstacked, Path::new("/tmp/b x/r")),
            Some(PathBuf::from("/tmp/b x"))
        );
        // A sibling with a common prefix is not a parent.
        assert_eq!(p("/tmp/b xy"), None);
    }

    #[test]
    fn shared_flags_are_kept_as_given() {
        let rs = MsFlags::MS_SHARED | MsFlags::MS_REC;
        assert_eq!(first_root_flags(rs), rs);
        assert_eq!(first_root_flags(MsFlags::MS_SHARED), MsFlags::MS_SHARED);
        assert_eq!(
            first_root_flags(MsFlags::MS_SLAVE),
            MsFlags::MS_SLAVE | MsFlags::MS_REC
        );
        assert_eq!(
            first_root_flags(MsFlags::MS_UNBINDABLE),
            MsFlags::MS_PRIVATE | MsFlags::MS_REC
        );
    }
}
