use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {}

pub fn run(_g: &GlobalArgs, _a: Args) -> Result<u8> {
    Err(crate::Error::Usage("not yet".into()))
}
