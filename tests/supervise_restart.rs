//! Restart policies of `rt run -d`: on-failure:N with growing delays,
//! always, unless-stopped with `rt stop` and `rt start`, the stop signal
//! and its SIGKILL escalation, OOM kills, and bad flags. Delays are checked
//! through the record (what the supervisor waited), never by the clock.

mod common;
mod supervise_util;

use serde_json::{json, Value};
use supervise_util::{count, status, Sup};

fn phase(v: &Value) -> &str {
    status(v)["phase"].as_str().unwrap_or("")
}

#[test]
fn on_failure_restarts_with_growing_delays_then_stops() {
    let Some(mut s) = Sup::new("sv-onfail") else {
        return;
    };
    s.c.bundle.probe(&["exit", "1"]);
    s.run_d(&[
        "--restart",
        "on-failure:3",
        "--restart-delay",
        "50ms",
        "--restart-max-delay",
        "1s",
    ])
    .expect_ok("run -d");
    // The record says stopped just before its supervisor exits.
    let v = s.wait_for("the policy to give up", |v| {
        phase(v) == "stopped" && status(v)["supervisorPid"] == 0
    });
    let st = status(&v);
    assert_eq!(count(&v), 3, "{v:#}");
    assert_eq!(st["restartDelaysMs"], json!([50, 100, 200]), "{v:#}");
    assert_eq!(st["lastExit"]["exitCode"], 1, "{v:#}");
    assert_eq!(st["lastExit"]["reason"], "exited", "{v:#}");
    assert_eq!(st["supervisorPid"], 0, "the supervisor is gone: {v:#}");
    assert_eq!(v["state"]["status"], "stopped");
    // `state` stays runtime-spec state; `list` shows the record.
    let plain = s.c.rt.state_json(s.id());
    let mut keys: Vec<&str> = plain
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bundle",
            "created",
            "id",
            "ociVersion",
            "owner",
            "pid",
            "rootfs",
            "status"
        ]
    );
    let list = s.c.rt.list_json();
    list.expect_ok("list");
    let entry = list.json()[0].clone();
    assert_eq!(entry["status"], "stopped", "{entry:#}");
    assert_eq!(entry["supervisor"]["restartCount"], 3, "{entry:#}");
    assert_eq!(entry["supervisor"]["exitCode"], 1, "{entry:#}");
    let table = s.cmd(&["list"]);
    assert!(
        table
            .stdout
            .contains("on-failure:3 stopped restarts=3 exit=1"),
        "{table:#?}"
    );
    let verbose: Value = serde_json::from_str(&s.cmd(&["state", "--verbose", s.id()]).stdout)
        .expect("state --verbose JSON");
    assert_eq!(verbose, s.inspect(), "state --verbose is inspect");
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn always_restarts_after_a_clean_exit() {
    let Some(mut s) = Sup::new("sv-always") else {
        return;
    };
    s.c.bundle.probe(&["exit", "0"]);
    s.run_d(&[
        "--restart",
        "always",
        "--restart-delay",
        "50ms",
        "--restart-max-delay",
        "100ms",
    ])
    .expect_ok("run -d");
    let v = s.wait_for("three restarts", |v| count(v) >= 3);
    assert_eq!(status(&v)["lastExit"]["exitCode"], 0, "{v:#}");
    let delays = status(&v)["restartDelaysMs"].as_array().unwrap().clone();
    assert_eq!(
        &delays[..3],
        &[json!(50), json!(100), json!(100)],
        "capped: {v:#}"
    );
    // `rt stop` ends the loop: when it returns the supervisor has exited,
    // so nothing can start the container again.
    s.cmd(&["stop", s.id()]).expect_ok("stop");
    let v = s.inspect();
    assert_eq!(phase(&v), "stopped", "{v:#}");
    assert_eq!(status(&v)["desired"], "stopped", "{v:#}");
    assert!(supervise_util::supervisors_of(s.id()).is_empty());
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn no_policy_records_the_exit_and_keeps_the_container() {
    let Some(mut s) = Sup::new("sv-no") else {
        return;
    };
    s.c.bundle.probe(&["exit", "7"]);
    s.run_d(&["--restart", "no"]).expect_ok("run -d");
    let v = s.wait_for("the exit", |v| phase(v) == "stopped");
    assert_eq!(count(&v), 0);
    assert_eq!(status(&v)["lastExit"]["exitCode"], 7, "{v:#}");
    assert_eq!(s.c.status().as_deref(), Some("stopped"));
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn unless_stopped_honours_stop_and_start() {
    let Some(mut s) = Sup::new("sv-unless") else {
        return;
    };
    // The image's StopSignal: `rt stop` must send it, not SIGTERM. The
    // probe exits with the number of the signal it got.
    s.c.bundle.probe(&["signal-wait"]);
    s.c.bundle.set(
        "/annotations",
        json!({"org.opencontainers.image.stopSignal": "SIGUSR1"}),
    );
    s.run_d(&["--restart", "unless-stopped", "--restart-delay", "50ms"])
        .expect_ok("run -d");
    let first = s.c.rt.state_json(s.id())["pid"].as_i64().unwrap();
    // A kill that is not `rt stop` is a failure like any other: restarted.
    s.cmd(&["kill", s.id(), "TERM"]).expect_ok("kill");
    let v = s.wait_for("a restart after kill", |v| {
        count(v) == 1 && phase(v) == "running"
    });
    assert_eq!(status(&v)["lastExit"]["exitCode"], 15, "{v:#}");
    s.cmd(&["stop", s.id()]).expect_ok("stop");
    let v = s.inspect();
    assert_eq!(
        status(&v)["lastExit"]["exitCode"],
        10,
        "SIGUSR1 sent: {v:#}"
    );
    assert_eq!(status(&v)["lastExit"]["reason"], "stopped", "{v:#}");
    assert_eq!(phase(&v), "stopped", "{v:#}");
    assert_eq!(v["state"]["status"], "stopped");
    assert!(supervise_util::supervisors_of(s.id()).is_empty());
    // `rt start`: a new supervisor starts it again, counting afresh.
    s.cmd(&["start", s.id()]).expect_ok("start");
    let v = s.inspect();
    assert_eq!(v["state"]["status"], "running", "{v:#}");
    assert_ne!(v["state"]["pid"].as_i64().unwrap(), first);
    assert_eq!(phase(&v), "running");
    assert_eq!(count(&v), 0);
    assert_eq!(status(&v)["desired"], "running");
    // Running: start again is refused, like runc's.
    let again = s.cmd(&["start", s.id()]);
    assert_ne!(again.code, 0, "{again:#?}");
    s.cmd(&["stop", s.id()]).expect_ok("stop");
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn stop_escalates_to_sigkill_after_the_timeout() {
    let Some(mut s) = Sup::new("sv-stopkill") else {
        return;
    };
    // A pid namespace's init without a handler never sees SIGTERM.
    s.c.bundle.probe(&["sleep", "1000"]);
    s.run_d(&["--restart", "always", "--stop-timeout", "100ms"])
        .expect_ok("run -d");
    s.cmd(&["stop", s.id()]).expect_ok("stop");
    let v = s.inspect();
    let exit = &status(&v)["lastExit"];
    assert_eq!(exit["exitCode"], 137, "{v:#}");
    assert_eq!(exit["signal"], "SIGKILL", "{v:#}");
    assert_eq!(v["state"]["status"], "stopped");
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn stop_works_on_a_plain_container_too() {
    let mut c = common::Case::new("sv-plainstop");
    if !c.is_rt() {
        return;
    }
    c.bundle.probe(&["signal-wait"]);
    c.rt.run_with(&c.bundle, &c.id, &["--detach"])
        .expect_ok("run --detach");
    c.rt.cmd(&["stop", "--time", "5", &c.id]).expect_ok("stop");
    assert_eq!(c.status().as_deref(), Some("stopped"));
    c.rt.delete(&c.id).expect_ok("delete");
    c.assert_nothing_left();
}

#[test]
fn an_oom_kill_is_recorded() {
    let Some(mut s) = Sup::new("sv-oom") else {
        return;
    };
    s.c.bundle.probe(&["alloc", "256"]);
    s.c.bundle
        .set("/linux/resources/memory/limit", json!(32 << 20));
    s.run_d(&["--restart", "no"]).expect_ok("run -d");
    let v = s.wait_for("the OOM kill", |v| phase(v) == "stopped");
    let exit = &status(&v)["lastExit"];
    assert_eq!(exit["oomKilled"], true, "{v:#}");
    assert_eq!(exit["reason"], "oom-killed", "{v:#}");
    assert_eq!(exit["exitCode"], 137, "{v:#}");
    s.cmd(&["delete", s.id()]).expect_ok("delete");
    s.assert_all_gone(s.id());
}

#[test]
fn bad_flags_and_a_failed_first_start_leave_nothing() {
    let Some(mut s) = Sup::new("sv-bad") else {
        return;
    };
    for extra in [
        &["--restart", "sometimes"][..],
        &["--restart", "on-failure:x"],
        &["--health-interval", "1s"],
        &["--health-cmd", "true", "--health-retries", "0"],
        &["--restart-delay", "2s", "--restart-max-delay", "1s"],
        &["--log-max-files", "0"],
        &["--log-path", "/nonexistent/dir/log"],
        &["--restart", "always", "--no-subreaper"],
    ] {
        let out = s.run_d(extra);
        s.c.assert_failed_cleanly(&out);
        assert!(!s.record_dir(s.id()).exists(), "{extra:?}");
    }
    // Without -d there is nothing to supervise.
    let out = s.cmd(&["run", "--restart", "always", "--bundle", "x", s.id()]);
    s.c.assert_failed_cleanly(&out);
    // The container cannot start: the cause is the last line, nothing stays.
    s.c.bundle.args(&["/no/such/program"]);
    let out = s.run_d(&["--restart", "always"]);
    s.c.assert_failed_cleanly(&out);
    assert!(out.last_err_line().contains("/no/such/program"), "{out:#?}");
    s.assert_all_gone(s.id());
}

#[test]
fn a_container_that_reaches_rt_gets_a_sealed_supervisor() {
    let Some(mut s) = Sup::new("sv-sealed") else {
        return;
    };
    // CAP_SYS_PTRACE without a user namespace gets past non-dumpable:
    // create re-executes rt from a sealed copy, so the supervisor must
    // run from one before any worker creates.
    let mut caps: Vec<String> =
        serde_json::from_value(s.c.bundle.get("/process/capabilities/bounding")).unwrap();
    caps.push("CAP_SYS_PTRACE".into());
    let refs: Vec<&str> = caps.iter().map(String::as_str).collect();
    s.c.bundle.all_caps(&refs);
    s.c.bundle.probe(&["sleep", "1000"]);
    s.run_d(&[
        "--restart",
        "always",
        "--restart-delay",
        "50ms",
        "--health-cmd",
        r#"["/probe","exit","0"]"#,
        "--health-interval",
        "20ms",
    ])
    .expect_ok("run -d");
    s.wait_for("healthy", |v| status(v)["health"]["status"] == "healthy");
    let sup = s.supervisor_pid();
    let exe = std::fs::read_link(format!("/proc/{sup}/exe")).unwrap();
    let rt = std::fs::canonicalize(&s.c.rt.bin).unwrap();
    assert_ne!(exe, rt, "the supervisor runs from a sealed copy");
    s.cmd(&["kill", s.id(), "KILL"]).expect_ok("kill");
    let v = s.wait_for("a restart", |v| {
        count(v) == 1 && status(v)["health"]["status"] == "healthy"
    });
    assert_eq!(v["state"]["status"], "running", "{v:#}");
    assert_eq!(
        supervise_util::supervisors_of(s.id()),
        [sup],
        "one supervisor"
    );
    s.cmd(&["delete", "--force", s.id()])
        .expect_ok("delete --force");
    s.assert_all_gone(s.id());
}
