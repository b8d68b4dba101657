//! The container's init, from clone to execve, one phase after another.
//! Every failure returns to `spawn`, which reports it to rt as the root
//! cause; nothing here prints.

use std::convert::Infallible;
use std::os::fd::RawFd;

use nix::fcntl::OFlag;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::stat::Mode;
use nix::unistd::sethostname;
use oci_spec::runtime::LinuxNamespaceType;

use super::channel::{Channel, Msg};
use super::{console, finish, user, Error, InitConfig, Result};
use crate::hooks::{self, Kind};
use crate::rootfs;
use crate::syscall;

pub fn run(cfg: &InitConfig, chan: &Channel) -> Result<Infallible> {
    join_v1_cgroups(cfg.cgroup_tasks)?;
    // An unprivileged rt writes our id maps (and oom_score_adj) through
    // /proc/PID, which belongs to root while we are not dumpable. The
    // window is harmless: only the caller's own processes could reach our
    // /proc/PID/exe, and they cannot write a binary the caller cannot.
    let maps_by_user = cfg.plan.has_new(LinuxNamespaceType::User) && cfg.unprivileged;
    early(maps_by_user)?;
    chan.expect("Go", |m| matches!(m, Msg::Go))?;
    if maps_by_user {
        set_dumpable(false)?;
    }
    if cfg.plan.has_new(LinuxNamespaceType::User) {
        user::become_root()?;
    }
    set_names(cfg)?;
    if !cfg.keep_keyring {
        new_keyring()?;
    }

    let ctx = rootfs::Context {
        spec: cfg.spec,
        bundle: cfg.bundle,
        rootfs: cfg.rootfs,
        new_user_ns: cfg.plan.has_new(LinuxNamespaceType::User),
        cgroup_dirs: cfg.cgroup_dirs,
        no_pivot: cfg.no_pivot,
        own_mount_ns: cfg.plan.has_new(LinuxNamespaceType::Mount),
        idmapped: cfg.idmapped,
    };
    rootfs::prepare(&ctx)?;
    // The cgroup namespace's root is the cgroup we are in when unsharing it:
    // wait until rt has moved us into the container's.
    chan.expect("Placed", |m| matches!(m, Msg::Placed))?;
    if cfg.plan.has_new(LinuxNamespaceType::Cgroup) {
        unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| Error::sys("unshare cgroup namespace", e))?;
    }
    let state_json = hook_point(cfg, chan)?;
    hooks::run_in_container(cfg.hooks, Kind::CreateContainer, &state_json, cfg.exec_stub)?;
    rootfs::finish(&ctx)?;

    let process = cfg.process;
    if process.terminal() == Some(true) {
        console::attach(cfg.console_socket, process, true)?;
    }
    let mut program = finish::prepare(
        cfg.spec,
        process,
        cfg.seccomp,
        cfg.preserve_fds,
        cfg.exec_stub,
    )?;
    // Everything that can fail has been done. From here on rt may exit: no
    // longer die with it.
    set_pdeathsig(0)?;
    program.send_ready(chan)?;
    wait_for_start(cfg, &state_json)?;
    program.exec(process)
}

/// Die with rt while it still needs us, and create device nodes with
/// exact modes. Like every rt process we are not dumpable (security::exe:
/// until execve our executable is the host's rt binary), except while an
/// unprivileged rt writes our id maps through /proc/PID (`dumpable`).
pub(super) fn early(dumpable: bool) -> Result<()> {
    set_pdeathsig(libc::SIGKILL)?;
    if dumpable {
        set_dumpable(true)?;
    }
    nix::sys::stat::umask(Mode::empty());
    // rt may block signals for forwarding; the container starts clean.
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(|e| Error::sys("reset signal mask", e))?;
    Ok(())
}

pub(super) fn set_dumpable(on: bool) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) } != 0 {
        return Err(Error::sys("set non-dumpable", nix::Error::last()));
    }
    Ok(())
}

pub(super) fn set_pdeathsig(sig: i32) -> Result<()> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig, 0, 0, 0) } != 0 {
        return Err(Error::sys("set parent-death signal", nix::Error::last()));
    }
    Ok(())
}

/// Moves this (single-threaded) process into the container's cgroup in
/// each v1 hierarchy before it does anything worth accounting.
pub(super) fn join_v1_cgroups(tasks: &[RawFd]) -> Result<()> {
    for &fd in tasks {
        // SAFETY: a descriptor rt opened for writing; "0" names the writer.
        if unsafe { libc::write(fd, c"0".as_ptr().cast(), 1) } != 1 {
            return Err(Error::sys(
                "join the container's cgroup",
                nix::Error::last(),
            ));
        }
        // SAFETY: ours to close; nothing else uses it in this process.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Kernels without keyrings (ENOSYS) have nothing to share either.
fn new_keyring() -> Result<()> {
    match syscall::join_new_session_keyring() {
        Err(e) if e.raw_os_error() != Some(libc::ENOSYS) => Err(Error::Io {
            context: "join a new session keyring".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

fn set_names(cfg: &InitConfig) -> Result<()> {
    // A joined uts namespace may be renamed too, as runc does.
    let new_uts =
        cfg.plan.has_new(LinuxNamespaceType::Uts) || cfg.plan.joins(LinuxNamespaceType::Uts);
    if let Some(h) = cfg.spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        if !new_uts {
            return Err(Error::Invalid("hostname needs a uts namespace".into()));
        }
        sethostname(h).map_err(|e| Error::sys(format!("set hostname {h:?}"), e))?;
    }
    if let Some(d) = cfg.spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !new_uts {
            return Err(Error::Invalid("domainname needs a uts namespace".into()));
        }
        syscall::setdomainname(d).map_err(|e| Error::Io {
            context: format!("set domainname {d:?}"),
            source: e,
        })?;
    }
    Ok(())
}

/// Let rt run the hooks that belong to the runtime's namespace (prestart,
/// createRuntime) now that ours exist, and get the state they saw.
fn hook_point(cfg: &InitConfig, chan: &Channel) -> Result<String> {
    let any = [
        Kind::Prestart,
        Kind::CreateRuntime,
        Kind::CreateContainer,
        Kind::StartContainer,
    ]
    .iter()
    .any(|k| hooks::has(cfg.hooks, *k));
    if !any {
        return Ok(String::new());
    }
    chan.send(&Msg::Hooks)?;
    match chan.expect("Continue", |m| matches!(m, Msg::Continue(_)))? {
        Msg::Continue(state) => Ok(state),
        other => Err(Error::Protocol(format!("expected Continue, got {other:?}"))),
    }
}

/// Block until `rt start` opens the exec fifo, then tell it we are going.
/// Reopening through /proc/self/fd checks only the fifo's own mode (0622),
/// so this works after the switch to an unprivileged user; a process may
/// always open its own descriptors even when not dumpable.
/// The startContainer hooks run between the two, so that `start` returns
/// (and runs poststart) only after them.
fn wait_for_start(cfg: &InitConfig, state_json: &str) -> Result<()> {
    let path = format!("/proc/self/fd/{}", cfg.fifo);
    let fd = nix::fcntl::open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open exec fifo (is /proc mounted?)", e))?;
    let state = state_json.replacen("\"status\":\"creating\"", "\"status\":\"created\"", 1);
    hooks::run_in_container(cfg.hooks, Kind::StartContainer, &state, cfg.exec_stub)?;
    nix::unistd::write(&fd, b"0").map_err(|e| Error::sys("write exec fifo", e))?;
    Ok(())
}
