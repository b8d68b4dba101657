//! Overlay mounts of cached layers that no other mount table sees: the
//! option string for a stack of cached layers, and a thread of rt's own in
//! a private mount namespace where such an overlay is mounted (while a new
//! layer is extracted through its cached parents, or to read a merged
//! view), so nothing appears on the host and nothing is left when rt is
//! killed.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};

use super::Error;

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

/// Runs `f` on a read-only merged view of `lowers` (top first) without
/// anything appearing in the host's mount table: a thread of ours enters a
/// mount namespace of its own and mounts the overlay on `at` there; the
/// mount goes away with that namespace when the thread ends.
pub fn with_merged_view<T: Send>(
    lowers: &[PathBuf],
    at: &Path,
    f: impl FnOnce(std::os::fd::RawFd) -> Result<T, Error> + Send,
) -> Result<T, Error> {
    use std::os::fd::AsRawFd;
    let open =
        |p: &Path| fs::File::open(p).map_err(|e| Error::io(format!("open {}", p.display()), e));
    if lowers.len() == 1 {
        // One layer needs no overlay (and overlayfs refuses a single lower
        // without an upper).
        return f(open(&lowers[0])?.as_raw_fd());
    }
    in_private_mount_ns(|| {
        let mut lower = String::new();
        for l in lowers {
            if !lower.is_empty() {
                lower.push(':');
            }
            lower.push_str(&l.to_string_lossy());
        }
        mount_overlay(at, &format!("lowerdir={lower}"))?;
        f(open(at)?.as_raw_fd())
    })
}

type NsJob = Box<dyn FnOnce() -> Result<std::os::fd::OwnedFd, Error> + Send>;

/// A thread in a private mount namespace of its own, alive until dropped:
/// mounts it makes are in no other mount table, stay attached (so lookups
/// inside them behave) while it lives, and go when it ends, also when rt
/// is killed.
pub struct PrivateNs {
    jobs: Option<std::sync::mpsc::Sender<NsJob>>,
    results: std::sync::mpsc::Receiver<Result<std::os::fd::OwnedFd, Error>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PrivateNs {
    pub fn start() -> Result<PrivateNs, Error> {
        let (jtx, jrx) = std::sync::mpsc::channel::<NsJob>();
        let (rtx, rrx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let entered = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| Error::io("enter a private mount namespace", e.into()))
                .and_then(|()| {
                    mount(
                        None::<&str>,
                        "/",
                        None::<&str>,
                        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                        None::<&str>,
                    )
                    .map_err(|e| Error::io("make a mount namespace private", e.into()))
                });
            for job in jrx {
                let r = match &entered {
                    Ok(()) => job(),
                    Err(e) => Err(Error::Invalid(e.to_string())),
                };
                if rtx.send(r).is_err() {
                    break;
                }
            }
        });
        Ok(PrivateNs {
            jobs: Some(jtx),
            results: rrx,
            handle: Some(handle),
        })
    }

    /// Runs `job` inside the namespace.
    pub fn run(&self, job: NsJob) -> Result<std::os::fd::OwnedFd, Error> {
        let lost = || Error::Invalid("private mount namespace thread ended".into());
        self.jobs
            .as_ref()
            .ok_or_else(lost)?
            .send(job)
            .map_err(|_| lost())?;
        self.results.recv().map_err(|_| lost())?
    }
}

impl Drop for PrivateNs {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Runs `f` on a thread of its own in a new, private mount namespace.
/// Mounts made there appear in no other mount table and are detached when
/// the thread ends; descriptors opened on them stay usable.
fn in_private_mount_ns<T: Send>(f: impl FnOnce() -> Result<T, Error> + Send) -> Result<T, Error> {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                .map_err(|e| Error::io("enter a private mount namespace", e.into()))?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .map_err(|e| Error::io("make the private mount namespace private", e.into()))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| {
            Err(Error::Invalid(
                "private mount namespace thread panicked".into(),
            ))
        })
    })
}
