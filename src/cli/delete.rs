use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::{self, Container};
use crate::log::Logger;
use crate::state::{self, StateDir};
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Kill a running container first.
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let log = Logger::from_cli(g);
    // A supervised container goes with its record, logs and supervisor.
    if crate::supervise::delete(&g.root, &a.id, a.force, &log)? {
        return Ok(0);
    }
    match Container::load(&g.root, &a.id) {
        Ok(c) => container::delete(c, a.force, &log)?,
        // A directory without state.json is what a killed `create` leaves:
        // remove it; with --force a missing container is not an error, as
        // in runc (containerd relies on that).
        Err(Error::State(state::Error::NotFound(_))) => {
            if let Ok(dir) = StateDir::open(&g.root, &a.id) {
                dir.remove()?;
            }
            if !a.force {
                return Err(state::Error::NotFound(a.id).into());
            }
        }
        Err(e) => return Err(e),
    }
    Ok(0)
}
