//! The last phase, shared by a container's init and an exec'd process:
//! process attributes, the drop of privileges, and the program to exec.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{OwnedFd, RawFd};

use oci_spec::runtime::{Process, Spec};

use super::{exec, limits, user, Error, Result};
use crate::security::{self, seccomp::Filter};
use crate::syscall;

/// A program ready to exec: everything that could fail has been checked.
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    stub: Option<RawFd>,
    /// A notifying seccomp filter's listener, for rt to hand to the agent.
    listener: Option<OwnedFd>,
}

pub fn prepare(
    spec: &Spec,
    process: &Process,
    seccomp: Option<&Filter>,
    preserve_fds: u32,
    stub: Option<RawFd>,
) -> Result<Program> {
    let argv = exec::argv(process)?;
    let envp = exec::envp(process)?;
    limits::apply(spec, process)?;
    security::confine(process, || user::switch(process))?;
    // A uid change makes the kernel reset dumpability to fs.suid_dumpable,
    // which a host may have set to 1: we are still rt until execve.
    super::init::set_dumpable(false)?;
    nix::unistd::chdir(process.cwd())
        .map_err(|e| Error::sys(format!("chdir {}", process.cwd().display()), e))?;
    // Looked up as the user the program runs as, so permissions are right.
    let path = exec::find_executable(&argv[0], process)?;
    syscall::cloexec_from(3 + preserve_fds).map_err(|e| Error::Io {
        context: "mark descriptors close-on-exec".into(),
        source: e,
    })?;
    // Last: after this only what security::lock names runs under the
    // container's seccomp filter (then the fifo, hooks and the exec).
    let listener = security::lock(process, seccomp)?;
    Ok(Program {
        path,
        argv,
        envp,
        stub,
        listener,
    })
}

impl Program {
    /// Tell rt we are ready to exec. A notifying filter's listener rides
    /// along and is closed here: the container must not keep it (it could
    /// answer its own notifications).
    pub fn send_ready(&mut self, chan: &super::channel::Channel) -> Result<()> {
        let listener = self.listener.take();
        chan.send_with_fd(
            &super::channel::Msg::Ready,
            listener.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
        )
    }

    pub fn exec(self, process: &Process) -> Result<Infallible> {
        limits::apply_final_affinity(process)?;
        match self.stub {
            Some(stub) => exec::through_stub(stub, &self.path, &self.argv, &self.envp),
            None => exec::execve(&self.path, &self.argv, &self.envp),
        }
    }
}
