//! The six hook kinds of config.md. Each hook gets the container state on
//! stdin, its own args and env, and is killed when its timeout runs out.

use std::io::Write;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} hook {path}: {cause}")]
    Failed {
        kind: &'static str,
        path: String,
        cause: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    fn list(self, hooks: &Hooks) -> &Option<Vec<Hook>> {
        match self {
            Kind::Prestart =>
            {
                #[allow(deprecated)]
                hooks.prestart()
            }
            Kind::CreateRuntime => hooks.create_runtime(),
            Kind::CreateContainer => hooks.create_container(),
            Kind::StartContainer => hooks.start_container(),
            Kind::Poststart => hooks.poststart(),
            Kind::Poststop => hooks.poststop(),
        }
    }
}

pub fn has(hooks: Option<&Hooks>, kind: Kind) -> bool {
    hooks.is_some_and(|h| kind.list(h).as_ref().is_some_and(|l| !l.is_empty()))
}

/// Run every hook of `kind` in order; the first failure stops the rest.
pub fn run(hooks: Option<&Hooks>, kind: Kind, state_json: &str) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for hook in kind.list(hooks).iter().flatten() {
        run_one(hook, kind, state_json)?;
    }
    Ok(())
}

fn run_one(hook: &Hook, kind: Kind, state_json: &str) -> Result<()> {
    let path = hook.path().display().to_string();
    let fail = |cause: String| Error::Failed {
        kind: kind.name(),
        path: path.clone(),
        cause,
    };
    let mut cmd = Command::new(hook.path());
    // args follow execv: the first one is argv[0].
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, first);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!(
                "timed out after {}s",
                hook.timeout().unwrap_or(0)
            )));
        }
        sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    let stderr = stderr.trim();
    let mut cause = match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => format!("killed by {status}"),
    };
    if !stderr.is_empty() {
        cause.push_str(": ");
        cause.push_str(stderr.lines().last().unwrap_or(stderr));
    }
    Err(fail(cause))
}
