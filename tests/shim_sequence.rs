//! The command sequence containerd's runc shim (containerd 1.6,
//! io.containerd.runc.v2 through go-runc) sends, replayed on runc and on rt:
//! global `--root R --log B/log.json --log-format json`, then
//! `create --bundle B --pid-file B/init.pid ID`, `start`, `state`,
//! `kill ID 15`, and once the init has exited `kill --all ID 9` (the shim
//! when the container shares a pid namespace; containerd's CRI through
//! `WithProcessKill` for every container), `delete ID` and the shim's final
//! `delete --force ID`. Captured from containerd 1.6.20 + its shim with a
//! logging BinaryName (`ctr run`) and with `strace -f -e trace=execve` of
//! the CRI path (tests/cri/): per pod `create`, `start` (sandbox and each
//! container), `exec --process F --detach --pid-file P`, StopContainer's
//! `kill ID 15` then `kill ID 9`, after each exit `kill --all ID 9`,
//! `delete ID`, `delete --force ID`. Exit codes must match runc's, and
//! where containerd parses the message (`container not running`, `does not
//! exist`), so must the words.

mod common;

use std::path::Path;
use std::time::Duration;

use common::runtime::runc_available;
use common::{Case, Kind, Out};
use serde_json::json;

const T: Duration = Duration::from_secs(10);

/// `rt --root R --log B/log.json --log-format json args...` as go-runc
/// builds it.
fn shim(c: &Case, args: &[&str]) -> Out {
    let log = c.bundle.dir.join("log.json");
    let mut a = vec!["--log", log.to_str().unwrap(), "--log-format", "json"];
    a.extend_from_slice(args);
    c.rt.cmd(&a)
}

fn shim_create(c: &Case) -> Out {
    c.bundle.save();
    let bundle = c.bundle.dir.to_str().unwrap().to_string();
    let pid_file = c.bundle.dir.join("init.pid");
    shim(
        c,
        &[
            "create",
            "--bundle",
            &bundle,
            "--pid-file",
            pid_file.to_str().unwrap(),
            &c.id,
        ],
    )
}

/// What one step produced that containerd looks at: the exit code and
/// whether the output carries the phrases containerd's checkKillError
/// matches.
#[derive(Debug, PartialEq, Eq)]
struct Step {
    what: &'static str,
    code: i32,
    not_running: bool,
    not_exist: bool,
}

fn step(what: &'static str, o: &Out) -> Step {
    let text = format!("{}{}", o.stdout, o.stderr);
    Step {
        what,
        code: o.code,
        not_running: text.contains("container not running"),
        not_exist: text.contains("does not exist"),
    }
}

fn pair(name: &str) -> Option<(Case, Case)> {
    if !runc_available() {
        eprintln!("note: runc not installed, shim sequence not compared");
        return None;
    }
    Some((
        Case::with_kind(&format!("{name}-runc"), Kind::Runc),
        Case::with_kind(&format!("{name}-rt"), Kind::Rt),
    ))
}

