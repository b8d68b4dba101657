//! `kill`: signals by name or number, to the init or the whole cgroup.

use nix::unistd::Pid;

use super::{Container, Error};
use crate::state::Status;
use crate::Result;

/// Send `sig` to the init, or with `all` to every process in the cgroup.
pub fn kill(c: &Container, sig: i32, all: bool) -> Result<()> {
    c.require(
        "kill",
        &[Status::Created, Status::Running, Status::Paused],
        "created, running or paused",
    )?;
    let send_one = |pid: Pid| -> Result<()> {
        // SAFETY: kill with a valid pid and a signal number checked by the
        // caller (real-time signals have no nix::Signal).
        let rc = unsafe { libc::kill(pid.as_raw(), sig) };
        if rc != 0 {
            let e = nix::Error::last();
            if e != nix::Error::ESRCH {
                return Err(Error::Failed(format!("signal {pid}: {e}")).into());
            }
        }
        Ok(())
    };
    if all {
        for pid in c.pids()? {
            send_one(pid)?;
        }
        Ok(())
    } else {
        send_one(Pid::from_raw(c.state.pid))
    }
}
