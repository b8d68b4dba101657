//! What commands do to a supervised container, through its record and the
//! record's lock; all of it also works with no supervisor alive.
//!
//! The record says what is wanted (`desired`); the supervisor only starts
//! a container while that is `running`, and re-reads the record after its
//! container ended or on SIGUSR1. So `rt stop` sets `stopped` and then
//! stops the container itself, `rt delete` sets `deleted` and removes
//! everything, and `rt start` sets `running` and launches a supervisor,
//! which starts the container again.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::events::{pidfd_open, pidfd_signal, wait_exit};
use super::record::{self, Config, Desired, Record, RecordDir};
use super::{spawn, Error};
use crate::container::{self, oci_state, parse_signal, Container};
use crate::log::Logger;
use crate::state::{self, State, Status};
use crate::Result;

pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";
/// How long a client waits for a supervisor to notice and exit.
const SUPERVISOR_EXIT: Duration = Duration::from_secs(10);

/// The image's StopSignal (carried as an annotation), else SIGTERM.
pub fn stop_signal(annotations: &BTreeMap<String, String>) -> i32 {
    annotations
        .get(STOP_SIGNAL_ANNOTATION)
        .and_then(|s| parse_signal(s).ok())
        .unwrap_or(libc::SIGTERM)
}

/// `rt run -d` with supervision: write the record, launch the supervisor
/// and wait for the container's first start. On failure nothing is left.
pub fn run_detached(
    root: &Path,
    id: &str,
    config: Config,
    global: &[OsString],
    log: &Logger,
) -> Result<()> {
    state::validate_id(id)?;
    if root.join(id).exists() {
        return Err(state::Error::Exists(id.to_string()).into());
    }
    let rd = RecordDir::create(root, id)?;
    rd.save(&Record::new(id, config))?;
    drop(rd);
    if let Err(e) = spawn::launch(root, id, global) {
        let _ = delete(root, id, true, log);
        return Err(e.into());
    }
    Ok(())
}

/// Ask a live supervisor to re-read its record (which now tells it to
/// end), and wait for it to exit.
fn nudge(sup: Option<std::os::fd::OwnedFd>) {
    if let Some(fd) = sup {
        pidfd_signal(&fd, libc::SIGUSR1);
        wait_exit(&fd, Some(SUPERVISOR_EXIT));
    }
}

fn supervisor_fd(rd: &RecordDir) -> Option<std::os::fd::OwnedFd> {
    rd.supervisor().filter(|p| *p > 0).and_then(pidfd)
}

/// A pidfd for a process, None if it is gone.
pub fn pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    pidfd_open(pid).ok()
}

/// `rt delete` of a supervised container; Ok(false) when it has no record
/// (the plain delete applies). The record says `deleted` first, so its
/// supervisor starts nothing more; the container is removed without the
/// record's lock held (the supervisor may need it meanwhile to record the
/// container's end, and must reap its processes for the init to finish).
pub fn delete(root: &Path, id: &str, force: bool, log: &Logger) -> Result<bool> {
    let Some(rd) = RecordDir::open(root, id)? else {
        return Ok(false);
    };
    let mut rec = rd.load()?;
    // Refused before anything changes: a running container needs --force.
    if !force
        && matches!(
            current_status(root, id),
            Some(Status::Running | Status::Paused)
        )
    {
        drop(rd);
        let c = Container::load(root, id)?;
        return container::delete(c, false, log).map(|()| true);
    }
    rec.status.desired = Desired::Deleted;
    rd.save(&rec)?;
    let sup = supervisor_fd(&rd);
    drop(rd);
    match Container::load(root, id) {
        Ok(c) => container::delete(c, force, log)?,
        Err(crate::Error::State(state::Error::NotFound(_))) => {
            if let Ok(d) = state::StateDir::open(root, id) {
                d.remove()?;
            }
        }
        Err(e) => return Err(e),
    }
    if rec.config.owned_bundle {
        match crate::image::remove_bundle(&rec.config.bundle) {
            Err(e) if rec.config.bundle.exists() => log.warn(&e.to_string()),
            _ => {}
        }
    }
    if let Some(rd) = RecordDir::open(root, id)? {
        rd.remove()?;
    }
    nudge(sup);
    Ok(true)
}

