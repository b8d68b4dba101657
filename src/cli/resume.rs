//! `rt resume ID`: thaw a paused container.

use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::Container;
use crate::state::Status;
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Container id.
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let mut c = Container::load(&g.root, &a.id)?;
    c.require("resume", &[Status::Paused], "paused")?;
    c.cgroup()?.thaw()?;
    c.state.paused = false;
    c.save()?;
    Ok(0)
}
