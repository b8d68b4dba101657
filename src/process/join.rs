//! `exec`: a new process in a running container. An intermediate enters
//! the container's namespaces (a pid namespace only applies to children),
//! then forks the process as rt's own child (CLONE_PARENT), which finishes
//! the setup the init would and execs.

use std::convert::Infallible;
use std::os::fd::RawFd;

use oci_spec::runtime::Process;

use super::channel::{Channel, Msg};
use super::spawn::report;
use super::{console, finish, Error, Result};
use crate::namespaces::Join;
use crate::syscall::{clone3, exit_now};

pub struct ExecConfig<'a> {
    pub process: &'a Process,
    pub spec: &'a oci_spec::runtime::Spec,
    /// The container's namespaces that differ from rt's, in entry order.
    pub joins: &'a [Join],
    pub console_socket: Option<RawFd>,
    pub preserve_fds: u32,
    pub seccomp: Option<&'a crate::security::seccomp::Filter>,
}

/// Returns the pid of the intermediate, which reports the real pid.
pub fn spawn_exec(cfg: &ExecConfig, ours: &Channel, theirs: &Channel) -> Result<i32> {
    // SAFETY: single-threaded; the child leaves through execve or _exit.
    let pid = unsafe { clone3(0, None) }.map_err(|e| Error::Io {
        context: "clone".into(),
        source: e,
    })?;
    if pid != 0 {
        return Ok(pid);
    }
    // SAFETY: our copy of rt's end must go so rt sees end-of-stream.
    unsafe { libc::close(ours.raw()) };
    let err = intermediate(cfg, theirs).unwrap_err();
    report(theirs, &err)
}

fn intermediate(cfg: &ExecConfig, chan: &Channel) -> Result<Infallible> {
    for j in cfg.joins {
        j.enter()?;
    }
    // SAFETY: still single-threaded.
    let pid = unsafe { clone3(libc::CLONE_PARENT as u64, None) }.map_err(|e| Error::Io {
        context: "clone".into(),
        source: e,
    })?;
    if pid == 0 {
        let err = run(cfg, chan).unwrap_err();
        report(chan, &err);
    }
    chan.send(&Msg::Pid(pid))?;
    exit_now(0)
}

fn run(cfg: &ExecConfig, chan: &Channel) -> Result<Infallible> {
    super::init::early(true)?;
    chan.expect("Go", |m| matches!(m, Msg::Go))?;
    let process = cfg.process;
    if process.terminal() == Some(true) {
        console::attach(cfg.console_socket, process, false)?;
    }
    let program = finish::prepare(cfg.spec, process, cfg.seccomp, cfg.preserve_fds)?;
    super::init::set_pdeathsig(0)?;
    chan.send(&Msg::Ready)?;
    program.exec(process)
}