/// `rt stop`: the stop signal, then SIGKILL to every process after
/// `time` (default: the record's --stop-timeout, else 10 s). A supervised
/// container stays stopped until `rt start`.
pub fn stop(root: &Path, id: &str, time: Option<Duration>, log: &Logger) -> Result<()> {
    let mut timeout = time;
    let mut sup = None;
    let supervised = match RecordDir::open(root, id)? {
        Some(rd) => {
            let mut rec = rd.load()?;
            rec.status.desired = Desired::Stopped;
            rd.save(&rec)?;
            timeout = timeout.or(Some(Duration::from_millis(rec.config.stop_timeout_ms)));
            sup = supervisor_fd(&rd);
            true
        }
        None => false,
    };
    match Container::load(root, id) {
        Ok(c) => stop_container(root, c, timeout.unwrap_or(Duration::from_secs(10)), log)?,
        Err(crate::Error::State(state::Error::NotFound(_))) if supervised => {}
        Err(e) => return Err(e),
    }
    nudge(sup);
    Ok(())
}

fn stop_container(root: &Path, c: Container, timeout: Duration, log: &Logger) -> Result<()> {
    let status = c.status();
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Ok(());
    }
    let id = c.id().to_string();
    let pidfd =
        pidfd_open(c.state.pid).map_err(|e| Error::io(format!("watch container {id:?}"), e))?;
    let mut c = c;
    let sig = stop_signal(&c.state.annotations);
    container::kill(&mut c, sig, false, log)?;
    if status == Status::Paused {
        // A frozen process acts on no signal: let it see this one.
        if let Some(cg) = c.cgroup_opt()? {
            cg.thaw()?;
        }
    }
    drop(c);
    if wait_exit(&pidfd, Some(timeout)) {
        return Ok(());
    }
    let mut c = Container::load(root, &id)?;
    if c.status() != Status::Stopped {
        container::kill(&mut c, libc::SIGKILL, true, log)?;
    }
    drop(c);
    if !wait_exit(&pidfd, Some(Duration::from_secs(10))) {
        return Err(Error::Failed(format!("container {id:?} did not die after SIGKILL")).into());
    }
    Ok(())
}

/// Forget the restarts counted so far: the container is being started by
/// hand.
fn wanted_running(rec: &mut Record) {
    rec.status.desired = Desired::Running;
    rec.status.restart_count = 0;
    rec.status.restart_delays_ms.clear();
    rec.status.backoff_streak = 0;
}

/// `rt start` of a supervised container that is not running: a new
/// supervisor starts it. Ok(false) when it has no record or is merely
/// created (the plain start applies).
pub fn start(root: &Path, id: &str, global: &[OsString]) -> Result<bool> {
    let Some(rd) = RecordDir::open(root, id)? else {
        return Ok(false);
    };
    let mut rec = rd.load()?;
    match current_status(root, id) {
        Some(Status::Created) => return Ok(false),
        Some(s @ (Status::Running | Status::Paused | Status::Creating)) => {
            return Err(container::Error::WrongStatus {
                id: id.to_string(),
                status: s,
                action: "start",
                need: "created or stopped",
            }
            .into())
        }
        _ => {}
    }
    if let Some(fd) = supervisor_fd(&rd) {
        if rec.status.desired == Desired::Running {
            return Err(Error::Failed(format!(
                "container {id:?} is waiting to be restarted by its supervisor (pid {})",
                rd.supervisor().unwrap_or(0)
            ))
            .into());
        }
        // Stopped on purpose and its supervisor still on its way out.
        drop(rd);
        wait_exit(&fd, Some(SUPERVISOR_EXIT));
        return start_again(root, id, global);
    }
    wanted_running(&mut rec);
    rd.save(&rec)?;
    drop(rd);
    spawn::launch(root, id, global)?;
    Ok(true)
}

fn start_again(root: &Path, id: &str, global: &[OsString]) -> Result<bool> {
    let Some(rd) = RecordDir::open(root, id)? else {
        return Err(state::Error::NotFound(id.to_string()).into());
    };
    let mut rec = rd.load()?;
    wanted_running(&mut rec);
    rd.save(&rec)?;
    drop(rd);
    spawn::launch(root, id, global)?;
    Ok(true)
}

/// `rt supervise ID`: attach a new supervisor to a running container, or
/// start a stopped one under a new supervisor.
pub fn supervise_one(root: &Path, id: &str, global: &[OsString]) -> Result<()> {
    let Some(rd) = RecordDir::open(root, id)? else {
        return Err(Error::NotSupervised(id.to_string()).into());
    };
    let mut rec = rd.load()?;
    if let Some(pid) = rd.supervisor() {
        return Err(Error::AlreadySupervised {
            id: id.to_string(),
            pid,
        }
        .into());
    }
    if !matches!(
        current_status(root, id),
        Some(Status::Running | Status::Paused)
    ) {
        wanted_running(&mut rec);
        rd.save(&rec)?;
    }
    drop(rd);
    spawn::launch(root, id, global)?;
    Ok(())
}

