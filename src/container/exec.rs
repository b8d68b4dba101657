//! `exec`: start one more process in a running container.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{Process, Spec};

use super::{write_pid_file, Container, Error};
use crate::namespaces::{self, Join, ALL};
use crate::process::channel::{self, Msg};
use crate::process::{self, ExecConfig};
use crate::state::Status;
use crate::Result;

pub struct ExecOptions<'a> {
    pub process: &'a Process,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub console_fd: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
}

/// The container's config, for the exec'd process's template and limits.
pub fn container_spec(c: &Container) -> Result<Spec> {
    let file = c.state.bundle.join("config.json");
    let data =
        fs::read(&file).map_err(|e| Error::Failed(format!("read {}: {e}", file.display())))?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::Failed(format!("parse {}: {e}", file.display())).into())
}

/// Namespaces of the init that differ from ours, in entry order. A
/// container without a mount namespace of its own lives in a chroot below
/// its namespace's root (which setns would put us at): its mount namespace
/// is always entered, even when it is ours, and the init's root taken.
fn joins(pid: i32, spec: &Spec) -> Result<Vec<Join>> {
    let chrooted = namespaces::mount_ns(spec) != namespaces::MountNs::New;
    let mut out = Vec::new();
    for kind in ALL {
        let name = namespaces::name(kind);
        let theirs = format!("/proc/{pid}/ns/{name}");
        let (Ok(a), Ok(b)) = (
            fs::metadata(&theirs),
            fs::metadata(format!("/proc/self/ns/{name}")),
        ) else {
            continue;
        };
        let mount = kind == oci_spec::runtime::LinuxNamespaceType::Mount;
        if a.ino() != b.ino() || (mount && chrooted) {
            let mut j = namespaces::open(kind, Path::new(&theirs))?;
            if mount && chrooted {
                let root = format!("/proc/{pid}/root");
                j.root = Some(
                    fs::File::open(&root)
                        .map_err(|e| Error::Failed(format!("open {root}: {e}")))?,
                );
            }
            out.push(j);
        }
    }
    Ok(out)
}

/// Start the process; returns its pid once it is about to execve.
pub fn exec(c: &Container, spec: &Spec, opts: ExecOptions) -> Result<i32> {
    let ok: &[Status] = if opts.ignore_paused {
        &[Status::Created, Status::Running, Status::Paused]
    } else {
        &[Status::Created, Status::Running]
    };
    c.require("exec", ok, "created or running")?;
    // The container's processes (its own capabilities) and the new one's.
    let own_user_ns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
        });
    let reachable = crate::security::exe::reaches_runtime(
        spec.process()
            .as_ref()
            .and_then(|p| p.capabilities().as_ref()),
        own_user_ns,
    ) || crate::security::exe::reaches_runtime(
        opts.process.capabilities().as_ref(),
        own_user_ns,
    );
    let exe = crate::security::exe::protect(
        c.dir.path.parent().unwrap_or(&c.dir.path),
        reachable,
        super::create::stub_allowed(spec),
    )
    .map_err(process::Error::from)?;
    let joins = joins(c.state.pid, spec)?;
    let seccomp = super::create::linux_seccomp(spec)?;
    let console: Option<OwnedFd> = match opts.console_socket {
        Some(p) if opts.process.terminal() == Some(true) => Some(
            UnixStream::connect(p)
                .map_err(|e| Error::Failed(format!("connect console socket {}: {e}", p.display())))?
                .into(),
        ),
        _ => None,
    };
    // Rootless without a cgroup: the process stays in rt's cgroup, as the
    // init does. Otherwise it places itself (process::join).
    let cgroup = c.cgroup_opt()?;
    let cgroup_fd = match &cgroup {
        Some(cg) => cg.join_fd()?,
        None => None,
    };
    let cgroup_tasks = match &cgroup {
        Some(cg) => cg.v1_task_files()?,
        None => Vec::new(),
    };
    let task_fds: Vec<_> = cgroup_tasks.iter().map(|f| f.as_raw_fd()).collect();
    let cfg = ExecConfig {
        process: opts.process,
        spec,
        joins: &joins,
        console_socket: console
            .as_ref()
            .or(opts.console_fd.as_ref())
            .map(|f| f.as_raw_fd()),
        preserve_fds: opts.preserve_fds,
        seccomp: seccomp.as_ref(),
        cgroup_fd: cgroup_fd.as_ref().map(|f| f.as_raw_fd()),
        cgroup_tasks: &task_fds,
        lock_fd: c.dir.lock_fd(),
        exec_stub: exe.stub_fd(),
    };
    let (ours, theirs) = channel::pair()?;
    let first = process::spawn_exec(&cfg, &ours, &theirs)?;
    drop(theirs);
    drop(console);
    drop(cgroup_tasks);
    let pid = match ours.recv()? {
        Some(Msg::Pid(p)) => p,
        Some(Msg::Error(e)) => {
            let _ = waitpid(Pid::from_raw(first), None);
            return Err(process::Error::Child(e).into());
        }
        other => return Err(process::Error::Protocol(format!("unexpected {other:?}")).into()),
    };
    let _ = waitpid(Pid::from_raw(first), None);
    let fail = |e: crate::Error| {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        e
    };
    // Without a cgroup2 fd (none mounted) there is nothing left to place.
    if let (Some(cg), None) = (&cgroup, &cgroup_fd) {
        cg.add_task_v2(Pid::from_raw(pid))
            .map_err(|e| fail(e.into()))?;
    }
    ours.send(&Msg::Go).map_err(|e| fail(e.into()))?;
    // In a paused container (--ignore-paused) the process is frozen until
    // `resume`, which needs the lock.
    c.dir.unlock();
    match ours.recv_with_fd() {
        Ok(Some((Msg::Ready, listener))) => {
            // A notifying seccomp filter: its listener goes to the agent.
            let s = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
            if let (Some(listener), Some(s)) = (listener, s) {
                let json = super::oci_state(&c.state, Status::Running);
                crate::security::seccomp::notify::send(s, &listener, pid, json)
                    .map_err(|e| fail(process::Error::from(e).into()))?;
            }
        }
        Ok(Some((Msg::Error(e), _))) => return Err(fail(process::Error::Child(e).into())),
        Ok(other) => {
            return Err(fail(
                process::Error::Protocol(format!("unexpected {:?}", other.map(|o| o.0))).into(),
            ))
        }
        Err(e) => return Err(fail(e.into())),
    }
    if let Some(p) = opts.pid_file {
        write_pid_file(p, pid)?;
    }
    Ok(pid)
}
