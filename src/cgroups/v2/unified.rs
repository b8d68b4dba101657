//! linux.resources.unified: raw cgroup v2 files, written as given after
//! every typed field so they can override them (runc's order).

use std::collections::HashMap;
use std::path::Path;

use crate::cgroups::util::write;
use crate::cgroups::{Error, Result};

pub fn apply(dir: &Path, unified: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    for k in keys {
        write(dir, k, &unified[k]).map_err(|e| match e {
            Error::MissingFile { path } => Error::NoController {
                controller: k.split('.').next().unwrap_or(k).to_string(),
                field: format!("unified.{k}"),
                detail: format!("{} does not exist", path.display()),
            },
            e => e,
        })?;
    }
    Ok(())
}
