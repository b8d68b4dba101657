//! Commands that exist in runc's interface but are not implemented yet. They
//! fail loudly instead of pretending to work.

use clap::Args as ClapArgs;

use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

pub fn run(name: &str, _args: Args) -> Result<u8> {
    Err(Error::Usage(format!("'{name}' is not supported yet")))
}
