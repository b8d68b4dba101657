//! v1 `freezer`: pause and resume. freezer.state goes FREEZING -> FROZEN;
//! the write returns before all tasks stopped, so we wait for FROZEN.

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::cgroups::util::{read, write};
use crate::cgroups::{Error, Result};

pub fn set(dir: &Path, frozen: bool) -> Result<()> {
    let want = if frozen { "FROZEN" } else { "THAWED" };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        write(dir, "freezer.state", want)?;
        if read(dir, "freezer.state")?.trim() == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            // Leave nothing half-frozen behind a failed pause.
            let _ = write(dir, "freezer.state", "THAWED");
            return Err(Error::Timeout(format!("freezing {}", dir.display())));
        }
        sleep(Duration::from_millis(1));
    }
}

pub fn is_frozen(dir: &Path) -> Result<bool> {
    Ok(read(dir, "freezer.state")?.trim() != "THAWED")
}
