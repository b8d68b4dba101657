//! Rootless containers under the user's own systemd instance (the
//! `systemd --user` of user@UID.service): where that manager's cgroup is,
//! which controllers the system instance delegated to it, and whether rt
//! itself runs inside it (then it may move processes into the container's
//! scope itself; otherwise the user's manager does it, asking the system
//! instance).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::LinuxResources;

use super::dbus::{Bus, Instance};
use super::Error;
use crate::cgroups::plan::{self, Ctrl, Step, V2_NAMES};
use crate::cgroups::{Error as CgError, Layout};

/// The user manager's cgroup, asked over D-Bus from a child process. rt
/// is single-threaded until it clones the container's init, and must stay
/// so: the init runs on after a raw clone, where a lock some other thread
/// held would never be released. A D-Bus connection starts helper threads
/// that live as long as the process, so the child connects, asks, writes
/// the answer to a pipe and exits.
pub fn manager_cgroup() -> Result<PathBuf, Error> {
    let (rd, wr) = nix::unistd::pipe().map_err(|e| Error::Dbus(format!("pipe: {e}")))?;
    // SAFETY: rt is single-threaded here; the child runs only the code
    // below and leaves with _exit, running no destructor of the parent's.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(rd);
            let answer = match Bus::connect(Instance::User).and_then(|b| b.manager_cgroup()) {
                Ok(p) => format!("ok {}", p.display()),
                Err(Error::NotAvailable(m)) => format!("na {m}"),
                Err(Error::Dbus(m)) => format!("db {m}"),
                Err(e) => format!("db {e}"),
            };
            let _ = std::fs::File::from(wr).write_all(answer.as_bytes());
            // SAFETY: ends the child without unwinding into the parent's state.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(wr);
            let mut text = String::new();
            let read = std::fs::File::from(rd).read_to_string(&mut text);
            let _ = waitpid(child, None);
            read.map_err(|e| Error::Dbus(format!("read the user manager's answer: {e}")))?;
            match text.split_once(' ') {
                Some(("ok", p)) => Ok(PathBuf::from(p)),
                Some(("na", m)) => Err(Error::NotAvailable(m.to_string())),
                Some(("db", m)) => Err(Error::Dbus(m.to_string())),
                _ => Err(Error::Dbus(
                    "asking the user's systemd instance failed (its helper died)".into(),
                )),
            }
        }
        Err(e) => Err(Error::Dbus(format!("fork: {e}"))),
    }
}

/// The controllers the user's manager may use: its cgroup's
/// cgroup.controllers (what the system instance enabled for
/// user@UID.service, its `Delegate=`).
pub fn delegated(manager: &Path) -> Vec<String> {
    let Some(root) = Layout::detect().unified else {
        return Vec::new();
    };
    let dir = root.join(manager.strip_prefix("/").unwrap_or(manager));
    std::fs::read_to_string(dir.join("cgroup.controllers"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Refuse, before anything exists, limits on a controller the user's
/// manager was not given: systemd would ignore the property and the file
/// would not exist (runc fails later, on the write).
pub fn check_delegated(r: &LinuxResources, manager: &Path) -> Result<(), CgError> {
    check_against(r, manager, &delegated(manager))
}

fn check_against(r: &LinuxResources, manager: &Path, have: &[String]) -> Result<(), CgError> {
    let has = |c: &str| have.iter().any(|h| h == c);
    let refuse = |controller: String, field: String| CgError::NoController {
        detail: format!(
            "the user's systemd instance was not delegated it ({}/cgroup.controllers has \"{}\"; \
             `Delegate=` in a drop-in for user@.service adds controllers)",
            manager.display(),
            have.join(" ")
        ),
        controller,
        field,
    };
    // "" is the cgroup2 directory itself (devices, unified keys).
    let ctrl = |_: &str, v2: &str| (v2.is_empty() || has(v2)).then(|| Ctrl::V2(PathBuf::new()));
    let steps = match plan::plan(r, None, &ctrl) {
        Ok(s) => s,
        Err(CgError::NoController {
            controller, field, ..
        }) => {
            // plan names controllers as v1 does; this is a cgroup2 host.
            let c = if controller == "blkio" {
                "io".into()
            } else {
                controller
            };
            return Err(refuse(c, field));
        }
        Err(e) => return Err(e),
    };
    if let Some(c) = steps
        .iter()
        .filter_map(Step::v2_controller)
        .find(|c| !has(c))
    {
        return Err(refuse(c.to_string(), c.to_string()));
    }
    for key in r.unified().iter().flat_map(|m| m.keys()) {
        let c = key.split('.').next().unwrap_or_default();
        if V2_NAMES.contains(&c) && !has(c) {
            return Err(refuse(c.to_string(), format!("unified.{key}")));
        }
    }
    Ok(())
}

/// Is this process inside the user manager's subtree? Then the user owns
/// every cgroup between it and the container's scope, and the kernel lets
/// it move processes (and clone into the scope) itself.
pub fn inside(manager: &Path) -> bool {
    crate::cgroups::own_cgroup().starts_with(manager)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(j: &str) -> LinuxResources {
        serde_json::from_str(j).unwrap()
    }

    #[test]
    fn delegated_controllers_only() {
        let m = Path::new("/user.slice/user-1000.slice/user@1000.service");
        let have: Vec<String> = ["cpu", "memory", "pids"].map(String::from).to_vec();
        let ok = res(r#"{"memory":{"limit":1000000},"pids":{"limit":5},"cpu":{"shares":512}}"#);
        check_against(&ok, m, &have).unwrap();
        check_against(&res("{}"), m, &[]).unwrap();
        for (bad, ctrl) in [
            (r#"{"blockIO":{"weight":500}}"#, "io"),
            (r#"{"cpu":{"cpus":"0"}}"#, "cpuset"),
            (r#"{"unified":{"io.weight":"100"}}"#, "io"),
            (r#"{"memory":{"limit":1000000}}"#, "memory"),
        ] {
            let have = if ctrl == "memory" { &[][..] } else { &have[..] };
            let e = check_against(&res(bad), m, have).unwrap_err().to_string();
            assert!(e.contains(&format!("the {ctrl} cgroup controller")), "{e}");
            assert!(e.contains("user@1000.service/cgroup.controllers"), "{e}");
        }
    }
}
