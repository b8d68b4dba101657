//! Launching a supervisor: rt itself (/proc/self/exe) in a new session,
//! with /dev/null for stdio and / as its working directory, detached from
//! the caller, which waits only for the word that the container started
//! (or the root cause why it did not).

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{Error, Result};

/// Start `rt supervise` for `id` and wait until it reports. `global`: the
/// caller's --log, --log-format and --debug, passed on.
pub fn launch(root: &Path, id: &str, global: &[OsString]) -> Result<()> {
    // It runs in /: a relative --root would name another directory.
    let root = std::path::absolute(root).map_err(|e| Error::io("resolve --root", e))?;
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", e))?;
    let wfd = w.as_raw_fd();
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg0("rt")
        .args(global)
        .arg("--root")
        .arg(&root)
        .arg("supervise")
        .arg("--ready-fd")
        .arg(wfd.to_string())
        .arg(id)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || libc::fcntl(wfd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::io("start the supervisor", e))?;
    drop(w);
    let mut msg = String::new();
    let _ = std::fs::File::from(r).read_to_string(&mut msg);
    if msg.starts_with("ok") {
        // It lives on as a daemon: never waited for here.
        return Ok(());
    }
    let _ = child.wait();
    let cause = msg.strip_prefix("error\n").unwrap_or("").trim();
    Err(Error::Failed(if cause.is_empty() {
        format!("the supervisor of {id:?} exited before the container started")
    } else {
        cause.to_string()
    }))
}
