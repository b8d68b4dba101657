//! Loading the compiled program: one seccomp(SECCOMP_SET_MODE_FILTER)
//! call with the profile's flags. rt makes the call itself rather than
//! through libseccomp, so the child allocates nothing and runs no library
//! code after the filter is in place, and so every kernel flag is
//! available whatever libseccomp version rt was built with (Debian 12's
//! 2.5 knows no WAIT_KILLABLE_RECV).

use std::os::fd::{FromRawFd, OwnedFd};

use oci_spec::runtime::LinuxSeccomp;

use super::{bad, spec_name};
use crate::security::Result;

const TSYNC: u32 = 1;
const LOG: u32 = 2;
const SPEC_ALLOW: u32 = 4;
const NEW_LISTENER: u32 = 8;
const TSYNC_ESRCH: u32 = 16;
const WAIT_KILLABLE_RECV: u32 = 32;

/// The profile's `flags`, plus a listener when any rule notifies.
pub(super) fn flags(s: &LinuxSeccomp, notify: bool) -> Result<u32> {
    let mut f = 0;
    for flag in s.flags().iter().flatten() {
        f |= match spec_name(flag).as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => WAIT_KILLABLE_RECV,
            other => return Err(bad(format!("flag {other} is not supported"))),
        };
    }
    if !notify {
        // It only changes how a notifying process waits, and the kernel
        // refuses it without a listener: without one it means nothing.
        f &= !WAIT_KILLABLE_RECV;
    } else {
        f |= NEW_LISTENER;
        // The kernel refuses TSYNC with a listener unless told how to
        // report a thread it cannot sync; the process is single-threaded.
        if f & TSYNC != 0 {
            f |= TSYNC_ESRCH;
        }
    }
    Ok(f)
}

/// The filter flags this kernel knows, by their config.json names: a flag
/// it knows makes seccomp() fail with EFAULT on a null program, an
/// unknown one with EINVAL.
pub fn kernel_flags() -> Vec<&'static str> {
    [
        ("SECCOMP_FILTER_FLAG_TSYNC", TSYNC),
        ("SECCOMP_FILTER_FLAG_LOG", LOG),
        ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", SPEC_ALLOW),
        (
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            WAIT_KILLABLE_RECV | NEW_LISTENER,
        ),
    ]
    .into_iter()
    .filter(|(_, bits)| {
        // SAFETY: a null program is never read: the call fails either way.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                *bits,
                0usize,
            )
        };
        rc < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
    })
    .map(|(name, _)| name)
    .collect()
}

/// A compiled filter, ready to load.
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    flags: u32,
    notify: bool,
}

impl Filter {
    pub(super) fn new(prog: Vec<libc::sock_filter>, flags: u32, notify: bool) -> Filter {
        Filter {
            prog,
            flags,
            notify,
        }
    }

    /// Does loading it produce a listener descriptor for an agent?
    pub fn notifies(&self) -> bool {
        self.notify
    }

    /// Install the filter on the calling thread; the listener descriptor
    /// (close-on-exec) when the filter notifies.
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        let prog = libc::sock_fprog {
            len: self.prog.len() as u16,
            filter: self.prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: seccomp reads `prog`, which outlives the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            return Err(bad(match e.raw_os_error() {
                Some(libc::EACCES) => format!(
                    "load filter: {e} (without noNewPrivileges loading a filter needs CAP_SYS_ADMIN)"
                ),
                Some(libc::EINVAL) if self.flags != 0 => {
                    format!("load filter: {e} (does this kernel know flags {:#x}?)", self.flags)
                }
                _ => format!("load filter: {e}"),
            }));
        }
        if self.flags & NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER the kernel returned a new descriptor.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(rc as i32) }))
    }
}
