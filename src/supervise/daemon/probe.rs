//! The health probe inside the event loop: started by the probe timer
//! through a worker (`rt exec`'s code), killed at its deadline, judged
//! when reaped; an unhealthy verdict stops the container.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use super::{ms, Sup, T_PROBE_OUT};
use crate::log::rfc3339_now;
use crate::supervise::events::{pidfd_open, read_some, signal, wait_exit};
use crate::supervise::health::{self, OUTPUT_MAX};
use crate::supervise::record::ProbeResult;
use crate::supervise::{client, jobs, worker};

pub struct Probe {
    pub pid: i32,
    out: File,
    output: Vec<u8>,
    start: String,
    timed_out: bool,
}

impl Sup {
    pub(super) fn start_probe(&mut self) {
        let Some(h) = self.cfg.health.clone() else {
            return;
        };
        if self.init.is_none() || self.probe.is_some() || self.stopping.is_some() {
            return;
        }
        // A paused container cannot answer: no verdict until it is resumed.
        if self.paused() {
            self.probe_timer.arm(ms(h.interval_ms));
            return;
        }
        let start = rfc3339_now();
        let t0 = Instant::now();
        let timeout = ms(h.timeout_ms);
        let (out, theirs) = match worker::output_pipe() {
            Ok(p) => p,
            Err(e) => return self.probe_result(fail(start, format!("probe pipe: {e}"))),
        };
        let (root, id) = (self.root.clone(), self.id.clone());
        let close = [self.lock.as_raw_fd()];
        let r = worker::run(&close, Some(timeout), || {
            jobs::probe(&root, &id, &h.cmd, theirs.as_raw_fd())
        });
        drop(theirs);
        match r {
            Ok(pid) => {
                if self.watch(out.as_fd(), T_PROBE_OUT).is_err() {
                    signal(pid, libc::SIGKILL);
                }
                self.probe_deadline
                    .arm(timeout.saturating_sub(t0.elapsed()));
                self.probe = Some(Probe {
                    pid,
                    out,
                    output: Vec::new(),
                    start,
                    timed_out: false,
                });
            }
            Err(e) => self.probe_result(fail(start, e)),
        }
    }

    /// A hung probe is killed; its reaping records the failure.
    pub(super) fn probe_timed_out(&mut self) {
        if let Some(p) = &mut self.probe {
            p.timed_out = true;
            signal(p.pid, libc::SIGKILL);
        }
    }

    pub(super) fn probe_output(&mut self) {
        let Some(p) = &mut self.probe else { return };
        let mut buf = [0u8; 4096];
        loop {
            match read_some(p.out.as_raw_fd(), &mut buf) {
                Ok(Some(0)) | Err(_) => {
                    // End of output: stop watching, or epoll keeps
                    // reporting the hang-up.
                    let _ = self.epoll.delete(p.out.as_fd());
                    return;
                }
                Ok(Some(n)) => {
                    let room = OUTPUT_MAX.saturating_sub(p.output.len());
                    p.output.extend_from_slice(&buf[..n.min(room)]);
                }
                Ok(None) => return,
            }
        }
    }

    pub(super) fn probe_exited(&mut self, status: (Option<i32>, Option<i32>)) {
        self.probe_output();
        let Some(p) = self.probe.take() else { return };
        let _ = self.epoll.delete(p.out.as_fd());
        self.probe_deadline.disarm();
        let timeout = self.cfg.health.as_ref().map_or(0, |h| h.timeout_ms);
        let mut output = String::from_utf8_lossy(&p.output).into_owned();
        let exit_code = if p.timed_out {
            output = format!("health check timed out after {timeout} ms; {output}");
            -1
        } else {
            match status {
                (Some(c), _) => c,
                (None, Some(s)) => 128 + s,
                _ => -1,
            }
        };
        self.probe_result(ProbeResult {
            start: p.start,
            end: rfc3339_now(),
            exit_code,
            output,
        });
    }

    fn probe_result(&mut self, r: ProbeResult) {
        let Some(h) = self.cfg.health.clone() else {
            return;
        };
        // Paused while it ran: the failure says nothing about health.
        if r.exit_code != 0 && self.paused() {
            self.probe_timer.arm(ms(h.interval_ms));
            return;
        }
        let in_start = self.health_since.elapsed() < ms(h.start_period_ms);
        let unhealthy = self.with_record(|_, _, rec| {
            let hr = rec.status.health.get_or_insert_with(health::initial);
            health::record(hr, r, in_start, h.retries)
        });
        match unhealthy {
            Some(true) => self.stop_container("unhealthy"),
            Some(false) if self.init.is_some() => self.probe_timer.arm(ms(h.interval_ms)),
            _ => {}
        }
    }

    fn paused(&self) -> bool {
        client::read_state(&self.root, &self.id, None).is_some_and(|s| s.paused)
    }

    /// A probe still running when the container ends (or the supervisor
    /// does) is killed and reaped here: nothing is left behind.
    pub(super) fn kill_probe(&mut self) {
        if let Some(p) = self.probe.take() {
            let pidfd = pidfd_open(p.pid).ok();
            signal(p.pid, libc::SIGKILL);
            // Bounded: a probe in a frozen container dies only once thawed,
            // and is then reaped like any orphan.
            if let Some(fd) = &pidfd {
                wait_exit(fd, Some(Duration::from_secs(2)));
            }
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(p.pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
            let _ = self.epoll.delete(p.out.as_fd());
            self.probe_deadline.disarm();
        }
    }
}

fn fail(start: String, e: String) -> ProbeResult {
    ProbeResult {
        start,
        end: rfc3339_now(),
        exit_code: -1,
        output: e,
    }
}
