//! What the supervisor's workers do, all through rt's library code: start
//! a new incarnation of the container (removing the stopped one first),
//! look at a running one it re-attaches to, exec a health probe.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxNamespaceType;
use serde::{Deserialize, Serialize};

use super::record::{fifo_path, Record};
use super::worker::stdio_to;
use crate::container::{self, Container, CreateOptions, ExecOptions};
use crate::log::Logger;
use crate::state::{self, State, StateDir, Status};
use crate::{Error, Result};

/// A running incarnation, as the supervisor needs to know it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Running {
    pub state: State,
    /// Files whose `oom_kill N` line counts the container's OOM kills.
    pub oom_files: Vec<PathBuf>,
}

/// Delete what is left of the previous incarnation, then create and
/// start a new one with the log FIFOs as its stdout and stderr.
pub fn start(root: &Path, rec: &Record, rec_dir: &Path, log: &Logger) -> Result<Running> {
    remove_stopped(root, rec, log)?;
    // Opened read-write, so the container is a reader of its own pipe: a
    // supervisor killed with SIGKILL leaves its writes blocking when the
    // pipe is full, not failing with EPIPE, until `rt supervise` attaches
    // a new one.
    let open = |stream: &str| {
        let p = fifo_path(rec_dir, stream);
        OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&p)
            .map_err(|e| Error::io(format!("open {}", p.display()), e))
    };
    let (out, err) = (open("stdout")?, open("stderr")?);
    stdio_to(out.as_raw_fd(), err.as_raw_fd())
        .map_err(|e| Error::io("set the container's stdout and stderr", e))?;
    drop((out, err));
    let cfg = &rec.config;
    let created = container::create(CreateOptions {
        root,
        rootless: cfg.create.rootless,
        id: &rec.id,
        bundle: &cfg.bundle,
        pid_file: cfg.create.pid_file.as_deref(),
        console_socket: None,
        no_pivot: cfg.create.no_pivot,
        preserve_fds: 0,
        no_new_keyring: cfg.create.no_new_keyring,
        console_fd: None,
        cgroup_driver: if cfg.create.systemd_cgroup {
            crate::cgroups::Driver::Systemd
        } else {
            crate::cgroups::Driver::Cgroupfs
        },
    })?;
    let mut c = Container {
        dir: created.dir,
        state: created.state,
    };
    if let Err(e) = container::start(&mut c, log) {
        let _ = container::delete(c, true, log);
        return Err(e);
    }
    running(&c)
}

/// Is this container the incarnation the record knows (not one someone
/// created under the same id while it was away)?
fn ours(c: &Container, rec: &Record) -> bool {
    rec.status
        .container
        .as_ref()
        .is_some_and(|s| s.created == c.state.created && s.pid == c.state.pid)
}

fn not_ours(c: &Container) -> Error {
    super::Error::Failed(format!(
        "container {:?} (created {}) is not the one its supervisor started: delete it first",
        c.id(),
        c.state.created
    ))
    .into()
}

/// The previous incarnation, no longer running, is removed (its cgroup,
/// its poststop hooks, its state) before it is created again. Anything
/// else under the id is left alone.
fn remove_stopped(root: &Path, rec: &Record, log: &Logger) -> Result<()> {
    let id = &rec.id;
    match Container::load(root, id) {
        Ok(c) if c.status() == Status::Stopped || ours(&c, rec) => container::delete(c, true, log),
        Ok(c) => Err(not_ours(&c)),
        // A directory without state.json: what a killed create leaves.
        Err(Error::State(state::Error::NotFound(_))) => {
            if let Ok(d) = StateDir::open(root, id) {
                d.remove()?;
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The container `rt supervise` re-attaches to, if it runs and is the
/// one the record started.
pub fn adopt(root: &Path, rec: &Record) -> Result<Option<Running>> {
    let c = Container::load(root, &rec.id)?;
    match c.status() {
        Status::Running | Status::Paused if ours(&c, rec) => running(&c).map(Some),
        Status::Running | Status::Paused => Err(not_ours(&c)),
        _ => Ok(None),
    }
}

fn running(c: &Container) -> Result<Running> {
    let mut oom_files = Vec::new();
    if let Some(cg) = c.cgroup_opt()? {
        // v1: the memory hierarchy's memory.oom_control; v2: memory.events.
        for (_, dir) in cg.container_dirs() {
            for f in ["memory.oom_control", "memory.events"] {
                let p = dir.join(f);
                if p.exists() {
                    oom_files.push(p);
                }
            }
        }
    }
    Ok(Running {
        state: c.state.clone(),
        oom_files,
    })
}

/// Exec `cmd` in the container like `rt exec` does (the container's own
/// process as the template), its output to `out`; the probe's pid.
pub fn probe(root: &Path, id: &str, cmd: &[String], out: RawFd) -> Result<i32> {
    let c = Container::load(root, id)?;
    let spec = container::container_spec(&c)?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(cmd.to_vec()));
    p.set_terminal(Some(false));
    stdio_to(out, out).map_err(|e| Error::io("set the probe's output", e))?;
    container::exec(
        &c,
        &spec,
        ExecOptions {
            process: &p,
            pid_file: None,
            console_socket: None,
            console_fd: None,
            preserve_fds: 0,
            ignore_paused: false,
        },
    )
}

/// Would creating this bundle (or exec'ing a probe into it) re-execute rt
/// from a sealed copy (security/exe)? Then the supervisor must already
/// run from one: a worker re-executing itself would restart as a second
/// supervisor (which its lock refuses, failing the start).
pub fn needs_sealed_exe(bundle: &Path) -> bool {
    let Ok(b) = crate::spec::load(bundle) else {
        return false;
    };
    let user_ns = crate::namespaces::Plan::from_spec(&b.spec)
        .map(|p| p.has_new(LinuxNamespaceType::User) || p.joins(LinuxNamespaceType::User))
        .unwrap_or(false);
    let caps = b
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref());
    crate::security::exe::reaches_runtime(caps, user_ns) || !container::stub_allowed(&b.spec)
}

/// OOM kills counted in the container's memory cgroup so far.
pub fn oom_kills(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .map(|t| {
            t.lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}
