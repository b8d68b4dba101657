//! Faults: a supervisor killed with SIGKILL (the container runs on, its
//! output waits in the pipe, `rt supervise` re-attaches, `rt delete
//! --force` cleans everything), a "reboot" (record left, processes gone),
//! and the orphans a subreaper must reap.

mod common;
mod supervise_util;

use serde_json::Value;
use supervise_util::{read_log, status, supervisors_of, wait_dead, wait_gone, Sup, WAIT};

fn kill9(pid: i32) {
    assert!(pid > 0);
    // SAFETY: killing a process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_dead(pid), "{pid} did not die");
}

/// The numbers of the "tick N" lines of a log, in order.
fn ticks(s: &Sup, id: &str) -> Vec<u64> {
    let log = s.record_dir(id).join("container.log");
    read_log(&log)
        .iter()
        .filter_map(|r| {
            std::str::from_utf8(&r.text)
                .ok()?
                .strip_prefix("tick ")?
                .parse()
                .ok()
        })
        .collect()
}

fn ticker(s: &mut Sup) {
    s.c.bundle.args(&[
        "/bin/sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.01; done",
    ]);
}

#[test]
fn a_killed_supervisor_leaves_the_container_running_and_can_be_replaced() {
    let Some(mut s) = Sup::new("sv-kill9") else {
        return;
    };
    ticker(&mut s);
    s.run_d(&["--restart", "always"]).expect_ok("run -d");
    let pid = s.c.rt.state_json(s.id())["pid"].as_i64().unwrap();
    let sup = s.supervisor_pid();
    kill9(sup);
    let v = s.inspect();
    assert_eq!(v["state"]["status"], "running", "{v:#}");
    assert_eq!(v["state"]["pid"].as_i64(), Some(pid));
    assert_eq!(status(&v)["supervisorPid"], 0, "{v:#}");
    let list = s.c.rt.list_json();
    assert_eq!(list.json()[0]["supervisor"]["phase"], "unsupervised");
    let before = ticks(&s, s.id()).len();

    s.cmd(&["supervise", s.id()]).expect_ok("supervise");
    let again = s.cmd(&["supervise", s.id()]);
    assert_ne!(again.code, 0, "a second supervisor: {again:#?}");
    assert!(
        again.last_err_line().contains("already supervised"),
        "{again:#?}"
    );
    let v = s.inspect();
    let sup2 = status(&v)["supervisorPid"].as_i64().unwrap() as i32;
    assert!(sup2 > 0 && sup2 != sup, "{v:#}");
    assert_eq!(v["state"]["pid"].as_i64(), Some(pid), "the same container");
    // What the container wrote meanwhile waited in the pipe: no tick is
    // lost or repeated.
    let end = std::time::Instant::now() + WAIT;
    while ticks(&s, s.id()).len() < before + 20 {
        assert!(std::time::Instant::now() < end, "no new ticks logged");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let t = ticks(&s, s.id());
    assert_eq!(
        t,
        (0..t.len() as u64).collect::<Vec<_>>(),
        "ticks lost or repeated"
    );

    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
}

#[test]
fn delete_force_cleans_up_after_a_killed_supervisor() {
    let Some(mut s) = Sup::new("sv-kill9del") else {
        return;
    };
    ticker(&mut s);
    s.run_d(&["--restart", "always"]).expect_ok("run -d");
    kill9(s.supervisor_pid());
    assert_eq!(s.c.status().as_deref(), Some("running"));
    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
}

fn entry<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == id))
        .unwrap_or_else(|| panic!("{id} not listed: {list}"))
}

#[test]
fn after_a_reboot_list_shows_stopped_and_supervise_all_restarts_by_policy() {
    let Some(mut s) = Sup::new("sv-reboot") else {
        return;
    };
    s.c.bundle.probe(&["sleep", "1000"]);
    let (a, b) = (s.id().to_string(), format!("{}-b", s.id()));
    s.run_d_as(&a, &["--restart", "always"]).expect_ok("run a");
    s.run_d_as(&b, &["--restart", "on-failure"])
        .expect_ok("run b");
    // A reboot: every process gone, the records and states left.
    for id in [&a, &b] {
        let v = s.inspect_id(id);
        kill9(status(&v)["supervisorPid"].as_i64().unwrap() as i32);
        kill9(v["state"]["pid"].as_i64().unwrap() as i32);
    }
    let list = s.c.rt.list_json();
    list.expect_ok("list");
    for id in [&a, &b] {
        let e = entry(&list.json(), id).clone();
        assert_eq!(e["status"], "stopped", "{e:#}");
        assert_eq!(e["supervisor"]["phase"], "unsupervised", "{e:#}");
    }
    s.cmd(&["list"]).expect_ok("list table");
    assert_eq!(s.c.rt.state_json(&b)["status"], "stopped");

    let out = s.cmd(&["supervise", "--all"]);
    out.expect_ok("supervise --all");
    assert_eq!(out.stdout, format!("{a}: started\n"), "{out:#?}");
    let list = s.c.rt.list_json().json();
    assert_eq!(entry(&list, &a)["status"], "running");
    assert_eq!(entry(&list, &a)["supervisor"]["phase"], "running");
    assert_eq!(entry(&list, &b)["status"], "stopped");

    for id in [&a, &b] {
        s.cmd(&["delete", "--force", id])
            .expect_ok("delete --force");
        s.assert_all_gone(id);
    }
}

#[test]
fn the_containers_orphans_are_reaped() {
    let Some(mut s) = Sup::new("sv-orphans") else {
        return;
    };
    // Without a pid namespace of its own, a process whose parent exits is
    // inherited by the nearest subreaper: the supervisor.
    s.c.bundle.remove_namespace("pid");
    s.c.bundle.args(&[
        "/bin/sh",
        "-c",
        "sh -c 'sleep 0.2 & echo orphan $!'; exec /probe sleep 1000",
    ]);
    s.run_d(&["--restart", "no"]).expect_ok("run -d");
    let log = s.record_dir(s.id()).join("container.log");
    let end = std::time::Instant::now() + WAIT;
    let orphan: i32 = loop {
        let found = read_log(&log).iter().find_map(|r| {
            std::str::from_utf8(&r.text)
                .ok()?
                .strip_prefix("orphan ")?
                .parse()
                .ok()
        });
        if let Some(p) = found {
            break p;
        }
        assert!(std::time::Instant::now() < end, "no orphan pid logged");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(wait_gone(orphan), "orphan {orphan} not reaped (a zombie?)");
    assert!(!supervisors_of(s.id()).is_empty(), "the supervisor runs on");
    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
}

#[test]
fn sigterm_to_the_supervisor_stops_the_container_for_good() {
    let Some(mut s) = Sup::new("sv-term") else {
        return;
    };
    s.c.bundle.probe(&["signal-wait"]);
    s.run_d(&["--restart", "always"]).expect_ok("run -d");
    let sup = s.supervisor_pid();
    // SAFETY: signalling the supervisor this test started.
    unsafe { libc::kill(sup, libc::SIGTERM) };
    assert!(wait_dead(sup), "the supervisor exits");
    let v = s.inspect();
    assert_eq!(status(&v)["lastExit"]["exitCode"], 15, "{v:#}");
    assert_eq!(status(&v)["lastExit"]["reason"], "stopped", "{v:#}");
    assert_eq!(status(&v)["desired"], "stopped", "{v:#}");
    assert_eq!(v["state"]["status"], "stopped", "{v:#}");
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}
