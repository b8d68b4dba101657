//! `rt stop [--time D] ID`: the container's stop signal (the image's
//! StopSignal, else SIGTERM), then SIGKILL to all its processes after the
//! timeout. A supervised container is not restarted afterwards; `rt start`
//! starts it again.

use std::time::Duration;

use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::log::Logger;
use crate::supervise::units::parse_duration;
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Time to wait before SIGKILL (seconds, or 500ms, 1m) [the container's
    /// --stop-timeout, else 10s].
    #[arg(short, long, value_parser = parse_duration)]
    pub time: Option<Duration>,
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    crate::supervise::stop(&g.root, &a.id, a.time, &Logger::from_cli(g))?;
    Ok(0)
}
