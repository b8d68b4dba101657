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
