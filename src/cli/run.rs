//! `run`: create + start, and in the foreground wait for the container,
//! forward signals to it, proxy its terminal, and remove it afterwards.

use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;

use super::create::CreateFlags;
use super::GlobalArgs;
use crate::container::{self, Container, CreateOptions};
use crate::log::Logger;
use crate::process::supervise;
use crate::{Error, Result};

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
    /// Container id, or (for people) a bundle directory to run once.
    pub id: String,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    let (id, bundle, transient) = target(&a)?;
    if a.detach && a.keep {
        return Err(Error::Usage("--keep makes no sense with --detach".into()));
    }
    let log = Logger::from_cli(g);
    let foreground = !a.detach;
    let mut fg = if foreground {
        Some(supervise::Foreground::prepare(!a.no_subreaper)?)
    } else {
        None
    };
    let terminal_here = foreground && a.flags.console_socket.is_none() && wants_terminal(&bundle);
    let console = match (&mut fg, terminal_here) {
        (Some(f), true) => Some(f.console_pair()?),
        _ => None,
    };
    let created = container::create(CreateOptions {
        console_fd: console,
        ..a.flags.options(&g.root, &id, &bundle)
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
        let c = Container::load(&g.root, &id)?;
        container::delete(c, true, &log)?;
    }
    Ok(code)
}

/// `rt run DIR` with DIR holding a config.json runs that bundle under a
/// fresh id; anything else is runc's `run [--bundle B] ID`.
fn target(a: &Args) -> Result<(String, PathBuf, bool)> {
    let p = Path::new(&a.id);
    if a.bundle.is_none()
        && (a.id.contains('/') || !Path::new("config.json").exists())
        && p.join("config.json").is_file()
    {
        let id = format!("rt-{}", std::process::id());
        return Ok((id, p.to_path_buf(), true));
    }
    Ok((
        a.id.clone(),
        a.bundle.clone().unwrap_or_else(|| PathBuf::from(".")),
        false,
    ))
}

fn wants_terminal(bundle: &Path) -> bool {
    std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
        .is_some_and(|v| v["process"]["terminal"] == true)
}
