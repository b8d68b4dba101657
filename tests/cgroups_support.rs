//! Shared helpers for the cgroup integration tests (included with
//! `#[path]`; as its own test target it holds no tests). Every test cgroup
//! gets a unique top-level name, and dropping a `TestCg` kills what it
//! spawned, destroys the cgroup and checks that no hierarchy keeps it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::unistd::Pid;
use rt::cgroups::layout::Home;
use rt::cgroups::{FsManager, Layout, Manager};

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Tests that need root return early (visibly) without it; CI runs them
/// as root.
#[macro_export]
macro_rules! require_root {
    () => {
        if !support::is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// "/rt-test-<tag>-<pid>-<n>": unique across parallel tests and runs.
pub fn unique(tag: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    PathBuf::from(format!("/rt-test-{tag}-{}-{n}", std::process::id()))
}

pub struct TestCg {
    pub mgr: FsManager,
    children: Vec<Child>,
}

impl TestCg {
    pub fn new(tag: &str) -> TestCg {
        Self::with_layout(tag, Layout::detect())
    }

    /// The cgroup2 tree only, as on a pure v2 host (None without one).
    pub fn unified_only(tag: &str) -> Option<TestCg> {
        let l = Layout::detect();
        l.unified.as_ref()?;
        Some(Self::with_layout(tag, l.unified_only()))
    }

    fn with_layout(tag: &str, layout: Layout) -> TestCg {
        let mgr = FsManager::with_layout(unique(tag), layout);
        mgr.create().expect("create test cgroup");
        TestCg {
            mgr,
            children: Vec::new(),
        }
    }

    pub fn is_v2(&self, v1: &str, v2: &str) -> bool {
        self.mgr.layout().home(v1, v2) == Home::V2
    }

    /// Directory holding a controller's files for this cgroup.
    pub fn dir(&self, v1: &str, v2: &str) -> PathBuf {
        let rel = self.mgr.path().strip_prefix("/").unwrap();
        match self.mgr.layout().home(v1, v2) {
            Home::V1(m) => m.join(rel),
            Home::V2 => self.mgr.layout().unified.as_ref().unwrap().join(rel),
            Home::Absent => panic!("controller {v1}/{v2} not available"),
        }
    }

    /// Contents of a controller file: `v1file` or `v2file` depending on
    /// where the controller lives on this host.
    pub fn file(&self, v1: &str, v2: &str, v1file: &str, v2file: &str) -> String {
        let f = if self.is_v2(v1, v2) { v2file } else { v1file };
        let p = self.dir(v1, v2).join(f);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
            .trim()
            .to_string()
    }

    /// Start `sh -c script` inside the cgroup: the shell waits on stdin
    /// until it has been moved, so the payload runs only inside.
    pub fn spawn(&mut self, script: &str) -> Child {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("read _ && exec sh -c \"$0\"")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        self.mgr
            .add_task(Pid::from_raw(child.id() as i32))
            .expect("add task");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"go\n").unwrap();
        child
    }

    /// Like `spawn`, but the child is killed and reaped on drop.
    pub fn spawn_bg(&mut self, script: &str) -> u32 {
        let c = self.spawn(script);
        let pid = c.id();
        self.children.push(c);
        pid
    }
}

impl Drop for TestCg {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let r = self.mgr.destroy();
        if !std::thread::panicking() {
            r.expect("destroy test cgroup");
            assert_nothing_left(&self.mgr);
        }
    }
}

pub fn assert_nothing_left(mgr: &FsManager) {
    for d in mgr.dirs() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

/// The cgroup path of `pid` in every hierarchy, from /proc/PID/cgroup.
pub fn proc_cgroups(pid: u32) -> Vec<(String, String)> {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            it.next()?;
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

pub fn exists_anywhere(mgr_path: &Path) -> bool {
    let l = Layout::detect();
    let rel = mgr_path.strip_prefix("/").unwrap();
    l.v1.iter()
        .map(|m| &m.mount)
        .chain(l.unified.iter())
        .any(|m| m.join(rel).exists())
}

/// A test container as the cgroup tests drive it: its bundle directory,
/// its id, rt with its flags, and what they build on that.
pub trait Container {
    fn dir(&self) -> &Path;
    fn id(&self) -> &str;
    /// rt with this container's flags; `args` starts with the subcommand.
    fn rt(&self, args: &[&str]) -> Output;

    fn config(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.dir().join("config.json")).unwrap()).unwrap()
    }

    /// Rewritten in place, so the file keeps its owner.
    fn set_config(&self, cfg: &serde_json::Value) {
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

    fn state(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", self.id()])).unwrap()
    }
}

/// A bundle in `dir` from `rt spec`: static busybox with `links` to it in
/// rootfs/bin, an empty rootfs/tmp, `args` as the process and no
/// terminal. Returns the config for the caller to finish and write.
pub fn busybox_bundle(rt: &str, dir: &Path, links: &[&str], args: &[&str]) -> serde_json::Value {
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(dir.join("rootfs/tmp")).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox"))
        .expect("/bin/busybox (install busybox-static)");
    for l in links {
        std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
    }
    let out = Command::new(rt)
        .arg("spec")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "rt spec: {out:?}");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    cfg["process"]["args"] = serde_json::json!(args);
    cfg["process"]["terminal"] = serde_json::json!(false);
    cfg
}
