//! The cgroup commands on real containers: pause/resume/ps/update/events,
//! OOM (exit 137 and the `oom` event), a 1 MiB container, cleanup after
//! kill -9 of the init, and the cgroup files runc writes for the same
//! config. Needs root and a static busybox (/bin/busybox, Debian's
//! busybox-static) for the payload.
//!
//! With RT_TEST_SYSTEMD=1 (the systemd VM lane, tests/vm-systemd) every
//! container is made with `--systemd-cgroup` and a "slice:prefix:name"
//! cgroupsPath, runc's too, so the same checks run against systemd scopes.

#[path = "cgroups_support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{exists_anywhere, unique, Container};

const RT: &str = env!("CARGO_BIN_EXE_rt");

/// The systemd driver's lane: every runtime call gets `--systemd-cgroup`.
fn systemd_mode() -> bool {
    std::env::var_os("RT_TEST_SYSTEMD").is_some()
}

struct Bundle {
    /// The runtime that owns the container (rt, or runc for differentials).
    runtime: &'static str,
    dir: PathBuf,
    root: PathBuf,
    id: String,
    cgroup: PathBuf,
}

impl Bundle {
    /// A busybox bundle running `args` with `resources`, in a unique
    /// cgroup and state root.
    fn new(tag: &str, args: &[&str], resources: Value) -> Bundle {
        let mut cgroup = unique(tag);
        let name = cgroup.file_name().unwrap().to_string_lossy().to_string();
        // Under systemd: a scope "rtt-<name>.scope" in rt-test.slice, which
        // systemd nests in rt.slice.
        let cgroups_path = if systemd_mode() {
            cgroup = PathBuf::from(format!("/rt.slice/rt-test.slice/rtt-{name}.scope"));
            format!("rt-test.slice:rtt:{name}")
        } else {
            cgroup.to_string_lossy().into_owned()
        };
        let dir = std::env::temp_dir().join(format!("{name}-bundle"));
        let links = ["sh", "sleep", "true", "tail", "cat", "mv"];
        let mut cfg = support::busybox_bundle(RT, &dir, &links, args);
        cfg["root"]["readonly"] = json!(false);
        cfg["linux"]["cgroupsPath"] = json!(cgroups_path);
        for (k, v) in resources.as_object().unwrap() {
            cfg["linux"]["resources"][k] = v.clone();
        }
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
        Bundle {
            runtime: RT,
            root: std::env::temp_dir().join(format!("{name}-root")),
            dir,
            id: name,
            cgroup,
        }
    }

    fn cmd(&self, bin: &str, args: &[&str]) -> Output {
        let (sub, rest) = args.split_first().unwrap();
        let mut c = Command::new(bin);
        if systemd_mode() {
            c.arg("--systemd-cgroup");
        }
        c.arg("--root").arg(&self.root).arg(sub);
        if matches!(*sub, "run" | "create") {
            c.arg("--bundle").arg(&self.dir);
        }
        c.args(rest).stdin(Stdio::null()).current_dir(&self.dir);
        if rest.contains(&"-d") {
            // A detached container keeps its stdio: a pipe would never
            // reach EOF, so it gets files.
            let f = |n: &str| std::fs::File::create(self.dir.join(n)).unwrap();
            c.stdout(f("out.log")).stderr(f("err.log"));
            let status = c.status().unwrap();
            let stderr = std::fs::read(self.dir.join("err.log")).unwrap_or_default();
            return Output {
                status,
                stdout: Vec::new(),
                stderr,
            };
        }
        c.output().unwrap()
    }

    fn file(&self, ctrl: &str, file: &str) -> String {
        let l = rt::cgroups::Layout::detect();
        let rel = self.cgroup.strip_prefix("/").unwrap();
        let base = match l.v1_mount(ctrl) {
            Some(m) => m.to_path_buf(),
            None => l.unified.clone().unwrap(),
        };
        std::fs::read_to_string(base.join(rel).join(file))
            .unwrap_or_else(|e| panic!("{ctrl}/{file}: {e}"))
            .trim()
            .to_string()
    }
}

impl Container for Bundle {
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn rt(&self, args: &[&str]) -> Output {
        self.cmd(RT, args)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // A test that failed while paused: thaw so the kill can land.
        let _ = self.cmd(self.runtime, &["resume", &self.id]);
        let _ = self.cmd(self.runtime, &["delete", "--force", &self.id]);
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.root);
        if !std::thread::panicking() {
            assert!(!exists_anywhere(&self.cgroup), "cgroup left behind");
        }
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn counter(pid: u64) -> u64 {
    let p = format!("/proc/{pid}/root/tmp/counter");
    let mut last = None;
    wait_until("counter", || {
        last = std::fs::read_to_string(&p)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        last.is_some()
    });
    last.unwrap_or(0)
}

fn mem_file(ctrl_is_v2: bool) -> &'static str {
    if ctrl_is_v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    }
}

