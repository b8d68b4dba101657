//! What the container's process is allowed to do: capabilities and
//! no_new_privs. (Seccomp and LSM labels are rejected by spec validation
//! until they are implemented.)

mod capabilities;

pub use capabilities::{apply_capabilities, drop_bounding};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("capability {0}: unknown to this kernel or rt")]
    UnknownCapability(String),
    #[error("set {set} capabilities: {cause}")]
    Caps { set: &'static str, cause: String },
    #[error("set no_new_privs: {0}")]
    NoNewPrivs(nix::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn set_no_new_privs() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(Error::NoNewPrivs(nix::Error::last()));
    }
    Ok(())
}
