//! SCMP_ACT_NOTIFY: the container process state (runtime-spec
//! config-linux.md, "The Container Process State") and the listener
//! descriptor go to the agent listening at `listenerPath`, over one new
//! AF_UNIX SOCK_STREAM connection that carries exactly that one message
//! and is then closed. A failure to deliver fails the operation.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};

use super::bad;
use crate::security::Result;

/// `state` is the container's state as `rt state` prints it.
pub fn send(s: &LinuxSeccomp, listener: &OwnedFd, pid: i32, state: Value) -> Result<()> {
    let Some(path) = s.listener_path() else {
        return Err(bad("SCMP_ACT_NOTIFY needs listenerPath"));
    };
    let msg = json!({
        "ociVersion": state.get("ociVersion").cloned().unwrap_or(json!("1.0.2")),
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": s.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    });
    let data = serde_json::to_vec(&msg).map_err(|e| bad(e.to_string()))?;
    let fail = |e: String| bad(format!("send the listener to {}: {e}", path.display()));
    let sock = UnixStream::connect(path).map_err(|e| fail(e.to_string()))?;
    let fds = [listener.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let mut sent = sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&data)],
        &cmsg,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| fail(e.to_string()))?;
    // The descriptor went with the first bytes; the rest is plain data.
    while sent < data.len() {
        sent += nix::sys::socket::send(sock.as_raw_fd(), &data[sent..], MsgFlags::MSG_NOSIGNAL)
            .map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}
