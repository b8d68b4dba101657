//! What the two container kinds share beyond support::Container: rt's
//! command line for a container (`--systemd-cgroup --root R SUB [--bundle
//! B]`) and running it with stdio in files.

use std::path::Path;
use std::process::{Command, Output};

/// `--systemd-cgroup --root ROOT SUB`, `--bundle DIR` for run and create,
/// then the rest of `args`; run in `dir`.
pub fn container_args(c: &mut Command, root: &Path, dir: &Path, args: &[&str]) {
    let (sub, rest) = args.split_first().unwrap();
    c.arg("--systemd-cgroup").arg("--root").arg(root).arg(sub);
    if matches!(*sub, "run" | "create") {
        c.arg("--bundle").arg(dir);
    }
    c.args(rest).current_dir(dir);
}

/// Run `c` with stdout and stderr in `dir`/out.log and err.log (owned by
/// `owner`, uid and gid): detached containers keep their stdio, so pipes
/// would never reach end of file.
pub fn run_logged(c: &mut Command, dir: &Path, owner: Option<(u32, u32)>) -> Output {
    let log = |n: &str| {
        let p = dir.join(n);
        let f = std::fs::File::create(&p).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        }
        f
    };
    let status = c
        .stdout(log("out.log"))
        .stderr(log("err.log"))
        .status()
        .unwrap();
    Output {
        status,
        stdout: std::fs::read(dir.join("out.log")).unwrap_or_default(),
        stderr: std::fs::read(dir.join("err.log")).unwrap_or_default(),
    }
}
