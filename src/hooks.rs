//! The six hook kinds of config.md. Each hook gets the container state on
//! stdin, its own args and env, and is killed (with everything it started)
//! when its timeout runs out. The hooks of one kind run in the order
//! listed; what a failure does depends on the kind (runtime.md, 1.2):
//! prestart, createRuntime, createContainer and startContainer failures
//! fail the operation (`run`), poststart and poststop failures are
//! warnings and the remaining hooks still run (`run_all`).

use std::ffi::CString;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::{Hook, Hooks};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} hook {path}: {cause}")]
    Failed {
        kind: &'static str,
        path: String,
        cause: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    fn list(self, hooks: &Hooks) -> &Option<Vec<Hook>> {
        match self {
            Kind::Prestart =>
            {
                #[allow(deprecated)]
                hooks.prestart()
            }
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        }
    }
}

pub fn has(hooks: Option<&Hooks>, kind: Kind) -> bool {
    hooks.is_some_and(|h| kind.list(h).as_ref().is_some_and(|l| !l.is_empty()))
}

/// Every hook of every kind with its place, for validation.
pub fn all(hooks: &Hooks) -> impl Iterator<Item = (Kind, usize, &Hook)> {
    [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
        Kind::Poststart,
        Kind::Poststop,
    ]
    .into_iter()
    .flat_map(move |k| {
        k.list(hooks)
            .iter()
            .flatten()
            .enumerate()
            .map(move |(i, h)| (k, i, h))
    })
}

/// Run every hook of `kind` in order; the first failure stops the rest.
pub fn run(hooks: Option<&Hooks>, kind: Kind, state_json: &str) -> Result<()> {
    run_in_container(hooks, kind, state_json, None)
}

/// The same, from the container's init (createContainer, startContainer):
/// each hook is exec'd through the exec stub when there is one, because
/// the init is still the rt binary and a hook's path may lead to
/// /proc/self/exe (security::exe).
pub fn run_in_container(
    hooks: Option<&Hooks>,
    kind: Kind,
    state_json: &str,
    stub: Option<RawFd>,
) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for hook in kind.list(hooks).iter().flatten() {
        run_one(hook, kind, state_json, stub)?;
    }
    Ok(())
}

/// Run every hook of `kind` in order, whatever happens to each: a failure
/// is handed to `warn` and the rest still run (poststart, poststop).
pub fn run_all(hooks: Option<&Hooks>, kind: Kind, state_json: &str, warn: &dyn Fn(&Error)) {
    let Some(hooks) = hooks else { return };
    for hook in kind.list(hooks).iter().flatten() {
        if let Err(e) = run_one(hook, kind, state_json, None) {
            warn(&e);
        }
    }
}

/// The exec stub's argv (the path, then the hook's own argv) and envp.
fn stub_args(hook: &Hook) -> std::io::Result<(Vec<CString>, Vec<CString>)> {
    let c = |s: &[u8]| CString::new(s).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL));
    let path = c(hook.path().as_os_str().as_bytes())?;
    let mut argv = vec![path.clone()];
    match hook.args().as_deref() {
        Some([]) | None => argv.push(path),
        Some(args) => {
            for a in args {
                argv.push(c(a.as_bytes())?);
            }
        }
    }
    let envp = hook
        .env()
        .iter()
        .flatten()
        .map(|kv| c(kv.as_bytes()))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok((argv, envp))
}

/// The last this many bytes of a hook's stderr go into its error.
const STDERR_TAIL: usize = 4096;

