//! The supervisor process: set up, start (or re-attach to) the container,
//! report to whoever launched it, then sleep in the event loop until the
//! container ends for good.
//!
//! Signals to the supervisor: SIGTERM or SIGINT stop the container the way
//! `rt stop` does (and it stays stopped); SIGUSR1 makes it re-read its
//! record (clients send it after `rt stop` or `rt delete`). SIGKILL leaves
//! the container running; `rt supervise ID` attaches a new supervisor.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::Mode;

use super::events::{pidfd_open, read_some, signal, Timer};
use super::jobs::{self, Running};
use super::logfile::{LogWriter, Stream};
use super::record::{self, Config, Desired, Exit, Phase, Record, RecordDir};
use super::{health, worker, Error, Result};
use crate::log::{rfc3339_now, Logger};

mod lifecycle;
mod probe;

const T_SIGNAL: u64 = 1;
const T_STDOUT: u64 = 2;
const T_STDERR: u64 = 3;
const T_INIT: u64 = 4;
const T_RESTART: u64 = 5;
const T_PROBE: u64 = 6;
const T_PROBE_DEADLINE: u64 = 7;
const T_STOP: u64 = 8;
const T_PROBE_OUT: u64 = 9;

/// Restart delays kept in the record.
const DELAYS_KEPT: usize = 32;

pub struct Options {
    pub root: PathBuf,
    pub id: String,
    /// The launcher's end: "ok" or the error of the first start.
    pub ready: Option<OwnedFd>,
    pub log: Logger,
}

struct Init {
    pid: i32,
    pidfd: OwnedFd,
    since: Instant,
    oom_files: Vec<PathBuf>,
    stop_signal: i32,
}

pub(super) struct Sup {
    root: PathBuf,
    id: String,
    dir: PathBuf,
    cfg: Config,
    log: Logger,
    epoll: Epoll,
    sfd: SignalFd,
    fifos: [File; 2],
    writer: LogWriter,
    buf: Vec<u8>,
    restart: Timer,
    probe_timer: Timer,
    probe_deadline: Timer,
    stop_timer: Timer,
    init: Option<Init>,
    probe: Option<probe::Probe>,
    /// Why the supervisor is stopping the container ("unhealthy",
    /// "stopped"), until it has ended.
    stopping: Option<&'static str>,
    pending_delay: Duration,
    health_since: Instant,
    done: bool,
    lock: File,
}

