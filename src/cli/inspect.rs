//! `rt inspect ID`: the runtime-spec state and, for a supervised
//! container, its supervisor's record (policy, restarts, last exit,
//! health) beside it, as JSON.

use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let v = crate::supervise::inspect(&g.root, &a.id)?;
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}
