//! Health probes: run inside the container through `rt exec`'s code,
//! killed at their timeout, and an unhealthy container stopped (its stop
//! signal, SIGKILL after --stop-timeout) and restarted by its policy.

mod common;
mod supervise_util;

use serde_json::Value;
use supervise_util::{count, eventually, processes_running, status, Sup};

const HUNG: &[&str] = &["/probe", "sleep", "999"];

fn health(v: &Value) -> &Value {
    &status(v)["health"]
}

#[test]
fn a_hung_container_is_killed_and_restarted() {
    let Some(mut s) = Sup::new("sv-hung") else {
        return;
    };
    // Ignores SIGTERM (a pid namespace's init without a handler), and its
    // probe never answers.
    s.c.bundle.probe(&["sleep", "1000"]);
    s.run_d(&[
        "--restart",
        "on-failure:1",
        "--restart-delay",
        "50ms",
        "--stop-timeout",
        "100ms",
        "--health-cmd",
        r#"["/probe","sleep","999"]"#,
        "--health-interval",
        "50ms",
        "--health-timeout",
        "100ms",
        "--health-retries",
        "2",
    ])
    .expect_ok("run -d");
    // Killed once, restarted once, killed again and left stopped.
    let v = s.wait_for("the second unhealthy stop", |v| {
        status(v)["phase"] == "stopped"
    });
    let exit = &status(&v)["lastExit"];
    assert_eq!(count(&v), 1, "{v:#}");
    assert_eq!(exit["reason"], "unhealthy", "{v:#}");
    assert_eq!(
        exit["exitCode"], 137,
        "SIGKILL after the stop timeout: {v:#}"
    );
    let h = health(&v);
    assert_eq!(h["status"], "unhealthy", "{v:#}");
    assert_eq!(h["failingStreak"], 2, "{v:#}");
    for p in h["log"].as_array().unwrap() {
        assert_eq!(p["exitCode"], -1, "{v:#}");
        assert!(p["output"].as_str().unwrap().contains("timed out"), "{v:#}");
    }
    assert!(eventually(|| processes_running(s.id(), HUNG).is_empty()));
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn a_hung_probe_is_killed_at_its_timeout_and_counts_as_a_failure() {
    let Some(mut s) = Sup::new("sv-hungprobe") else {
        return;
    };
    s.c.bundle.probe(&["sleep", "1000"]);
    s.run_d(&[
        "--health-cmd",
        r#"["/probe","sleep","999"]"#,
        // Idle between probes most of the time: then no probe may be left.
        "--health-interval",
        "300ms",
        "--health-timeout",
        "100ms",
        "--health-retries",
        "1000",
    ])
    .expect_ok("run -d");
    let v = s.wait_for("three timed-out probes", |v| {
        health(v)["failingStreak"].as_u64().unwrap_or(0) >= 3
    });
    assert_eq!(health(&v)["status"], "starting", "{v:#}");
    for p in health(&v)["log"].as_array().unwrap() {
        assert_eq!(p["exitCode"], -1, "{v:#}");
        assert!(p["output"].as_str().unwrap().contains("timed out"), "{v:#}");
    }
    // Each hung probe was killed: between two probes none is left (a
    // leaked one would stay for 999 s).
    assert!(
        eventually(|| processes_running(s.id(), HUNG).is_empty()),
        "hung probes still running: {:?}",
        processes_running(s.id(), HUNG)
    );
    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
    assert!(eventually(|| processes_running(s.id(), HUNG).is_empty()));
}

#[test]
fn healthy_then_unhealthy_then_restarted_and_healthy_again() {
    let Some(mut s) = Sup::new("sv-health") else {
        return;
    };
    s.c.bundle.probe(&["signal-wait"]);
    // /dev/shm is the container's own tmpfs: a restart starts it empty.
    s.run_d(&[
        "--restart",
        "always",
        "--restart-delay",
        "50ms",
        "--health-cmd",
        "test ! -e /dev/shm/sick",
        "--health-interval",
        "30ms",
        "--health-timeout",
        "5s",
        "--health-retries",
        "1",
    ])
    .expect_ok("run -d");
    let v = s.wait_for("healthy", |v| health(v)["status"] == "healthy");
    assert_eq!(health(&v)["log"][0]["exitCode"], 0, "{v:#}");
    s.cmd(&["exec", s.id(), "touch", "/dev/shm/sick"])
        .expect_ok("exec touch");
    let v = s.wait_for("a restart, healthy again", |v| {
        count(v) == 1 && health(v)["status"] == "healthy"
    });
    let exit = &status(&v)["lastExit"];
    assert_eq!(exit["reason"], "unhealthy", "{v:#}");
    // signal-wait exits with the number of the signal: SIGTERM came first.
    assert_eq!(exit["exitCode"], 15, "{v:#}");
    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
}

#[test]
fn no_probe_runs_while_the_container_is_paused() {
    let Some(mut s) = Sup::new("sv-paused") else {
        return;
    };
    s.c.bundle.probe(&["sleep", "1000"]);
    s.run_d(&[
        "--health-cmd",
        r#"["/probe","exit","0"]"#,
        "--health-interval",
        "20ms",
        "--health-retries",
        "1",
    ])
    .expect_ok("run -d");
    s.wait_for("healthy", |v| health(v)["status"] == "healthy");
    s.cmd(&["pause", s.id()]).expect_ok("pause");
    // Fifteen intervals: an exec into the frozen container would fail
    // (and make it unhealthy) on each of them.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let v = s.inspect();
    assert_eq!(health(&v)["status"], "healthy", "{v:#}");
    for p in health(&v)["log"].as_array().unwrap() {
        assert_eq!(p["exitCode"], 0, "{v:#}");
    }
    s.cmd(&["resume", s.id()]).expect_ok("resume");
    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
}

#[test]
fn a_probe_killed_while_it_is_being_started_leaves_nothing() {
    let Some(mut s) = Sup::new("sv-probestart") else {
        return;
    };
    // 5 ms: most probes time out while `exec` is still setting them up,
    // so the worker starting them is killed with what it started.
    s.c.bundle.probe(&["sleep", "1000"]);
    s.run_d(&[
        "--health-cmd",
        r#"["/probe","sleep","999"]"#,
        "--health-interval",
        "10ms",
        "--health-timeout",
        "5ms",
        "--health-retries",
        "1000",
    ])
    .expect_ok("run -d");
    s.wait_for("many failed probes", |v| {
        health(v)["failingStreak"].as_u64().unwrap_or(0) >= 30
    });
    assert!(
        eventually(|| processes_running(s.id(), HUNG).is_empty()),
        "probes left running: {:?}",
        processes_running(s.id(), HUNG)
    );
    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
}
