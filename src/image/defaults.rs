//! The config an image's settings are laid over: the one `rt spec` writes.

use serde_json::Value;

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn default_spec(rootless: bool) -> Value {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    crate::spec::default_spec(rootless, uid, gid)
}
