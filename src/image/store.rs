//! Where images live on the host. The store is a persistent directory
//! (`/var/lib/rt` for root, `$XDG_DATA_HOME/rt` otherwise; `--image-store`
//! or `RT_IMAGE_STORE` override it) holding the extracted-layer cache
//! (`layers/`) and scratch space for importing archives (`tmp/`). Only
//! runtime state stays under rt's `--root`: the bundles of running
//! `rt run --image` containers.
//!
//! rt before this store kept its layer cache under `--root` (`.images`,
//! on /run: lost at every boot). That cache is not migrated (its entries
//! were never synced, so after a reboot they could not be trusted
//! anyway); it is left alone, never read, and `rt image prune` removes
//! the entries no mount uses any more. Prune also removes the bundles of
//! `rt run --image` containers that no longer exist (rt killed).

use std::path::{Path, PathBuf};

use super::cache::{Cache, Usage};
use super::Error;

pub const ENV: &str = "RT_IMAGE_STORE";
const LEGACY_CACHE_DIR: &str = ".images";

/// The default store for this user.
pub fn default_store() -> PathBuf {
    if let Some(d) = std::env::var_os(ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/rt");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        });
    match data {
        Some(d) => d.join("rt"),
        // No home at all: a directory that is surely ours.
        None => PathBuf::from(format!("/tmp/rt-store-{}", nix::unistd::geteuid().as_raw())),
    }
}

/// The layer cache inside a store.
pub fn layers(store: &Path) -> PathBuf {
    store.join("layers")
}

/// Scratch space inside a store (same file system as the cache).
pub fn tmp(store: &Path) -> PathBuf {
    store.join("tmp")
}

/// Removes unused cached layers from the store, and from the cache an
/// older rt kept under `rt_root`. Returns how many entries went.
pub fn prune(store: &Path, rt_root: &Path) -> Result<usize, Error> {
    let mut n = 0;
    for dir in [layers(store), rt_root.join(LEGACY_CACHE_DIR)] {
        if dir.exists() {
            n += Cache::open(&dir)?.prune()?;
        }
    }
    let legacy = rt_root.join(LEGACY_CACHE_DIR);
    for sub in ["chains", "tmp", ""] {
        // Gone once empty; a directory still in use stays.
        let _ = std::fs::remove_dir(legacy.join(sub));
    }
    // Bundles of `rt run --image` whose container is gone (rt was killed
    // before it could remove them). Their overlay lived in the container's
    // mount namespace, so only the directory is left.
    // A bundle still being prepared has no container yet, but its rt holds
    // the lock beside it.
    if let Ok(rd) = std::fs::read_dir(rt_root.join(super::BUNDLES_DIR)) {
        for ent in rd.flatten() {
            let p = ent.path();
            if !p.is_dir() || rt_root.join(ent.file_name()).exists() {
                continue;
            }
            let lock = super::unpack::run_bundle_lock(&p);
            let free = match std::fs::File::open(&lock) {
                Ok(f) => {
                    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
                }
                Err(_) => true,
            };
            if free && super::remove_bundle(&p).is_ok() {
                let _ = std::fs::remove_file(&lock);
                n += 1;
            }
        }
    }
    let scratch = tmp(store);
    if let Ok(rd) = std::fs::read_dir(&scratch) {
        for ent in rd.flatten() {
            // Imports in progress hold their directory's lock.
            if abandoned(&ent.path()) {
                let _ = std::fs::remove_dir_all(ent.path());
                n += 1;
            }
        }
    }
    Ok(n)
}

/// What the store holds, for `rt image df`.
pub fn usage(store: &Path) -> Result<Usage, Error> {
    let dir = layers(store);
    if !dir.exists() {
        return Ok(Usage::default());
    }
    Cache::open(&dir)?.usage()
}

/// Whether an older rt's cache is still under `rt_root`.
pub fn legacy_cache(rt_root: &Path) -> Option<PathBuf> {
    let p = rt_root.join(LEGACY_CACHE_DIR);
    p.is_dir().then_some(p)
}

/// A private scratch directory in the store, removed on drop. While it
/// lives it holds a lock, so `prune` can tell it from an abandoned one.
pub struct Scratch {
    pub dir: PathBuf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl Scratch {
    pub fn new(store: &Path, what: &str) -> Result<Scratch, Error> {
        use std::os::unix::fs::DirBuilderExt;
        let parent = tmp(store);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)
            .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = parent.join(format!("{what}-{}-{stamp}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let lock = std::fs::File::create(dir.join(LOCK))
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
            .map_err(|(_, e)| Error::io("lock scratch", e.into()))?;
        Ok(Scratch { dir, _lock: lock })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const LOCK: &str = ".lock";

/// A scratch directory whose owner is gone (its lock is free).
fn abandoned(dir: &Path) -> bool {
    let Ok(f) = std::fs::File::open(dir.join(LOCK)) else {
        // No lock file: half created, or not ours to judge; old enough
        // entries of the first kind are harmless to keep.
        return false;
    };
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
}
