//! The few calls rt makes to systemd's manager object over D-Bus (zbus):
//! start a transient scope, change its properties, stop it, and wait for
//! the jobs those queue.
//!
//! zbus is async; each call here runs to completion on the calling thread
//! (`block_on`). async-io starts helper threads on first use: they are
//! created with every signal blocked, so a signal meant for rt (the
//! foreground `run` forwards them through a signalfd) can never land on
//! one of them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_lite::StreamExt;
use zbus::zvariant::{OwnedObjectPath, Value as ZValue};
use zbus::{Connection, MatchRule, MessageStream};

use super::props::{Property, Value};
use super::Error;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const IFACE: &str = "org.freedesktop.systemd1.Manager";
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
/// How long a job may take: starting or stopping a scope is a few ms.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Bus {
    conn: Connection,
}

/// Run `f` with every signal blocked in this thread, so threads started
/// meanwhile inherit a full mask.
fn signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    );
    let out = f();
    if blocked.is_ok() {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    out
}

fn dbus_err(what: &str) -> impl FnOnce(zbus::Error) -> Error + '_ {
    move |e| Error::Dbus(format!("{what}: {}", describe(&e)))
}

/// systemd's error name and message, without zbus's wrapping.
fn describe(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, Some(msg), _) => format!("{msg} ({name})"),
        zbus::Error::MethodError(name, None, _) => name.to_string(),
        other => other.to_string(),
    }
}

fn error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

/// Which systemd rt talks to: the system's, or (rootless) the calling
/// user's own instance, the `systemd --user` of user@UID.service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    System,
    User,
}

/// The user's runtime directory: $XDG_RUNTIME_DIR, else where pam_systemd
/// puts it.
fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(format!("/run/user/{}", nix::unistd::geteuid())),
    }
}

const USER: &str = "the user's systemd instance";

type Target = (zbus::connection::Builder<'static>, String);

fn unix(path: &Path, whose: &str) -> Result<Target, Error> {
    let s = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        Error::Dbus(format!(
            "cannot reach {whose} over D-Bus at {}: {e}",
            path.display()
        ))
    })?;
    Ok((
        zbus::connection::Builder::async_io_unix_stream(s),
        path.display().to_string(),
    ))
}

/// The system bus: $DBUS_SYSTEM_BUS_ADDRESS, else its standard socket.
/// (systemd's private socket, /run/systemd/private, is not used: its
/// replies name their sender "org.freedesktop.systemd1", which zbus 5
/// takes for a unique name and panics on.)
fn system_target() -> Result<Target, Error> {
    match std::env::var("DBUS_SYSTEM_BUS_ADDRESS").ok().as_deref() {
        Some(addr) if !addr.is_empty() => Ok((
            zbus::connection::Builder::address(addr).map_err(dbus_err("system bus address"))?,
            addr.to_string(),
        )),
        _ => unix(Path::new(SYSTEM_BUS), "systemd"),
    }
}

/// runc's order for the user's instance: the session bus named by
/// $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus (the user bus of
/// dbus-user-session, which the user's systemd serves on).
fn user_target() -> Result<Target, Error> {
    if let Some(addr) = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty())
    {
        let b = zbus::connection::Builder::address(addr.as_str())
            .map_err(dbus_err("session bus address"))?;
        return Ok((b, addr));
    }
    let bus = runtime_dir().join("bus");
    if !bus.exists() {
        let uid = nix::unistd::geteuid();
        return Err(Error::NotAvailable(format!(
            "rootless: cannot reach the user's systemd instance: $DBUS_SESSION_BUS_ADDRESS is not \
             set and {} does not exist (is user@{uid}.service running, with dbus-user-session? \
             `loginctl enable-linger` starts it without a login; or drop --systemd-cgroup)",
            bus.display()
        )));
    }
    unix(&bus, USER)
}

