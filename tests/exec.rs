//! `exec` into a running container: it joins the container's namespaces
//! and cgroup, takes the container's process as template, and reports
//! exit codes and errors like `run` does.

mod common;

use common::Case;
use serde_json::json;

fn running(name: &str) -> Case {
    let mut c = Case::new(name);
    c.bundle.probe(&["sleep", "30"]);
    c.bundle.hostname("exec-host");
    c.rt.run_with(&c.bundle, &c.id, &["--detach"])
        .expect_ok("run --detach");
    c
}

#[test]
fn exec_joins_namespaces_and_returns_exit_code() {
    let c = running("exec-ns");
    let init = c.rt.state_json(&c.id)["pid"].as_i64().unwrap();
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "all"]);
    out.expect_ok("exec");
    let v = out.json();
    assert_eq!(v["hostname"]["hostname"], "exec-host", "{v}");
    assert_ne!(v["pid"]["pid"], 1, "exec'd process is not the init: {v}");
    for ns in ["pid", "mnt", "net", "ipc", "uts"] {
        let init_ns = std::fs::metadata(format!("/proc/{init}/ns/{ns}"))
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .unwrap();
        assert_eq!(v["ns"][ns], json!(init_ns), "{ns} namespace differs");
    }
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "exit", "7"]);
    assert_eq!(out.code, 7, "{out:#?}");
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

/// The exec'd process places itself (CLONE_INTO_CGROUP and v1 `tasks`)
/// and only then enters the container's cgroup namespace: seen from the
/// host, it is in the init's cgroup in every hierarchy and namespace.
#[test]
fn exec_lands_in_the_init_cgroups() {
    let mut c = Case::new("exec-cg");
    c.bundle.probe(&["sleep", "30"]).namespace("cgroup", None);
    c.rt.run_with(&c.bundle, &c.id, &["--detach"])
        .expect_ok("run --detach");
    let init = c.rt.state_json(&c.id)["pid"].as_i64().unwrap();
    let pid_file = c.dir.join("exec.pid");
    c.rt.cmd(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &c.id,
        "/probe",
        "sleep",
        "30",
    ])
    .expect_ok("exec --detach");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let cgroups = |p: &str| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    let (theirs, ours) = (cgroups(&init.to_string()), cgroups(pid.trim()));
    assert_eq!(ours, theirs, "exec'd process and init cgroups differ");
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/cgroup")).unwrap();
    assert_eq!(ns(pid.trim()), ns(&init.to_string()), "cgroup namespace");
    assert!(
        theirs.contains(&c.id),
        "the init is in its own cgroup: {theirs}"
    );
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

#[test]
fn exec_user_env_cwd_flags() {
    let c = running("exec-flags");
    let out = c.rt.cmd(&[
        "exec",
        "--user",
        "1000:1001",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        &c.id,
        "/probe",
        "all",
    ]);
    out.expect_ok("exec");
    let v = out.json();
    assert_eq!(v["ids"]["uid"], 1000, "{v}");
    assert_eq!(v["ids"]["gid"], 1001, "{v}");
    assert_eq!(v["cwd"]["cwd"], "/tmp", "{v}");
    assert!(
        v["env"]["env"]
            .as_array()
            .unwrap()
            .contains(&json!("FOO=bar")),
        "{v}"
    );
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

#[test]
fn exec_errors_are_clear() {
    let c = running("exec-bad");
    let out = c.rt.cmd(&["exec", &c.id, "/no/such/binary"]);
    assert_ne!(out.code, 0, "{out:#?}");
    if c.is_rt() {
        assert!(
            out.last_err_line().starts_with("rt: ")
                && out.last_err_line().contains("/no/such/binary"),
            "{out:#?}"
        );
    }
    c.rt.kill(&c.id, "KILL").expect_ok("kill");
    assert!(c
        .rt
        .wait_status(&c.id, "stopped", std::time::Duration::from_secs(10)));
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "pid"]);
    assert_ne!(
        out.code, 0,
        "exec into a stopped container must fail: {out:#?}"
    );
    c.rt.delete(&c.id).expect_ok("delete");
    c.assert_nothing_left();
}

/// runc's --ignore-paused: the new process waits, frozen, until `resume`,
/// and the exec still waiting for it must not lock `resume` out (neither
/// rt exec nor its children may hold the container's lock meanwhile).
#[test]
fn exec_into_a_paused_container_waits_for_resume() {
    let c = running("exec-paused");
    c.rt.cmd(&["pause", &c.id]).expect_ok("pause");
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "exit", "0"]);
    assert_ne!(
        out.code, 0,
        "exec into a paused container without --ignore-paused"
    );
    assert!(out.last_err_line().contains("paused"), "{out:#?}");
    let exec =
        c.rt.spawn(&["exec", "--ignore-paused", &c.id, "/probe", "exit", "4"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(c.rt.status(&c.id).as_deref(), Some("paused"));
    c.rt.cmd(&["resume", &c.id])
        .expect_ok("resume while an exec waits for it");
    let out = exec.wait(std::time::Duration::from_secs(10));
    assert_eq!(out.code, 4, "{out:#?}");
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}
