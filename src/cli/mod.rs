//! The command line, shaped like runc's so that containerd's shim, conmon and
//! CRI-O can call rt in its place. One file per command; each exposes
//! `Args` (clap) and `run`, which returns the process exit code.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

use crate::Result;

mod create;
mod delete;
mod exec;
mod features;
mod image;
mod kill;
mod list;
mod run;
mod spec;
mod start;
mod state;
mod unsupported;

#[derive(Debug, Parser)]
#[command(name = "rt", version, about = "A lightweight OCI container runtime")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, ClapArgs)]
pub struct GlobalArgs {
    /// Directory holding container state.
    #[arg(long, global = true, default_value = "/run/rt")]
    pub root: PathBuf,
    /// Also write errors (and debug messages) to this file.
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Format of the --log file: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Print debug messages.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups (not supported yet: rejected).
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: auto, true or false.
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "true", "false"])]
    pub rootless: String,
    /// Accepted for compatibility with runc's callers; rt uses cgroupfs.
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from a bundle, stopped before the user process runs.
    Create(create::Args),
    /// Run the user process of a created container.
    Start(start::Args),
    /// Create and start a container (or run a bundle directory directly).
    Run(run::Args),
    /// Print the state of a container as JSON.
    State(state::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::Args),
    /// Delete a container and everything it holds.
    Delete(delete::Args),
    /// List containers.
    List(list::Args),
    /// Write a default config.json.
    Spec(spec::Args),
    /// Print what this runtime supports (runtime-spec features.md).
    Features(features::Args),
    /// Run a new process inside a running container.
    Exec(exec::Args),
    /// List the processes in a container.
    Ps(unsupported::Args),
    /// Show container events and statistics.
    Events(unsupported::Args),
    /// Freeze all processes of a container.
    Pause(unsupported::Args),
    /// Thaw a paused container.
    Resume(unsupported::Args),
    /// Change a running container's resource limits.
    Update(unsupported::Args),
    /// Work with OCI images: unpack an image layout into a bundle.
    Image(image::Args),
}

pub fn parse() -> Cli {
    Cli::parse()
}

pub fn dispatch(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    if g.systemd_cgroup {
        return Err(crate::Error::Usage(
            "--systemd-cgroup is not supported yet; use the cgroupfs driver".into(),
        ));
    }
    match cli.command {
        Command::Create(a) => create::run(g, a),
        Command::Start(a) => start::run(g, a),
        Command::Run(a) => run::run(g, a),
        Command::State(a) => state::run(g, a),
        Command::Kill(a) => kill::run(g, a),
        Command::Delete(a) => delete::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::Spec(a) => spec::run(g, a),
        Command::Features(a) => features::run(g, a),
        Command::Exec(a) => exec::run(g, a),
        Command::Ps(a) => unsupported::run("ps", a),
        Command::Events(a) => unsupported::run("events", a),
        Command::Pause(a) => unsupported::run("pause", a),
        Command::Resume(a) => unsupported::run("resume", a),
        Command::Update(a) => unsupported::run("update", a),
        Command::Image(a) => image::run(g, a),
    }
}
