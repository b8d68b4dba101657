use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::{self, Container};
use crate::log::Logger;
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let mut c = Container::load(&g.root, &a.id)?;
    container::start(&mut c, &Logger::from_cli(g))?;
    Ok(0)
}
