//! The systemd cgroup driver (`--systemd-cgroup`). It owns everything rt
//! does through systemd: the unit a container's cgroup becomes (a transient
//! `prefix-name.scope` in the slice `linux.cgroupsPath` names, unit.rs),
//! `linux.resources` as unit properties (props.rs), the D-Bus calls that
//! start, change and stop the scope (dbus.rs), and the Manager that ties
//! them to the cgroup files systemd has no property for (manager.rs).
//!
//! Containers on the cgroupfs driver never reach this module: the manager
//! is chosen from the container's state, and nothing here runs (no D-Bus
//! connection, no thread) unless a container uses systemd.

mod dbus;
mod manager;
pub mod props;
mod unit;

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

/// Refuse what the driver cannot do here, before anything is created.
pub fn check_available(rootless: bool) -> Result<(), Error> {
    if rootless {
        return Err(Error::NotAvailable(
            "rootless containers are not supported with the systemd driver (rt does not talk \
             to the user's systemd instance); drop --systemd-cgroup"
                .into(),
        ));
    }
    if !booted() {
        return Err(Error::NotAvailable(
            "systemd is not running on this host (no /run/systemd/system); use the cgroupfs \
             driver (drop --systemd-cgroup)"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_is_refused_first() {
        let e = check_available(true).unwrap_err().to_string();
        assert!(e.starts_with("--systemd-cgroup: rootless"), "{e}");
    }
}
