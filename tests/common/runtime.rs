//! The runtime under test: rt by default, runc with RT_TEST_RUNTIME=runc (to
//! validate the tests themselves), always with a private --root.
//!
//! Runtime output goes to files, not pipes: a created container inherits the
//! runtime's stdio, so waiting for EOF on a pipe would hang until it exits.

use std::cell::{Cell, RefCell};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::bundle::Bundle;

pub const RUNC: &str = "/usr/sbin/runc";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rt,
    Runc,
}

impl Kind {
    /// RT_TEST_RUNTIME=runc selects runc; anything else (or unset) rt.
    pub fn from_env() -> Kind {
        match std::env::var("RT_TEST_RUNTIME").as_deref() {
            Ok("runc") => Kind::Runc,
            _ => Kind::Rt,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Rt => "rt",
            Kind::Runc => "runc",
        }
    }
}

pub fn runc_available() -> bool {
    Path::new(RUNC).exists()
}

/// What one runtime invocation produced.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code; 128+N when killed by signal N; -1 when it timed out.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_path: PathBuf,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == 0
    }

    /// Panic with everything needed to debug when the call did not succeed.
    #[track_caller]
    pub fn expect_ok(&self, what: &str) -> &Self {
        assert!(self.ok(), "{what} failed: {self:#?}");
        self
    }

    /// The JSON of the last non-empty stdout line (the probe prints one).
    #[track_caller]
    pub fn json(&self) -> Value {
        let line = self.stdout.lines().rev().find(|l| !l.trim().is_empty());
        match line.map(serde_json::from_str) {
            Some(Ok(v)) => v,
            _ => panic!("no JSON on stdout: {self:#?}"),
        }
    }

    pub fn last_err_line(&self) -> &str {
        self.stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    }

    /// The stdout file as it is now (a created container writes to it later).
    pub fn reread_stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }
}

/// A runtime process started in the background (`run` in the foreground,
/// waiting for signals).
pub struct Running {
    pub child: Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout_now(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Poll stdout until it contains `needle`; false on timeout.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.stdout_now().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling the runtime process this harness started.
        unsafe { libc::kill(self.pid(), sig) };
    }

    pub fn wait(mut self, timeout: Duration) -> Out {
        let end = Instant::now() + timeout;
        let code = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break status_code(st),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break -1;
                }
            }
        };
        Out {
            code,
            stdout: fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr_path).unwrap_or_default(),
            stdout_path: self.stdout_path,
        }
    }
}

fn status_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

pub struct Runtime {
    pub kind: Kind,
    pub bin: PathBuf,
    pub root: PathBuf,
    /// Working dir of every invocation; also holds the output files.
    dir: PathBuf,
    seq: Cell<u32>,
    ids: RefCell<Vec<String>>,
}

impl Runtime {
    /// `dir` is the test's private directory; the state root goes inside.
    pub fn new(kind: Kind, dir: &Path) -> Runtime {
        let bin = match kind {
            Kind::Rt => PathBuf::from(env!("CARGO_BIN_EXE_rt")),
            Kind::Runc => PathBuf::from(RUNC),
        };
        let root = dir.join(format!("root-{}", kind.name()));
        fs::create_dir_all(dir).expect("create test dir");
        Runtime {
            kind,
            bin,
            root,
            dir: dir.to_path_buf(),
            seq: Cell::new(0),
            ids: RefCell::new(Vec::new()),
        }
    }

    pub fn from_env(dir: &Path) -> Runtime {
        Runtime::new(Kind::from_env(), dir)
    }

    pub fn is_rt(&self) -> bool {
        self.kind == Kind::Rt
    }

    fn command(&self, args: &[&str]) -> (Command, PathBuf, PathBuf) {
        let n = self.seq.get();
        self.seq.set(n + 1);
        let base = self.dir.join(format!("{}-{n}", self.kind.name()));
        let out_path = base.with_extension("stdout");
        let err_path = base.with_extension("stderr");
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        c.current_dir(&self.dir).stdin(Stdio::null());
        c.stdout(fs::File::create(&out_path).expect("stdout file"));
        c.stderr(fs::File::create(&err_path).expect("stderr file"));
        (c, out_path, err_path)
    }

    /// Start `<runtime> --root R args...` in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.remember(args);
        let (mut c, stdout_path, stderr_path) = self.command(args);
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.bin));
        Running {
            child,
            stdout_path,
            stderr_path,
        }
    }

    /// Run `<runtime> --root R args...` to completion (with a timeout).
    pub fn cmd(&self, args: &[&str]) -> Out {
        self.spawn(args).wait(DEFAULT_TIMEOUT)
    }

    /// `cmd` with extra environment variables.
    pub fn cmd_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        self.remember(args);
        let (mut c, stdout_path, stderr_path) = self.command(args);
        c.envs(env.iter().copied());
        let child = c
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.bin));
        Running {
            child,
            stdout_path,
            stderr_path,
        }
        .wait(DEFAULT_TIMEOUT)
    }

    /// Note container ids so that cleanup can force-delete them.
    fn remember(&self, args: &[&str]) {
        let creates = args
            .iter()
            .position(|a| *a == "run" || *a == "create")
            .is_some();
        if let (true, Some(id)) = (creates, args.last()) {
            let mut ids = self.ids.borrow_mut();
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_string());
            }
        }
    }

    pub fn run(&self, b: &Bundle, id: &str) -> Out {
        self.run_with(b, id, &[])
    }

    /// `run --bundle B [extra...] id`
    pub fn run_with(&self, b: &Bundle, id: &str, extra: &[&str]) -> Out {
        b.save();
        let dir = b.dir.to_string_lossy().into_owned();
        let mut args = vec!["run", "--bundle", &dir];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    pub fn create(&self, b: &Bundle, id: &str) -> Out {
        self.create_with(b, id, &[])
    }

    /// `create --bundle B [extra...] id`
    pub fn create_with(&self, b: &Bundle, id: &str, extra: &[&str]) -> Out {
        b.save();
        let dir = b.dir.to_string_lossy().into_owned();
        let mut args = vec!["create", "--bundle", &dir];
        args.extend_from_slice(extra);
        args.push(id);
        self.cmd(&args)
    }

    pub fn start(&self, id: &str) -> Out {
        self.cmd(&["start", id])
    }

    pub fn state(&self, id: &str) -> Out {
        self.cmd(&["state", id])
    }

    /// The state JSON; panics if `state` fails.
    #[track_caller]
    pub fn state_json(&self, id: &str) -> Value {
        let out = self.state(id);
        out.expect_ok("state");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state JSON: {e}: {out:#?}"))
    }

    pub fn status(&self, id: &str) -> Option<String> {
        let out = self.state(id);
        let v: Value = serde_json::from_str(&out.stdout).ok()?;
        v["status"].as_str().map(str::to_string)
    }

    pub fn kill(&self, id: &str, sig: &str) -> Out {
        self.cmd(&["kill", id, sig])
    }

    pub fn delete(&self, id: &str) -> Out {
        self.cmd(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Out {
        self.cmd(&["delete", "--force", id])
    }

    pub fn list_json(&self) -> Out {
        self.cmd(&["list", "--format", "json"])
    }

    /// Poll `state` until the status is `want`; false on timeout.
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.status(id).as_deref() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Force-delete every container this runtime created and drop its root.
    /// Idempotent; errors are ignored because this also runs after failures.
    pub fn cleanup(&self) {
        let ids: Vec<String> = self.ids.borrow_mut().drain(..).collect();
        for id in ids {
            let _ = self.delete_force(&id);
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.cleanup();
    }
}
