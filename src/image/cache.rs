//! The content-addressed layer cache under rt's root. Each entry is keyed by
//! the layer's ChainID (the identity of the whole stack up to that layer) and
//! holds that layer's diff in overlayfs form, so a rootfs is assembled by one
//! overlay mount instead of copying files. A new layer is extracted through
//! an overlay of its cached parents, which gives it exactly the semantics of
//! extracting onto the flattened tree (symlinked parents, hardlinks to lower
//! files, whiteouts), while the kernel records the result as a diff.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::digest::Digest;
use super::Error;

pub struct Cache {
    pub root: PathBuf,
}

/// A layer directory being filled; removed on drop unless published.
pub struct Pending {
    pub dir: PathBuf,
    mounted: bool,
    published: bool,
}

impl Pending {
    pub fn diff(&self) -> PathBuf {
        self.dir.join("diff")
    }
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.mounted {
            let _ = umount2(&self.merged(), MntFlags::MNT_DETACH);
        }
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn mkdir(p: &Path, mode: u32) -> Result<(), Error> {
    match fs::DirBuilder::new().mode(mode).create(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(format!("create {}", p.display()), e)),
    }
}

/// Overlay option strings are limited to one page; beyond that the stack
/// is assembled by flat extraction instead.
pub const MAX_OPTIONS: usize = 4000;

pub fn overlay_options(
    lowers_top_first: &[PathBuf],
    upper: &Path,
    work: &Path,
) -> Result<String, Error> {
    let mut lower = String::new();
    for l in lowers_top_first {
        let s = l
            .to_str()
            .ok_or_else(|| Error::Invalid("cache path is not UTF-8".into()))?;
        if s.contains([':', ',', '\\']) {
            return Err(Error::Invalid(format!(
                "cache path {s:?} cannot be used by overlayfs"
            )));
        }
        if !lower.is_empty() {
            lower.push(':');
        }
        lower.push_str(s);
    }
    let o = format!(
        "lowerdir={lower},upperdir={},workdir={},index=off",
        upper.display(),
        work.display()
    );
    if o.len() > MAX_OPTIONS {
        return Err(Error::Limit("too many layers for one overlay mount".into()));
    }
    Ok(o)
}

pub fn mount_overlay(target: &Path, options: &str) -> Result<(), Error> {
    let opts = CString::new(options).map_err(|_| Error::Invalid("overlay options".into()))?;
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::MS_NODEV,
        Some(opts.as_c_str()),
    )
    .map_err(|e| Error::io(format!("mount overlay on {}", target.display()), e.into()))
}

impl Cache {
    pub fn open(root: &Path) -> Result<Cache, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
        mkdir(&root.join("chains"), 0o700)?;
        mkdir(&root.join("tmp"), 0o700)?;
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    pub fn chain_dir(&self, chain: &Digest) -> PathBuf {
        self.root
            .join("chains")
            .join(chain.file_name())
            .join("diff")
    }

    pub fn has(&self, chain: &Digest) -> bool {
        self.chain_dir(chain).is_dir()
    }

    /// Prepares a directory to extract the next layer into: the bare diff
    /// for a base layer, otherwise an overlay of the parents' diffs.
    pub fn begin(&self, lowers_top_first: &[PathBuf]) -> Result<Pending, Error> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = self
            .root
            .join("tmp")
            .join(format!("{}-{stamp}", std::process::id()));
        mkdir(&dir, 0o700)?;
        let mut p = Pending {
            dir,
            mounted: false,
            published: false,
        };
        mkdir(&p.diff(), 0o755)?;
        if let Some(top) = lowers_top_first.first() {
            copy_root_meta(top, &p.diff())?;
        }
        if !lowers_top_first.is_empty() {
            mkdir(&p.dir.join("work"), 0o700)?;
            mkdir(&p.merged(), 0o755)?;
            let o = overlay_options(lowers_top_first, &p.diff(), &p.dir.join("work"))?;
            // This mount only lives while one layer is written through it.
            // Without `volatile`, unmounting it syncs the whole upper
            // filesystem: every file just extracted, of every layer, waits
            // for the disk (about half of a first unpack here).
            mount_overlay(&p.merged(), &format!("{o},volatile"))?;
            p.mounted = true;
        }
        Ok(p)
    }

    /// Publishes a fully extracted and verified layer under its ChainID. If
    /// a concurrent unpack won the race, its identical copy is kept.
    pub fn commit(&self, mut p: Pending, chain: &Digest) -> Result<PathBuf, Error> {
        if p.mounted {
            umount2(&p.merged(), MntFlags::empty())
                .map_err(|e| Error::io("unmount layer overlay", e.into()))?;
            p.mounted = false;
            let _ = fs::remove_dir_all(p.dir.join("work"));
            let _ = fs::remove_dir(p.merged());
        }
        let final_dir = self.root.join("chains").join(chain.file_name());
        match fs::rename(&p.dir, &final_dir) {
            Ok(()) => p.published = true,
            Err(e) if self.has(chain) => drop(e),
            Err(e) => return Err(Error::io(format!("publish layer {chain}"), e)),
        }
        Ok(self.chain_dir(chain))
    }
}

/// Gives a new upper directory the attributes of the stack's root, since
/// overlayfs shows the upper root's owner, mode and times as the rootfs's.
pub fn copy_root_meta(from: &Path, to: &Path) -> Result<(), Error> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(from).map_err(|e| Error::io(format!("stat {}", from.display()), e))?;
    let err = |e: std::io::Error| Error::io(format!("copy attributes to {}", to.display()), e);
    std::os::unix::fs::chown(to, Some(m.uid()), Some(m.gid())).map_err(err)?;
    fs::set_permissions(
        to,
        std::os::unix::fs::PermissionsExt::from_mode(m.mode() & 0o7777),
    )
    .map_err(err)?;
    let t = |s: i64, ns: i64| nix::sys::time::TimeSpec::new(s, ns);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        to,
        &t(m.atime(), m.atime_nsec()),
        &t(m.mtime(), m.mtime_nsec()),
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| err(e.into()))
}

impl Cache {
    /// Removes cached layers no mounted overlay uses, and leftovers of
    /// interrupted unpacks. Returns how many entries were removed. Only
    /// mounts visible in this mount namespace count as users.
    pub fn prune(&self) -> Result<usize, Error> {
        let mi = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("read /proc/self/mountinfo", e))?;
        let mut removed = 0;
        for sub in ["chains", "tmp"] {
            let dir = self.root.join(sub);
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(format!("read {}", dir.display()), e)),
            };
            for ent in rd {
                let p = ent.map_err(|e| Error::io("read cache", e))?.path();
                let needle = p.to_string_lossy().to_string();
                if mi.contains(&format!("{needle}/")) {
                    continue;
                }
                fs::remove_dir_all(&p)
                    .map_err(|e| Error::io(format!("remove {}", p.display()), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
