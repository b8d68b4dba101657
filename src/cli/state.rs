use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::{oci_state, Container};
use crate::state::{self, Status};
use crate::supervise::record;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Also show the supervisor's record (what `rt inspect` prints).
    #[arg(short, long)]
    pub verbose: bool,
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let v = if a.verbose {
        crate::supervise::inspect(&g.root, &a.id)?
    } else {
        match Container::load(&g.root, &a.id) {
            Ok(c) => oci_state(&c.state, c.status()),
            // A supervised container between two incarnations (or whose
            // restart failed) is stopped, as its last state says.
            Err(Error::State(state::Error::NotFound(id))) => {
                match record::read_in(&g.root, &id)?.and_then(|r| r.status.container) {
                    Some(s) => oci_state(&s, Status::Stopped),
                    None => return Err(state::Error::NotFound(id).into()),
                }
            }
            Err(e) => return Err(e),
        }
    };
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}
