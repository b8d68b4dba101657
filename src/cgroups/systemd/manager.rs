//! The systemd driver's Manager. systemd creates the scope when rt starts
//! it with the init's pid (`adopt`, before the init's setup runs), sets the
//! limits it has properties for, and removes the scope's cgroup when it
//! stops. Everything that only reads or writes files of an existing cgroup
//! (processes, freezer, stats, OOM events, the files systemd has no
//! property for) goes through the cgroupfs manager over the scope's path,
//! as runc does; systemd leaves a delegated scope's files to its owner.

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::dbus::{Bus, Instance};
use super::props::{self, Property, Split, Value};
use super::{user, Error as SdError, Unit};
use crate::cgroups::{devices, validate, FsManager, Manager, OomWatcher, Result, Stats};

pub struct SystemdManager {
    unit: Unit,
    fs: FsManager,
    /// Made for `create`: the unit does not exist until `adopt`.
    fresh: bool,
    /// rt started the unit (or it was recorded in the container's state):
    /// only then may `destroy` stop it.
    started: Cell<bool>,
    /// The resources `apply` split, for the start.
    pending: RefCell<Option<Split>>,
    bus: RefCell<Option<Bus>>,
}

impl SystemdManager {
    /// For a new container: nothing exists yet.
    pub fn new(unit: Unit) -> SystemdManager {
        Self::with(unit, true)
    }

    /// For a container whose state records `unit`.
    pub fn existing(unit: Unit) -> SystemdManager {
        Self::with(unit, false)
    }

    fn with(unit: Unit, fresh: bool) -> SystemdManager {
        let fs = FsManager::new(unit.cgroup_path());
        SystemdManager {
            unit,
            fs,
            fresh,
            started: Cell::new(!fresh),
            pending: RefCell::new(None),
            bus: RefCell::new(None),
        }
    }

    pub fn unit(&self) -> &Unit {
        &self.unit
    }

    fn v2(&self) -> bool {
        self.fs.layout().is_pure_v2()
    }

    fn instance(&self) -> Instance {
        match self.unit.user {
            Some(_) => Instance::User,
            None => Instance::System,
        }
    }

    /// rt may write the scope's cgroup.procs (or clone into it): as root,
    /// or as the user from inside the user manager's own subtree. Else the
    /// kernel refuses the move (the cgroups between belong to root) and
    /// the user's manager moves the process.
    fn moves_directly(&self) -> bool {
        self.unit.user.as_deref().is_none_or(user::inside)
    }

    /// Move `pid` into the scope: directly where allowed, else through
    /// the user's manager.
    fn attach(&self, pid: Pid, direct: impl Fn(&FsManager) -> Result<()>) -> Result<()> {
        if self.moves_directly() {
            match direct(&self.fs) {
                Err(e) if e.is_permission() && self.unit.user.is_some() => {}
                other => return other,
            }
        }
        let unit = self.unit.name.clone();
        self.with_bus(|bus| bus.attach(&unit, pid.as_raw() as u32))
    }

    /// The D-Bus connection, made on first use: containers whose commands
    /// only read files (state, ps, pause, events) never connect.
    fn with_bus<T>(&self, f: impl FnOnce(&Bus) -> Result<T, SdError>) -> Result<T> {
        let mut slot = self.bus.borrow_mut();
        if slot.is_none() {
            *slot = Some(Bus::connect(self.instance())?);
        }
        match slot.as_ref() {
            Some(bus) => Ok(f(bus)?),
            None => Err(SdError::Dbus("no connection".into()).into()),
        }
    }

    fn split(&self, r: &LinuxResources, initial: bool) -> Result<Split> {
        validate::resources(r)?;
        if let Some(m) = &self.unit.user {
            user::check_delegated(r, m)?;
        }
        let rules = if initial {
            Some(devices::effective(r.devices().as_ref()))
        } else {
            r.devices().as_ref().map(|d| devices::effective(Some(d)))
        };
        Ok(props::split(r, rules.as_deref(), self.v2())?)
    }

    /// What every container's scope gets besides its limits: runc's set.
    fn base_props(&self, pid: Pid) -> Vec<Property> {
        let mut p: Vec<Property> = vec![
            (
                "Description",
                Value::Str(format!("rt container {}", self.unit.name)),
            ),
            ("Slice", Value::Str(self.unit.slice.clone())),
            ("PIDs", Value::Pids(vec![pid.as_raw() as u32])),
            // The container may make sub-cgroups (a cgroup namespace, a
            // nested runtime); systemd leaves the subtree to it.
            ("Delegate", Value::Bool(true)),
            // Not stopped by the shutdown ordering of other units.
            ("DefaultDependencies", Value::Bool(false)),
            ("MemoryAccounting", Value::Bool(true)),
            ("CPUAccounting", Value::Bool(true)),
            ("TasksAccounting", Value::Bool(true)),
        ];
        let io = if self.v2() {
            "IOAccounting"
        } else {
            "BlockIOAccounting"
        };
        p.push((io, Value::Bool(true)));
        p
    }
}

