//! A foreground container: rt waits for its init, forwards the signals it
//! receives, reaps orphans as a subreaper, and proxies the terminal when
//! rt itself holds the pty master.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::channel::Channel;
use super::{Error, Result};

const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
    Signal::SIGCHLD,
];

pub struct Foreground {
    sfd: SignalFd,
    console: Option<OwnedFd>,
}

impl Foreground {
    /// Block the forwarded signals before the container exists, so none is
    /// lost between its creation and the wait loop. (The child resets its
    /// mask first thing.)
    pub fn prepare(subreaper: bool) -> Result<Foreground> {
        let mut set = SigSet::empty();
        for s in FORWARDED {
            set.add(s);
        }
        set.thread_block()
            .map_err(|e| Error::sys("block signals", e))?;
        let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC)
            .map_err(|e| Error::sys("signalfd", e))?;
        if subreaper {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        }
        Ok(Foreground { sfd, console: None })
    }

    /// A socketpair standing in for a console socket: the container sends
    /// its pty master on one end, rt receives it on the other.
    pub fn console_pair(&mut self) -> Result<OwnedFd> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::sys("socketpair", e))?;
        self.console = Some(ours);
        Ok(theirs)
    }

    /// Wait for the init to exit; its status becomes rt's exit code
    /// (128+N for a signal, as shells report it).
    pub fn wait(self, init: i32) -> Result<u8> {
        let master = match &self.console {
            Some(sock) => Some(receive_master(sock)?),
            None => None,
        };
        let _raw = master.as_ref().and_then(|_| RawMode::enter());
        let stdin = std::io::stdin();
        let mut stdin_open = true;
        loop {
            let mut fds = vec![PollFd::new(self.sfd.as_fd(), PollFlags::POLLIN)];
            if let Some(m) = &master {
                fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
                if stdin_open {
                    fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
                }
            }
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(Error::sys("poll", e)),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            if let Some(m) = &master {
                if ready[1] {
                    copy(m.as_raw_fd(), 1);
                }
                // At end of input stop watching stdin, or poll spins on it.
                if ready.get(2) == Some(&true) && !copy(0, m.as_raw_fd()) {
                    stdin_open = false;
                }
            }
            if !ready[0] {
                continue;
            }
            let Ok(Some(info)) = self.sfd.read_signal() else {
                continue;
            };
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGCHLD {
                if let Some(code) = reap(init) {
                    if let Some(m) = &master {
                        while copy(m.as_raw_fd(), 1) {}
                    }
                    return Ok(code);
                }
            } else {
                // SAFETY: kill with a live pid and a caught signal number.
                unsafe { libc::kill(init, sig) };
            }
        }
    }
}

/// Reap every exited child; the init's status if it was among them.
fn reap(init: i32) -> Option<u8> {
    let mut code = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, c)) if pid.as_raw() == init => code = Some(c as u8),
            Ok(WaitStatus::Signaled(pid, s, _)) if pid.as_raw() == init => {
                code = Some(128u8.wrapping_add(s as i32 as u8))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return code,
            Ok(_) => {}
        }
    }
}

fn receive_master(sock: &OwnedFd) -> Result<OwnedFd> {
    // The console end speaks the same SCM_RIGHTS convention as a channel.
    let dup = sock.try_clone().map_err(|e| Error::Io {
        context: "console socket".into(),
        source: e,
    })?;
    let chan = Channel::from_fd(dup);
    chan.recv_fd()?
        .ok_or_else(|| Error::Protocol("no terminal received from the container".into()))
}

/// Copy what is available from one descriptor to another; false on EOF.
fn copy(from: i32, to: i32) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: reads into and writes from a live local buffer.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return false;
    }
    let mut off = 0;
    while off < n as usize {
        // SAFETY: as above.
        let w = unsafe { libc::write(to, buf[off..].as_ptr().cast(), n as usize - off) };
        if w <= 0 {
            return false;
        }
        off += w as usize;
    }
    true
}

/// The user's terminal in raw mode while the container owns it; restored
/// on drop.
struct RawMode(Termios);

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}
