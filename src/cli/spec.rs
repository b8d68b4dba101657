use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// A config for an unprivileged user (user namespace, no cgroups).
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(_g: &GlobalArgs, a: Args) -> Result<u8> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let v = crate::spec::default_spec(a.rootless, uid, gid);
    let path = a.bundle.join("config.json");
    // Never overwrite someone's config, as runc.
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    let text = serde_json::to_string_pretty(&v).unwrap_or_default();
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    Ok(0)
}
