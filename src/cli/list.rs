use clap::Args as ClapArgs;

use super::GlobalArgs;
use crate::container::oci_state;
use crate::log::Logger;
use crate::state::{self, State};
use crate::supervise::{client, record};
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

/// One container: its state, and its supervisor's record if it has one.
struct Row {
    state: State,
    supervisor: Option<record::Record>,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let log = Logger::from_cli(g);
    let mut ids = state::list_ids(&g.root)?;
    // A supervised container between two incarnations has only its record.
    ids.extend(record::list(&g.root));
    ids.sort();
    ids.dedup();
    let mut rows = Vec::new();
    // Read without locking: state.json and record.json are replaced
    // atomically, and `list` must not wait behind a container that is
    // being created.
    for id in ids {
        let supervisor = match record::read_in(&g.root, &id) {
            Ok(r) => r,
            Err(e) => {
                log.warn(&format!("container {id:?}: {e}"));
                None
            }
        };
        let file = g.root.join(&id).join(state::STATE_FILE);
        let state = match std::fs::read(&file) {
            Ok(data) => match serde_json::from_slice::<State>(&data) {
                Ok(s) => Some(s),
                Err(e) => {
                    log.warn(&format!(
                        "skipping container {id:?}: corrupt state file: {e}"
                    ));
                    continue;
                }
            },
            // Being created, or removed meanwhile.
            Err(_) => supervisor.as_ref().and_then(|r| r.status.container.clone()),
        };
        if let Some(state) = state {
            rows.push(Row { state, supervisor });
        }
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r.state.id);
        }
    } else if a.format == "json" {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                let mut v = oci_state(&r.state, r.state.status());
                if let Some(rec) = &r.supervisor {
                    v["supervisor"] = client::summary(&g.root, rec).0;
                }
                v
            })
            .collect();
        println!("{}", serde_json::to_string(&v).unwrap_or_default());
    } else {
        println!(
            "{:<20} {:<8} {:<10} {:<40} {:<32} SUPERVISOR",
            "ID", "PID", "STATUS", "BUNDLE", "CREATED"
        );
        for r in &rows {
            let s = &r.state;
            let status = s.status();
            let pid = if status == state::Status::Stopped {
                0
            } else {
                s.pid
            };
            let sup = r
                .supervisor
                .as_ref()
                .map_or_else(|| "-".to_string(), |rec| client::summary(&g.root, rec).1);
            println!(
                "{:<20} {:<8} {:<10} {:<40} {:<32} {sup}",
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
