//! The supervisor's record: `<root>/.supervise/<id>/record.json`, beside
//! (never inside) the container's runtime-spec state, which the container
//! loses and regains on every restart while the record stays.
//!
//! The directory also holds the log FIFOs, the default log file and
//! `supervisor.lock`, which the live supervisor holds (flock) for as long
//! as it runs: liveness that needs no pid checks and that a crash or a
//! reboot releases. Read-modify-write of record.json happens under a
//! flock on the directory itself; readers (`list`, `inspect`) take no lock,
//! since the file is replaced atomically.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::policy::Policy;
use super::{Error, Result};
use crate::state::State;

pub const DIR: &str = ".supervise";
const RECORD: &str = "record.json";
const SUPERVISOR_LOCK: &str = "supervisor.lock";
pub const DEFAULT_LOG: &str = "container.log";

/// Health-check settings, as given to `rt run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthConfig {
    /// The probe's argv; `--health-cmd STRING` becomes /bin/sh -c STRING.
    pub cmd: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub start_period_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfig {
    pub path: PathBuf,
    /// Rotate before the file would grow past this; 0: never.
    pub max_size: u64,
    /// Files kept, the live one included.
    pub max_files: u32,
}

/// `create` flags that every restart repeats.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateConfig {
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub rootless: bool,
    /// `--systemd-cgroup`: a systemd scope per incarnation.
    #[serde(default)]
    pub systemd_cgroup: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub bundle: PathBuf,
    /// A bundle `rt run --image` unpacked: removed with the container.
    pub owned_bundle: bool,
    pub restart: Policy,
    pub restart_delay_ms: u64,
    pub restart_max_delay_ms: u64,
    pub stop_timeout_ms: u64,
    pub health: Option<HealthConfig>,
    pub log: LogConfig,
    pub create: CreateConfig,
}

/// What the person or tool in charge wants; the supervisor only acts on
/// `Running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Desired {
    Running,
    /// `rt stop`: not restarted until `rt start`.
    Stopped,
    /// `rt delete` is removing it.
    Deleted,
}

/// The supervisor's view of the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Starting,
    Running,
    /// Being stopped by the supervisor (unhealthy, or SIGTERM to it).
    Stopping,
    /// Waiting out the back-off before the next start.
    Restarting,
    /// Ended and not restarted (policy, `rt stop`, or restarts used up).
    Stopped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Exit {
    /// Exit status, 128+N for signal N; None when the supervisor was not
    /// the container's parent (re-attached with `rt supervise`).
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    /// exited, killed, stopped, unhealthy, oom-killed, start-failed, unknown.
    pub reason: String,
    pub oom_killed: bool,
    pub started_at: Option<String>,
    pub finished_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeResult {
    pub start: String,
    pub end: String,
    /// -1 when it timed out or could not be started.
    pub exit_code: i32,
    pub output: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthRecord {
    /// starting, healthy or unhealthy.
    pub status: String,
    pub failing_streak: u32,
    /// The last few probes, oldest first.
    pub log: Vec<ProbeResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub desired: Desired,
    pub phase: Phase,
    /// 0 when no supervisor runs; only trust it with `RecordDir::supervisor`.
    pub supervisor_pid: i32,
    /// Restarts since the container was last started by hand.
    pub restart_count: u32,
    /// The delay waited before each of those restarts, in order (the last
    /// 32).
    pub restart_delays_ms: Vec<u64>,
    /// Quick failures in a row, which the back-off doubles on.
    pub backoff_streak: u32,
    pub next_restart_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub last_exit: Option<Exit>,
    pub health: Option<HealthRecord>,
    /// The container's state at its last start: `list` and `state` show it
    /// (stopped) while the container itself is between incarnations.
    pub container: Option<State>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub id: String,
    pub config: Config,
    pub status: Status,
}

impl Record {
    pub fn new(id: &str, config: Config) -> Record {
        Record {
            id: id.to_string(),
            config,
            status: Status {
                desired: Desired::Running,
                phase: Phase::Starting,
                supervisor_pid: 0,
                restart_count: 0,
                restart_delays_ms: Vec::new(),
                backoff_streak: 0,
                next_restart_at: None,
                started_at: None,
                finished_at: None,
                last_exit: None,
                health: None,
                container: None,
            },
        }
    }
}

pub fn dir_of(root: &Path, id: &str) -> PathBuf {
    root.join(DIR).join(id)
}

/// A record directory, locked for as long as this value lives.
pub struct RecordDir {
    pub id: String,
    pub path: PathBuf,
    lock: File,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

fn open_dir(path: &Path) -> std::io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
}

fn flock(f: &File, how: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), how) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl RecordDir {
    /// Make a new record directory; fails if the id already has one.
    pub fn create(root: &Path, id: &str) -> Result<RecordDir> {
        crate::state::validate_id(id)?;
        let parent = root.join(DIR);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&parent)
            .map_err(io(format!("create {}", parent.display())))?;
        let path = parent.join(id);
        match fs::DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                return Err(crate::state::Error::Exists(id.to_string()).into())
            }
            Err(e) => return Err(io(format!("create {}", path.display()))(e)),
        }
        let lock = open_dir(&path).map_err(io(format!("open {}", path.display())))?;
        flock(&lock, libc::LOCK_EX).map_err(io(format!("lock {}", path.display())))?;
        Ok(RecordDir {
            id: id.to_string(),
            path,
            lock,
        })
    }

    /// Open and lock an existing record; None when the container has none.
    pub fn open(root: &Path, id: &str) -> Result<Option<RecordDir>> {
        crate::state::validate_id(id)?;
        let path = dir_of(root, id);
        let lock = match open_dir(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(format!("open {}", path.display()))(e)),
        };
        flock(&lock, libc::LOCK_EX).map_err(io(format!("lock {}", path.display())))?;
        // Removed while we waited for the lock (`rt delete`).
        if !path.join(RECORD).exists() {
            return Ok(None);
        }
        Ok(Some(RecordDir {
            id: id.to_string(),
            path,
            lock,
        }))
    }

    pub fn load(&self) -> Result<Record> {
        read(&self.path, &self.id)?.ok_or_else(|| Error::NotSupervised(self.id.clone()))
    }

    /// Replace record.json atomically (temporary file and rename).
    pub fn save(&self, r: &Record) -> Result<()> {
        let tmp = self.path.join(".record.json.tmp");
        let data = serde_json::to_vec_pretty(r)
            .map_err(|e| Error::Corrupt(self.id.clone(), e.to_string()))?;
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(io(format!("write {}", tmp.display())))?;
        f.write_all(&data)
            .map_err(io(format!("write {}", tmp.display())))?;
        drop(f);
        fs::rename(&tmp, self.path.join(RECORD))
            .map_err(io(format!("replace {}", self.path.join(RECORD).display())))
    }

    pub fn fifo(&self, stream: &str) -> PathBuf {
        fifo_path(&self.path, stream)
    }

    /// The live supervisor's pid, if one holds the supervisor lock.
    pub fn supervisor(&self) -> Option<i32> {
        supervisor(&self.path)
    }

    /// The lock's descriptor, for a forked worker to close: the worker must
    /// not keep the record locked after the supervisor is gone.
    pub fn lock_fd(&self) -> std::os::fd::RawFd {
        self.lock.as_raw_fd()
    }

    /// Remove the directory and everything in it (logs written to the
    /// default path go with it; a `--log-path` elsewhere stays).
    pub fn remove(self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(format!("remove {}", self.path.display()))(e)),
        }
    }
}

