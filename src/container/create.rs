//! `create`: everything up to a process blocked before execve. On any
//! failure the guard undoes what was done (process, cgroup, state dir), so
//! a failed create leaves nothing behind.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{mkfifo, Pid};
use oci_spec::runtime::LinuxNamespaceType;

use super::{oci_state, Error};
use crate::cgroups::{self, Manager};
use crate::hooks::{self, Kind};
use crate::log::rfc3339_now;
use crate::namespaces::{self, Plan};
use crate::process::channel::{self, Msg};
use crate::process::{self, InitConfig};
use crate::spec;
use crate::state::{process_start_time, State, StateDir, Status};
use crate::Result;

pub struct CreateOptions<'a> {
    pub root: &'a Path,
    /// Run for an unprivileged user: a user namespace is required and no
    /// cgroup is used where none can be created.
    pub rootless: bool,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub no_new_keyring: bool,
    /// rt keeps the other end of the console itself (foreground `run`).
    pub console_fd: Option<OwnedFd>,
    /// Who manages the container's cgroup (`--systemd-cgroup`).
    pub cgroup_driver: cgroups::Driver,
}

/// A created container, still locked by this process.
pub struct Created {
    pub dir: StateDir,
    pub state: State,
}

/// Undo on drop unless disarmed.
struct Guard {
    dir: Option<StateDir>,
    cgroup: Option<Box<dyn Manager>>,
    pid: Option<Pid>,
    /// The poststop hooks and the state they get, once the container's
    /// state exists: a failed create destroys the container and goes on
    /// to the poststop hooks, as runtime.md's lifecycle has it (a prestart
    /// hook that set up networking gets its teardown), and as runc does.
    poststop: Option<(Option<oci_spec::runtime::Hooks>, String)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.destroy();
        }
        if let Some((hooks, json)) = self.poststop.take() {
            hooks::run_all(hooks.as_ref(), Kind::Poststop, &json, &|e| {
                crate::log::warn_message(&e.to_string())
            });
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

pub fn create(opts: CreateOptions) -> Result<Created> {
    crate::state::validate_id(opts.id)?;
    let mut phases = crate::log::Phases::start("create");
    let bundle = spec::load(opts.bundle)?;
    let spec = &bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| spec::Error::Invalid("process is required".into()))?;
    let plan = Plan::from_spec(spec)?;
    // Before anything exists: this may re-execute rt from a sealed copy.
    let exe = crate::security::exe::protect(
        opts.root,
        crate::security::exe::reaches_runtime(
            process.capabilities().as_ref(),
            plan.has_new(LinuxNamespaceType::User) || plan.joins(LinuxNamespaceType::User),
        ),
        stub_allowed(spec),
    )
    .map_err(process::Error::from)?;
    let seccomp = linux_seccomp(spec)?;
    // Also before anything exists: a source that cannot be idmapped fails.
    let idmapped =
        crate::rootfs::idmap::prepare(spec, &bundle.dir).map_err(process::Error::from)?;
    let idmapped_fds: Vec<(usize, std::os::fd::RawFd)> = idmapped
        .iter()
        .map(|m| (m.index, m.tree.as_raw_fd()))
        .collect();
    if opts.rootless
        && !plan.has_new(LinuxNamespaceType::User)
        && !plan.joins(LinuxNamespaceType::User)
    {
        return Err(spec::Error::Invalid(
            "rootless mode needs a user namespace (linux.namespaces with type user and \
             uidMappings/gidMappings; see `rt spec --rootless`)"
                .into(),
        )
        .into());
    }
    if process.terminal() == Some(true)
        && opts.console_socket.is_none()
        && opts.console_fd.is_none()
    {
        return Err(spec::Error::Invalid(
            "process.terminal is true: use --console-socket (or run in the foreground)".into(),
        )
        .into());
    }
    if opts.console_socket.is_some() && process.terminal() != Some(true) {
        return Err(spec::Error::Invalid(
            "--console-socket given but process.terminal is false".into(),
        )
        .into());
    }
    let linux = spec.linux().as_ref();
    let placement = cgroups::Placement::new(
        opts.cgroup_driver,
        linux.and_then(|l| l.cgroups_path().as_deref()),
        opts.id,
        opts.rootless,
    )?;

    let mut guard = Guard {
        dir: Some(StateDir::create(opts.root, opts.id)?),
        cgroup: None,
        pid: None,
        poststop: None,
    };
    crate::testpoint::reached("state dir made");
    let dir_path = guard
        .dir
        .as_ref()
        .map(|d| d.path.clone())
        .unwrap_or_default();
    // The state is on disk before anything it names exists, and is saved
    // again as each thing appears (the cgroup path now, the pid once
    // known): a create killed at any point leaves what `delete --force`
    // finds and removes. A directory killed before this first save holds
    // nothing else, and delete removes it as such.
    let mut state = State {
        oci_version: spec.version().clone(),
        id: opts.id.to_string(),
        pid: 0,
        pid_start_time: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        cgroup_path: Some(placement.path.clone()),
        systemd_unit: placement.unit.clone(),
        annotations: spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        created: rfc3339_now(),
        hooks: spec.hooks().clone(),
        started: false,
        paused: false,
        creating: true,
    };
    save(&guard, &state)?;
    crate::testpoint::reached("first state saved");
    // World-writable (0622, set past the umask): the init opens it after
    // switching to the container's user. Only the owner can read, and the
    // state directory itself is private to root.
    let fifo = dir_path.join(crate::state::EXEC_FIFO);
    mkfifo(&fifo, Mode::from_bits_truncate(0o600))
        .and_then(|()| {
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                &fifo,
                Mode::from_bits_truncate(0o622),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
        })
        .map_err(|e| Error::Failed(format!("create exec fifo: {e}")))?;
    crate::testpoint::reached("exec fifo made");

    let default_resources = oci_spec::runtime::LinuxResources::default();
    let res = linux
        .and_then(|l| l.resources().as_ref())
        .unwrap_or(&default_resources);
    let cg = placement.manager();
    if opts.rootless {
        guard.cgroup = rootless_cgroup(cg, res)?;
        if guard.cgroup.is_none() {
            state.cgroup_path = None;
            state.systemd_unit = None;
            save(&guard, &state)?;
        }
    } else {
        cg.create()?;
        guard.cgroup = Some(cg);
        crate::testpoint::reached("cgroup made");
        // Always applied: without resources the device rules still start
        // from deny-all plus the default devices, as in runc.
        guard.cgroup.as_ref().map(|c| c.apply(res)).transpose()?;
    }
    crate::testpoint::reached("cgroup ready");
    phases.mark("config, state dir and cgroup");
    let cgroup_dirs = match &guard.cgroup {
        Some(c) => c.container_dirs(),
        None => cgroups::own_dirs(),
    };
    let cgroup_fd = match guard.cgroup.as_ref() {
        Some(c) => c.join_fd()?,
        None => None,
    };
    let cgroup_tasks = match guard.cgroup.as_ref() {
        Some(c) => c.v1_task_files()?,
        None => Vec::new(),
    };
    let task_fds: Vec<_> = cgroup_tasks.iter().map(|f| f.as_raw_fd()).collect();

    let console = match (opts.console_socket, &opts.console_fd) {
        (Some(p), _) if process.terminal() == Some(true) => Some(
            UnixStream::connect(p)
                .map_err(|e| Error::Failed(format!("connect console socket {}: {e}", p.display())))?
                .into(),
        ),
        _ => None,
    };
    let console: Option<OwnedFd> = console;
    let fifo_fd = open(&fifo, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| Error::Failed(format!("open {}: {e}", fifo.display())))?;

    if hooks::has(spec.hooks().as_ref(), Kind::Poststop) {
        let json = oci_state(&state, Status::Stopped).to_string();
        guard.poststop = Some((spec.hooks().clone(), json));
    }

    let cfg = InitConfig {
        spec,
        process,
        bundle: &bundle.dir,
        rootfs: &bundle.rootfs,
        plan: &plan,
        hooks: spec.hooks().as_ref(),
        fifo: fifo_fd.as_raw_fd(),
        console_socket: console
            .as_ref()
            .or(opts.console_fd.as_ref())
            .map(|f| f.as_raw_fd()),
        cgroup_dirs: &cgroup_dirs,
        no_pivot: opts.no_pivot,
        preserve_fds: opts.preserve_fds,
        lock_fd: guard.dir.as_ref().map(|d| d.lock_fd()).unwrap_or(-1),
        seccomp: seccomp.as_ref(),
        cgroup_fd: cgroup_fd.as_ref().map(|f| f.as_raw_fd()),
        cgroup_tasks: &task_fds,
        keep_keyring: opts.no_new_keyring,
        exec_stub: exe.stub_fd(),
        idmapped: &idmapped_fds,
        unprivileged: !nix::unistd::geteuid().is_root(),
    };
    let (ours, theirs) = channel::pair()?;
    // An unprivileged rt writes the child's id maps (and oom_score_adj)
    // through /proc/PID, which only a dumpable child lets it open: the
    // child must be born dumpable, and is made non-dumpable again once
    // they are written (process/init.rs).
    let maps_by_user = cfg.unprivileged && plan.has_new(LinuxNamespaceType::User);
    if maps_by_user {
        crate::security::exe::set_dumpable(true);
    }
    let spawned = process::spawn(&cfg, &ours, &theirs);
    if maps_by_user {
        crate::security::exe::set_dumpable(false);
    }
    let first = spawned?;
    crate::testpoint::reached("cloned");
    phases.mark("clone");
    drop(theirs);
    drop(console);
    drop(fifo_fd);
    drop(cgroup_tasks);
    guard.pid = Some(Pid::from_raw(first));

    let pid = if plan.single_clone() {
        if plan.has_new(LinuxNamespaceType::User) {
            namespaces::write_id_maps(first, spec)?;
        }
        first
    } else {
        let pid = intermediate_handshake(&ours, first, spec)?;
        let _ = waitpid(Pid::from_raw(first), None);
        guard.pid = Some(Pid::from_raw(pid));
        pid
    };
    state.pid = pid;
    state.pid_start_time = process_start_time(pid).unwrap_or(0);
    // Until Ready the init dies with us (parent-death signal, or the end
    // of the channel); from Ready on only this record lets delete reach it
    // where there is no cgroup to find it by (rootless).
    save(&guard, &state)?;
    crate::testpoint::reached("pid saved");
    // The init moved itself into the v1 hierarchies (v1_task_files) and
    // was born in its cgroup2 directory (CLONE_INTO_CGROUP), or its
    // intermediate was; without a cgroup2 fd it is moved here, while it
    // builds its rootfs.
    // oom_score_adj before Go: an unprivileged rt can only write it while
    // the child is still dumpable.
    if let Some(adj) = process.oom_score_adj() {
        fs::write(format!("/proc/{pid}/oom_score_adj"), adj.to_string())
            .map_err(|e| Error::Failed(format!("set oom_score_adj {adj}: {e}")))?;
    }
    if let Some(c) = guard.cgroup.as_ref() {
        c.adopt(Pid::from_raw(pid))?;
    }
    ours.send(&Msg::Go)?;
    if let Some(c) = guard.cgroup.as_ref() {
        if cgroup_fd.is_none() {
            c.add_task_v2(Pid::from_raw(pid))?;
        }
    }
    // If the child failed meanwhile, its error is waiting in the channel.
    let _ = ours.send(&Msg::Placed);
    crate::testpoint::reached("placed");
    phases.mark("id maps and cgroup placement");

    loop {
        let (msg, fd) = match ours.recv_with_fd()? {
            Some(m) => m,
            None => {
                return Err(
                    process::Error::Child("container process exited during setup".into()).into(),
                )
            }
        };
        match msg {
            Msg::Hooks => {
                // "created", as crun passes (runc passes "creating"): these
                // hooks run after lifecycle step 2, the environment exists
                // and the container process is alive, blocked before the
                // user's program, which is what runtime.md calls created.
                // The createContainer and startContainer hooks get the same.
                let json = oci_state(&state, Status::Created).to_string();
                hooks::run(spec.hooks().as_ref(), Kind::Prestart, &json)?;
                hooks::run(spec.hooks().as_ref(), Kind::CreateRuntime, &json)?;
                crate::testpoint::reached("runtime hooks run");
                ours.send(&Msg::Continue(json))?;
            }
            Msg::Ready => {
                // A notifying seccomp filter: its listener goes to the agent.
                if let (Some(listener), Some(s)) = (fd, linux.and_then(|l| l.seccomp().as_ref())) {
                    let json = oci_state(&state, Status::Creating);
                    crate::security::seccomp::notify::send(s, &listener, pid, json)
                        .map_err(process::Error::from)?;
                }
                break;
            }
            Msg::Error(e) => return Err(process::Error::Child(e).into()),
            other => return Err(process::Error::Protocol(format!("unexpected {other:?}")).into()),
        }
    }

    crate::testpoint::reached("ready");
    phases.mark("container setup (mounts, hooks, pivot, security)");
    // Still guarded: a pid file that cannot be written fails the create,
    // and the state just saved must go with everything else.
    state.creating = false;
    save(&guard, &state)?;
    crate::testpoint::reached("final state saved");
    if let Some(p) = opts.pid_file {
        write_pid_file(p, pid)?;
        crate::testpoint::reached("pid file written");
    }
    let dir = guard
        .dir
        .take()
        .ok_or_else(|| Error::Failed("state dir lost".into()))?;
    guard.cgroup = None;
    guard.pid = None;
    guard.poststop = None;
    phases.mark("state saved");
    Ok(Created { dir, state })
}

