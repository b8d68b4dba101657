//! The command line, shaped like runc's so that containerd's shim, conmon and
//! CRI-O can call rt in its place. One file per command; each exposes
//! `Args` (clap) and `run`, which returns the process exit code.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand};

use crate::Result;

mod create;
mod delete;
mod events;
mod exec;
mod features;
mod image;
mod inspect;
mod kill;
mod list;
mod logs;
mod pause;
mod ps;
mod resume;
mod run;
mod spec;
mod start;
mod state;
mod stop;
mod supervise;
mod update;

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
    /// Directory holding container state (unprivileged: $XDG_RUNTIME_DIR/rt).
    #[arg(long, global = true, default_value_os_t = default_root())]
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
    /// Let systemd manage new containers' cgroups: each container is a
    /// transient scope, linux.cgroupsPath is "slice:prefix:name".
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: auto, true or false.
    #[arg(long, default_value = "auto", value_parser = ["auto", "true", "false"])]
    pub rootless: String,
    /// Where images are kept: extracted layers, imported archives
    /// (root: /var/lib/rt, unprivileged: $XDG_DATA_HOME/rt; or RT_IMAGE_STORE).
    #[arg(long, global = true, default_value_os_t = crate::image::store::default_store())]
    pub image_store: PathBuf,
    /// Accepted for compatibility with runc's callers (checkpointing is
    /// not supported).
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
}

// Each command's flags are built only when that command runs: building all
// twenty for every call cost every create, start, state and delete about
// 40 page faults (rt --version: 174 -> 133) and 0.1-0.2 ms of start-up.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
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
    Ps(ps::Args),
    /// Show container events and statistics.
    Events(events::Args),
    /// Freeze all processes of a container.
    Pause(pause::Args),
    /// Thaw a paused container.
    Resume(resume::Args),
    /// Change a running container's resource limits.
    Update(update::Args),
    /// Work with OCI images: unpack layouts and archives into bundles, and
    /// look after the image store.
    Image(image::Args),
    /// Stop a container: its stop signal, then SIGKILL after a timeout.
    Stop(stop::Args),
    /// Print a supervised container's output (its CRI log).
    Logs(logs::Args),
    /// Attach a new supervisor to a supervised container (or --all).
    Supervise(supervise::Args),
    /// Print a container's state and its supervisor's record as JSON.
    Inspect(inspect::Args),
}

/// An unprivileged user cannot write /run: like runc (which uses
/// $XDG_RUNTIME_DIR/runc), keep state in the user's runtime directory.
fn default_root() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() && !nix::unistd::geteuid().is_root() => {
            PathBuf::from(d).join("rt")
        }
        _ => PathBuf::from("/run/rt"),
    }
}

impl GlobalArgs {
    /// The logger's settings from --log, --log-format and --debug.
    pub fn log_config(&self) -> crate::log::LogConfig {
        crate::log::LogConfig {
            file: self.log.clone(),
            json: self.log_format == "json",
            debug: self.debug,
        }
    }

    /// The cgroup driver for new containers. Existing ones keep the one
    /// their state records, whatever the flag says (as runc does).
    pub fn cgroup_driver(&self) -> crate::cgroups::Driver {
        if self.systemd_cgroup {
            crate::cgroups::Driver::Systemd
        } else {
            crate::cgroups::Driver::Cgroupfs
        }
    }

    /// `--rootless true`, or `auto` for a caller that is not root.
    pub fn rootless(&self) -> bool {
        match self.rootless.as_str() {
            "true" => true,
            "false" => false,
            _ => !nix::unistd::geteuid().is_root(),
        }
    }
}

// The logger is built here rather than in log.rs, so that the log module
// does not depend on the command line (cli -> container -> log -> cli was a
// circle). `from_cli` keeps the binary's one call unchanged.
impl crate::log::Logger {
    pub fn from_cli(global: &GlobalArgs) -> Self {
        crate::log::Logger::new(global.log_config())
    }
}

/// Descriptors passed by systemd socket activation (LISTEN_FDS) go to the
/// container too, as runc does.
pub fn listen_fds() -> u32 {
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Parse the command line. Usage errors end, like every other error, with
/// one `rt: ...` line naming the problem.
pub fn parse() -> Cli {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("invalid usage")
                .trim_start_matches("error: ")
                .to_string();
            eprint!("{rendered}");
            eprintln!("rt: {first}");
            std::process::exit(2);
        }
    }
}

pub fn dispatch(cli: Cli) -> Result<u8> {
    let g = &cli.global;
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
        Command::Ps(a) => ps::run(g, a),
        Command::Events(a) => events::run(g, a),
        Command::Pause(a) => pause::run(g, a),
        Command::Resume(a) => resume::run(g, a),
        Command::Update(a) => update::run(g, a),
        Command::Image(a) => image::run(g, a),
        Command::Stop(a) => stop::run(g, a),
        Command::Logs(a) => logs::run(g, a),
        Command::Supervise(a) => supervise::run(g, a),
        Command::Inspect(a) => inspect::run(g, a),
    }
}
