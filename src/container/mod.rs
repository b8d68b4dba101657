//! The Container: a locked state directory plus what it records, and the
//! lifecycle operations runc's commands map onto.

use std::path::Path;

use serde_json::json;

use crate::cgroups;
use crate::state::{State, StateDir, Status};

mod create;
mod delete;
mod exec;
mod kill;
mod pidns;
mod signal;
mod start;

pub use create::{create, stub_allowed, write_pid_file, CreateOptions, Created};
pub use delete::delete;
pub use exec::{container_spec, exec, ExecOptions};
pub use kill::kill;
pub use signal::{parse_signal, BadSignal};
pub use start::start;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {id:?} is {status}: {action} needs it {need}")]
    WrongStatus {
        id: String,
        status: Status,
        action: &'static str,
        need: &'static str,
    },
    #[error("{0}")]
    Failed(String),
    /// The init failed while being started (a startContainer hook): it is
    /// gone, and the container is to be destroyed (runtime.md step 12).
    #[error("{0}")]
    StartFailed(String),
}

pub struct Container {
    pub dir: StateDir,
    pub state: State,
}

impl Container {
    /// Open, lock and read an existing container.
    pub fn load(root: &Path, id: &str) -> crate::Result<Container> {
        let dir = StateDir::open(root, id)?;
        let state = dir.load()?;
        Ok(Container { dir, state })
    }

    pub fn id(&self) -> &str {
        &self.state.id
    }

    pub fn status(&self) -> Status {
        self.state.status()
    }

    pub fn save(&self) -> crate::Result<()> {
        Ok(self.dir.save(&self.state)?)
    }

    /// The container's cgroup as recorded at create time; an error naming
    /// the cause when rootless rt ran it without one.
    pub fn cgroup(&self) -> crate::Result<Box<dyn cgroups::Manager>> {
        self.cgroup_opt()?.ok_or_else(|| {
            Error::Failed(format!(
                "container {:?} has no cgroup: it was created rootless without cgroup access",
                self.state.id
            ))
            .into()
        })
    }

    pub fn cgroup_opt(&self) -> crate::Result<Option<Box<dyn cgroups::Manager>>> {
        match &self.state.cgroup_path {
            Some(p) => Ok(Some(cgroups::existing(
                p,
                self.state.systemd_unit.as_ref(),
                &self.state.id,
            )?)),
            None => Ok(None),
        }
    }

    /// Every process of the container: its cgroup's, or without one the
    /// processes in the init's pid namespace (just the init when it shares
    /// rt's).
    pub fn pids(&self) -> crate::Result<Vec<nix::unistd::Pid>> {
        if let Some(cg) = self.cgroup_opt()? {
            return Ok(cg.pids()?);
        }
        if !self.state.init_alive() {
            return Ok(Vec::new());
        }
        Ok(pidns::members(self.state.pid))
    }

    /// Fail with a clear message unless the container is in one of `ok`.
    pub fn require(
        &self,
        action: &'static str,
        ok: &[Status],
        need: &'static str,
    ) -> crate::Result<()> {
        let status = self.status();
        if ok.contains(&status) {
            Ok(())
        } else {
            Err(Error::WrongStatus {
                id: self.state.id.clone(),
                status,
                action,
                need,
            }
            .into())
        }
    }
}

/// The runtime-spec state object (what `state` prints and hooks read).
pub fn oci_state(state: &State, status: Status) -> serde_json::Value {
    let pid = if status == Status::Stopped {
        0
    } else {
        state.pid
    };
    // runc's shape: `owner` always, `annotations` only when there are some.
    let mut v = json!({
        "ociVersion": state.oci_version,
        "id": state.id,
        "status": status.to_string(),
        "pid": pid,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": "",
    });
    if !state.annotations.is_empty() {
        v["annotations"] = json!(state.annotations);
    }
    v
}