impl Bus {
    /// Connect to `instance`'s manager.
    pub fn connect(instance: Instance) -> Result<Bus, Error> {
        signals_blocked(|| async_io::block_on(Self::connect_async(instance)))
    }

    async fn connect_async(instance: Instance) -> Result<Bus, Error> {
        let (builder, what) = match instance {
            Instance::System => system_target()?,
            Instance::User => user_target()?,
        };
        let whose = match instance {
            Instance::System => "systemd",
            Instance::User => USER,
        };
        let conn = builder
            .method_timeout(JOB_TIMEOUT)
            .build()
            .await
            .map_err(|e| {
                Error::Dbus(format!(
                    "cannot reach {whose} over D-Bus at {what}: {}",
                    describe(&e)
                ))
            })?;
        Ok(Bus { conn })
    }

    /// The manager's own cgroup (its ControlGroup property): "/" for the
    /// system instance, user@UID.service's for a user's.
    pub fn manager_cgroup(&self) -> Result<PathBuf, Error> {
        signals_blocked(|| {
            async_io::block_on(async {
                let reply = self
                    .conn
                    .call_method(
                        Some(DEST),
                        PATH,
                        Some("org.freedesktop.DBus.Properties"),
                        "Get",
                        &(IFACE, "ControlGroup"),
                    )
                    .await
                    .map_err(dbus_err("the manager's ControlGroup"))?;
                let v: zbus::zvariant::OwnedValue = reply
                    .body()
                    .deserialize()
                    .map_err(|e| Error::Dbus(format!("the manager's ControlGroup: {e}")))?;
                let s = String::try_from(v)
                    .map_err(|e| Error::Dbus(format!("the manager's ControlGroup: {e}")))?;
                if !s.starts_with('/') {
                    return Err(Error::Dbus(format!(
                        "the manager's ControlGroup is {s:?}, not a cgroup path"
                    )));
                }
                Ok(PathBuf::from(s))
            })
        })
    }

