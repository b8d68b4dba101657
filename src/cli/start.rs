use clap::Args as ClapArgs;

use super::run::supervised::global_args;
use super::GlobalArgs;
use crate::container::{self, Container};
use crate::log::Logger;
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    // A stopped supervised container: a new supervisor starts it again.
    if crate::supervise::start(&g.root, &a.id, &global_args(g))? {
        return Ok(0);
    }
    let mut c = Container::load(&g.root, &a.id)?;
    let log = Logger::from_cli(g);
    match container::start(&mut c, &log) {
        // The lifecycle goes on with the container's destruction and the
        // poststop hooks; the error stays the root cause.
        Err(e @ crate::Error::Container(container::Error::StartFailed(_))) => {
            if let Err(d) = container::delete(c, true, &log) {
                log.warn(&format!("destroy after the failed start: {d}"));
            }
            Err(e)
        }
        other => other.map(|()| 0),
    }
}
