//! Shared harness of the integration tests: bundles built from the static
//! probe and busybox, the runtime under test (rt, or runc with
//! RT_TEST_RUNTIME=runc) and leftover checks.
//!
//! Every test gets a unique id and a private directory /tmp/rt-tests/<id>
//! holding its bundle, the runtime's --root and the runtime's output files.
#![allow(dead_code)]

pub mod bundle;
pub mod console;
pub mod elf;
pub mod fixtures;
pub mod leftovers;
pub mod mountns;
pub mod runtime;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub use bundle::Bundle;
pub use leftovers::assert_nothing_left;
pub use runtime::{Kind, Out, Runtime};
use serde_json::Value;

pub const TESTS_DIR: &str = "/tmp/rt-tests";

/// `name-<pid>-<n>`: unique across parallel test processes and threads.
pub fn unique_id(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{name}-{}-{n}", std::process::id())
}

/// One test's world: an id, its directory, a runtime and a bundle. Dropping
/// it force-deletes the container(s) and removes the directory.
pub struct Case {
    pub id: String,
    pub dir: PathBuf,
    pub rt: Runtime,
    pub bundle: Bundle,
}

impl Case {
    /// With the runtime chosen by RT_TEST_RUNTIME.
    pub fn new(name: &str) -> Case {
        Case::with_kind(name, Kind::from_env())
    }

    pub fn with_kind(name: &str, kind: Kind) -> Case {
        let id = unique_id(name);
        let dir = Path::new(TESTS_DIR).join(&id);
        let rt = Runtime::new(kind, &dir);
        let bundle = Bundle::new(&dir.join("bundle"), &id);
        Case {
            id,
            dir,
            rt,
            bundle,
        }
    }

    pub fn is_rt(&self) -> bool {
        self.rt.is_rt()
    }

    /// `run` the bundle to completion.
    pub fn run(&self) -> Out {
        self.rt.run(&self.bundle, &self.id)
    }

    /// Run `/probe args...`, require exit 0 and nothing left behind, and
    /// return the probe's JSON report.
    #[track_caller]
    pub fn probe(&mut self, args: &[&str]) -> Value {
        self.bundle.probe(args);
        let out = self.run();
        out.expect_ok("run probe");
        self.assert_nothing_left();
        out.json()
    }

    pub fn create(&self) -> Out {
        self.rt.create(&self.bundle, &self.id)
    }

    pub fn start(&self) -> Out {
        self.rt.start(&self.id)
    }

    pub fn status(&self) -> Option<String> {
        self.rt.status(&self.id)
    }

    /// A failed invocation as every runtime error must look: non-zero (not a
    /// timeout), for rt a final `rt: <cause>` line, and nothing left.
    #[track_caller]
    pub fn assert_failed_cleanly(&self, out: &Out) {
        assert_ne!(out.code, 0, "should fail: {out:#?}");
        assert_ne!(out.code, -1, "timed out: {out:#?}");
        if self.is_rt() {
            assert!(
                out.last_err_line().starts_with("rt: "),
                "last stderr line should be `rt: <cause>`: {out:#?}"
            );
        }
        self.assert_nothing_left();
    }

    #[track_caller]
    pub fn assert_nothing_left(&self) {
        assert_nothing_left(
            &self.rt.root,
            &self.id,
            &self.bundle.cgroup_rel(&self.id, self.rt.kind),
            &self.dir,
        );
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        self.rt.cleanup();
        leftovers::reap(
            &self.id,
            &self.bundle.cgroup_rel(&self.id, self.rt.kind),
            &self.dir,
        );
        let keep = std::env::var_os("RT_TEST_KEEP").is_some() && std::thread::panicking();
        if !keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A JSON array of strings as a sorted Vec (for order-insensitive checks).
pub fn sorted_strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The mount entry the probe saw at `dest` (the last one: it is on top).
pub fn mount_at<'a>(mounts: &'a Value, dest: &str) -> Option<&'a Value> {
    let list = mounts.get("mounts").unwrap_or(mounts);
    list.as_array()?
        .iter()
        .rev()
        .find(|m| m["destination"] == dest)
}

/// True when the probe's options list of a mount contains `opt`.
pub fn has_opt(m: &Value, opt: &str) -> bool {
    m["options"]
        .as_array()
        .is_some_and(|o| o.iter().any(|x| x == opt))
        || m["superOptions"]
            .as_array()
            .is_some_and(|o| o.iter().any(|x| x == opt))
}

/// In runc validation mode: skip a check where runc itself is wrong (the
/// caller's comment says how), printing why.
pub fn runc_is_wrong(c: &Case, why: &str) -> bool {
    if c.is_rt() {
        return false;
    }
    eprintln!("note: runc is wrong here ({why}): not checked");
    true
}

/// runc's (major, minor) version, from `runc --version`.
pub fn runc_version() -> Option<(u32, u32)> {
    let out = std::process::Command::new(runtime::RUNC)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v = text.lines().next()?.split_whitespace().nth(2)?.to_string();
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// In runc validation mode, whether the installed runc is too old for a
/// feature (runtime-spec fields that runc only implements from `min` on and
/// silently ignores before). Prints why the test is skipped.
pub fn runc_too_old(c: &Case, min: (u32, u32), feature: &str) -> bool {
    if c.is_rt() {
        return false;
    }
    let v = runc_version().unwrap_or((0, 0));
    if v < min {
        eprintln!(
            "note: runc {}.{} predates {feature} (runc {}.{}): not checked",
            v.0, v.1, min.0, min.1
        );
        return true;
    }
    false
}

/// `run` a bundle to completion: (exit code, stdout, stderr).
pub fn run_container(rt: &Runtime, b: &Bundle, id: &str) -> (i32, String, String) {
    let out = rt.run(b, id);
    (out.code, out.stdout, out.stderr)
}
