//! What the two container kinds share: their bundle's config.json, rt's
//! command line for a container (`--systemd-cgroup --root R SUB [--bundle
//! B]`), running it with stdio in files, and the checks built on that.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub trait Bundle {
    fn dir(&self) -> &Path;
    fn id(&self) -> &str;
    /// rt with this container's flags; `args` starts with the subcommand.
    fn rt(&self, args: &[&str]) -> Output;

    fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir().join("config.json")).unwrap()).unwrap()
    }

    /// Rewritten in place, so the file keeps its owner.
    fn set_config(&self, cfg: &Value) {
        std::fs::write(
            self.dir().join("config.json"),
            serde_json::to_vec(cfg).unwrap(),
        )
        .unwrap();
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.rt(args);
        assert!(
            out.status.success(),
            "rt {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn state(&self) -> Value {
        serde_json::from_str(&self.ok(&["state", self.id()])).unwrap()
    }
}

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
