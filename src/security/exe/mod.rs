//! CVE-2019-5736: no container process may run, reach or reopen a
//! writable host rt binary. Until it execs the container's program, a
//! process rt puts into a container *is* the rt binary (/proc/PID/exe),
//! and an execve it makes resolves /proc/self/exe to rt. Three layers:
//!
//! 1. Every rt process is non-dumpable from its first instruction
//!    (`harden`): without CAP_SYS_PTRACE over rt's user namespace, no
//!    container process can open /proc/PID/exe of any of them.
//! 2. rt's processes never execve the container's program themselves:
//!    they exec a tiny stub from a sealed memfd (stub.rs) that execs the
//!    program, so a program that re-enters /proc/self/exe (`#!` script,
//!    symlink, ELF interpreter) reaches the stub, never rt. This costs a
//!    memfd and one exec of a 250-byte binary: tens of microseconds.
//! 3. A container whose processes hold CAP_SYS_PTRACE without a user
//!    namespace of their own gets past (1): rt re-executes itself from a
//!    sealed copy before it creates anything (seal.rs). That costs one more
//!    start of rt (about a millisecond), so only those containers pay it.
//!
//! Fast path: an rt that already runs from a sealed copy or from a
//! read-only mount (install it on `mount --bind -o ro`, see the README)
//! needs neither (2) nor (3).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use oci_spec::runtime::{Capability, LinuxCapabilities};

use super::Result;

mod seal;
pub mod stub;

pub use seal::running_sealed;

/// Could a process with these capabilities, in the host's user namespace,
/// reach a non-dumpable rt process?
pub fn reaches_runtime(caps: Option<&LinuxCapabilities>, own_user_ns: bool) -> bool {
    if own_user_ns {
        return false;
    }
    let Some(c) = caps else { return false };
    [
        c.bounding(),
        c.permitted(),
        c.effective(),
        c.inheritable(),
        c.ambient(),
    ]
    .iter()
    .any(|set| {
        set.as_ref()
            .is_some_and(|s| s.contains(&Capability::SysPtrace))
    })
}

/// How rt's processes in the container exec the container's program.
pub enum Exec {
    /// rt itself runs from a sealed copy: exec the program directly.
    Direct,
    /// Through the exec stub in this sealed memfd.
    Stub(OwnedFd),
}

impl Exec {
    pub fn stub_fd(&self) -> Option<RawFd> {
        match self {
            Exec::Direct => None,
            Exec::Stub(fd) => Some(fd.as_raw_fd()),
        }
    }
}

/// Called first thing in every rt process: none of them may be dumpable,
/// or a container process of the same uid (and without a pid namespace,
/// any such process) could open its /proc/PID/exe.
pub fn harden() {
    set_dumpable(false);
}

/// Only for the one window an unprivileged rt needs (writing a child's id
/// maps); everything else stays non-dumpable.
pub fn set_dumpable(on: bool) {
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) };
}

/// Make sure no container process can reach a writable rt: returns how to
/// exec the container's programs, or re-executes rt from a sealed copy
/// (and does not return) when `reachable` (the container's processes get
/// past non-dumpable) or when the stub cannot be used (`stub_allowed` is
/// false when the container's seccomp profile might refuse the stub's
/// execveat). `scratch` is a directory rt owns, for the sealed copy.
pub fn protect(scratch: &Path, reachable: bool, stub_allowed: bool) -> Result<Exec> {
    if seal::running_sealed() {
        return Ok(Exec::Direct);
    }
    if !reachable && stub_allowed {
        match stub::memfd() {
            Ok(fd) => return Ok(Exec::Stub(fd)),
            Err(e) => crate::log::debug(&format!("exec stub unavailable ({e}): sealing rt")),
        }
    }
    match seal::reexec(scratch) {
        Ok(never) => match never {},
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ptrace_without_user_ns_needs_the_copy() {
        let all: LinuxCapabilities =
            serde_json::from_str(r#"{"bounding":["CAP_SYS_PTRACE","CAP_KILL"]}"#).unwrap();
        let few: LinuxCapabilities = serde_json::from_str(r#"{"bounding":["CAP_KILL"]}"#).unwrap();
        assert!(reaches_runtime(Some(&all), false));
        assert!(!reaches_runtime(Some(&all), true));
        assert!(!reaches_runtime(Some(&few), false));
        assert!(!reaches_runtime(None, false));
    }
}
