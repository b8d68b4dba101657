//! `exec`: runc's flags, or a whole process.json with `--process`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::Args as ClapArgs;
use oci_spec::runtime::{Capability, Process};

use super::GlobalArgs;
use crate::container::{self, Container, ExecOptions};
use crate::process::supervise::Foreground;
use crate::{Error, Result};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// A process.json (runtime-spec process object) to run.
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// KEY=VALUE, repeatable.
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID]
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Add a capability, repeatable.
    #[arg(short, long)]
    pub cap: Vec<String>,
    #[arg(long)]
    pub no_new_privs: bool,
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    #[arg(long)]
    pub ignore_paused: bool,
    #[arg(long)]
    pub process_label: Option<String>,
    #[arg(long)]
    pub apparmor: Option<String>,
    pub id: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    if a.process_label.is_some() || a.apparmor.is_some() {
        return Err(Error::Usage("LSM labels are not supported by rt".into()));
    }
    let c = Container::load(&g.root, &a.id)?;
    let spec = container::container_spec(&c)?;
    let process = build_process(&a, &spec)?;
    let mut fg = if a.detach {
        None
    } else {
        Some(Foreground::prepare(false)?)
    };
    let console_fd = match (
        &mut fg,
        process.terminal() == Some(true) && a.console_socket.is_none(),
    ) {
        (Some(f), true) => Some(f.console_pair()?),
        (None, true) => {
            return Err(Error::Usage(
                "--tty with --detach needs --console-socket".into(),
            ))
        }
        _ => None,
    };
    let pid = container::exec(
        &c,
        &spec,
        ExecOptions {
            process: &process,
            pid_file: a.pid_file.as_deref(),
            console_socket: a.console_socket.as_deref(),
            console_fd,
            preserve_fds: a.preserve_fds + super::listen_fds(),
            ignore_paused: a.ignore_paused,
        },
    )?;
    // Unlock before waiting: the container stays reachable meanwhile.
    drop(c);
    match fg {
        Some(fg) => Ok(fg.wait(pid)?),
        None => Ok(0),
    }
}

/// runc's rule: the container's own process is the template, flags
/// override it; `--process` replaces it entirely.
fn build_process(a: &Args, spec: &oci_spec::runtime::Spec) -> Result<Process> {
    if let Some(file) = &a.process {
        let data =
            std::fs::read(file).map_err(|e| Error::io(format!("read {}", file.display()), e))?;
        let p: Process = serde_json::from_slice(&data)
            .map_err(|e| Error::Usage(format!("parse {}: {e}", file.display())))?;
        if p.args().as_ref().is_none_or(|v| v.is_empty()) {
            return Err(Error::Usage(format!(
                "{}: args must not be empty",
                file.display()
            )));
        }
        return Ok(p);
    }
    if a.command.is_empty() {
        return Err(Error::Usage("exec needs a command (or --process)".into()));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let uid: u32 = uid
            .parse()
            .map_err(|_| Error::Usage(format!("invalid --user {u:?}")))?;
        p.user_mut().set_uid(uid);
        if let Some(g) = gid {
            let gid: u32 = g
                .parse()
                .map_err(|_| Error::Usage(format!("invalid --user {u:?}")))?;
            p.user_mut().set_gid(gid);
        }
    }
    if !a.additional_gids.is_empty() {
        p.user_mut()
            .set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.cap {
            let cap = Capability::from_str(name.trim_start_matches("CAP_"))
                .map_err(|_| Error::Usage(format!("unknown capability {name:?}")))?;
            let add = |s: Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding().clone()));
            caps.set_effective(add(caps.effective().clone()));
            caps.set_permitted(add(caps.permitted().clone()));
        }
        p.set_capabilities(Some(caps));
    }
    Ok(p)
}
