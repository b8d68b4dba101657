use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::{self, parse_signal, Container};
use crate::log::Logger;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Signal every process in the container, not just its init.
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number; SIGTERM by default.
    #[arg(default_value = "SIGTERM", allow_hyphen_values = true)]
    pub signal: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let sig = parse_signal(&a.signal).map_err(|e| Error::Usage(e.to_string()))?;
    let mut c = Container::load(&g.root, &a.id)?;
    container::kill(&mut c, sig, a.all, &Logger::from_cli(g))?;
    Ok(0)
}
