//! `rt pause ID`: freeze every process of a running container.

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
    c.require("pause", &[Status::Running], "running")?;
    c.cgroup()?.freeze()?;
    c.state.paused = true;
    if let Err(e) = c.save() {
        // Do not leave a frozen container that state says is running.
        let _ = c.cgroup().map(|cg| cg.thaw());
        return Err(e);
    }
    Ok(0)
}
