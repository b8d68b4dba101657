//! Applies one layer (an uncompressed tar stream) onto a root directory with
//! image-spec semantics. The `tar` crate only parses; every file-system
//! change is made here relative to descriptors resolved inside the root.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};

use super::budget::Budget;
use super::entry::{self, Meta, Unapplied};
use super::fsops;
use super::tarstream::{EntryType, Header, TarStream};
use super::whiteout::{self, Name};
use super::Error;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Entries in one layer.
    pub max_entries: u64,
    /// Uncompressed bytes in one layer, checked on the stream; also the
    /// most the layer's regular files may hold, holes included (budget.rs).
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entries: 4_000_000,
            max_bytes: 64 << 30,
        }
    }
}

/// Counters and what could not be applied (rootless ownership).
#[derive(Debug, Default, Clone)]
pub struct LayerStats {
    pub entries: u64,
    pub file_bytes: u64,
    /// Paths whose owner could not be set, with the wanted uid:gid.
    pub unapplied_owners: Vec<(String, u64, u64)>,
    /// Attributes not applied: path, attribute name, reason.
    pub skipped_xattrs: Vec<(String, String, String)>,
}

pub struct Applier {
    root: RawFd,
    rootless: bool,
    max_entries: u64,
    budget: Budget,
    /// Paths (and their ancestors) this layer has put in place: opaque
    /// directories and whiteouts must only hide what lower layers made.
    touched: HashSet<Vec<u8>>,
    /// Directory metadata is applied last, once no child creation can
    /// change the mtime or be blocked by a read-only mode.
    dirs: Vec<(Vec<u8>, Meta)>,
    /// Times of lower directories before this layer changed their
    /// contents, restored at the end (as umoci does) so that adding or
    /// deleting a child does not make an old directory look new.
    parent_times: HashMap<Vec<u8>, (libc::timespec, libc::timespec)>,
    /// Rootless only: directories made owner-writable for the duration of
    /// the layer, with their real mode.
    opened_up: Vec<(Vec<u8>, u32)>,
    pub stats: LayerStats,
}

impl Applier {
    pub fn new(root: RawFd, rootless: bool, limits: &Limits) -> Applier {
        Applier {
            root,
            rootless,
            max_entries: limits.max_entries,
            budget: Budget::new(limits.max_bytes),
            touched: HashSet::new(),
            dirs: Vec::new(),
            parent_times: HashMap::new(),
            opened_up: Vec::new(),
            stats: LayerStats::default(),
        }
    }

    pub fn apply<R: Read>(&mut self, stream: R) -> Result<(), Error> {
        let mut ar = TarStream::new(stream);
        while let Some(h) = ar.next_entry()? {
            self.stats.entries += 1;
            if self.stats.entries > self.max_entries {
                return Err(Error::Limit(format!(
                    "layer has more than {} entries",
                    self.max_entries
                )));
            }
            self.entry(&h, &mut ar)
                .map_err(|err| err.context(&String::from_utf8_lossy(&h.path)))?;
        }
        self.finish()
    }

    fn record(&mut self, path: &[u8], u: Unapplied) {
        let p = String::from_utf8_lossy(path);
        if let Some((uid, gid)) = u.owner {
            self.stats.unapplied_owners.push((p.to_string(), uid, gid));
        }
        for (name, why) in u.xattrs {
            self.stats.skipped_xattrs.push((p.to_string(), name, why));
        }
    }

