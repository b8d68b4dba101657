//! Which Linux security modules this host runs, for the checks of the LSM
//! fields of config.json. rt applies no LSM label yet, so what matters is
//! only whether a label would have meaning here.

use std::path::Path;

/// statfs f_type of selinuxfs (linux/magic.h SELINUX_MAGIC).
const SELINUX_MAGIC: i64 = 0xf97c_ff8c;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lsm {
    pub selinux: bool,
    pub apparmor: bool,
}

impl Lsm {
    pub fn detect() -> Lsm {
        Lsm {
            selinux: selinux_enabled(),
            apparmor: apparmor_enabled(),
        }
    }
}

/// SELinux is on when selinuxfs is mounted where the kernel puts it (as
/// libselinux decides): a kernel with SELinux built in but disabled has none.
fn selinux_enabled() -> bool {
    nix::sys::statfs::statfs("/sys/fs/selinux")
        .is_ok_and(|s| s.filesystem_type().0 == SELINUX_MAGIC)
}

fn apparmor_enabled() -> bool {
    let on = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    on && Path::new("/sys/kernel/security/apparmor").exists()
}
