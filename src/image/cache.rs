//! The content-addressed layer cache under rt's root. Each entry is keyed by
//! the layer's ChainID (the identity of the whole stack up to that layer) and
//! holds that layer's diff in overlayfs form, so a rootfs is assembled by one
//! overlay mount instead of copying files. A new layer is extracted through
//! an overlay of its cached parents, which gives it exactly the semantics of
//! extracting onto the flattened tree (symlinked parents, hardlinks to lower
//! files, whiteouts), while the kernel records the result as a diff.
//!
//! Each entry also records the layer blobs it was verified against (digest,
//! size, compression). A cache hit is taken only when the manifest's
//! descriptor matches one of them; a descriptor that disagrees (another
//! size, a media type naming another compression) is handled like a cold
//! unpack, which fails exactly as it would without the cache, or, for a
//! genuinely different blob of the same content, adds that blob.
//!
//! Layers are written without fsync (syncing a first unpack doubles its
//! time), so a crash can leave a published entry with torn files. Each
//! entry records the boot it was written in; the first time it is reused
//! in that boot the cache file system is synced and the entry marked
//! durable. An entry from an earlier boot that never got that far is
//! discarded and extracted again instead of being trusted.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::digest::Digest;
use super::media::Compression;
use super::overlay::{mount_overlay, overlay_options, PrivateNs};
use super::Error;

/// A layer blob as a manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub digest: Digest,
    pub size: u64,
    pub compression: Compression,
}

impl Source {
    fn line(&self) -> String {
        let c = match self.compression {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        };
        format!("{} {} {c}\n", self.digest, self.size)
    }
}

const SOURCES_FILE: &str = "sources";

pub struct Cache {
    pub root: PathBuf,
}

/// A layer directory being filled; removed on drop unless published.
pub struct Pending {
    pub dir: PathBuf,
    /// Where the layer is written: the bare diff, or an overlay of the
    /// parents mounted in a mount namespace that no longer exists (so it
    /// is in no mount table, and goes away with this descriptor).
    target: Option<std::os::fd::OwnedFd>,
    /// The thread keeping that mount namespace alive (lookups of `..`
    /// inside a detached mount never complete) until told to end.
    ns: Option<PrivateNs>,
    published: bool,
    /// Keeps `prune` from taking it for the leftover of a dead unpack.
    _lock: Option<nix::fcntl::Flock<fs::File>>,
}

