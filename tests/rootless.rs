//! Rootless mode: rt run by an unprivileged user (nobody) on a bundle from
//! `rt spec --rootless`. The root test process drops to that user for every
//! rt invocation (a setpriv wrapper in place of the binary); the test's
//! directory, bundle and state root belong to the user, and the rootfs is
//! owned by it so that the mapped root inside can use it.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::bundle::MARKER_VAR;
use common::{Case, Kind};
use serde_json::{json, Value};

const UID: u32 = 65534;
const GID: u32 = 65534;

fn chown_tree(p: &Path) {
    let st = Command::new("chown")
        .args(["-R", &format!("{UID}:{GID}")])
        .arg(p)
        .status()
        .expect("run chown");
    assert!(st.success(), "chown -R {}", p.display());
}

/// The setpriv line that runs a command as the unprivileged user.
fn as_user() -> String {
    format!("setpriv --reuid {UID} --regid {GID} --clear-groups --")
}

/// A case whose rt runs as nobody, with a bundle written by `rt spec
/// --rootless` (run as nobody, so the maps name its ids) and the probe.
fn rootless_case(name: &str) -> Case {
    let mut c = Case::with_kind(name, Kind::Rt);
    let wrapper = c.dir.join("rt-as-user");
    let script = format!(
        "#!/bin/sh\nexec {} {} \"$@\"\n",
        as_user(),
        c.rt.bin.display()
    );
    fs::write(&wrapper, script).expect("write wrapper");
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).expect("chmod wrapper");
    c.rt.bin = wrapper;
    chown_tree(&c.dir);

    let dir = c.bundle.dir.to_string_lossy().into_owned();
    c.rt.cmd(&["spec", "--rootless", "--bundle", &dir])
        .expect_ok("spec --rootless");
    let text = fs::read_to_string(c.bundle.config_path()).expect("read generated config");
    c.bundle.config = serde_json::from_str(&text).expect("generated config is JSON");
    assert_eq!(c.bundle.get("/linux/uidMappings/0/hostID"), json!(UID));
    c.bundle.set("/process/terminal", json!(false));
    c.bundle.add_env(&format!("{MARKER_VAR}={}", c.id));
    c.bundle.probe(&["all"]);
    c
}

#[test]
fn spec_rootless_bundle_runs_unprivileged() {
    let mut c = rootless_case("rootless-run");
    let ids = c.probe(&["ids"]);
    assert_eq!(ids["uid"], 0, "{ids}");
    assert_eq!(ids["euid"], 0, "{ids}");
    let map = c.probe(&["read", "/proc/self/uid_map"]);
    let fields: Vec<String> = map["content"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(fields, ["0", &UID.to_string(), "1"], "{map}");

    let ns = c.probe(&["ns"]);
    let host_user = fs::metadata("/proc/self/ns/user").unwrap().ino();
    assert!(ns["user"].as_u64().is_some(), "{ns}");
    assert_ne!(ns["user"].as_u64(), Some(host_user), "{ns}");
    let host_net = fs::metadata("/proc/self/ns/net").unwrap().ino();
    assert_eq!(ns["net"].as_u64(), Some(host_net), "no network ns: {ns}");

    c.bundle.set("/hostname", json!("rootless-host"));
    let h = c.probe(&["hostname"]);
    assert_eq!(h["hostname"], "rootless-host", "{h}");

    c.bundle.probe(&["exit", "7"]);
    let out = c.run();
    assert_eq!(out.code, 7, "{out:#?}");
    c.assert_nothing_left();
}

#[test]
fn lifecycle_and_exec_unprivileged() {
    let mut c = rootless_case("rootless-life");
    c.bundle.probe(&["sleep", "60"]);
    c.create().expect_ok("create");
    assert_eq!(c.status().as_deref(), Some("created"));
    let st = c.rt.state_json(&c.id);
    let pid = st["pid"].as_i64().expect("pid") as i32;
    let owner = fs::metadata(format!("/proc/{pid}")).expect("init").uid();
    assert_eq!(owner, UID, "the init belongs to the user");
    let rec: Value = serde_json::from_str(
        &fs::read_to_string(c.rt.root.join(&c.id).join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["cgroupPath"], Value::Null, "no cgroup: {rec}");

    c.start().expect_ok("start");
    assert_eq!(c.status().as_deref(), Some("running"));

    let out = c.rt.cmd(&["exec", &c.id, "/probe", "ids"]);
    out.expect_ok("exec");
    assert_eq!(out.json()["uid"], 0, "{out:#?}");
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "exit", "3"]);
    assert_eq!(out.code, 3, "{out:#?}");

    let out = c.rt.cmd(&["exec", "-d", &c.id, "/probe", "sleep", "60"]);
    out.expect_ok("exec -d");
    let ps = c.rt.cmd(&["ps", "--format", "json", &c.id]);
    ps.expect_ok("ps");
    let pids: Vec<i64> = serde_json::from_str(&ps.stdout).expect("ps json");
    assert_eq!(pids.len(), 2, "init and the exec'd sleep: {ps:#?}");
    assert!(pids.contains(&i64::from(pid)), "{ps:#?}");

    c.rt.cmd(&["kill", "--all", &c.id, "KILL"])
        .expect_ok("kill --all");
    assert!(
        c.rt.wait_status(&c.id, "stopped", Duration::from_secs(10)),
        "{:?}",
        c.status()
    );
    c.rt.delete(&c.id).expect_ok("delete");
    c.assert_nothing_left();

    // kill (not --all) and delete --force of a running one.
    c.create().expect_ok("create again");
    c.start().expect_ok("start again");
    c.rt.kill(&c.id, "KILL").expect_ok("kill");
    assert!(c.rt.wait_status(&c.id, "stopped", Duration::from_secs(10)));
    c.rt.delete(&c.id).expect_ok("delete again");
    c.create().expect_ok("create a third time");
    c.rt.delete_force(&c.id)
        .expect_ok("delete --force a created one");
    c.assert_nothing_left();
}

