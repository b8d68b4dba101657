//! The last step: find the program the way execvp would (inside the
//! container, with the container's PATH) and exec it.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use super::{Error, Result};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why the program cannot be run; worded like runc's messages so tools that
/// match on them keep working.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec {0:?}: executable file not found in $PATH")]
    NotInPath(String),
    #[error("exec {0:?}: no such file or directory")]
    NotFound(String),
    #[error("exec {0:?}: permission denied")]
    Denied(String),
    #[error("exec {0:?}: is a directory")]
    Directory(String),
    #[error("exec {0:?}: {1}")]
    Failed(String, nix::Error),
    #[error("argument or environment contains a NUL byte")]
    Nul,
}

pub fn argv(process: &Process) -> Result<Vec<CString>> {
    to_cstrings(process.args().iter().flatten())
}

/// The environment, with HOME added from the container's /etc/passwd
/// when the config does not set it (runc does the same; shells and many
/// programs expect it).
pub fn envp(process: &Process) -> Result<Vec<CString>> {
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        env.push(format!("HOME={}", home_for(&passwd, process.user().uid())));
    }
    to_cstrings(env.iter())
}

fn home_for(passwd: &str, uid: u32) -> String {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map(|f| f[5].to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string())
}

fn to_cstrings<'a>(items: impl Iterator<Item = &'a String>) -> Result<Vec<CString>> {
    items
        .map(|s| CString::new(s.as_bytes()).map_err(|_| Error::Exec(ExecError::Nul)))
        .collect()
}

fn path_var(process: &Process) -> String {
    process
        .env()
        .iter()
        .flatten()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string()
}

fn check(path: &Path, name: &str) -> std::result::Result<(), ExecError> {
    let meta = std::fs::metadata(path).map_err(|_| ExecError::NotFound(name.into()))?;
    if meta.is_dir() {
        return Err(ExecError::Directory(name.into()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(ExecError::Denied(name.into()));
    }
    Ok(())
}

/// Resolve `arg0` against the container's PATH (relative to `cwd` when it
/// holds a slash), as seen from inside the container's root.
pub fn find_executable(arg0: &CString, process: &Process) -> Result<CString> {
    let name = String::from_utf8_lossy(arg0.as_bytes()).to_string();
    if name.contains('/') {
        let p = if name.starts_with('/') {
            PathBuf::from(&name)
        } else {
            process.cwd().join(&name)
        };
        check(&p, &name)?;
        return Ok(CString::new(p.as_os_str().as_bytes()).map_err(|_| ExecError::Nul)?);
    }
    let mut denied = false;
    for dir in path_var(process).split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let dir = if dir.starts_with('/') {
            PathBuf::from(dir)
        } else {
            process.cwd().join(dir)
        };
        let p = dir.join(&name);
        match check(&p, &name) {
            Ok(()) => {
                return Ok(CString::new(p.as_os_str().as_bytes()).map_err(|_| ExecError::Nul)?)
            }
            Err(ExecError::Denied(_)) => denied = true,
            Err(_) => {}
        }
    }
    Err(if denied {
        ExecError::Denied(name)
    } else {
        ExecError::NotInPath(name)
    }
    .into())
}

/// The stub (security::exe) takes the path as its argv[0] and the
/// program's argv after it.
pub fn through_stub(
    stub: RawFd,
    path: &CString,
    argv: &[CString],
    envp: &[CString],
) -> Result<Infallible> {
    let name = path.to_string_lossy().to_string();
    let mut args = Vec::with_capacity(argv.len() + 1);
    args.push(path.clone());
    args.extend_from_slice(argv);
    // SAFETY: rt's own descriptor, open until this exec.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(stub) };
    let e = nix::unistd::execveat(fd, c"", &args, envp, nix::fcntl::AtFlags::AT_EMPTY_PATH)
        .unwrap_err();
    Err(ExecError::Failed(name, e).into())
}

pub fn execve(path: &CString, argv: &[CString], envp: &[CString]) -> Result<Infallible> {
    let name = path.to_string_lossy().to_string();
    let e = nix::unistd::execve(path, argv, envp).unwrap_err();
    Err(ExecError::Failed(name, e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_from_passwd_or_root() {
        let p = "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\nbad line\n";
        assert_eq!(home_for(p, 0), "/root");
        assert_eq!(home_for(p, 1000), "/home/bob");
        assert_eq!(home_for(p, 5), "/");
    }
}