/// Neither a bus address nor the system bus socket: no D-Bus to talk to.
fn check_sockets() -> Result<(), SdError> {
    let env = std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
    if env || Path::new("/run/dbus/system_bus_socket").exists() {
        return Ok(());
    }
    Err(SdError::NotAvailable(
        "cannot reach systemd over D-Bus: /run/dbus/system_bus_socket does not exist (is \
         dbus.service running?)"
            .into(),
    ))
}

impl Manager for SystemdManager {
    /// Nothing to create before the init exists: systemd makes the scope
    /// when `adopt` starts it. The sockets are checked here so a host
    /// without D-Bus fails before any process is cloned.
    fn create(&self) -> Result<()> {
        // The user's instance was already asked where its cgroup is.
        if self.fresh && self.unit.user.is_none() {
            check_sockets()?;
        }
        Ok(())
    }

    fn adopt(&self, pid: Pid) -> Result<()> {
        if !self.fresh || self.started.get() {
            return Ok(());
        }
        let split = self.pending.borrow_mut().take().unwrap_or_default();
        let mut all = self.base_props(pid);
        all.extend(split.props);
        let unit = self.unit.name.clone();
        self.with_bus(|bus| bus.start(&unit, &all))?;
        self.started.set(true);
        if !self.v2() {
            // systemd places the pid in the v1 hierarchies it drives (and
            // the named one); rt joins the others (cpuset, freezer,
            // net_cls, ...) at the same path, as runc does.
            self.fs.create()?;
            self.fs.add_task(pid)?;
        }
        self.fs.update(&split.rest)
    }

    fn add_task(&self, pid: Pid) -> Result<()> {
        self.attach(pid, |fs| fs.add_task(pid))
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        if !self.fresh {
            return self.update(r);
        }
        let split = self.split(r, true)?;
        *self.pending.borrow_mut() = Some(split);
        Ok(())
    }

    /// Before the scope exists (rootless create: rt's rootless rule
    /// applies the limits this way, without device rules) the limits wait
    /// for `adopt`, as `apply`'s do.
    fn update(&self, r: &LinuxResources) -> Result<()> {
        let split = self.split(r, false)?;
        if self.fresh && !self.started.get() {
            *self.pending.borrow_mut() = Some(split);
            return Ok(());
        }
        if !split.props.is_empty() {
            let unit = self.unit.name.clone();
            self.with_bus(|bus| bus.set(&unit, &split.props))?;
        }
        self.fs.update(&split.rest)
    }

    fn pids(&self) -> Result<Vec<Pid>> {
        self.fs.pids()
    }

    fn destroy(&self) -> Result<()> {
        if !self.started.get() {
            return Ok(()); // nothing of ours exists (and the name may be another's)
        }
        // Kill first: a stop would send SIGTERM and wait up to systemd's
        // stop timeout for processes that ignore it.
        if self.fs.is_frozen().unwrap_or(false) {
            let _ = self.fs.thaw();
        }
        self.fs.kill_all();
        let unit = self.unit.name.clone();
        self.with_bus(|bus| bus.stop(&unit))?;
        // What systemd does not remove: rt's own v1 directories, or a
        // cgroup that outlived its unit.
        self.fs.destroy()
    }

    fn path(&self) -> &Path {
        self.fs.path()
    }

    fn exists(&self) -> bool {
        self.fs.exists()
    }

    fn freeze(&self) -> Result<()> {
        self.fs.freeze()
    }

    fn thaw(&self) -> Result<()> {
        self.fs.thaw()
    }

    fn is_frozen(&self) -> Result<bool> {
        self.fs.is_frozen()
    }

    fn stats(&self) -> Result<Stats> {
        self.fs.stats()
    }

    fn oom_watcher(&self) -> Result<OomWatcher> {
        self.fs.oom_watcher()
    }

    /// None for a new container: its scope does not exist before `adopt`
    /// (and a directory of that name would be another unit's). An exec
    /// joins the existing scope directly.
    fn join_fd(&self) -> Result<Option<OwnedFd>> {
        if self.fresh || !self.moves_directly() {
            return Ok(None);
        }
        self.fs.join_fd()
    }

    fn container_dirs(&self) -> Vec<(String, PathBuf)> {
        self.fs.container_dirs()
    }

    fn v1_task_files(&self) -> Result<Vec<OwnedFd>> {
        if self.fresh {
            return Ok(Vec::new());
        }
        self.fs.v1_task_files()
    }

    fn add_task_v2(&self, pid: Pid) -> Result<()> {
        if self.fresh {
            return Ok(()); // systemd placed it (`adopt`)
        }
        self.attach(pid, |fs| fs.add_task_v2(pid))
    }
}
