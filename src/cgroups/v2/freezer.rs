//! v2 freezer: cgroup.freeze, confirmed through cgroup.events "frozen".

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::cgroups::util::{flat_keyed, read, write};
use crate::cgroups::{Error, Result};

pub fn set(dir: &Path, frozen: bool) -> Result<()> {
    write(dir, "cgroup.freeze", u8::from(frozen))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_frozen(dir)? != frozen {
        if Instant::now() > deadline {
            if frozen {
                let _ = write(dir, "cgroup.freeze", 0);
            }
            return Err(Error::Timeout(format!("freezing {}", dir.display())));
        }
        sleep(Duration::from_millis(1));
    }
    Ok(())
}

pub fn is_frozen(dir: &Path) -> Result<bool> {
    let events = flat_keyed(&read(dir, "cgroup.events")?);
    Ok(events.get("frozen").copied() == Some(1))
}
