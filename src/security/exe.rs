//! CVE-2019-5736: until it execs the container's program, a process rt
//! cloned into a container *is* the rt binary, reachable at /proc/PID/exe.
//! Making it non-dumpable (process/init.rs) keeps container processes out,
//! except those holding CAP_SYS_PTRACE over the host's user namespace: a
//! privileged container without a user namespace. For those, rt first
//! re-executes itself from a sealed in-memory copy, so what /proc/PID/exe
//! leads to can never be written. Others skip the copy (a few ms).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use oci_spec::runtime::{Capability, LinuxCapabilities};

use super::{Error, Result};

/// Set in the environment of the re-executed copy, so it does not loop.
const MARK: &str = "_RT_SEALED_EXE";

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

/// Re-exec rt from a sealed memfd copy of itself, with the same arguments;
/// returns only when already running from one (or on failure).
pub fn reexec_sealed() -> Result<()> {
    if std::env::var_os(MARK).is_some() {
        return Ok(());
    }
    let fail = |what: &str, e: std::io::Error| Error::SealedExe(format!("{what}: {e}"));
    let mut exe = File::open("/proc/self/exe").map_err(|e| fail("open /proc/self/exe", e))?;
    let name = CString::new("rt").unwrap_or_default();
    // SAFETY: memfd_create with a valid name; the fd is owned below.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(fail("memfd_create", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a new descriptor nobody else owns.
    let mut copy = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    std::io::copy(&mut exe, &mut copy).map_err(|e| fail("copy rt into memory", e))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our own descriptor.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(fail("seal the copy", std::io::Error::last_os_error()));
    }
    let args: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).ok())
        .collect();
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(&v.into_encoded_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).unwrap_or_default());
    let e = nix::unistd::fexecve(&copy, &args, &env).unwrap_err();
    Err(Error::SealedExe(format!("exec the sealed copy: {e}")))
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
