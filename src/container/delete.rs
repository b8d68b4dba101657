//! `delete`: kill what is left, remove the cgroup, run poststop hooks and
//! drop the state directory.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;

use super::{oci_state, Container, Error};
use crate::hooks::{self, Kind};
use crate::log::Logger;
use crate::state::Status;
use crate::Result;

/// Kill whatever is left and wait (bounded) until the init is gone.
fn kill_and_wait(c: &Container) -> Result<()> {
    let cg = c.cgroup_opt().ok().flatten();
    for pid in c.pids().unwrap_or_default() {
        let _ = send(pid, Signal::SIGKILL);
    }
    if c.state.init_alive() {
        let _ = send(Pid::from_raw(c.state.pid), Signal::SIGKILL);
    }
    // A frozen process cannot act on SIGKILL until it is thawed.
    if let Some(cg) = &cg {
        let _ = cg.thaw();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.state.init_alive() {
        if Instant::now() > deadline {
            return Err(
                Error::Failed(format!("container {:?} did not die after SIGKILL", c.id())).into(),
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Remove a container. A running or paused one needs `force`; a created
/// one is destroyed as runc does.
pub fn delete(c: Container, force: bool, log: &Logger) -> Result<()> {
    let mut phases = crate::log::Phases::start("delete");
    match c.status() {
        Status::Stopped => {}
        // What a killed create left: its init may be alive, blocked
        // before the user's program.
        Status::Creating | Status::Created => kill_and_wait(&c)?,
        Status::Running | Status::Paused if force => kill_and_wait(&c)?,
        status => {
            return Err(Error::WrongStatus {
                id: c.state.id.clone(),
                status,
                action: "delete",
                need: "stopped (or use --force)",
            }
            .into())
        }
    }
    phases.mark("processes gone");
    if let Some(cg) = c.cgroup_opt()? {
        cg.destroy()?;
    }
    phases.mark("cgroup removed");
    let json = oci_state(&c.state, Status::Stopped).to_string();
    hooks::run_all(c.state.hooks.as_ref(), Kind::Poststop, &json, &|e| {
        log.warn(&e.to_string())
    });
    c.dir.remove()?;
    phases.mark("poststop hooks run, state removed");
    Ok(())
}