impl Pending {
    pub fn diff(&self) -> PathBuf {
        self.dir.join("diff")
    }
    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }
    /// The directory to extract into.
    pub fn target(&self) -> Result<std::os::fd::RawFd, Error> {
        use std::os::fd::AsRawFd;
        self.target
            .as_ref()
            .map(|f| f.as_raw_fd())
            .ok_or_else(|| Error::Invalid("layer target already closed".into()))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        drop(self.target.take());
        drop(self.ns.take());
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

impl Cache {
    pub fn open(root: &Path) -> Result<Cache, Error> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
        mkdir(&root.join("chains"), 0o700)?;
        mkdir(&root.join("tmp"), 0o700)?;
        // Absolute: its paths end up in overlay options, which a container
        // may apply from another working directory.
        let root = fs::canonicalize(root)
            .map_err(|e| Error::io(format!("resolve {}", root.display()), e))?;
        Ok(Cache { root })
    }

    /// Keeps `prune` away from this entry while this process lives.
    pub fn hold(&self, chain: &Digest) {
        let entry = self.root.join("chains").join(chain.file_name());
        if let Some(l) = try_lock(&entry, nix::fcntl::FlockArg::LockSharedNonblock) {
            if let Ok(mut h) = HELD.lock() {
                h.push(l);
            }
        }
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

    /// Whether a published entry may be used, making it durable or
    /// discarding it as `durability` decides.
    pub fn usable(&self, chain: &Digest) -> Result<bool, Error> {
        if !self.has(chain) {
            return Ok(false);
        }
        let entry = self.root.join("chains").join(chain.file_name());
        let written_in = fs::read_to_string(entry.join(BOOT_FILE)).ok();
        let durable = entry.join(DURABLE_FILE).exists();
        match durability(written_in.as_deref(), durable, &boot_id()) {
            Durability::Durable => Ok(true),
            Durability::ThisBoot => {
                self.sync()?;
                fs::write(entry.join(DURABLE_FILE), b"")
                    .map_err(|e| Error::io("mark cached layer durable", e))?;
                Ok(true)
            }
            // A mounted bundle uses it, so this boot already relied on it
            // (a boot file rewritten by hand): keep it, synced.
            Durability::Suspect if in_use(&mountinfo()?, &entry) => {
                self.sync()?;
                Ok(true)
            }
            Durability::Suspect => {
                // Out of the way first (atomic), so a concurrent unpack
                // sees either the old entry or none.
                let aside = self.root.join("tmp").join(format!(
                    "stale-{}-{}",
                    std::process::id(),
                    chain.file_name()
                ));
                match fs::rename(&entry, &aside) {
                    Ok(()) => {
                        let _ = fs::remove_dir_all(&aside);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(format!("discard cached layer {chain}"), e)),
                }
                Ok(false)
            }
        }
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
        let lock = try_lock(&dir, nix::fcntl::FlockArg::LockSharedNonblock);
        let mut p = Pending {
            dir,
            target: None,
            ns: None,
            published: false,
            _lock: lock,
        };
        mkdir(&p.diff(), 0o755)?;
        if let Some(top) = lowers_top_first.first() {
            copy_root_meta(top, &p.diff())?;
        }
        let open = |d: &Path| {
            fs::File::open(d)
                .map(std::os::fd::OwnedFd::from)
                .map_err(|e| Error::io(format!("open {}", d.display()), e))
        };
        if lowers_top_first.is_empty() {
            p.target = Some(open(&p.diff())?);
            return Ok(p);
        }
        mkdir(&p.dir.join("work"), 0o700)?;
        mkdir(&p.merged(), 0o755)?;
        let o = overlay_options(lowers_top_first, &p.diff(), &p.dir.join("work"))?;
        // This mount only lives while one layer is written through it.
        // Without `volatile`, unmounting it syncs the whole upper
        // filesystem: every file just extracted, of every layer, waits for
        // the disk (about half of a first unpack here). It is made in a
        // private mount namespace, so a killed rt leaves no mount behind.
        let merged = p.merged();
        let ns = PrivateNs::start()?;
        p.target = Some(ns.run(Box::new(move || {
            mount_overlay(&merged, &format!("{o},volatile"))?;
            open(&merged)
        }))?);
        p.ns = Some(ns);
        Ok(p)
    }

    fn sync(&self) -> Result<(), Error> {
        let dir = fs::File::open(&self.root)
            .map_err(|e| Error::io(format!("open {}", self.root.display()), e))?;
        nix::unistd::syncfs(&dir).map_err(|e| Error::io("sync the layer cache", e.into()))
    }

    /// Publishes a fully extracted and verified layer under its ChainID. If
    /// a concurrent unpack won the race, its identical copy is kept.
    pub fn commit(&self, mut p: Pending, chain: &Digest, src: &Source) -> Result<PathBuf, Error> {
        // Ending the namespace unmounts the overlay (no descriptor is left).
        drop(p.target.take());
        drop(p.ns.take());
        let _ = fs::remove_dir_all(p.dir.join("work"));
        let _ = fs::remove_dir(p.merged());
        fs::write(p.dir.join(BOOT_FILE), boot_id())
            .map_err(|e| Error::io("record the boot of a cached layer", e))?;
        fs::write(p.dir.join(SOURCES_FILE), src.line())
            .map_err(|e| Error::io("record the source of a cached layer", e))?;
        let final_dir = self.root.join("chains").join(chain.file_name());
        match fs::rename(&p.dir, &final_dir) {
            Ok(()) => p.published = true,
            // An entry was there already (a concurrent unpack, or one made
            // from another blob of the same content): keep it, and note
            // that this blob verified to the same content.
            Err(e) if self.has(chain) => {
                drop(e);
                self.add_source(chain, src)?;
            }
            Err(e) => return Err(Error::io(format!("publish layer {chain}"), e)),
        }
        Ok(self.chain_dir(chain))
    }

    fn sources_path(&self, chain: &Digest) -> PathBuf {
        self.root
            .join("chains")
            .join(chain.file_name())
            .join(SOURCES_FILE)
    }

    /// Whether `src` is a blob this entry was verified against. Entries
    /// of an older rt record none, so their first use is verified again.
    pub fn knows(&self, chain: &Digest, src: &Source) -> bool {
        fs::read_to_string(self.sources_path(chain))
            .map(|s| s.lines().any(|l| format!("{l}\n") == src.line()))
            .unwrap_or(false)
    }

    fn add_source(&self, chain: &Digest, src: &Source) -> Result<(), Error> {
        if self.knows(chain, src) {
            return Ok(());
        }
        let path = self.sources_path(chain);
        let mut body = fs::read_to_string(&path).unwrap_or_default();
        body.push_str(&src.line());
        // Replaced whole, so a reader never sees half a line.
        let tmp = self.root.join("tmp").join(format!(
            "sources-{}-{}",
            std::process::id(),
            chain.file_name()
        ));
        let err = |e| Error::io(format!("record a source of cached layer {chain}"), e);
        fs::write(&tmp, body).map_err(err)?;
        fs::rename(&tmp, &path).map_err(err)
    }
}

/// Entries this process relies on, each locked shared until it exits:
/// `prune` (which takes the lock exclusively first) leaves them alone in
/// the window before their overlay is mounted somewhere it can see.
static HELD: std::sync::Mutex<Vec<nix::fcntl::Flock<fs::File>>> = std::sync::Mutex::new(Vec::new());

fn try_lock(dir: &Path, arg: nix::fcntl::FlockArg) -> Option<nix::fcntl::Flock<fs::File>> {
    let f = fs::File::open(dir).ok()?;
    nix::fcntl::Flock::lock(f, arg).ok()
}

const BOOT_FILE: &str = "boot";
const DURABLE_FILE: &str = "durable";

/// This boot's id; empty if the kernel does not say, which makes every
/// entry look like it came from another boot (safe: extracted again).
fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[derive(Debug, PartialEq)]
pub enum Durability {
    /// Synced to disk once: safe in any boot.
    Durable,
    /// Written in this boot and not synced: intact unless this very boot
    /// crashes, so it can be synced now and trusted.
    ThisBoot,
    /// Written in an earlier boot (or by an rt that did not record it) and
    /// never synced: a crash may have torn it.
    Suspect,
}

pub fn durability(written_in: Option<&str>, durable: bool, now: &str) -> Durability {
    if durable {
        return Durability::Durable;
    }
    match written_in.map(str::trim) {
        Some(b) if !b.is_empty() && b == now => Durability::ThisBoot,
        _ => Durability::Suspect,
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

/// The mount tables of every mount namespace on the host (one process of
/// each): `rt run --image` mounts its overlay inside the container's own
/// namespace, where this process's table does not show it.
fn mountinfo() -> Result<String, Error> {
    let mut out = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read /proc/self/mountinfo", e))?;
    let mut seen = std::collections::HashSet::new();
    if let Ok(me) = fs::read_link("/proc/self/ns/mnt") {
        seen.insert(me);
    }
    let Ok(rd) = fs::read_dir("/proc") else {
        return Ok(out);
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let p = ent.path();
        // Processes we may not inspect, or that exit meanwhile, are skipped.
        let Ok(ns) = fs::read_link(p.join("ns/mnt")) else {
            continue;
        };
        if !seen.insert(ns) {
            continue;
        }
        if let Ok(mi) = fs::read_to_string(p.join("mountinfo")) {
            out.push_str(&mi);
        }
    }
    Ok(out)
}

/// Whether a mount (an overlay's lowerdir, upperdir...) names a path in `dir`.
fn in_use(mountinfo: &str, dir: &Path) -> bool {
    mountinfo.contains(&format!("{}/", dir.to_string_lossy()))
}

impl Cache {
    /// Removes cached layers no mounted overlay uses (in any mount
    /// namespace rt can see), and leftovers of interrupted unpacks.
    /// Returns how many entries were removed.
    pub fn prune(&self) -> Result<usize, Error> {
        let mi = mountinfo()?;
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
                if in_use(&mi, &p) {
                    continue;
                }
                // Held by a running unpack (and kept locked while removed).
                let Some(_lock) = try_lock(&p, nix::fcntl::FlockArg::LockExclusiveNonblock) else {
                    continue;
                };
                fs::remove_dir_all(&p)
                    .map_err(|e| Error::io(format!("remove {}", p.display()), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Entries, their disk usage, and how many of them a mount uses.
#[derive(Debug, Default, Clone)]
pub struct Usage {
    pub layers: usize,
    pub bytes: u64,
    pub in_use: usize,
    /// Leftovers of interrupted unpacks.
    pub debris: usize,
}

/// Disk usage of a tree (allocated blocks, each inode once), never
/// following symlinks.
fn du(p: &Path, seen: &mut std::collections::HashSet<(u64, u64)>) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = fs::symlink_metadata(p) else {
        return 0;
    };
    if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
        return 0;
    }
    let mut n = m.blocks() * 512;
    if m.is_dir() {
        if let Ok(rd) = fs::read_dir(p) {
            for e in rd.flatten() {
                n += du(&e.path(), seen);
            }
        }
    }
    n
}

impl Cache {
    pub fn usage(&self) -> Result<Usage, Error> {
        let mi = mountinfo()?;
        let mut u = Usage::default();
        let mut seen = std::collections::HashSet::new();
        if let Ok(rd) = fs::read_dir(self.root.join("chains")) {
            for e in rd.flatten() {
                u.layers += 1;
                u.bytes += du(&e.path(), &mut seen);
                if in_use(&mi, &e.path()) {
                    u.in_use += 1;
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.root.join("tmp")) {
            for e in rd.flatten() {
                u.debris += 1;
                u.bytes += du(&e.path(), &mut seen);
            }
        }
        Ok(u)
    }
}

#[cfg(test)]
mod tests {
    use super::{durability, Durability};

    #[test]
    fn entries_are_trusted_once_synced_or_within_their_boot() {
        assert_eq!(durability(Some("a"), true, "b"), Durability::Durable);
        assert_eq!(durability(None, true, "b"), Durability::Durable);
        assert_eq!(durability(Some("b\n"), false, "b"), Durability::ThisBoot);
        assert_eq!(durability(Some("a"), false, "b"), Durability::Suspect);
        assert_eq!(durability(None, false, "b"), Durability::Suspect);
        // No boot id from the kernel: never "this boot".
        assert_eq!(durability(Some(""), false, ""), Durability::Suspect);
    }
}
