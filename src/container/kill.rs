//! `kill`: signals by name or number, to the init or the whole cgroup.
//!
//! What is accepted follows runc 1.1, because containerd's runc shim depends
//! on it: after a container's init has exited the shim (and containerd's
//! CRI, through `WithProcessKill`) sends `kill --all ID 9` to clear whatever
//! is left in the cgroup, and treats any failure as fatal for the exit
//! event, so `--all` must work on a stopped container. Without `--all` a
//! stopped container is refused, since its init pid may already belong to
//! someone else; the message carries runc's words "container not running",
//! which containerd matches to treat the process as already gone.

use nix::unistd::Pid;

use super::{Container, Error};
use crate::log::Logger;
use crate::state::Status;
use crate::Result;

/// Send `sig` to the init, or with `all` to every process in the cgroup
/// (whatever the container's status). Failures to signal single processes
/// of `--all` are warnings, as in runc: one unkillable process must not
/// keep the caller from reaching the others.
pub fn kill(c: &mut Container, sig: i32, all: bool, log: &Logger) -> Result<()> {
    if all {
        return kill_all(c, sig, log);
    }
    let status = c.status();
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Err(Error::Failed(format!(
            "container not running: {:?} is {status}; only kill --all signals what a stopped container left in its cgroup",
            c.id()
        ))
        .into());
    }
    signal(Pid::from_raw(c.state.pid), sig)?;
    if status == Status::Paused && sig == libc::SIGKILL {
        // A frozen process acts on SIGKILL only once thawed (cgroup v1).
        if let Some(cg) = c.cgroup_opt()? {
            cg.thaw()?;
            c.state.paused = false;
            c.save()?;
        }
    }
    Ok(())
}

/// Every process of the container, signalled while its cgroup is frozen so
/// that none can fork a child that escapes the signal. Like runc, the
/// cgroup is thawed afterwards, so a paused container is running again
/// (and its state says so).
fn kill_all(c: &mut Container, sig: i32, log: &Logger) -> Result<()> {
    let cg = c.cgroup_opt()?;
    let cg = match cg {
        // A stopped container whose cgroup is already gone has nothing left.
        Some(cg) if !cg.exists() => return Ok(()),
        other => other,
    };
    // Nothing to freeze for an empty cgroup: the common case after the init
    // of a container with its own pid namespace exited.
    if c.pids()?.is_empty() {
        return Ok(());
    }
    if let Some(cg) = &cg {
        if let Err(e) = cg.freeze() {
            log.warn(&format!("kill --all: freeze: {e}"));
        }
    }
    let pids = c.pids();
    if let Ok(pids) = &pids {
        for pid in pids {
            if let Err(e) = signal(*pid, sig) {
                log.warn(&format!("kill --all: {e}"));
            }
        }
    }
    if let Some(cg) = &cg {
        if let Err(e) = cg.thaw() {
            log.warn(&format!("kill --all: thaw: {e}"));
        }
        if c.state.paused {
            c.state.paused = false;
            c.save()?;
        }
    }
    pids.map(|_| ())
}

/// One signal to one process; a process that is already gone is not an
/// error (it exited between listing and signalling).
fn signal(pid: Pid, sig: i32) -> Result<()> {
    // SAFETY: kill with a pid we read from state or the cgroup and a signal
    // number checked by the caller (real-time signals have no nix::Signal).
    let rc = unsafe { libc::kill(pid.as_raw(), sig) };
    if rc != 0 {
        let e = nix::Error::last();
        if e != nix::Error::ESRCH {
            return Err(Error::Failed(format!("signal {pid}: {e}")).into());
        }
    }
    Ok(())
}
