//! `start`: release a created container's init through the exec fifo.

use std::fs;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use super::{oci_state, Container, Error};
use crate::hooks::{self, Kind};
use crate::log::Logger;
use crate::state::Status;
use crate::Result;

pub fn start(c: &mut Container, log: &Logger) -> Result<()> {
    c.require("start", &[Status::Created], "created")?;
    let mut phases = crate::log::Phases::start("start");
    let fifo = c.dir.fifo();
    // Non-blocking open: a dead init must not hang `start`.
    let fd = open(
        &fifo,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::Failed(format!("open exec fifo: {e}")))?;
    // "0" releases the init; anything else is the error it failed with
    // during start (process::spawn's report_init), a startContainer hook
    // for instance.
    let mut buf = [0u8; 4096];
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u16));
        match nix::unistd::read(&fd, &mut buf) {
            Ok(1) if buf[0] == b'0' => break,
            Ok(n) if n > 0 => {
                let cause = String::from_utf8_lossy(&buf[..n]).into_owned();
                return Err(Error::StartFailed(cause).into());
            }
            Ok(_) | Err(nix::Error::EAGAIN) => {
                if !c.state.init_alive() {
                    return Err(Error::Failed(format!(
                        "container {:?} init exited before start",
                        c.id()
                    ))
                    .into());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(Error::Failed(format!("read exec fifo: {e}")).into()),
        }
    }
    phases.mark("init released");
    let _ = fs::remove_file(&fifo);
    c.state.started = true;
    c.save()?;
    let json = oci_state(&c.state, Status::Running).to_string();
    // poststart failures are warnings (runtime-spec 1.2): the program is
    // already running, and the remaining hooks still run.
    hooks::run_all(c.state.hooks.as_ref(), Kind::Poststart, &json, &|e| {
        log.warn(&e.to_string())
    });
    phases.mark("state saved, poststart hooks run");
    Ok(())
}
