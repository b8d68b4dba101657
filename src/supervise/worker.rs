//! A forked worker for the supervisor's heavy jobs (create and start,
//! exec of a health probe): the job runs in the child, which reports its
//! result as JSON on a pipe and exits. The supervisor's own memory never
//! holds what the job parsed and allocated, and a job that fails badly
//! cannot take the supervisor with it.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::events::signal;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome<T> {
    Ok(T),
    Err(String),
}

/// Run `job` in a forked child, closing `close` there first (locks the
/// child must not keep). Err(message) when the job failed, timed out or
/// died.
pub fn run<T, F>(close: &[RawFd], timeout: Option<Duration>, job: F) -> Result<T, String>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> crate::Result<T>,
{
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| format!("worker pipe: {e}"))?;
    // SAFETY: the supervisor is single-threaded; the child leaves through
    // _exit.
    match unsafe { fork() } {
        Err(e) => Err(format!("fork worker: {e}")),
        Ok(ForkResult::Child) => {
            drop(r);
            if timeout.is_some() {
                // Its own process group, which a timeout kills whole: the
                // processes it was starting (an exec's intermediate and
                // the probe itself) with it.
                // SAFETY: setpgid on ourselves.
                unsafe { libc::setpgid(0, 0) };
            }
            for &fd in close {
                // SAFETY: closing descriptors this process inherited.
                unsafe { libc::close(fd) };
            }
            let out = match job() {
                Ok(v) => Outcome::Ok(v),
                Err(e) => Outcome::Err(e.to_string()),
            };
            let data = serde_json::to_vec(&out).unwrap_or_default();
            let mut off = 0;
            while off < data.len() {
                // SAFETY: writing from a live buffer to our pipe end.
                let n = unsafe {
                    libc::write(w.as_raw_fd(), data[off..].as_ptr().cast(), data.len() - off)
                };
                if n <= 0 {
                    break;
                }
                off += n as usize;
            }
            crate::syscall::exit_now(0)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            if timeout.is_some() {
                // Both sides, so the group exists whichever runs first.
                // SAFETY: setpgid on our own child.
                unsafe { libc::setpgid(child.as_raw(), child.as_raw()) };
            }
            let got = read_all(r, timeout);
            if got.is_err() {
                if timeout.is_some() {
                    signal(-child.as_raw(), libc::SIGKILL);
                }
                signal(child.as_raw(), libc::SIGKILL);
            }
            let _ = waitpid(child, None);
            let data = got?;
            match serde_json::from_slice::<Outcome<T>>(&data) {
                Ok(Outcome::Ok(v)) => Ok(v),
                Ok(Outcome::Err(e)) => Err(e),
                Err(_) => Err("worker died without a result".into()),
            }
        }
    }
}

fn read_all(r: OwnedFd, timeout: Option<Duration>) -> Result<Vec<u8>, String> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut out = Vec::new();
    let mut f = std::fs::File::from(r);
    loop {
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            let mut p = libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut p, 1, ms) };
            if rc == 0 {
                return Err(format!(
                    "timed out after {} ms",
                    timeout.unwrap_or_default().as_millis()
                ));
            }
        }
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read worker result: {e}")),
        }
    }
}

/// Put `fd` at 1 and 2 (in a worker: what the processes it starts inherit).
pub fn stdio_to(out: RawFd, err: RawFd) -> std::io::Result<()> {
    for (fd, target) in [(out, 1), (err, 2)] {
        // SAFETY: dup2 onto the standard descriptors of this process.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A pipe for a probe's output: (read end, non-blocking, close-on-exec;
/// write end for the worker to hand on).
pub fn output_pipe() -> std::io::Result<(std::fs::File, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills a two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Only our end: the probe writes to a blocking pipe like any other.
    // SAFETY: fcntl on the descriptor just created.
    unsafe { libc::fcntl(fds[0], libc::F_SETFL, libc::O_NONBLOCK) };
    // SAFETY: two new descriptors nobody else owns.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((std::fs::File::from(r), w))
}
