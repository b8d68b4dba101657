//! What the container's process is allowed to do: capabilities,
//! no_new_privs and seccomp, and keeping the host's rt binary out of its
//! reach (exe). (LSM labels are rejected by spec validation until they are
//! implemented.)

mod capabilities;
pub mod exe;
pub mod seccomp;

pub use capabilities::{apply_capabilities, drop_bounding};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("capability {0}: unknown to this kernel or rt")]
    UnknownCapability(String),
    #[error("set {set} capabilities: {cause}")]
    Caps { set: &'static str, cause: String },
    #[error("sealed copy of rt: {0}")]
    SealedExe(String),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("set no_new_privs: {0}")]
    NoNewPrivs(nix::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that takes rights away, but for the filter: the bounding
/// set is cut while we are still root (it needs CAP_SETPCAP), then the
/// uid switch (which keeps the permitted set, PR_SET_KEEPCAPS). With
/// no_new_privs the final capability sets go in now; without it the
/// filter needs CAP_SYS_ADMIN to load, so they wait for `lock`.
pub fn confine<E: From<Error>>(
    process: &oci_spec::runtime::Process,
    switch_user: impl FnOnce() -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    drop_bounding(process.capabilities().as_ref())?;
    switch_user()?;
    if process.no_new_privileges() == Some(true) {
        apply_capabilities(process.capabilities().as_ref())?;
    }
    Ok(())
}

/// The very last step before execve: the seccomp filter, and what must
/// follow it. With no_new_privs only the filter goes in, so nothing of
/// rt's runs under it but the exec. Without, the filter is loaded while
/// CAP_SYS_ADMIN is still effective, and then only capset and the ambient
/// prctls run under it (every profile that lets a container start allows
/// them). Returns the listener descriptor of a notifying filter.
pub fn lock(
    process: &oci_spec::runtime::Process,
    filter: Option<&seccomp::Filter>,
) -> Result<Option<std::os::fd::OwnedFd>> {
    if process.no_new_privileges() == Some(true) {
        set_no_new_privs()?;
        return filter.map(|f| f.load()).transpose().map(Option::flatten);
    }
    let listener = match filter {
        Some(f) => {
            // The uid switch emptied the effective set; permitted was kept.
            let _ = caps::raise(
                None,
                caps::CapSet::Effective,
                caps::Capability::CAP_SYS_ADMIN,
            );
            f.load()?
        }
        None => None,
    };
    apply_capabilities(process.capabilities().as_ref())?;
    Ok(listener)
}

pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(Error::NoNewPrivs(nix::Error::last()));
    }
    Ok(())
}
