//! A private mount namespace for one test, held open by a sleeping
//! process: the test prepares mounts there (a shared rootfs, a /proc for a
//! container that shares the namespace) and runs the runtime in it, and the
//! host's mount table never sees any of it. Dropping it kills the holder,
//! and the namespace with every mount in it goes away.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use super::Case;

pub struct MountNs {
    child: Child,
    _stdout: BufReader<ChildStdout>,
}

impl MountNs {
    /// `unshare -m` (every mount private) that runs the shell command
    /// `setup` in the new namespace, then holds it open.
    pub fn new(setup: &str) -> MountNs {
        let script = format!("{setup}\necho ready\nexec sleep 1000");
        let mut child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-ec", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run unshare");
        let mut out = BufReader::new(child.stdout.take().expect("holder stdout"));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let st = child.wait();
            panic!("mount namespace setup failed ({st:?}): {setup}");
        }
        MountNs {
            child,
            _stdout: out,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// /proc/PID/ns/mnt of the holder: the namespace, for a config's path.
    pub fn ns_path(&self) -> String {
        format!("/proc/{}/ns/mnt", self.pid())
    }

    /// Run a shell command inside the namespace.
    pub fn sh(&self, cmd: &str) -> Output {
        Command::new("nsenter")
            .args(["-t", &self.pid().to_string(), "-m", "sh", "-ec", cmd])
            .stdin(Stdio::null())
            .output()
            .expect("run nsenter")
    }

    /// The namespace's mount table, as its own processes see it.
    pub fn mountinfo(&self) -> String {
        fs::read_to_string(format!("/proc/{}/mountinfo", self.pid())).expect("read mountinfo")
    }

    /// Mount points of the namespace's table at or below `dir`, with their
    /// propagation fields: what a container's setup must leave unchanged.
    pub fn mounts_below(&self, dir: &Path) -> Vec<String> {
        mounts_below(&self.mountinfo(), dir)
    }

    /// What a runtime sharing or joining this namespace could change:
    /// the mounts at or below the test's `dir` and the propagation of `/`.
    /// The namespace also holds copies of whatever the host had mounted
    /// when it was made, other tests' mounts among them, which the kernel
    /// may drop while the test runs: those are not compared.
    pub fn watched(&self, dir: &Path) -> Vec<String> {
        let info = self.mountinfo();
        let mut out = mounts_below(&info, Path::new("/"));
        out.retain(|l| l.split(' ').next() == Some("/"));
        out.extend(mounts_below(&info, dir));
        out
    }

    /// Make every runtime call of `c` run inside this namespace.
    pub fn wrap(&self, c: &mut Case) {
        let wrapper = c.dir.join("runtime-in-mount-ns");
        let script = format!(
            "#!/bin/sh\nexec nsenter -t {} -m -- {} \"$@\"\n",
            self.pid(),
            c.rt.bin.display()
        );
        fs::write(&wrapper, script).expect("write wrapper");
        fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
        c.rt.bin = wrapper;
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "MOUNTPOINT OPTIONAL-FIELDS" of each mountinfo line at or below `dir`.
/// Mount ids are left out: they are what a remount would not change.
pub fn mounts_below(mountinfo: &str, dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy();
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, _) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let at = *f.get(4)?;
            let below = at == d || at.starts_with(&format!("{d}/"));
            below.then(|| format!("{} {}", at, f[6..].join(" ")))
        })
        .collect()
}