    /// AttachProcessesToUnit: systemd moves `pid` into `unit`'s cgroup.
    /// A user's instance can do that where the caller cannot write the
    /// cgroup tree between the two (it asks the system instance).
    pub fn attach(&self, unit: &str, pid: u32) -> Result<(), Error> {
        signals_blocked(|| {
            async_io::block_on(async {
                self.call("AttachProcessesToUnit", &(unit, "/", vec![pid]))
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::Dbus(format!("attach {pid} to {unit}: {}", describe(&e))))
            })
        })
    }

    async fn call<B>(&self, method: &str, body: &B) -> zbus::Result<zbus::Message>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(Some(DEST), PATH, Some(IFACE), method, body)
            .await
    }

    /// Subscribe to the manager's signals and open a stream of JobRemoved
    /// before the call that queues the job, so its end cannot be missed.
    async fn job_stream(&self) -> Result<MessageStream, Error> {
        let rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(IFACE)
            .and_then(|b| b.member("JobRemoved"))
            .map_err(dbus_err("match rule"))?
            .build();
        let stream = MessageStream::for_match_rule(rule, &self.conn, None)
            .await
            .map_err(dbus_err("subscribe to JobRemoved"))?;
        self.call("Subscribe", &())
            .await
            .map_err(dbus_err("Subscribe"))?;
        Ok(stream)
    }

    /// Wait until `job` is removed; its result must be "done".
    async fn wait(
        stream: &mut MessageStream,
        job: &OwnedObjectPath,
        unit: &str,
    ) -> Result<(), Error> {
        let wait = async {
            while let Some(msg) = stream.next().await {
                let Ok(msg) = msg else { continue };
                let Ok((_, path, _, result)) = msg
                    .body()
                    .deserialize::<(u32, OwnedObjectPath, String, String)>()
                else {
                    continue;
                };
                if path == *job {
                    return Ok(result);
                }
            }
            Err(Error::Dbus(format!(
                "the D-Bus connection closed while waiting for the job of {unit}"
            )))
        };
        let timeout = async {
            async_io::Timer::after(JOB_TIMEOUT).await;
            Err(Error::Dbus(format!(
                "systemd did not finish the job for {unit} within {}s",
                JOB_TIMEOUT.as_secs()
            )))
        };
        let result = futures_lite::future::or(wait, timeout).await?;
        if result == "done" {
            Ok(())
        } else {
            Err(Error::Dbus(format!(
                "systemd's job for {unit} ended with {result:?}"
            )))
        }
    }

    /// StartTransientUnit with `props`, waiting for the job to finish.
    pub fn start(&self, unit: &str, props: &[Property]) -> Result<(), Error> {
        signals_blocked(|| async_io::block_on(self.start_async(unit, props)))
    }

    async fn start_async(&self, unit: &str, props: &[Property]) -> Result<(), Error> {
        let mut stream = self.job_stream().await?;
        let body = (
            unit,
            "replace",
            to_dbus(props),
            Vec::<(String, Vec<(String, ZValue)>)>::new(),
        );
        let reply = self.call("StartTransientUnit", &body).await.map_err(|e| {
            if error_name(&e) == Some("org.freedesktop.systemd1.UnitExists") {
                Error::Exists(unit.to_string())
            } else {
                Error::Dbus(format!("start {unit}: {}", describe(&e)))
            }
        })?;
        let job: OwnedObjectPath = reply
            .body()
            .deserialize()
            .map_err(|e| Error::Dbus(format!("start {unit}: reply: {e}")))?;
        Self::wait(&mut stream, &job, unit).await
    }

    /// SetUnitProperties (runtime only: a transient unit has no file).
    pub fn set(&self, unit: &str, props: &[Property]) -> Result<(), Error> {
        signals_blocked(|| {
            async_io::block_on(async {
                self.call("SetUnitProperties", &(unit, true, to_dbus(props)))
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::Dbus(format!("set properties of {unit}: {}", describe(&e))))
            })
        })
    }

    /// StopUnit and wait; a unit that is already gone is success. A unit
    /// left failed (an OOM kill, a killed process) is reset so systemd
    /// forgets it and the name can be used again.
    pub fn stop(&self, unit: &str) -> Result<(), Error> {
        signals_blocked(|| async_io::block_on(self.stop_async(unit)))
    }

    async fn stop_async(&self, unit: &str) -> Result<(), Error> {
        let mut stream = self.job_stream().await?;
        match self.call("StopUnit", &(unit, "replace")).await {
            Ok(reply) => {
                let job: OwnedObjectPath = reply
                    .body()
                    .deserialize()
                    .map_err(|e| Error::Dbus(format!("stop {unit}: reply: {e}")))?;
                // A stop that does not end in "done" still stopped what it
                // could; the reset below and the caller's checks decide.
                let _ = Self::wait(&mut stream, &job, unit).await;
            }
            Err(e) if error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => {}
            Err(e) => return Err(Error::Dbus(format!("stop {unit}: {}", describe(&e)))),
        }
        // Fails with NoSuchUnit or "not failed" when there is nothing to do.
        let _ = self.call("ResetFailedUnit", &(unit,)).await;
        Ok(())
    }
}

fn to_dbus(props: &[Property]) -> Vec<(&'static str, ZValue<'static>)> {
    props
        .iter()
        .map(|(name, v)| {
            let v = match v {
                Value::Bool(b) => ZValue::from(*b),
                Value::Str(s) => ZValue::from(s.clone()),
                Value::U64(n) => ZValue::from(*n),
                Value::Bytes(b) => ZValue::from(b.clone()),
                Value::Pids(p) => ZValue::from(p.clone()),
                Value::PathU64(l) => ZValue::from(l.clone()),
                Value::PathStr(l) => ZValue::from(l.clone()),
            };
            (*name, v)
        })
        .collect()
}