    fn entry<R: Read>(&mut self, h: &Header, content: &mut R) -> Result<(), Error> {
        let ty = h.kind;
        let path = whiteout::normalize(&h.path);
        let (parent, base) = whiteout::split(&path);
        if base.is_empty() {
            // The root itself: only a directory entry makes sense.
            if ty == EntryType::Directory {
                let m = Meta::from_header(h)?;
                self.dirs.push((Vec::new(), m));
            }
            return Ok(());
        }
        match whiteout::classify(base) {
            None => {
                return Err(Error::Invalid(format!(
                    "invalid whiteout name {:?}",
                    String::from_utf8_lossy(base)
                )))
            }
            Some(Name::Opaque) => return self.opaque(parent),
            Some(Name::Whiteout(name)) => return self.whiteout(parent, name),
            Some(Name::Plain) => {}
        }
        for p in whiteout::prefixes(&path) {
            if !self.touched.contains(p) {
                self.touched.insert(p.to_vec());
            }
        }
        let pfd = fsops::mkdir_all_in_root(self.root, parent)
            .map_err(|e| Error::io("create parent directory", e))?;
        let pfd = pfd.as_raw_fd();
        self.remember_times(parent, pfd);
        self.open_up(parent, pfd);
        let name = fsops::cstr(base).map_err(|e| Error::io("entry name", e))?;
        let existing = fsops::lstat_at(pfd, &name).map_err(|e| Error::io("stat", e))?;
        if ty == EntryType::Link {
            return self.hardlink(h, pfd, &name, &path, existing.as_ref());
        }
        let meta = Meta::from_header(h)?;
        match ty {
            EntryType::Directory => {
                let is_dir = existing
                    .as_ref()
                    .is_some_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
                if !is_dir {
                    entry::replace(pfd, &name, existing.as_ref())?;
                    entry::mkdir(pfd, &name)?;
                }
                // All of a directory's metadata waits for the end of the
                // layer: a read-only mode would block its children in
                // rootless mode, and each child would reset the mtime.
                self.dirs.push((path.clone(), meta));
                return Ok(());
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GnuSparse => {
                self.budget.charge(h)?;
                entry::replace(pfd, &name, existing.as_ref())?;
                self.stats.file_bytes += entry::write_file(pfd, &name, content, h.sparse.as_ref())?;
            }
            EntryType::Symlink => {
                entry::replace(pfd, &name, existing.as_ref())?;
                let target = h
                    .link
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| Error::Invalid("symlink without target".into()))?;
                entry::symlink(pfd, &name, target)?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                entry::replace(pfd, &name, existing.as_ref())?;
                entry::mknod(pfd, &name, ty, h.dev, self.rootless)?;
            }
            other => {
                return Err(Error::Invalid(format!(
                    "unsupported tar entry type {:?}",
                    other.as_byte() as char
                )))
            }
        }
        let u = entry::apply_meta(pfd, &name, &meta, ty, self.rootless)?;
        self.record(&path, u);
        Ok(())
    }