fn run_one(hook: &Hook, kind: Kind, state_json: &str, stub: Option<RawFd>) -> Result<()> {
    let path = hook.path().display().to_string();
    let fail = |cause: String| Error::Failed {
        kind: kind.name(),
        path: path.clone(),
        cause,
    };
    let mut cmd = Command::new(hook.path());
    // args follow execv: the first one is argv[0].
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    // A process group of its own, so that a timeout kills what the hook
    // started as well (a shell's children).
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(stub) = stub {
        let (argv, envp) = stub_args(hook).map_err(|e| fail(e.to_string()))?;
        // SAFETY: the closure runs in the forked child and only execs.
        unsafe {
            cmd.pre_exec(move || {
                let fd = std::os::fd::BorrowedFd::borrow_raw(stub);
                let e = nix::unistd::execveat(
                    fd,
                    c"",
                    &argv,
                    &envp,
                    nix::fcntl::AtFlags::AT_EMPTY_PATH,
                )
                .unwrap_err();
                Err(std::io::Error::from(e))
            });
        }
    }
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(u64::try_from(t).unwrap_or(1)));
    let mut io = HookIo::new(&mut child, state_json.as_bytes());
    // startContainer hooks run in the init, under the container's seccomp
    // filter, where only classic syscalls may be counted on: no pidfd.
    let pidfd = match kind {
        Kind::StartContainer => None,
        _ => pidfd_open(child.id()),
    };
    let status = match io.wait(&mut child, pidfd, deadline) {
        Ok(Some(st)) => st,
        Ok(None) => {
            // SAFETY: signalling the process group of a child we spawned.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s (killed)",
                hook.timeout().unwrap_or(0)
            )));
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(e.to_string()));
        }
    };
    io.drain_stderr();
    if status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&io.tail);
    let stderr = stderr.trim();
    let mut cause = match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => format!("killed by {status}"),
    };
    if !stderr.is_empty() {
        cause.push_str(": ");
        cause.push_str(stderr.lines().last().unwrap_or(stderr));
    }
    Err(fail(cause))
}

/// The hook's stdin (the state, written as the hook reads it) and stderr
/// (read as it comes, so a chatty hook never blocks on a full pipe), both
/// non-blocking: neither a hook that never reads its stdin nor one that
/// leaves a child holding its stderr can stall rt past the timeout.
struct HookIo<'a> {
    stdin: Option<ChildStdin>,
    data: &'a [u8],
    stderr: Option<ChildStderr>,
    tail: Vec<u8>,
}

impl<'a> HookIo<'a> {
    fn new(child: &mut Child, data: &'a [u8]) -> HookIo<'a> {
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        if let Some(w) = &stdin {
            // Most states fit a pipe; a bigger one (many annotations) asks
            // for a pipe that holds it, and is written piecewise otherwise.
            if data.len() > 65536 {
                let want = libc::c_int::try_from(data.len()).unwrap_or(libc::c_int::MAX);
                // SAFETY: fcntl on a pipe descriptor we own.
                unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
            }
            set_nonblocking(w.as_raw_fd());
        }
        if let Some(r) = &stderr {
            set_nonblocking(r.as_raw_fd());
        }
        HookIo {
            stdin,
            data,
            stderr,
            tail: Vec::new(),
        }
    }

    fn feed_stdin(&mut self) {
        let Some(w) = &mut self.stdin else { return };
        while !self.data.is_empty() {
            match w.write(self.data) {
                Ok(n) => self.data = &self.data[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // A hook that does not read its stdin is not an error.
                Err(_) => break,
            }
        }
        self.stdin = None;
    }

    fn drain_stderr(&mut self) {
        let Some(r) = &mut self.stderr else { return };
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.tail.extend_from_slice(&buf[..n]);
                    let excess = self.tail.len().saturating_sub(STDERR_TAIL);
                    self.tail.drain(..excess);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.stderr = None;
    }

    /// Wait for the hook to exit (Some) or the deadline to pass (None),
    /// sleeping in poll: on the hook's pidfd where the kernel has them,
    /// else in short ticks.
    fn wait(
        &mut self,
        child: &mut Child,
        pidfd: Option<OwnedFd>,
        deadline: Option<Instant>,
    ) -> std::io::Result<Option<ExitStatus>> {
        loop {
            self.feed_stdin();
            self.drain_stderr();
            if let Some(st) = child.try_wait()? {
                return Ok(Some(st));
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(None),
                },
                None => None,
            };
            let tick = if pidfd.is_some() {
                left
            } else {
                Some(left.map_or(Duration::from_millis(10), |l| {
                    l.min(Duration::from_millis(10))
                }))
            };
            let mut fds = Vec::with_capacity(3);
            if let Some(p) = &pidfd {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            if let Some(w) = &self.stdin {
                fds.push(PollFd::new(w.as_fd(), PollFlags::POLLOUT));
            }
            if let Some(r) = &self.stderr {
                fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            }
            let timeout = match tick {
                Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
                None => PollTimeout::NONE,
            };
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn set_nonblocking(fd: std::os::fd::RawFd) {
    // SAFETY: fcntl flag changes on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// A pidfd for `pid` (readable once it exits); None on kernels before 5.3,
/// and the wait falls back to ticks.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: a fresh descriptor the kernel just gave us.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}
