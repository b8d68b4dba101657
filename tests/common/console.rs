//! The receiving end of --console-socket: a unix socket listener that
//! accepts one connection and takes the pty master out of SCM_RIGHTS.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

pub struct ConsoleReceiver {
    pub path: PathBuf,
    handle: JoinHandle<io::Result<OwnedFd>>,
}

impl ConsoleReceiver {
    pub fn listen(path: &Path) -> ConsoleReceiver {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind console socket");
        let handle = std::thread::spawn(move || {
            let (conn, _) = listener.accept()?;
            recv_fd(conn.as_raw_fd())
        });
        ConsoleReceiver {
            path: path.to_path_buf(),
            handle,
        }
    }

    /// The received pty master (blocks until the runtime sent it).
    pub fn master(self) -> io::Result<OwnedFd> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("receiver thread panicked")))
    }

    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

fn recv_fd(sock: i32) -> io::Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for a handful of fds: runtimes send one, be lenient.
    let mut cmsg = [0u64; 64];
    // SAFETY: msghdr is plain data; all pointers refer to live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg);
    // SAFETY: sock is a connected unix socket; msg is initialised above.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: walking the control buffer the kernel filled.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Err(io::Error::other("no fd in SCM_RIGHTS message"))
}

impl ConsoleReceiver {
    /// Like `master`, but gives up after `timeout` (the thread is left to
    /// die with the test process).
    pub fn master_within(self, timeout: std::time::Duration) -> io::Result<OwnedFd> {
        let end = std::time::Instant::now() + timeout;
        while !self.is_finished() {
            if std::time::Instant::now() > end {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no console fd received",
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        self.master()
    }
}