fn is_v2(ctrl: &str) -> bool {
    rt::cgroups::Layout::detect().v1_mount(ctrl).is_none()
}

#[test]
fn pause_resume_ps_update_events() {
    require_root!();
    let b = Bundle::new(
        "cli",
        &[
            "sh",
            "-c",
            // Renamed into place so a frozen writer never leaves it empty.
            "i=0; while :; do i=$((i+1)); echo $i > /tmp/c; mv /tmp/c /tmp/counter; done",
        ],
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}}),
    );
    b.ok(&["run", "-d", &b.id]);
    let st = b.state();
    assert_eq!(st["status"], "running");
    let pid = st["pid"].as_u64().unwrap();

    let ps: Vec<u64> = serde_json::from_str(&b.ok(&["ps", "--format", "json", &b.id])).unwrap();
    // The init, and at times the mv it is running (or one just exiting):
    // every other pid listed is the init's child or already gone.
    assert!(ps.contains(&pid), "{ps:?}");
    for p in ps.iter().filter(|p| **p != pid) {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
            let ppid = stat.rsplit(')').next().unwrap().split_whitespace().nth(1);
            assert_eq!(ppid, Some(pid.to_string().as_str()), "{ps:?}: {stat}");
        }
    }
    let table = b.ok(&["ps", &b.id]);
    assert!(table.lines().next().unwrap().contains("PID"));
    assert!(table.contains(&format!(" {pid} ")), "{table}");

    let started = counter(pid);
    wait_until("counter to run", || counter(pid) > started);
    b.ok(&["pause", &b.id]);
    assert_eq!(b.state()["status"], "paused");
    let a = counter(pid);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(counter(pid), a, "counter advanced while paused");
    assert!(!b.rt(&["pause", &b.id]).status.success(), "pause twice");
    b.ok(&["resume", &b.id]);
    assert_eq!(b.state()["status"], "running");
    wait_until("counter to move", || counter(pid) > a);

    b.ok(&[
        "update",
        "--memory",
        "128m",
        "--pids-limit",
        "7",
        "--cpu-quota",
        "50000",
        "--cpu-period",
        "100000",
        "--cpu-shares",
        "256",
        &b.id,
    ]);
    let v2 = is_v2("memory");
    assert_eq!(b.file("memory", mem_file(v2)), (128u64 << 20).to_string());
    assert_eq!(b.file("pids", "pids.max"), "7");
    if is_v2("cpu") {
        assert_eq!(b.file("cpu", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(b.file("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(b.file("cpu", "cpu.shares"), "256");
    }
    // --resources from a file, flags on top.
    let res = b.dir.join("res.json");
    std::fs::write(&res, r#"{"pids":{"limit":9},"memory":{"limit":100663296}}"#).unwrap();
    b.ok(&[
        "update",
        "--resources",
        res.to_str().unwrap(),
        "--pids-limit",
        "11",
        &b.id,
    ]);
    assert_eq!(b.file("pids", "pids.max"), "11");
    assert_eq!(b.file("memory", mem_file(v2)), "100663296");
    // Bad input: clear error, nothing changed.
    let out = b.rt(&["update", "--memory", "-5", &b.id]);
    assert!(!out.status.success());
    assert_eq!(b.file("memory", mem_file(v2)), "100663296");

    let ev: Value = serde_json::from_str(&b.ok(&["events", "--stats", &b.id])).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], b.id.as_str());
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    assert_eq!(ev["data"]["pids"]["limit"], 11);
    assert!(ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(ev["data"]["cpu"]["usage"]["total"].as_u64().unwrap() > 0);

    b.ok(&["kill", &b.id, "KILL"]);
    wait_until("stop", || b.state()["status"] == "stopped");
    let out = b.rt(&["update", "--memory", "64m", &b.id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stopped"), "{err}");
    b.ok(&["delete", &b.id]);
    assert!(!exists_anywhere(&b.cgroup));
}

#[test]
fn oom_exits_137_and_events_report_it() {
    require_root!();
    // Under systemd the OOM-killed process is a child: when the init
    // itself is killed, systemd removes the emptied scope's cgroup at once
    // and may do so before `events` reads its memory.events (the exit
    // status 137 still tells, below).
    let script = if systemd_mode() {
        "sleep 1; tail /dev/zero; sleep 2"
    } else {
        "sleep 1; exec tail /dev/zero"
    };
    let b = Bundle::new(
        "clioom",
        &["sh", "-c", script],
        json!({"memory": {"limit": 16777216}}),
    );
    b.ok(&["run", "-d", &b.id]);
    let events = Command::new(RT)
        .args(systemd_mode().then_some("--systemd-cgroup"))
        .args([
            "--root",
            b.root.to_str().unwrap(),
            "events",
            "--interval",
            "200ms",
            &b.id,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = events.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().any(|e| e["type"] == "stats"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|e| e["type"] == "oom" && e["id"] == b.id.as_str()),
        "{lines:?}"
    );

    // In the foreground, the exit status of an OOM-killed init is 137.
    let f = Bundle::new(
        "clioomfg",
        &["tail", "/dev/zero"],
        json!({"memory": {"limit": 16777216}}),
    );
    assert_eq!(f.rt(&["run", &f.id]).status.code(), Some(137));
}

#[test]
fn one_mib_container_runs_true() {
    require_root!();
    let b = Bundle::new("onemib", &["true"], json!({"memory": {"limit": 1048576}}));
    let out = b.rt(&["run", &b.id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn delete_after_kill_9_of_init_leaves_nothing() {
    require_root!();
    let b = Bundle::new(
        "kill9",
        &["sh", "-c", "sleep 100 & sleep 100"],
        json!({"pids": {"limit": 10}}),
    );
    b.ok(&["run", "-d", &b.id]);
    let pid = b.state()["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until("stop", || b.state()["status"] == "stopped");
    b.ok(&["delete", &b.id]);
    assert!(!exists_anywhere(&b.cgroup));
}

/// Same config under runc and rt: the cgroup files must match.
#[test]
fn cgroup_files_match_runc() {
    require_root!();
    if Command::new("runc").arg("--version").output().is_err() {
        // The VM lane has no runc; everywhere else its absence is an error.
        if std::env::var_os("RT_TEST_NO_RUNC").is_some() {
            eprintln!("skipped: RT_TEST_NO_RUNC set and runc not installed");
            return;
        }
        panic!("runc not installed: the differential test needs it (or set RT_TEST_NO_RUNC)");
    }
    let res = json!({
        "memory": {"limit": 67108864, "reservation": 33554432},
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 20},
        "devices": [{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]
    });
    let ours = Bundle::new("diffrt", &["sleep", "100"], res.clone());
    let mut theirs = Bundle::new("diffrunc", &["sleep", "100"], res);
    theirs.runtime = "runc";
    ours.ok(&["run", "-d", &ours.id]);
    let out = theirs.cmd("runc", &["run", "-d", &theirs.id]);
    assert!(
        out.status.success(),
        "runc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = vec![
        ("pids", "pids.max"),
        ("cpuset", "cpuset.cpus"),
        ("cpuset", "cpuset.mems"),
    ];
    if is_v2("memory") {
        files.extend([("memory", "memory.max"), ("memory", "memory.low")]);
    } else {
        files.extend([
            ("memory", "memory.limit_in_bytes"),
            ("memory", "memory.soft_limit_in_bytes"),
        ]);
    }
    if is_v2("cpu") {
        files.extend([("cpu", "cpu.weight"), ("cpu", "cpu.max")]);
    } else {
        files.extend([
            ("cpu", "cpu.shares"),
            ("cpu", "cpu.cfs_quota_us"),
            ("cpu", "cpu.cfs_period_us"),
        ]);
    }
    if !is_v2("devices") {
        files.push(("devices", "devices.list"));
    }
    for (ctrl, file) in files {
        let (a, b) = (ours.file(ctrl, file), theirs.file(ctrl, file));
        let sorted = |s: &str| {
            let mut v: Vec<String> = s.lines().map(str::to_string).collect();
            v.sort();
            v
        };
        assert_eq!(sorted(&a), sorted(&b), "{ctrl}/{file}: rt {a:?} runc {b:?}");
    }
}

/// With a cgroup namespace the container sees its cgroup as the root, and
/// the cgroup mount shows only its subtree, read-only.
#[test]
fn cgroup_namespace_view() {
    require_root!();
    let l = rt::cgroups::Layout::detect();
    // Where pids.max is inside: /sys/fs/cgroup on pure v2, else its v1
    // hierarchy's directory name.
    let inside = match l.v1_mount("pids") {
        Some(m) => format!(
            "/sys/fs/cgroup/{}/pids.max",
            m.file_name().unwrap().to_string_lossy()
        ),
        None => "/sys/fs/cgroup/pids.max".to_string(),
    };
    let script = format!(
        "cat /proc/self/cgroup; cat {inside}; if (echo 5 > {inside}) 2>/dev/null; then echo writable; else echo readonly; fi"
    );
    let b = Bundle::new(
        "cgns",
        &["sh", "-c", &script],
        json!({"pids": {"limit": 17}}),
    );
    let out = b.rt(&["run", &b.id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let (paths, rest): (Vec<&str>, Vec<&str>) = lines.iter().partition(|l| l.contains(':'));
    assert!(!paths.is_empty());
    for p in paths {
        assert!(p.ends_with(":/"), "container sees {p}");
    }
    assert_eq!(rest, vec!["17", "readonly"]);
}
