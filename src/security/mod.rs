//! What the container's process is allowed to do: capabilities,
//! no_new_privs and seccomp. (LSM labels are rejected by spec validation
//! until they are implemented.)

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

/// Everything that takes rights away, in the one order that works: a
/// seccomp filter without no_new_privs needs CAP_SYS_ADMIN, so it goes in
/// before the capabilities are cut; with no_new_privs it goes in last, so
/// it need not allow the setup syscalls. `switch_user` runs between the
/// bounding set and the other capability sets.
pub fn confine<E: From<Error>>(
    process: &oci_spec::runtime::Process,
    filter: Option<&seccomp::Filter>,
    switch_user: impl FnOnce() -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let nnp = process.no_new_privileges() == Some(true);
    if let (Some(f), false) = (filter, nnp) {
        f.load()?;
    }
    drop_bounding(process.capabilities().as_ref())?;
    switch_user()?;
    apply_capabilities(process.capabilities().as_ref())?;
    if nnp {
        set_no_new_privs()?;
        if let Some(f) = filter {
            f.load()?;
        }
    }
    Ok(())
}

pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(Error::NoNewPrivs(nix::Error::last()));
    }
    Ok(())
}
