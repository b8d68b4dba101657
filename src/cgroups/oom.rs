//! OOM notifications for `rt events`. v1: an eventfd registered on
//! memory.oom_control through cgroup.event_control; v2: inotify on
//! memory.events, whose oom_kill counter tells kills from other changes.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::util::write;
use super::v2::memory::oom_kills;
use super::{Error, Result};

/// What woke a watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// This many new OOM events.
    Oom(u64),
    Timeout,
    /// The cgroup was removed: no more events will come.
    Gone,
}

enum Kind {
    V1 { _control: File },
    V2 { seen: u64 },
}

pub struct OomWatcher {
    fd: OwnedFd,
    dir: PathBuf,
    kind: Kind,
}

fn last_err(path: &Path) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::last_os_error(),
    }
}

impl OomWatcher {
    /// Watch a v1 memory cgroup directory.
    pub fn v1(dir: &Path) -> Result<OomWatcher> {
        let ctl_path = dir.join("memory.oom_control");
        let control = File::open(&ctl_path).map_err(|source| Error::Io {
            path: ctl_path.clone(),
            source,
        })?;
        // SAFETY: plain syscall returning a new descriptor or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(last_err(dir));
        }
        // SAFETY: efd was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(efd) };
        write(
            dir,
            "cgroup.event_control",
            format!("{} {}", fd.as_raw_fd(), control.as_raw_fd()),
        )?;
        Ok(OomWatcher {
            fd,
            dir: dir.to_path_buf(),
            kind: Kind::V1 { _control: control },
        })
    }

    /// Watch a v2 cgroup directory (memory controller enabled).
    pub fn v2(dir: &Path) -> Result<OomWatcher> {
        // SAFETY: plain syscall returning a new descriptor or -1.
        let ino = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if ino < 0 {
            return Err(last_err(dir));
        }
        // SAFETY: ino was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(ino) };
        let events = dir.join("memory.events");
        let c = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::InvalidPath(events.display().to_string(), "contains NUL"))?;
        // SAFETY: valid descriptor and NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) } < 0 {
            return Err(last_err(&events));
        }
        Ok(OomWatcher {
            fd,
            dir: dir.to_path_buf(),
            kind: Kind::V2 {
                seen: oom_kills(dir)?,
            },
        })
    }

    /// Block up to `timeout` (None: forever) for the next OOM event.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<Wake> {
        let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
        loop {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::Io {
                    path: self.dir.clone(),
                    source: e,
                });
            }
            if rc == 0 {
                return Ok(Wake::Timeout);
            }
            let mut buf = [0u8; 4096];
            let mut f = File::from(self.fd.try_clone().map_err(|source| Error::Io {
                path: self.dir.clone(),
                source,
            })?);
            let n = f.read(&mut buf).unwrap_or(0);
            if let Kind::V2 { seen } = &mut self.kind {
                // The counts first: under systemd the scope's cgroup (and
                // its memory.events) is removed as soon as an OOM kill
                // empties it, often before a later read would run.
                if let Ok(now) = oom_kills(&self.dir) {
                    if now > *seen {
                        let new = now - *seen;
                        *seen = now;
                        return Ok(Wake::Oom(new));
                    }
                }
            }
            // Both the eventfd and the inotify watch also fire when the
            // cgroup goes away.
            if !self.dir.exists() {
                return Ok(Wake::Gone);
            }
            match &mut self.kind {
                Kind::V1 { .. } => {
                    let count = if n >= 8 {
                        u64::from_ne_bytes(buf[..8].try_into().unwrap_or([0; 8]))
                    } else {
                        0
                    };
                    if count > 0 {
                        return Ok(Wake::Oom(count));
                    }
                }
                Kind::V2 { seen } => {
                    let now = oom_kills(&self.dir)?;
                    if now > *seen {
                        let new = now - *seen;
                        *seen = now;
                        return Ok(Wake::Oom(new));
                    }
                }
            }
        }
    }
}

impl AsRawFd for OomWatcher {
    /// Readable when `wait` has something to report; for callers with
    /// their own poll loop.
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
