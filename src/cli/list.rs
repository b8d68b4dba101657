use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::oci_state;
use crate::log::Logger;
use crate::state::{self, State};
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// table or json
    #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
    pub format: String,
    /// Print only the ids.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let log = Logger::from_cli(g);
    let mut rows = Vec::new();
    // Read without locking: state.json is replaced atomically, and `list`
    // must not wait behind a container that is being created.
    for id in state::list_ids(&g.root)? {
        let file = g.root.join(&id).join(state::STATE_FILE);
        let Ok(data) = std::fs::read(&file) else {
            continue; // being created, or removed meanwhile
        };
        match serde_json::from_slice::<State>(&data) {
            Ok(s) => rows.push(s),
            Err(e) => log.warn(&format!(
                "skipping container {id:?}: corrupt state file: {e}"
            )),
        }
    }
    if a.quiet {
        for s in &rows {
            println!("{}", s.id);
        }
    } else if a.format == "json" {
        let v: Vec<_> = rows.iter().map(|s| oci_state(s, s.status())).collect();
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
    } else {
        println!(
            "{:<20} {:<8} {:<10} {:<40} {:<32}",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for s in &rows {
            let status = s.status();
            let pid = if status == state::Status::Stopped {
                0
            } else {
                s.pid
            };
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32}",
                s.id,
                pid,
                status,
                s.bundle.display(),
                s.created
            );
        }
    }
    Ok(0)
}
