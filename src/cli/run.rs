//! `run`: create + start, and in the foreground wait for the container,
//! forward signals to it, proxy its terminal, and remove it afterwards.
//! For people, `rt run DIR` runs a bundle directory once, and
//! `rt run --image LAYOUT[:TAG] -- ARGS` runs an OCI image once.

use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;

use super::create::CreateFlags;
use super::GlobalArgs;
use crate::container::{self, Container, CreateOptions};
use crate::log::Logger;
use crate::process::supervise;
use crate::{Error, Result};

mod image;
pub mod supervised;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Path to the bundle directory.
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// Return once the container runs instead of waiting for it.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits.
    #[arg(long)]
    pub keep: bool,
    /// Do not make rt a subreaper for the container's orphans.
    #[arg(long)]
    pub no_subreaper: bool,
    #[command(flatten)]
    pub flags: CreateFlags,
    #[command(flatten)]
    pub image: image::ImageArgs,
    #[command(flatten)]
    pub supervise: supervised::Flags,
    /// Container id, or (for people) a bundle directory to run once.
    #[arg(required_unless_present = "image")]
    pub id: Option<String>,
    /// With --image: the command to run instead of the image's.
    #[arg(last = true)]
    pub command: Vec<String>,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    if a.detach && a.keep {
        return Err(Error::Usage("--keep makes no sense with --detach".into()));
    }
    if a.supervise.given() && !a.detach {
        return Err(Error::Usage(
            "--restart, --health-*, --stop-timeout and --log-* are for a supervised container: add -d"
                .into(),
        ));
    }
    if a.image.image.is_some() {
        return image::run(g, &a);
    }
    if !a.command.is_empty() {
        return Err(Error::Usage("a command after -- needs --image".into()));
    }
    let (id, bundle, transient) = target(&a)?;
    if a.supervise.given() {
        return supervised::run(g, &a, &id, &bundle, false);
    }
    run_bundle(g, &a, &id, &bundle, transient)
}

/// Create and start the bundle; in the foreground wait for it and remove
/// it afterwards (always when `transient`).
fn run_bundle(g: &GlobalArgs, a: &Args, id: &str, bundle: &Path, transient: bool) -> Result<u8> {
    let log = Logger::from_cli(g);
    let foreground = !a.detach;
    let mut fg = if foreground {
        Some(supervise::Foreground::prepare(!a.no_subreaper)?)
    } else {
        None
    };
    let terminal_here = foreground && a.flags.console_socket.is_none() && wants_terminal(bundle);
    let console = match (&mut fg, terminal_here) {
        (Some(f), true) => Some(f.console_pair()?),
        _ => None,
    };
    let created = container::create(CreateOptions {
        console_fd: console,
        ..a.flags
            .options(&g.root, g.rootless(), g.cgroup_driver(), id, bundle)
    })?;
    let pid = created.state.pid;
    let mut c = Container {
        dir: created.dir,
        state: created.state,
    };
    if let Err(e) = container::start(&mut c, &log) {
        let _ = container::delete(c, true, &log);
        return Err(e);
    }
    // Unlock: other commands (kill, state) must reach a running container.
    drop(c);
    let Some(fg) = fg else { return Ok(0) };
    let code = fg.wait(pid)?;
    if !a.keep || transient {
        let c = Container::load(&g.root, id)?;
        container::delete(c, true, &log)?;
    }
    Ok(code)
}

/// `rt run DIR` with DIR holding a config.json runs that bundle under a
/// fresh id; anything else is runc's `run [--bundle B] ID`. A name no
/// container may have (".", "..", "dir/") is always a path; a valid id is
/// one when the working directory is itself a bundle, as runc has it.
fn target(a: &Args) -> Result<(String, PathBuf, bool)> {
    let id = a.id.clone().unwrap_or_default();
    let p = Path::new(&id);
    let not_an_id = crate::state::validate_id(&id).is_err();
    if a.bundle.is_none()
        && (not_an_id || !Path::new("config.json").exists())
        && p.join("config.json").is_file()
    {
        return Ok((transient_id(), p.to_path_buf(), true));
    }
    let bundle = a.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    Ok((id, bundle, false))
}

fn transient_id() -> String {
    format!("rt-{}", std::process::id())
}

fn wants_terminal(bundle: &Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .is_some_and(|v| v["process"]["terminal"] == true)
}