pub fn run(opts: Options) -> crate::Result<u8> {
    let mut ready = opts.ready;
    let mut sup = match Sup::new(&opts.root, &opts.id, opts.log) {
        Ok(s) => s,
        Err(e) => {
            report(&mut ready, Err(&e.to_string()));
            return Err(e.into());
        }
    };
    // Kept open across a sealed re-exec (in Sup::new); from here on ours
    // alone: nothing a worker executes may inherit it.
    if let Some(fd) = &ready {
        // SAFETY: fcntl on the descriptor we own.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    let first = sup.first_start();
    report(
        &mut ready,
        first.as_ref().map(|_| ()).map_err(String::as_str),
    );
    if let Err(e) = first {
        sup.finish();
        return Err(Error::Failed(e).into());
    }
    super::memory::shed();
    sup.event_loop();
    sup.finish();
    Ok(0)
}

fn report(ready: &mut Option<OwnedFd>, r: std::result::Result<(), &str>) {
    let Some(fd) = ready.take() else { return };
    let msg = match r {
        Ok(()) => "ok\n".to_string(),
        Err(e) => format!("error\n{e}"),
    };
    // SAFETY: writing a local buffer to our end of the launcher's pipe; a
    // launcher gone meanwhile gives EPIPE (SIGPIPE is blocked).
    unsafe { libc::write(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// mkfifo if missing, then open read-write and non-blocking: holding a
/// write end ourselves, the reader never sees end-of-file or a hang-up
/// between two incarnations of the container.
fn open_fifo(dir: &Path, stream: &str) -> Result<File> {
    let p = record::fifo_path(dir, stream);
    match nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::Error::EEXIST) => {}
        Err(e) => return Err(Error::sys(format!("mkfifo {}", p.display()), e)),
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| Error::io(format!("open {}", p.display()), e))
}

impl Sup {
    fn new(root: &Path, id: &str, log: Logger) -> Result<Sup> {
        let dir = record::dir_of(root, id);
        let rec = record::read(&dir, id)?.ok_or_else(|| Error::NotSupervised(id.to_string()))?;
        // Parsing the bundle is heavy: ask a worker.
        let bundle = rec.config.bundle.clone();
        if worker::run(&[], None, || Ok(jobs::needs_sealed_exe(&bundle))).unwrap_or(false) {
            // Re-executes this process (same arguments) unless it already
            // runs from a sealed copy.
            crate::security::exe::protect(root, true, false)
                .map_err(|e| Error::Failed(format!("sealed copy of rt: {e}")))?;
        }
        let lock = record::take_supervisor_lock(&dir, id)?;
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(Error::sys("become a child subreaper", nix::Error::last()));
        }
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGCHLD,
            Signal::SIGTERM,
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGUSR1,
            Signal::SIGPIPE,
        ] {
            set.add(s);
        }
        set.thread_block()
            .map_err(|e| Error::sys("block signals", e))?;
        let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| Error::sys("signalfd", e))?;
        let fifos = [open_fifo(&dir, "stdout")?, open_fifo(&dir, "stderr")?];
        let writer = LogWriter::open(
            &rec.config.log.path,
            rec.config.log.max_size,
            rec.config.log.max_files,
        )?;
        let epoll =
            Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| Error::sys("epoll", e))?;
        let sup = Sup {
            root: root.to_path_buf(),
            id: id.to_string(),
            dir,
            cfg: rec.config,
            log,
            epoll,
            sfd,
            fifos,
            writer,
            buf: vec![0; 16 * 1024],
            restart: Timer::new()?,
            probe_timer: Timer::new()?,
            probe_deadline: Timer::new()?,
            stop_timer: Timer::new()?,
            init: None,
            probe: None,
            stopping: None,
            pending_delay: Duration::ZERO,
            health_since: Instant::now(),
            done: false,
            lock,
        };
        sup.watch(sup.sfd.as_fd(), T_SIGNAL)?;
        sup.watch(sup.fifos[0].as_fd(), T_STDOUT)?;
        sup.watch(sup.fifos[1].as_fd(), T_STDERR)?;
        sup.watch(sup.restart.as_fd(), T_RESTART)?;
        sup.watch(sup.probe_timer.as_fd(), T_PROBE)?;
        sup.watch(sup.probe_deadline.as_fd(), T_PROBE_DEADLINE)?;
        sup.watch(sup.stop_timer.as_fd(), T_STOP)?;
        Ok(sup)
    }

    fn watch(&self, fd: std::os::fd::BorrowedFd, token: u64) -> Result<()> {
        self.epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .map_err(|e| Error::sys("epoll_ctl", e))
    }

    /// Open, lock and load the record, let `f` change it, save it. None
    /// (and the supervisor done) when the record is gone: `rt delete`.
    fn with_record<R>(
        &mut self,
        f: impl FnOnce(&mut Sup, &RecordDir, &mut Record) -> R,
    ) -> Option<R> {
        let rd = match RecordDir::open(&self.root, &self.id) {
            Ok(Some(rd)) => rd,
            _ => {
                self.done = true;
                return None;
            }
        };
        let mut rec = match rd.load() {
            Ok(r) => r,
            Err(e) => {
                self.log.warn(&e.to_string());
                self.done = true;
                return None;
            }
        };
        let out = f(self, &rd, &mut rec);
        if let Err(e) = rd.save(&rec) {
            self.log.warn(&e.to_string());
        }
        Some(out)
    }

    /// Re-attach to a running container, or start one.
    fn first_start(&mut self) -> std::result::Result<(), String> {
        let root = self.root.clone();
        let rec = record::read(&self.dir, &self.id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("container {:?} was deleted", self.id))?;
        let close = [self.lock.as_raw_fd()];
        let adopted = worker::run(&close, None, || match jobs::adopt(&root, &rec) {
            Err(crate::Error::State(crate::state::Error::NotFound(_))) => Ok(None),
            other => other,
        })?;
        let r = self.with_record(|sup, rd, rec| {
            rec.status.supervisor_pid = std::process::id() as i32;
            if let Some(running) = adopted {
                if sup.attach(running, rec) {
                    return Ok(());
                }
            }
            if rec.status.desired != Desired::Running {
                rec.status.supervisor_pid = 0;
                return Err(format!(
                    "container {:?} was stopped with rt stop: rt start starts it",
                    sup.id
                ));
            }
            let r = sup.start_incarnation(rd, rec);
            if r.is_err() {
                rec.status.phase = Phase::Stopped;
                rec.status.supervisor_pid = 0;
            }
            r
        });
        r.unwrap_or_else(|| Err(format!("container {:?} was deleted", self.id)))
    }

    /// Create and start a new incarnation (under the record's lock, so a
    /// concurrent `rt stop` or `rt delete` waits for it and then acts on
    /// it).
    fn start_incarnation(
        &mut self,
        rd: &RecordDir,
        rec: &mut Record,
    ) -> std::result::Result<(), String> {
        self.drain_all();
        let close = [rd.lock_fd(), self.lock.as_raw_fd()];
        let (root, dir, log) = (self.root.clone(), self.dir.clone(), self.log.clone());
        let snapshot = rec.clone();
        match worker::run(&close, None, || jobs::start(&root, &snapshot, &dir, &log)) {
            Ok(running) => {
                if !self.attach(running, rec) {
                    return Err("the container's init vanished after start".into());
                }
                Ok(())
            }
            Err(e) => {
                rec.status.last_exit = Some(Exit {
                    exit_code: None,
                    signal: None,
                    reason: "start-failed".into(),
                    oom_killed: false,
                    started_at: None,
                    finished_at: rfc3339_now(),
                    error: Some(e.clone()),
                });
                Err(e)
            }
        }
    }

    /// Watch a running init; false if it is already gone.
    fn attach(&mut self, running: Running, rec: &mut Record) -> bool {
        let st = running.state;
        let Ok(pidfd) = pidfd_open(st.pid) else {
            return false;
        };
        // The pid may have been recycled before the pidfd pinned it (a
        // zombie still has its start time).
        if crate::state::process_start_time(st.pid) != Some(st.pid_start_time) {
            return false;
        }
        if self.watch(pidfd.as_fd(), T_INIT).is_err() {
            return false;
        }
        let stop_signal = super::client::stop_signal(&st.annotations);
        self.init = Some(Init {
            pid: st.pid,
            pidfd,
            since: Instant::now(),
            oom_files: running.oom_files,
            stop_signal,
        });
        let s = &mut rec.status;
        if s.phase != Phase::Running || s.started_at.is_none() {
            s.started_at = Some(rfc3339_now());
        }
        s.phase = Phase::Running;
        s.finished_at = None;
        s.next_restart_at = None;
        s.container = Some(st);
        s.health = self.cfg.health.as_ref().map(|_| health::initial());
        if let Some(h) = &self.cfg.health {
            self.health_since = Instant::now();
            self.probe_timer.arm(ms(h.interval_ms));
        }
        true
    }

    fn event_loop(&mut self) {
        let mut events = [EpollEvent::empty(); 16];
        while !self.done {
            let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(nix::Error::EINTR) => continue,
                Err(e) => {
                    self.log
                        .error(&format!("supervisor {}: epoll: {e}", self.id));
                    return;
                }
            };
            let mut rare = false;
            for ev in &events[..n] {
                let t = ev.data();
                rare |= !matches!(t, T_STDOUT | T_STDERR);
                self.dispatch(t);
            }
            // Exits, restarts and probes ran code the wait does not need.
            if rare {
                super::memory::shed();
            }
        }
    }

    fn dispatch(&mut self, token: u64) {
        match token {
            T_SIGNAL => {
                while let Ok(Some(si)) = self.sfd.read_signal() {
                    match si.ssi_signo as i32 {
                        libc::SIGCHLD => self.reap(),
                        libc::SIGTERM | libc::SIGINT => self.terminate(),
                        libc::SIGUSR1 => self.recheck(),
                        _ => {}
                    }
                }
            }
            T_STDOUT => self.drain(Stream::Stdout),
            T_STDERR => self.drain(Stream::Stderr),
            T_INIT => self.init_gone(),
            T_RESTART => {
                self.restart.ack();
                self.restart_now();
            }
            T_PROBE => {
                self.probe_timer.ack();
                self.start_probe();
            }
            T_PROBE_DEADLINE => {
                self.probe_deadline.ack();
                self.probe_timed_out();
            }
            T_STOP => {
                self.stop_timer.ack();
                if let Some(i) = &self.init {
                    signal(i.pid, libc::SIGKILL);
                }
            }
            T_PROBE_OUT => self.probe_output(),
            _ => {}
        }
    }

    fn drain(&mut self, stream: Stream) {
        let fd = self.fifos[stream as usize].as_raw_fd();
        // Bounded, so a flood on one stream cannot starve the other.
        for _ in 0..16 {
            let n = match read_some(fd, &mut self.buf) {
                Ok(Some(n)) if n > 0 => n,
                _ => return,
            };
            if let Err(e) = self.writer.write(stream, &self.buf[..n], &rfc3339_now()) {
                self.log.warn(&format!("container {}: {e}", self.id));
            }
        }
    }

    fn drain_all(&mut self) {
        for s in [Stream::Stdout, Stream::Stderr] {
            let fd = self.fifos[s as usize].as_raw_fd();
            while let Ok(Some(n)) = read_some(fd, &mut self.buf) {
                if n == 0 {
                    break;
                }
                let _ = self.writer.write(s, &self.buf[..n], &rfc3339_now());
            }
        }
    }

    fn finish(&mut self) {
        self.kill_probe();
        self.drain_all();
    }
}
