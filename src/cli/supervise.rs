//! `rt supervise ID`: attach a new supervisor to a supervised container
//! whose supervisor is gone (killed, or after a reboot); a container that
//! is not running is started again. `--all` does that for every
//! supervised container: running ones are re-attached, stopped ones with
//! `--restart always` (or `unless-stopped`, unless `rt stop` stopped them)
//! are started, as after a reboot.

use clap::Args as ClapArgs;

use super::run::supervised::global_args;
use super::GlobalArgs;
use crate::log::Logger;
use crate::supervise::{self, Options};
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Every supervised container under --root.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
    /// Internal: run as the supervisor, reporting on this descriptor.
    #[arg(long, hide = true)]
    pub ready_fd: Option<i32>,
    #[arg(required_unless_present = "all")]
    pub id: Option<String>,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let id = a.id.unwrap_or_default();
    if let Some(fd) = a.ready_fd {
        use std::os::fd::FromRawFd;
        // SAFETY: the launcher passed this descriptor to us, for us alone.
        let ready = (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
        return supervise::run_supervisor(Options {
            root: g.root.clone(),
            id,
            ready,
            log: Logger::from_cli(g),
        });
    }
    let root = std::path::absolute(&g.root).map_err(|e| Error::io("resolve --root", e))?;
    if !a.all {
        supervise::supervise_one(&root, &id, &global_args(g))?;
        return Ok(0);
    }
    let mut failed = None;
    for (id, r) in supervise::supervise_all(&root, &global_args(g)) {
        match r {
            Ok(what) => println!("{id}: {what}"),
            Err(e) => {
                eprintln!("{id}: {e}");
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(0),
    }
}
