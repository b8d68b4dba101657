use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(_g: &GlobalArgs, _a: Args) -> Result<u8> {
    Err(Error::Usage("'exec' is not supported yet".into()))
}
