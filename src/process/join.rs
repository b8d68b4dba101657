//! `exec`: a new process in a running container. An intermediate enters
//! the container's namespaces (a pid namespace only applies to children),
//! then forks the process as rt's own child (CLONE_PARENT), which finishes
//! the setup the init would and execs.
//!
//! The process places itself in the container's cgroups as `create`'s
//! init does: born in the cgroup2 directory (CLONE_INTO_CGROUP) and
//! writing "0" to each v1 `tasks` file. A move by rt through cgroup.procs
//! would wait for an RCU grace period whenever no other cgroup write came
//! just before (10-15 ms here, three times the rest of exec). The child,
//! not the intermediate, enters the cgroup namespace, after the clone: a
//! process inside the container's cgroup namespace may not name rt's
//! cgroup as the source of CLONE_INTO_CGROUP.

use std::convert::Infallible;
use std::os::fd::RawFd;

use oci_spec::runtime::{LinuxNamespaceType, Process};

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
    /// The container's cgroup2 directory, for CLONE_INTO_CGROUP.
    pub cgroup_fd: Option<RawFd>,
    /// The container's v1 `tasks` files, for the process to move itself.
    pub cgroup_tasks: &'a [RawFd],
    /// rt's lock on the state directory, which the children must not hold:
    /// a process that stalls before execve (frozen in a paused container)
    /// would otherwise lock every command on the container out.
    pub lock_fd: RawFd,
    /// The sealed exec stub (None when rt itself runs sealed).
    pub exec_stub: Option<RawFd>,
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
    // SAFETY: our copy of rt's end must go so rt sees end-of-stream, and
    // the lock stays with rt.
    unsafe {
        libc::close(ours.raw());
        libc::close(cfg.lock_fd);
    }
    let err = intermediate(cfg, theirs).unwrap_err();
    report(theirs, &err)
}

fn is_cgroup(j: &Join) -> bool {
    j.kind == LinuxNamespaceType::Cgroup
}

fn intermediate(cfg: &ExecConfig, chan: &Channel) -> Result<Infallible> {
    for j in cfg.joins.iter().filter(|j| !is_cgroup(j)) {
        j.enter()?;
    }
    // SAFETY: still single-threaded.
    let pid =
        unsafe { clone3(libc::CLONE_PARENT as u64, cfg.cgroup_fd) }.map_err(|e| Error::Io {
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
    super::init::join_v1_cgroups(cfg.cgroup_tasks)?;
    for j in cfg.joins.iter().filter(|j| is_cgroup(j)) {
        j.enter()?;
    }
    super::init::early(false)?;
    chan.expect("Go", |m| matches!(m, Msg::Go))?;
    let process = cfg.process;
    if process.terminal() == Some(true) {
        console::attach(cfg.console_socket, process, false)?;
    }
    let mut program = finish::prepare(
        cfg.spec,
        process,
        cfg.seccomp,
        cfg.preserve_fds,
        cfg.exec_stub,
    )?;
    super::init::set_pdeathsig(0)?;
    program.send_ready(chan)?;
    program.exec(process)
}
