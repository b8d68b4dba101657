//! The user the container's program runs as.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::Process;

use super::{Error, Result};

/// In a new user namespace we start as the overflow user until rt writes
/// the maps; afterwards become uid/gid 0 of the namespace so setup runs
/// with its full rights.
pub fn become_root() -> Result<()> {
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .map_err(|e| Error::sys("setresgid 0 in user namespace", e))?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .map_err(|e| Error::sys("setresuid 0 in user namespace", e))
}

/// Supplementary groups, gid, uid and umask from `process.user`. The
/// permitted capabilities survive the uid change (PR_SET_KEEPCAPS) so that
/// the configured sets can still be applied afterwards.
pub fn switch(process: &Process) -> Result<()> {
    let u = process.user();
    let groups: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // setgroups is refused in a user namespace whose setgroups file says
    // deny; with no groups asked for that is not an error.
    if let Err(e) = setgroups(&groups) {
        if !groups.is_empty() || e != nix::Error::EPERM {
            return Err(Error::sys("setgroups", e));
        }
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } != 0 {
        return Err(Error::sys("keep capabilities", nix::Error::last()));
    }
    let gid = Gid::from_raw(u.gid());
    setresgid(gid, gid, gid).map_err(|e| Error::sys(format!("setgid {gid}"), e))?;
    let uid = Uid::from_raw(u.uid());
    setresuid(uid, uid, uid).map_err(|e| Error::sys(format!("setuid {uid}"), e))?;
    // SAFETY: as above.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    let mask = u.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    Ok(())
}
