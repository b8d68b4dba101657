//! The few kernel objects the event loop waits on, in small wrappers:
//! pidfds (a process's exit, for a process that is not our child too),
//! one-shot timerfds, and reads that never block.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use super::{Error, Result};

/// A descriptor that becomes readable when `pid` exits.
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall returning a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns; pidfds are close-on-exec.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Wait up to `timeout` for a pidfd to report its exit; true if it did.
pub fn wait_exit(pidfd: &OwnedFd, timeout: Option<Duration>) -> bool {
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    let mut p = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, ms) };
        if rc < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return rc > 0;
    }
}

/// A one-shot monotonic timer.
pub struct Timer(TimerFd);

impl Timer {
    pub fn new() -> Result<Timer> {
        TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_CLOEXEC | TimerFlags::TFD_NONBLOCK,
        )
        .map(Timer)
        .map_err(|e| Error::sys("timerfd", e))
    }

    pub fn arm(&self, after: Duration) {
        // Zero would disarm it: fire as soon as possible instead.
        let after = after.max(Duration::from_nanos(1));
        let _ = self.0.set(
            Expiration::OneShot(TimeSpec::from_duration(after)),
            TimerSetTimeFlags::empty(),
        );
    }

    pub fn disarm(&self) {
        let _ = self.0.unset();
    }

    /// Consume the expiry so the descriptor stops being readable.
    pub fn ack(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into a local buffer.
        unsafe { libc::read(self.0.as_fd().as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Read what is there without blocking: None when nothing is, Some(0)
/// at end of file.
pub fn read_some(fd: RawFd, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    loop {
        // SAFETY: reading into a live buffer of the given length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(Some(n as usize));
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(None),
            _ => return Err(e),
        }
    }
}

/// Signal the process behind a pidfd: never a recycled pid.
pub fn pidfd_signal(pidfd: &OwnedFd, sig: i32) {
    // SAFETY: plain syscall on our pidfd, no siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
}

/// `kill(2)` that ignores a process already gone: a pid, or with a
/// negative value a process group. Never 0 or -1 (ours, or everyone).
pub fn signal(pid: i32, sig: i32) {
    if !(-1..=0).contains(&pid) {
        // SAFETY: kill of one process or one group, a valid signal number.
        unsafe { libc::kill(pid, sig) };
    }
}