/// The whole lifecycle of a container with its own pid namespace, stopped
/// by SIGTERM as StopContainer does.
fn own_pid_ns(c: &mut Case) -> Vec<Step> {
    // Traps SIGTERM: the init of a pid namespace ignores default signals.
    c.bundle.probe(&["signal-wait"]);
    let created = shim_create(c);
    let mut steps = vec![step("create", &created)];
    steps.push(step("start", &shim(c, &["start", &c.id])));
    let end = std::time::Instant::now() + T;
    while !created.reread_stdout().contains("waiting") {
        assert!(std::time::Instant::now() < end, "probe never ready");
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = shim(c, &["state", &c.id]);
    assert!(st.stdout.contains("\"running\""), "{st:#?}");
    steps.push(step("state", &st));
    steps.push(step("kill 15", &shim(c, &["kill", &c.id, "15"])));
    assert!(c.rt.wait_status(&c.id, "stopped", T), "never stopped");
    steps.push(step(
        "kill --all 9",
        &shim(c, &["kill", "--all", &c.id, "9"]),
    ));
    steps.push(step("kill 9", &shim(c, &["kill", &c.id, "9"])));
    steps.push(step("kill 15", &shim(c, &["kill", &c.id, "15"])));
    steps.push(step("delete", &shim(c, &["delete", &c.id])));
    steps.push(step(
        "delete --force",
        &shim(c, &["delete", "--force", &c.id]),
    ));
    steps.push(step(
        "kill --all 9",
        &shim(c, &["kill", "--all", &c.id, "9"]),
    ));
    c.assert_nothing_left();
    steps
}

#[test]
fn stopped_container_takes_kill_all_as_runc_does() {
    let Some((mut runc, mut rt)) = pair("shim-seq") else {
        return;
    };
    let want = own_pid_ns(&mut runc);
    let got = own_pid_ns(&mut rt);
    let expect = |what, code, not_running, not_exist| Step {
        what,
        code,
        not_running,
        not_exist,
    };
    // Written out so that the test also fails if runc changes under us.
    assert_eq!(
        want,
        vec![
            expect("create", 0, false, false),
            expect("start", 0, false, false),
            expect("state", 0, false, false),
            expect("kill 15", 0, false, false),
            expect("kill --all 9", 0, false, false),
            expect("kill 9", 1, true, false),
            expect("kill 15", 1, true, false),
            expect("delete", 0, false, false),
            // Also what the shim's cleanup relies on: gone is fine.
            expect("delete --force", 0, false, false),
            expect("kill --all 9", 1, false, true),
        ]
    );
    assert_eq!(got, want, "rt differs from runc");
}

/// A container joining another's pid namespace (a pod with
/// shareProcessNamespace): when its init exits, a background child stays in
/// its cgroup, and the shim's `kill --all ID 9` must kill it so that the
/// cgroup empties and `delete` succeeds.
fn shared_pid_ns(holder: &mut Case, c: &mut Case) -> (Vec<Step>, Vec<i32>) {
    holder.bundle.probe(&["sleep", "60"]);
    holder.create().expect_ok("create holder");
    let pid = holder.rt.state_json(&holder.id)["pid"].as_i64().unwrap();
    let ns = format!("/proc/{pid}/ns/pid");
    c.bundle.namespace("pid", Some(&ns));
    c.bundle.args(&[
        "/bin/sh",
        "-c",
        "/bin/sleep 60 </dev/null >/dev/null 2>&1 & exit 0",
    ]);
    let cg = format!("/shim-seq-{}", c.id);
    c.bundle.set("/linux/cgroupsPath", json!(cg));
    let mut steps = vec![step("create", &shim_create(c))];
    steps.push(step("start", &shim(c, &["start", &c.id])));
    assert!(c.rt.wait_status(&c.id, "stopped", T), "never stopped");
    let left = cgroup_procs(&cg);
    steps.push(step(
        "kill --all 9",
        &shim(c, &["kill", "--all", &c.id, "9"]),
    ));
    let end = std::time::Instant::now() + T;
    while !cgroup_procs(&cg).is_empty() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    let after = cgroup_procs(&cg);
    assert!(after.is_empty(), "kill --all left {after:?} in {cg}");
    steps.push(step("delete", &shim(c, &["delete", &c.id])));
    steps.push(step(
        "delete --force",
        &shim(c, &["delete", "--force", &c.id]),
    ));
    c.assert_nothing_left();
    holder
        .rt
        .delete_force(&holder.id)
        .expect_ok("delete holder");
    holder.assert_nothing_left();
    (steps, left)
}

/// Pids in the container's memory cgroup (v1 here; unified on pure v2).
fn cgroup_procs(cg: &str) -> Vec<i32> {
    let rel = cg.trim_start_matches('/');
    let dirs = [
        Path::new("/sys/fs/cgroup/memory").join(rel),
        Path::new("/sys/fs/cgroup").join(rel),
    ];
    for d in dirs {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            return s.lines().filter_map(|l| l.trim().parse().ok()).collect();
        }
    }
    Vec::new()
}

#[test]
fn kill_all_clears_a_shared_pid_namespace_container() {
    let Some((mut runc, mut rt)) = pair("shim-pidns") else {
        return;
    };
    let mut runc_holder = Case::with_kind("shim-pidns-hold-runc", Kind::Runc);
    let mut rt_holder = Case::with_kind("shim-pidns-hold-rt", Kind::Rt);
    let (want, runc_left) = shared_pid_ns(&mut runc_holder, &mut runc);
    let (got, rt_left) = shared_pid_ns(&mut rt_holder, &mut rt);
    assert_eq!(runc_left.len(), 1, "runc: the sleep is left behind");
    assert_eq!(rt_left.len(), 1, "rt: the sleep is left behind");
    assert_eq!(got, want, "rt differs from runc");
    assert!(want.iter().take(4).all(|s| s.code == 0), "{want:?}");
}

/// `kill --all 9` on a paused container kills it (the cgroup is thawed so
/// that frozen tasks act on the signal), and the container can be deleted.
#[test]
fn kill_all_reaches_a_paused_container() {
    let Some((mut runc, mut rt)) = pair("shim-paused") else {
        return;
    };
    for c in [&mut runc, &mut rt] {
        c.bundle.probe(&["sleep", "60"]);
        shim_create(c).expect_ok("create");
        shim(c, &["start", &c.id]).expect_ok("start");
        shim(c, &["pause", &c.id]).expect_ok("pause");
        assert_eq!(c.status().as_deref(), Some("paused"));
        shim(c, &["kill", "--all", &c.id, "9"]).expect_ok("kill --all");
        assert!(
            c.rt.wait_status(&c.id, "stopped", T),
            "{} never stopped",
            c.id
        );
        shim(c, &["delete", &c.id]).expect_ok("delete");
        c.assert_nothing_left();
    }
}