/// Save the state into the guarded (still to be removed on failure) dir.
fn save(guard: &Guard, state: &State) -> Result<()> {
    let dir = guard
        .dir
        .as_ref()
        .ok_or_else(|| Error::Failed("state dir lost".into()))?;
    Ok(dir.save(state)?)
}

/// runc's rootless rule: use the cgroup when the user may create it (root
/// with `--rootless true`, a delegated tree), else run in the caller's own
/// cgroup, which is only acceptable when nothing needs limiting. Device
/// rules are left out either way: in a user namespace no device node can
/// be created, the bind-mounted ones keep the host's permissions, and the
/// v2 device filter needs privileges the user does not have.
fn rootless_cgroup(
    cg: Box<dyn Manager>,
    res: &oci_spec::runtime::LinuxResources,
) -> Result<Option<Box<dyn Manager>>> {
    let mut limits = res.clone();
    limits.set_devices(None);
    match cg.create() {
        Ok(()) => {
            if let Err(e) = cg.update(&limits) {
                let _ = cg.destroy();
                return Err(e.into());
            }
            Ok(Some(cg))
        }
        Err(e) if e.is_permission() => {
            if limits != oci_spec::runtime::LinuxResources::default() {
                return Err(Error::Failed(format!(
                    "rootless: linux.resources sets limits but the cgroup cannot be created \
                     ({e}); remove them or delegate a writable cgroup to this user"
                ))
                .into());
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The exec stub runs after the container's seccomp filter is loaded, and
/// rt execs it with execveat: only a profile that surely lets execveat
/// through may use it (others get rt sealed instead).
pub fn stub_allowed(spec: &oci_spec::runtime::Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .is_none_or(|s| crate::security::seccomp::allows(s, "execveat"))
}

/// Compile linux.seccomp now, so a bad profile fails before anything exists.
pub fn linux_seccomp(
    spec: &oci_spec::runtime::Spec,
) -> Result<Option<crate::security::seccomp::Filter>> {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    let filter = crate::security::seccomp::compile(s).map_err(process::Error::from)?;
    Ok(Some(filter))
}

/// With an intermediate process: write its id maps when asked, and learn
/// the init's pid.
fn intermediate_handshake(
    chan: &channel::Channel,
    first: i32,
    spec: &oci_spec::runtime::Spec,
) -> Result<i32> {
    loop {
        match chan.recv()? {
            Some(Msg::MapIds) => {
                namespaces::write_id_maps(first, spec)?;
                chan.send(&Msg::Mapped)?;
            }
            Some(Msg::Pid(p)) => {
                crate::testpoint::reached("intermediate reported the pid");
                return Ok(p);
            }
            Some(Msg::Error(e)) => return Err(process::Error::Child(e).into()),
            other => return Err(process::Error::Protocol(format!("unexpected {other:?}")).into()),
        }
    }
}

/// Written through a temporary file, so a reader never sees a partial pid.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp: PathBuf = {
        let mut s = path.as_os_str().to_owned();
        s.push(".rt-tmp");
        s.into()
    };
    fs::write(&tmp, pid.to_string())
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            Error::Failed(format!("write pid file {}: {e}", path.display())).into()
        })
}