    fn hardlink(
        &mut self,
        h: &Header,
        pfd: RawFd,
        name: &std::ffi::CStr,
        path: &[u8],
        existing: Option<&libc::stat>,
    ) -> Result<(), Error> {
        let target = h
            .link
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Invalid("hardlink without target".into()))?;
        let target = whiteout::normalize(target);
        if target == path {
            return Ok(());
        }
        let (tparent, tbase) = whiteout::split(&target);
        if tbase.is_empty() {
            return Err(Error::Invalid("hardlink to the root directory".into()));
        }
        let tpfd = fsops::open_in_root(self.root, tparent, libc::O_PATH | libc::O_DIRECTORY)
            .map_err(|e| Error::io("resolve hardlink target", e))?;
        let tname = fsops::cstr(tbase).map_err(|e| Error::io("hardlink target", e))?;
        let tst = fsops::lstat_at(tpfd.as_raw_fd(), &tname)
            .map_err(|e| Error::io("stat hardlink target", e))?
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "hardlink target {:?} does not exist",
                    String::from_utf8_lossy(&target)
                ))
            })?;
        if tst.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(Error::Invalid("hardlink to a directory".into()));
        }
        if let Some(ex) = existing {
            if ex.st_ino == tst.st_ino && ex.st_dev == tst.st_dev {
                return Ok(());
            }
        }
        entry::replace(pfd, name, existing)?;
        // No AT_SYMLINK_FOLLOW: a target that is a symlink is linked as the
        // symlink itself, never as whatever it points to.
        // SAFETY: valid descriptors and NUL-terminated names.
        let r = unsafe { libc::linkat(tpfd.as_raw_fd(), tname.as_ptr(), pfd, name.as_ptr(), 0) };
        fsops::check(r).map_err(|e| Error::io("create hardlink", e))
    }

    fn opaque(&mut self, parent: &[u8]) -> Result<(), Error> {
        let fd = match fsops::open_in_root(self.root, parent, libc::O_RDONLY | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Ok(())
            }
            Err(e) => return Err(Error::io("open opaque directory", e)),
        };
        self.remember_times(parent, fd.as_raw_fd());
        self.open_up(parent, fd.as_raw_fd());
        self.clear_lower(fd.as_raw_fd(), parent)
    }

    /// Removes everything under `dir` that this layer did not create.
    fn clear_lower(&self, dir: RawFd, path: &[u8]) -> Result<(), Error> {
        let names = fsops::list_dir(dir).map_err(|e| Error::io("list directory", e))?;
        for n in names {
            let child = whiteout::join(path, n.as_bytes());
            if !self.touched.contains(&child) {
                fsops::remove_all_at(dir, &n).map_err(|e| Error::io("remove lower entry", e))?;
                continue;
            }
            let sub = fsops::openat(
                dir,
                &n,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            );
            if let Ok(sub) = sub {
                self.clear_lower(sub.as_raw_fd(), &child)?;
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, parent: &[u8], name: &[u8]) -> Result<(), Error> {
        if self.touched.contains(&whiteout::join(parent, name)) {
            return Ok(());
        }
        let fd = match fsops::open_in_root(self.root, parent, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Ok(())
            }
            Err(e) => return Err(Error::io("open whiteout parent", e)),
        };
        self.remember_times(parent, fd.as_raw_fd());
        self.open_up(parent, fd.as_raw_fd());
        let n = fsops::cstr(name).map_err(|e| Error::io("whiteout name", e))?;
        fsops::remove_all_at(fd.as_raw_fd(), &n).map_err(|e| Error::io("apply whiteout", e))
    }

    fn remember_times(&mut self, path: &[u8], fd: RawFd) {
        if path.is_empty() || self.parent_times.contains_key(path) {
            return;
        }
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: fd is a valid directory descriptor; st is filled on success.
        if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
            return;
        }
        // SAFETY: fstat succeeded.
        let st = unsafe { st.assume_init() };
        let ts = |s, ns| libc::timespec {
            tv_sec: s,
            tv_nsec: ns,
        };
        self.parent_times.insert(
            path.to_vec(),
            (
                ts(st.st_atime, st.st_atime_nsec),
                ts(st.st_mtime, st.st_mtime_nsec),
            ),
        );
    }

    /// Without CAP_DAC_OVERRIDE a lower layer's read-only directory (0555
    /// is common) would refuse new entries; umoci opens such directories
    /// up for the owner while it works and restores the mode afterwards.
    fn open_up(&mut self, path: &[u8], fd: RawFd) {
        if !self.rootless || self.opened_up.iter().any(|(p, _)| p == path) {
            return;
        }
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: valid fd; st is filled on success.
        if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
            return;
        }
        // SAFETY: fstat succeeded.
        let st = unsafe { st.assume_init() };
        let mode = st.st_mode & 0o7777;
        if mode & 0o700 == 0o700 || st.st_uid != nix::unistd::geteuid().as_raw() {
            return;
        }
        let Ok(p) = fsops::fd_path(fd, b"") else {
            return;
        };
        // SAFETY: p names the directory this descriptor holds.
        if unsafe { libc::chmod(p.as_ptr(), mode | 0o700) } == 0 {
            self.opened_up.push((path.to_vec(), mode));
        }
    }

    fn restore_modes(&mut self) {
        let explicit: HashSet<&[u8]> = self.dirs.iter().map(|(p, _)| p.as_slice()).collect();
        for (p, mode) in std::mem::take(&mut self.opened_up).into_iter().rev() {
            if explicit.contains(p.as_slice()) {
                continue;
            }
            if let Ok(fd) = fsops::open_in_root(self.root, &p, libc::O_PATH | libc::O_DIRECTORY) {
                if let Ok(c) = fsops::fd_path(fd.as_raw_fd(), b"") {
                    // SAFETY: c names the directory this descriptor holds.
                    unsafe { libc::chmod(c.as_ptr(), mode) };
                }
            }
        }
    }

    fn restore_parent_times(&mut self) {
        let explicit: HashSet<&[u8]> = self.dirs.iter().map(|(p, _)| p.as_slice()).collect();
        let mut v: Vec<_> = self
            .parent_times
            .iter()
            .filter(|(p, _)| !explicit.contains(p.as_slice()))
            .collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.0.len()));
        for (p, (a, m)) in v {
            if let Ok(fd) = fsops::open_in_root(self.root, p, libc::O_PATH | libc::O_DIRECTORY) {
                let ts = [*a, *m];
                // SAFETY: valid fd, empty path with AT_EMPTY_PATH, two timespecs.
                unsafe {
                    libc::utimensat(
                        fd.as_raw_fd(),
                        c"".as_ptr(),
                        ts.as_ptr(),
                        libc::AT_EMPTY_PATH,
                    )
                };
            }
        }
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.restore_modes();
        self.restore_parent_times();
        // Deepest first, so a parent's mtime is set after its children's.
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (path, meta) in dirs {
            let (parent, base) = whiteout::split(&path);
            let r = if base.is_empty() {
                let fd = fsops::open_in_root(self.root, b"", libc::O_PATH | libc::O_DIRECTORY)
                    .map_err(|e| Error::io("open root", e))?;
                entry::apply_meta(
                    fd.as_raw_fd(),
                    c".",
                    &meta,
                    EntryType::Directory,
                    self.rootless,
                )
            } else {
                let pfd = match fsops::open_in_root(
                    self.root,
                    parent,
                    libc::O_PATH | libc::O_DIRECTORY,
                ) {
                    Ok(fd) => fd,
                    // Removed again later in this layer.
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                    Err(e) => return Err(Error::io("open directory parent", e)),
                };
                let n = fsops::cstr(base).map_err(|e| Error::io("name", e))?;
                match fsops::lstat_at(pfd.as_raw_fd(), &n) {
                    Ok(Some(st)) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
                    _ => continue,
                }
                entry::apply_meta(
                    pfd.as_raw_fd(),
                    &n,
                    &meta,
                    EntryType::Directory,
                    self.rootless,
                )
            };
            let u = r.map_err(|e| e.context(&String::from_utf8_lossy(&path)))?;
            self.record(&path, u);
        }
        Ok(())
    }
}