/// `rt supervise --all` (after a reboot): re-attach to every running
/// container without a supervisor, and start the stopped ones whose policy
/// says so. Returns what was done per id.
pub fn supervise_all(root: &Path, global: &[OsString]) -> Vec<(String, Result<&'static str>)> {
    let mut out = Vec::new();
    for id in record::list(root) {
        let Ok(Some(rec)) = record::read_in(root, &id) else {
            continue;
        };
        if record::supervisor_alive(&record::dir_of(root, &id)) {
            continue;
        }
        let running = matches!(
            current_status(root, &id),
            Some(Status::Running | Status::Paused)
        );
        let on_purpose = rec.status.desired != Desired::Running;
        if rec.status.desired == Desired::Deleted
            || (!running && !rec.config.restart.starts_at_boot(on_purpose))
        {
            continue;
        }
        let what = if running { "re-attached" } else { "started" };
        out.push((id.clone(), supervise_one(root, &id, global).map(|()| what)));
    }
    out
}

/// The container's state, read without locking (state.json is replaced
/// atomically), else the record's copy from its last start.
pub fn read_state(root: &Path, id: &str, rec: Option<&Record>) -> Option<State> {
    let file = root.join(id).join(state::STATE_FILE);
    if let Some(s) = std::fs::read(file)
        .ok()
        .and_then(|d| serde_json::from_slice::<State>(&d).ok())
    {
        return Some(s);
    }
    rec.and_then(|r| r.status.container.clone())
}

fn current_status(root: &Path, id: &str) -> Option<Status> {
    read_state(root, id, None).map(|s| s.status())
}

/// The record as shown to people: `supervisorPid` is 0 unless one runs.
pub fn shown(root: &Path, rec: &Record) -> Value {
    let pid = record::supervisor(&record::dir_of(root, &rec.id));
    let mut v = serde_json::to_value(rec).unwrap_or(Value::Null);
    v["status"]["supervisorPid"] = json!(pid.unwrap_or(0));
    if let Some(st) = v.get_mut("status").and_then(Value::as_object_mut) {
        // The copy of the runtime state is what `state` prints already.
        st.remove("container");
    }
    v
}

/// `rt inspect ID` (and `rt state --verbose`): the runtime-spec state and,
/// beside it, the supervisor's record.
pub fn inspect(root: &Path, id: &str) -> Result<Value> {
    state::validate_id(id)?;
    let rec = record::read_in(root, id)?;
    let st = read_state(root, id, rec.as_ref());
    if st.is_none() && rec.is_none() {
        return Err(state::Error::NotFound(id.to_string()).into());
    }
    let state_json = st.map(|s| oci_state(&s, s.status()));
    Ok(json!({
        "state": state_json,
        "supervisor": rec.map(|r| shown(root, &r)),
    }))
}

/// What `rt list` shows of a supervisor: for JSON, and one table cell.
pub fn summary(root: &Path, rec: &Record) -> (Value, String) {
    let pid = record::supervisor(&record::dir_of(root, &rec.id));
    let alive = pid.is_some();
    let s = &rec.status;
    // A supervisor that died (SIGKILL, reboot) mid-way left its last phase.
    let phase = match (alive, s.phase) {
        (true, p) => serde_json::to_value(p).unwrap_or(Value::Null),
        (false, super::record::Phase::Stopped) => json!("stopped"),
        (false, _) => json!("unsupervised"),
    };
    let exit = s.last_exit.as_ref();
    let health = s.health.as_ref().map(|h| h.status.clone());
    let v = json!({
        "policy": rec.config.restart.to_string(),
        "phase": phase,
        "supervisorPid": pid.unwrap_or(0),
        "restartCount": s.restart_count,
        "exitCode": exit.and_then(|e| e.exit_code),
        "exitReason": exit.map(|e| e.reason.clone()),
        "oomKilled": exit.is_some_and(|e| e.oom_killed),
        "health": health,
    });
    let mut cell = format!(
        "{} {} restarts={}",
        rec.config.restart,
        phase.as_str().unwrap_or("?"),
        s.restart_count
    );
    if let Some(e) = exit {
        match e.exit_code {
            Some(c) => cell.push_str(&format!(" exit={c}")),
            None => cell.push_str(&format!(" exit={}", e.reason)),
        }
        if e.oom_killed {
            cell.push_str(" oom");
        }
    }
    if let Some(h) = health {
        cell.push(' ');
        cell.push_str(&h);
    }
    (v, cell)
}
