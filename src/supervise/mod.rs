//! The per-container supervisor behind `rt run -d --restart ...`: one
//! process per container, detached from its caller (own session, child
//! subreaper), that starts the container through rt's own library code,
//! waits for it, captures its stdout and stderr into a CRI log, runs its
//! health probe and restarts it by policy. It sleeps in one epoll loop on
//! a signalfd, the log FIFOs, the init's pidfd and timerfds for probes,
//! back-off and stop timeouts: no polling, no CPU while idle.
//!
//! Heavy work (create, start, exec of a probe) runs in a forked worker, so
//! the supervisor itself never touches that code and stays small; the
//! container's processes end up as the supervisor's children anyway (the
//! worker exits and the subreaper inherits them).
//!
//! What it owns on disk is its record directory beside the container's
//! state (record.rs); the runtime-spec state is never changed by it.
//! Clients (`stop`, `start`, `delete`, `supervise`) work through the
//! record and its lock (client.rs), so they also work when no supervisor
//! is alive (killed, or gone with a reboot).

pub mod client;
mod daemon;
mod events;
pub mod health;
mod jobs;
pub mod logfile;
pub mod logread;
mod memory;
pub mod policy;
pub mod record;
mod spawn;
pub mod units;
mod worker;

pub use client::{delete, inspect, run_detached, start, stop, supervise_all, supervise_one};
pub use daemon::{run as run_supervisor, Options};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("container {0:?} has no supervisor record (start it with rt run -d --restart ...)")]
    NotSupervised(String),
    #[error("container {id:?} is already supervised (supervisor pid {pid})")]
    AlreadySupervised { id: String, pid: i32 },
    #[error("container {0:?} has a corrupt supervisor record: {1}")]
    Corrupt(String, String),
    #[error("{0}")]
    Failed(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error(transparent)]
    State(#[from] crate::state::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn sys(context: impl Into<String>, source: nix::Error) -> Self {
        Error::Sys {
            context: context.into(),
            source,
        }
    }
}
