//! Creating the container's first process. Normally one clone3 creates
//! every namespace at once. Joining an existing namespace by path, or a
//! time namespace whose offsets must be written before its first process
//! enters it, needs an intermediate: it enters and unshares, then forks the
//! init as rt's own child (CLONE_PARENT) and exits.

use nix::sched::{unshare, CloneFlags};
use oci_spec::runtime::LinuxNamespaceType;

use super::channel::{Channel, Msg};
use super::{init, Error, InitConfig, Result};
use crate::namespaces;
use crate::syscall::{clone3, exit_now};

/// Clone the container process. Returns the pid of the process rt talks to
/// first: the init itself, or the intermediate (which then reports the
/// init's pid over the channel).
pub fn spawn(cfg: &InitConfig, ours: &Channel, theirs: &Channel) -> Result<i32> {
    let single = cfg.plan.single_clone();
    // The cgroup namespace is unshared later, once the init sits in its
    // cgroup, so that cgroup becomes the namespace's root.
    let flags = if single {
        without(cfg.plan.new, CloneFlags::CLONE_NEWCGROUP)
    } else {
        CloneFlags::empty()
    };
    // SAFETY: rt is single-threaded here; the child leaves only through
    // execve or _exit.
    let pid = unsafe { clone3(flags.bits() as u64, cfg.cgroup_fd) }
        .map_err(|e| Error::sys("clone", nix::Error::from_raw(e.raw_os_error().unwrap_or(0))))?;
    if pid != 0 {
        return Ok(pid);
    }
    // Child. Our copy of rt's end of the channel must go, or rt would never
    // see end-of-stream when we die.
    // SAFETY: closing our copy of a descriptor the parent keeps.
    unsafe { libc::close(ours.raw()) };
    // SAFETY: as above; the lock stays with rt.
    unsafe { libc::close(cfg.lock_fd) };
    let err = if single {
        init::run(cfg, theirs).unwrap_err()
    } else {
        intermediate(cfg, theirs).unwrap_err()
    };
    report_init(cfg, theirs, &err)
}

/// `report` for the init. Once `create` has returned nobody reads the
/// channel; what fails then happens during `start` (a startContainer hook,
/// the exec fifo), and `start` is waiting on the exec fifo: the error goes
/// there, so that `start` can name the root cause. Anything but the one
/// byte "0" on the fifo is such an error.
fn report_init(cfg: &InitConfig, chan: &Channel, err: &Error) -> ! {
    if chan.send(&Msg::Error(err.to_string())).is_ok() {
        exit_now(1)
    }
    let path = format!("/proc/self/fd/{}", cfg.fifo);
    // Non-blocking: with no `start` reading, the open fails (ENXIO).
    if let Ok(fd) = nix::fcntl::open(
        path.as_str(),
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) {
        // One write below PIPE_BUF arrives whole.
        let msg = err.to_string();
        let mut end = msg.len().min(3000);
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        let _ = nix::unistd::write(&fd, &msg.as_bytes()[..end]);
    }
    eprintln!("rt: {err}");
    exit_now(1)
}

/// Tell rt what went wrong; once rt has stopped listening (after `create`
/// returned), the container's stderr is the only place left.
pub(super) fn report(chan: &Channel, err: &Error) -> ! {
    if chan.send(&Msg::Error(err.to_string())).is_err() {
        eprintln!("rt: {err}");
    }
    exit_now(1)
}

fn intermediate(cfg: &InitConfig, chan: &Channel) -> Result<std::convert::Infallible> {
    let plan = cfg.plan;
    let joined = |k| plan.joins.iter().filter(move |j| j.kind == k);
    for j in joined(LinuxNamespaceType::User) {
        j.enter()?;
    }
    if plan.has_new(LinuxNamespaceType::User) {
        unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| Error::sys("unshare user namespace", e))?;
        chan.send(&Msg::MapIds)?;
        chan.expect("Mapped", |m| matches!(m, Msg::Mapped))?;
    }
    for j in plan
        .joins
        .iter()
        .filter(|j| j.kind != LinuxNamespaceType::User)
    {
        j.enter()?;
    }
    let rest = without(
        plan.new,
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWCGROUP,
    );
    unshare(rest).map_err(|e| Error::sys("unshare namespaces", e))?;
    if let Some(text) = namespaces::time_offsets_text(cfg.spec)? {
        namespaces::write_time_offsets(&text)?;
    }
    // SAFETY: still single-threaded; CLONE_PARENT makes the init rt's child
    // so rt can wait for it.
    let pid = unsafe { clone3(libc::CLONE_PARENT as u64, None) }.map_err(|e| {
        Error::sys(
            "clone init",
            nix::Error::from_raw(e.raw_os_error().unwrap_or(0)),
        )
    })?;
    if pid == 0 {
        let err = init::run(cfg, chan).unwrap_err();
        report_init(cfg, chan, &err);
    }
    chan.send(&Msg::Pid(pid))?;
    exit_now(0)
}

/// `flags` minus `drop`, on raw bits: nix does not know CLONE_NEWTIME, and
/// bitflags' complement would silently lose it.
fn without(flags: CloneFlags, drop: CloneFlags) -> CloneFlags {
    CloneFlags::from_bits_retain(flags.bits() & !drop.bits())
}
