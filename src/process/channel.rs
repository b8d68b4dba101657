//! The one socketpair between rt and the process it cloned. SEQPACKET keeps
//! message boundaries, so each message is one small JSON datagram; file
//! descriptors (the pty master) ride along as SCM_RIGHTS.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use super::{Error, Result};

#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    /// parent -> child: id maps written, cgroup joined; go on.
    Go,
    /// parent -> child: you are in your cgroup (and oom_score_adj is set).
    Placed,
    /// child -> parent: I unshared a user namespace; write my id maps.
    MapIds,
    /// parent -> child: maps written.
    Mapped,
    /// child -> parent: the pid (in rt's namespace) of the container process,
    /// when an intermediate process had to fork it.
    Pid(i32),
    /// child -> parent: namespaces and mounts are ready; run the runtime
    /// hooks (prestart, createRuntime) before pivot_root.
    Hooks,
    /// parent -> child: carry on; the state JSON for container-side hooks.
    Continue(String),
    /// child -> parent: all setup done, blocked before execve.
    Ready,
    /// either way: a failure, with its root cause.
    Error(String),
}

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent's end, child's end).
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn from_fd(fd: OwnedFd) -> Channel {
        Channel { fd }
    }

    /// Receive a bare descriptor (console sockets carry no JSON).
    pub fn recv_fd(&self) -> Result<Option<OwnedFd>> {
        let mut buf = [0u8; 4096];
        let mut cbuf = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let m = recvmsg::<()>(
            self.raw(),
            &mut iov,
            Some(&mut cbuf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::sys("receive terminal", e))?;
        for c in m.cmsgs().map_err(|e| Error::sys("recvmsg", e))? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the kernel just installed this fd for us.
                return Ok(fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) }));
            }
        }
        Ok(None)
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Msg, fd: Option<RawFd>) -> Result<()> {
        let data = serde_json::to_vec(msg).map_err(|e| Error::Protocol(e.to_string()))?;
        let iov = [IoSlice::new(&data)];
        let fds = fd.map(|f| [f]);
        let cmsg: Vec<ControlMessage> = fds.iter().map(|f| ControlMessage::ScmRights(f)).collect();
        sendmsg::<()>(self.raw(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
            .map_err(|e| Error::sys("send to container process", e))?;
        Ok(())
    }

    /// Next message; `None` when the other side closed without a word
    /// (it exited or exec'd).
    pub fn recv(&self) -> Result<Option<Msg>> {
        Ok(self.recv_with_fd()?.map(|(m, _)| m))
    }

    pub fn recv_with_fd(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut cbuf = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.raw(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => {
                    let mut fd = None;
                    for c in m.cmsgs().map_err(|e| Error::sys("recvmsg", e))? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            // SAFETY: the kernel just installed these fds for us.
                            fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
                        }
                    }
                    break (m.bytes, fd);
                }
                Err(nix::Error::EINTR) => continue,
                // The other side exited with a message of ours unread (the
                // child failed before reading `Placed`): the kernel reports
                // that once, before the messages it sent us, which the next
                // call returns (its error, usually).
                Err(nix::Error::ECONNRESET) => continue,
                Err(e) => return Err(Error::sys("receive from container process", e)),
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let msg =
            serde_json::from_slice(&buf[..len]).map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(Some((msg, fd)))
    }

    /// Wait for one specific message (`want` names it for errors); any
    /// other is a protocol error, and an `Error` message becomes our error.
    pub fn expect(&self, want: &str, is: impl Fn(&Msg) -> bool) -> Result<Msg> {
        match self.recv()? {
            Some(Msg::Error(e)) => Err(Error::Child(e)),
            Some(m) if is(&m) => Ok(m),
            Some(m) => Err(Error::Protocol(format!("expected {want}, got {m:?}"))),
            None => Err(Error::Protocol(format!(
                "expected {want}, got end of stream"
            ))),
        }
    }
}
