//! The container's terminal: made from the container's own devpts, handed
//! to whoever listens on the console socket.

use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::Process;

use super::{Error, Result};
use crate::rootfs;

/// Create the pty, make it the process's terminal and send the master over
/// `socket`. Only the init binds it to /dev/console.
pub fn attach(socket: Option<RawFd>, process: &Process, init: bool) -> Result<()> {
    let Some(sock) = socket else {
        return Err(Error::Invalid(
            "process.terminal is set but no console socket was given".into(),
        ));
    };
    let size = process
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16));
    let master = if init {
        rootfs::setup_console(size)?
    } else {
        rootfs::setup_console_exec(size)?
    };
    send_fd(sock, master.as_raw_fd())?;
    // SAFETY: our copy of the console socket; the receiver keeps the master.
    unsafe { libc::close(sock) };
    Ok(())
}

/// The terminal's name rides along as payload, as runc sends it
/// (containerd and conmon read it).
fn send_fd(sock: RawFd, fd: RawFd) -> Result<()> {
    let name = CString::new("/dev/ptmx").unwrap_or_default();
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    let fds = [fd];
    sendmsg::<()>(
        sock,
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::sys("send terminal to console socket", e))?;
    Ok(())
}