#[test]
fn resource_limits_without_a_cgroup_fail_clearly() {
    let mut c = rootless_case("rootless-limits");
    c.bundle
        .set("/linux/resources", json!({"memory": {"limit": 67108864}}));
    let out = c.run();
    c.assert_failed_cleanly(&out);
    let last = out.last_err_line();
    assert!(
        last.contains("rootless") && last.contains("linux.resources"),
        "{out:#?}"
    );
    // Commands that need a cgroup say why on a container without one.
    c.bundle.remove("/linux/resources");
    c.bundle.probe(&["sleep", "60"]);
    c.create().expect_ok("create");
    c.start().expect_ok("start");
    let out = c.rt.cmd(&["pause", &c.id]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.last_err_line().contains("no cgroup"), "{out:#?}");
    c.rt.delete_force(&c.id).expect_ok("delete");
    c.assert_nothing_left();
}

#[test]
fn rootless_needs_a_user_namespace() {
    let mut c = rootless_case("rootless-nouserns");
    c.bundle.remove_namespace("user");
    c.bundle.remove("/linux/uidMappings");
    c.bundle.remove("/linux/gidMappings");
    let out = c.run();
    c.assert_failed_cleanly(&out);
    assert!(out.last_err_line().contains("user namespace"), "{out:#?}");
}

#[test]
fn wider_id_maps_need_subordinate_ids() {
    let mut c = rootless_case("rootless-subids");
    let listed = fs::read_to_string("/etc/subuid").unwrap_or_default();
    if listed.lines().any(|l| l.starts_with("nobody:")) {
        eprintln!("note: nobody has subordinate uids here: not checked");
        return;
    }
    c.bundle.set(
        "/linux/uidMappings",
        json!([{"containerID": 0, "hostID": UID, "size": 1},
               {"containerID": 1, "hostID": 300000, "size": 1000}]),
    );
    let out = c.run();
    c.assert_failed_cleanly(&out);
    let last = out.last_err_line();
    assert!(last.contains("newuidmap"), "{out:#?}");
}

#[test]
fn default_state_root_is_xdg_runtime_dir() {
    let c = rootless_case("rootless-xdg");
    c.bundle.save();
    let xdg = c.dir.join("xdg");
    fs::create_dir(&xdg).unwrap();
    chown_tree(&xdg);
    let rt = env!("CARGO_BIN_EXE_rt");
    let dir = c.bundle.dir.to_string_lossy().into_owned();
    let run = |xdg: Option<&Path>, args: &[&str]| {
        let mut cmd = Command::new("sh");
        let line = format!("{} {rt} \"$@\"", as_user());
        cmd.args(["-c", &line, "sh"]).args(args).current_dir(&c.dir);
        cmd.env_remove("XDG_RUNTIME_DIR");
        if let Some(x) = xdg {
            cmd.env("XDG_RUNTIME_DIR", x);
        }
        // Files, not pipes: a created init keeps rt's stdout and stderr.
        let err_path = c.dir.join("xdg.stderr");
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        cmd.stderr(fs::File::create(&err_path).expect("stderr file"));
        let st = cmd.status().expect("run rt");
        (st, fs::read_to_string(&err_path).unwrap_or_default())
    };
    let (st, err) = run(Some(&xdg), &["create", "--bundle", &dir, &c.id]);
    assert!(st.success(), "{err}");
    assert!(xdg.join("rt").join(&c.id).join("state.json").exists());
    let (st, err) = run(Some(&xdg), &["delete", "--force", &c.id]);
    assert!(st.success(), "{err}");
    assert!(!xdg.join("rt").join(&c.id).exists());

    // Without it: /run/rt, and a message that says what to do.
    let (st, err) = run(None, &["create", "--bundle", &dir, &c.id]);
    assert!(!st.success(), "{err}");
    let last = err.lines().last().unwrap_or("");
    assert!(
        last.starts_with("rt: ") && last.contains("XDG_RUNTIME_DIR"),
        "{err}"
    );
    c.assert_nothing_left();
}
