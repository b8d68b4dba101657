use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::{oci_state, Container};
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let c = Container::load(&g.root, &a.id)?;
    let v = oci_state(&c.state, c.status());
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(0)
}