pub fn fifo_path(dir: &Path, stream: &str) -> PathBuf {
    dir.join(format!("{stream}.fifo"))
}

/// Read a record without locking (list, inspect, logs).
pub fn read(dir: &Path, id: &str) -> Result<Option<Record>> {
    let file = dir.join(RECORD);
    match fs::read(&file) {
        Ok(d) => serde_json::from_slice(&d)
            .map(Some)
            .map_err(|e| Error::Corrupt(id.to_string(), e.to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(format!("read {}", file.display()))(e)),
    }
}

pub fn read_in(root: &Path, id: &str) -> Result<Option<Record>> {
    read(&dir_of(root, id), id)
}

/// Ids of every record under the root, sorted.
pub fn list(root: &Path) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(root.join(DIR))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The pid of the supervisor holding `dir`'s supervisor lock, which it
/// wrote there itself; None when none holds it (a dead one, killed or gone
/// with a reboot, holds nothing).
pub fn supervisor(dir: &Path) -> Option<i32> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(dir.join(SUPERVISOR_LOCK))
        .ok()?;
    match flock(&f, libc::LOCK_SH | libc::LOCK_NB) {
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
            let mut s = String::new();
            let _ = (&f).read_to_string(&mut s);
            // Locked but not yet written: a supervisor is starting.
            Some(s.trim().parse().unwrap_or(0))
        }
        _ => None,
    }
}

pub fn supervisor_alive(dir: &Path) -> bool {
    supervisor(dir).is_some()
}

/// Taken by the supervisor at start and held until it exits; it records
/// its pid in the file, so a client never reads a stale one.
pub fn take_supervisor_lock(dir: &Path, id: &str) -> Result<File> {
    let path = dir.join(SUPERVISOR_LOCK);
    let mut f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map_err(io(format!("open {}", path.display())))?;
    match flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {
            return Err(Error::AlreadySupervised {
                id: id.to_string(),
                pid: supervisor(dir).unwrap_or(0),
            })
        }
        Err(e) => return Err(io(format!("lock {}", path.display()))(e)),
    }
    f.set_len(0)
        .and_then(|()| f.write_all(std::process::id().to_string().as_bytes()))
        .map_err(io(format!("write {}", path.display())))?;
    Ok(f)
}
