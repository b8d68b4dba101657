//! The container's life as the supervisor sees it: reaping (the init,
//! probes, orphans), exits judged against the restart policy and the
//! record's `desired`, the back-off, and stopping (stop signal, SIGKILL
//! after the stop timeout).

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{ms, Sup, DELAYS_KEPT};
use crate::log::rfc3339_now;
use crate::supervise::events::signal;
use crate::supervise::jobs;
use crate::supervise::logfile::Stream;
use crate::supervise::policy::Backoff;
use crate::supervise::record::{self, Desired, Exit, Phase, Record};

impl Sup {
    /// Reap every child that exited: the init, a probe, or an orphan of
    /// the container that this subreaper inherited. All are reaped before
    /// any is acted on: acting may wait for the record's lock, held by an
    /// `rt delete` that waits for the container's init, which cannot finish
    /// exiting while a process of its pid namespace is left unreaped.
    pub(super) fn reap(&mut self) {
        let mut exited = Vec::new();
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) => exited.push((p.as_raw(), (Some(c), None))),
                Ok(WaitStatus::Signaled(p, s, _)) => {
                    exited.push((p.as_raw(), (None, Some(s as i32))))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        for (pid, status) in exited {
            if self.init.as_ref().is_some_and(|i| i.pid == pid) {
                self.container_exited(Some(status));
            } else if self.probe.as_ref().is_some_and(|p| p.pid == pid) {
                self.probe_exited(status);
            }
        }
    }

    /// The init's pidfd fired: take its status if it is our child (else
    /// it is unknown: we re-attached to it).
    pub(super) fn init_gone(&mut self) {
        let Some(pid) = self.init.as_ref().map(|i| i.pid) else {
            return;
        };
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => self.container_exited(Some((Some(c), None))),
            Ok(WaitStatus::Signaled(_, s, _)) => {
                self.container_exited(Some((None, Some(s as i32))))
            }
            // Not waitable yet: stop watching the pidfd (it would keep
            // firing); a child's exit still comes as SIGCHLD.
            Ok(_) => {
                if let Some(i) = &self.init {
                    let _ = self.epoll.delete(&i.pidfd);
                }
            }
            Err(_) => self.container_exited(None),
        }
    }

    pub(super) fn container_exited(&mut self, status: Option<(Option<i32>, Option<i32>)>) {
        let Some(init) = self.init.take() else { return };
        let _ = self.epoll.delete(&init.pidfd);
        for t in [&self.stop_timer, &self.probe_timer, &self.probe_deadline] {
            t.disarm();
        }
        self.kill_probe();
        self.drain_all();
        let ts = rfc3339_now();
        for s in [Stream::Stdout, Stream::Stderr] {
            let _ = self.writer.close_line(s, &ts);
        }
        let oom = jobs::oom_kills(&init.oom_files) > 0;
        let (code, sig) = match status {
            Some((Some(c), _)) => (Some(c), None),
            Some((None, Some(s))) => (Some(128 + s), Some(s)),
            _ => (None, None),
        };
        let stopping = self.stopping.take();
        let reason = match (stopping, status) {
            (Some(r), _) => r,
            _ if oom => "oom-killed",
            (None, Some((Some(_), _))) => "exited",
            (None, Some(_)) => "killed",
            (None, None) => "unknown",
        };
        let failed = code != Some(0) || stopping == Some("unhealthy");
        let ran_for = init.since.elapsed();
        self.with_record(|sup, _, rec| {
            // `rt stop` stops the container itself, having said so here.
            let reason = match rec.status.desired {
                Desired::Stopped if stopping.is_none() => "stopped",
                _ => reason,
            };
            rec.status.last_exit = Some(Exit {
                exit_code: code,
                signal: sig
                    .and_then(|s| Signal::try_from(s).ok())
                    .map(|s| s.as_str().to_string()),
                reason: reason.into(),
                oom_killed: oom,
                started_at: rec.status.started_at.clone(),
                finished_at: ts.clone(),
                error: None,
            });
            rec.status.finished_at = Some(ts);
            let wanted = rec.status.desired == Desired::Running && stopping != Some("stopped");
            if wanted && sup.cfg.restart.restarts(failed, rec.status.restart_count) {
                sup.schedule_restart(rec, ran_for);
            } else {
                sup.stopped_for_good(rec);
            }
        });
    }

    pub(super) fn stopped_for_good(&mut self, rec: &mut Record) {
        rec.status.phase = Phase::Stopped;
        rec.status.supervisor_pid = 0;
        rec.status.next_restart_at = None;
        self.restart.disarm();
        self.done = true;
    }

    pub(super) fn schedule_restart(&mut self, rec: &mut Record, ran_for: Duration) {
        let b = Backoff {
            first: ms(self.cfg.restart_delay_ms),
            max: ms(self.cfg.restart_max_delay_ms),
        };
        let (delay, streak) = b.next(rec.status.backoff_streak, ran_for);
        rec.status.backoff_streak = streak;
        rec.status.phase = Phase::Restarting;
        let at = std::time::SystemTime::now() + delay;
        let d = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        rec.status.next_restart_at =
            Some(crate::log::rfc3339(d.as_secs() as i64, d.subsec_nanos()));
        self.pending_delay = delay;
        self.restart.arm(delay);
    }

    pub(super) fn restart_now(&mut self) {
        self.with_record(|sup, rd, rec| {
            if rec.status.desired != Desired::Running {
                sup.stopped_for_good(rec);
                return;
            }
            rec.status.restart_count += 1;
            let s = &mut rec.status.restart_delays_ms;
            s.push(crate::supervise::units::millis(sup.pending_delay));
            if s.len() > DELAYS_KEPT {
                s.remove(0);
            }
            if sup.start_incarnation(rd, rec).is_err() {
                if sup.cfg.restart.restarts(true, rec.status.restart_count) {
                    sup.schedule_restart(rec, Duration::ZERO);
                } else {
                    sup.stopped_for_good(rec);
                }
            }
        });
    }

    /// Stop the container as `rt stop` would: its stop signal, SIGKILL
    /// after the stop timeout.
    pub(super) fn stop_container(&mut self, why: &'static str) {
        let Some(init) = &self.init else { return };
        if self.stopping.is_some() {
            return;
        }
        self.stopping = Some(why);
        self.probe_timer.disarm();
        signal(init.pid, init.stop_signal);
        self.stop_timer.arm(ms(self.cfg.stop_timeout_ms));
        self.with_record(|_, _, rec| rec.status.phase = Phase::Stopping);
    }

    /// SIGTERM to the supervisor: stop the container and keep it stopped.
    pub(super) fn terminate(&mut self) {
        self.with_record(|sup, _, rec| {
            rec.status.desired = Desired::Stopped;
            if sup.init.is_none() {
                sup.stopped_for_good(rec);
            }
        });
        self.stop_container("stopped");
    }

    /// A client changed the record (`rt stop`, `rt delete`).
    pub(super) fn recheck(&mut self) {
        match record::read(&self.dir, &self.id) {
            Ok(Some(r)) if r.status.desired == Desired::Running => {}
            Ok(Some(_)) if self.init.is_some() => {} // its exit will follow
            Ok(Some(_)) => {
                self.with_record(|sup, _, rec| sup.stopped_for_good(rec));
            }
            _ => self.done = true,
        }
    }
}
