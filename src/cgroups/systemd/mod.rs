//! The systemd cgroup driver (`--systemd-cgroup`). It owns everything rt
//! does through systemd: the unit a container's cgroup becomes (a transient
//! `prefix-name.scope` in the slice `linux.cgroupsPath` names, unit.rs),
//! `linux.resources` as unit properties (props.rs), the D-Bus calls that
//! start, change and stop the scope (dbus.rs), the user's own instance for
//! rootless containers (user.rs), and the Manager that ties them to the
//! cgroup files systemd has no property for (manager.rs).
//!
//! Containers on the cgroupfs driver never reach this module: the manager
//! is chosen from the container's state, and nothing here runs (no D-Bus
//! connection, no thread) unless a container uses systemd.

mod dbus;
mod manager;
pub mod props;
mod unit;
mod user;

use std::path::Path;

pub use manager::SystemdManager;
pub use unit::{expand_slice, Unit};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid cgroupsPath {0:?} for --systemd-cgroup: {1}")]
    Path(String, String),
    #[error("--systemd-cgroup: {0}")]
    NotAvailable(String),
    #[error("systemd: {0}")]
    Dbus(String),
    #[error(
        "systemd unit {0} already exists (another container with this name, or a leftover: \
         `systemctl stop {0}`)"
    )]
    Exists(String),
    #[error("linux.resources.devices with --systemd-cgroup: {0}")]
    Devices(String),
}

/// Is systemd this host's init? (sd_booted(3): it creates this directory
/// early at boot.) A cheap check that needs no D-Bus, made before anything
/// of a container exists.
pub fn booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The unit container `id` gets from `cgroups_path`, refusing what the
/// driver cannot do here before anything of the container exists. A
/// rootless container goes to the user's own systemd instance (runc's
/// semantics), which is asked where its cgroup is.
pub fn place(cgroups_path: Option<&str>, id: &str, rootless: bool) -> Result<Unit, Error> {
    let mut unit = Unit::from_cgroups_path(cgroups_path, id, rootless)?;
    if !booted() {
        return Err(Error::NotAvailable(
            "systemd is not running on this host (no /run/systemd/system); use the cgroupfs \
             driver (drop --systemd-cgroup)"
                .into(),
        ));
    }
    if rootless {
        // As runc: systemd delegates v1 hierarchies to no user.
        if !crate::cgroups::Layout::detect().is_pure_v2() {
            return Err(Error::NotAvailable(
                "rootless containers need cgroup v2 with the systemd driver (a user's systemd \
                 instance has no v1 controllers to hand out); drop --systemd-cgroup"
                    .into(),
            ));
        }
        unit.user = Some(user::manager_cgroup()?);
    }
    Ok(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_path_is_refused_before_systemd_is_asked() {
        for rootless in [false, true] {
            let e = place(Some("/a/b"), "x", rootless).unwrap_err().to_string();
            assert!(e.contains("slice:prefix:name"), "{e}");
        }
    }
}
