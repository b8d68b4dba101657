//! Rootless containers with `--systemd-cgroup`: rt run by an ordinary user
//! talks to that user's own systemd instance (user@UID.service), as runc
//! does. The container is a scope in the user manager's `user.slice`, with
//! its limits as properties of that unit (`systemctl --user show`), the
//! kernel files to match and the limits biting inside; exec, update, ps,
//! pause, kill and delete go through the user's instance too. Limits on a
//! controller the user was not delegated, a user with no instance and a
//! host without cgroup v2 are each one `rt:` line that leaves nothing.
//!
//! Runs in the systemd VM lane (tests/vm-systemd), whose image has a user
//! with lingering enabled (its manager runs from boot) named by
//! RT_TEST_SYSTEMD_USER; elsewhere the tests skip.

#[path = "cgroups_support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

mod systemd_util;
use systemd_util::user::*;
use systemd_util::*;

const RUNC: &str = "/usr/sbin/runc";

const PROPS: &[&str] = &[
    "ActiveState",
    "Slice",
    "ControlGroup",
    "Delegate",
    "MemoryMax",
    "TasksMax",
    "CPUWeight",
    "CPUQuotaPerSecUSec",
];

/// The whole life of a rootless container under the user's instance, and
/// runc's container from the same bundle as the reference.
#[test]
fn rootless_scope_in_the_users_instance() {
    let Some(user) = lane_user() else { return };
    // `rt features` says what the tests below find.
    let f: Value =
        serde_json::from_slice(&Command::new(RT).arg("features").output().unwrap().stdout).unwrap();
    assert_eq!(f["linux"]["cgroup"]["systemdUser"], pure_v2(), "{f}");
    if !pure_v2() {
        eprintln!("skipped: v1/hybrid (rootless_without_a_user_instance_is_one_clear_error checks the refusal)");
        return;
    }
    let res = json!({
        "memory": {"limit": 67108864},
        "pids": {"limit": 16},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
    });
    let c = Ctr::new(&user, "sduser", &["sleep", "1000"], res);
    c.ok(&["run", "-d", &c.id]);
    let pid = c.state()["pid"].as_u64().unwrap();
    let unit = c.unit();
    let manager = user.manager_cgroup();
    assert_eq!(
        manager,
        format!("/user.slice/user-{0}.slice/user@{0}.service", user.uid)
    );
    let cg = PathBuf::from(format!("{manager}/user.slice/{unit}"));
    // What systemd 252 delegates to user@.service (its Delegate=): the
    // limits below use these, rootless_undelegated_* the one it lacks.
    let delegated = file(Path::new(&manager), "cgroup.controllers");
    let delegated: Vec<&str> = delegated.split_whitespace().collect();
    for c in ["cpu", "memory", "pids"] {
        assert!(delegated.contains(&c), "{c} not delegated: {delegated:?}");
    }
    assert!(!delegated.contains(&"io"), "{delegated:?}");

    // A unit of the user's instance, in its user.slice; the system
    // instance has no such unit.
    let first = user.show(&unit, PROPS);
    let p = &first;
    assert_eq!(p["ActiveState"], "active", "{p:?}");
    assert_eq!(p["Slice"], "user.slice");
    assert_eq!(Path::new(&p["ControlGroup"]), cg);
    assert_eq!(p["Delegate"], "yes");
    assert_eq!(p["MemoryMax"], "67108864");
    assert_eq!(p["TasksMax"], "16");
    assert_eq!(p["CPUWeight"], "20");
    assert_eq!(p["CPUQuotaPerSecUSec"], "500ms");
    assert_eq!(show(&unit, &["LoadState"])["LoadState"], "not-found");
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(own.trim(), format!("0::{}", cg.display()));
    let cgls = Command::new("systemd-cgls")
        .arg("--no-pager")
        .arg(&cg)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&cgls.stdout).contains(&pid.to_string()),
        "{cgls:?}"
    );
    assert_eq!(file(&cg, "memory.max"), "67108864");
    assert_eq!(file(&cg, "pids.max"), "16");
    assert_eq!(file(&cg, "cpu.max"), "50000 100000");
    assert_eq!(file(&cg, "cpu.weight"), "20");

    // An exec joins the scope (rt runs outside the user's subtree here:
    // the user's manager moves it) and sees the limits.
    let seen = c.ok(&[
        "exec",
        &c.id,
        "sh",
        "-c",
        "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
    ]);
    let lines: Vec<&str> = seen.lines().collect();
    assert!(
        lines[0].starts_with("0::") && lines[0].ends_with(&unit),
        "{seen}"
    );
    assert_eq!(&lines[1..], ["67108864", "16"], "{seen}");
    // From inside the user's manager rt may clone into the scope itself.
    let inside = user
        .cmd("systemd-run")
        .args([
            "--user",
            "--pipe",
            "--wait",
            "--quiet",
            "--",
            RT,
            "--systemd-cgroup",
            "--root",
        ])
        .arg(&c.root)
        .args(["exec", &c.id, "cat", "/proc/self/cgroup"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&inside.stdout);
    assert!(
        inside.status.success() && text.trim().ends_with(&unit),
        "{inside:?}"
    );

    // The memory limit bites: the allocating exec is OOM-killed.
    let oom = c.rt(&["exec", &c.id, "tail", "/dev/zero"]);
    assert_eq!(oom.status.code(), Some(137), "{oom:?}");
    assert!(keyed(&cg, "memory.events", "oom_kill ") >= 1);

    // update: SetUnitProperties on the user's instance, and the files.
    c.ok(&["update", "--memory", "100m", "--pids-limit", "4", &c.id]);
    let p = user.show(&unit, &["MemoryMax", "TasksMax"]);
    assert_eq!(
        (p["MemoryMax"].as_str(), p["TasksMax"].as_str()),
        ("104857600", "4")
    );
    assert_eq!(file(&cg, "memory.max"), "104857600");
    assert_eq!(file(&cg, "pids.max"), "4");
    // The pids limit bites: forks beyond it fail (and busybox sh may give
    // up on the first failure: at most 4, the sleeps it forked, remain).
    c.ok(&[
        "exec",
        "-d",
        &c.id,
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6; do sleep 1000 & done; wait",
    ]);
    wait_for("pids.events max", Duration::from_secs(30), || {
        keyed(&cg, "pids.events", "max ") > 0
    });
    let ps: Vec<u64> = serde_json::from_str(&c.ok(&["ps", "--format", "json", &c.id])).unwrap();
    assert!((3..=4).contains(&ps.len()), "{ps:?}");
    let current: usize = file(&cg, "pids.current").parse().unwrap();
    assert!(current <= 4, "pids.current {current}");

    c.ok(&["pause", &c.id]);
    assert_eq!(file(&cg, "cgroup.freeze"), "1");
    assert_eq!(c.state()["status"], "paused");
    c.ok(&["resume", &c.id]);
    assert_eq!(file(&cg, "cgroup.freeze"), "0");
    c.ok(&["kill", "--all", &c.id, "KILL"]);
    wait_for("stopped", Duration::from_secs(20), || {
        c.state()["status"] == "stopped"
    });
    c.ok(&["delete", &c.id]);
    c.assert_gone(&c.id, &unit);

    // runc, rootless with --systemd-cgroup, from the same bundle: the
    // same kind of unit with the same properties.
    let rid = format!("{}-runc", c.id);
    let out = c.run_as(RUNC, &["run", "-d", &rid], &[]);
    assert!(out.status.success(), "runc: {out:?}");
    let runit = format!("runc-{rid}.scope");
    let mut theirs = user.show(&runit, PROPS);
    let _ = c.run_as(RUNC, &["delete", "--force", &rid], &[]);
    let want_cg = format!("{manager}/user.slice/{runit}");
    assert_eq!(
        theirs.remove("ControlGroup").as_deref(),
        Some(want_cg.as_str())
    );
    let mut ours = first;
    ours.remove("ControlGroup");
    assert_eq!(ours, theirs, "rt (left) and runc (right) differ");
}

/// Limits on a controller the user's instance was not delegated (systemd
/// 252 gives user@.service pids, memory and cpu) fail before anything
/// exists, naming the controller; runc fails on the same config. The
/// user's bus is also found from $DBUS_SESSION_BUS_ADDRESS alone, and
/// without $XDG_RUNTIME_DIR at /run/user/UID.
#[test]
fn rootless_undelegated_controller_and_bus_addresses() {
    let Some(user) = lane_user() else { return };
    if !pure_v2() {
        return;
    }
    let c = Ctr::new(
        &user,
        "sdundel",
        &["true"],
        json!({"blockIO": {"weight": 500}}),
    );
    let out = c.rt(&["run", &c.id]);
    assert!(!out.status.success());
    let line = err_line(&out);
    assert!(
        line.starts_with(
            "rt: linux.resources.blockIO needs the io cgroup controller: the user's \
             systemd instance was not delegated it"
        ),
        "{line}"
    );
    c.assert_gone(&c.id, &c.unit());
    let runc = c.run_as(RUNC, &["run", &format!("{}-runc", c.id)], &[]);
    assert!(!runc.status.success(), "runc accepted it: {runc:?}");
    let _ = c.run_as(RUNC, &["delete", "--force", &format!("{}-runc", c.id)], &[]);

    let mut cfg = c.config();
    cfg["linux"]["resources"] = json!({"pids": {"limit": 7}});
    cfg["process"]["args"] = json!(["sh", "-c", "cat /proc/self/cgroup /sys/fs/cgroup/pids.max"]);
    c.set_config(&cfg);
    let bus = format!("unix:path={}/bus", user.runtime_dir().display());
    let empty = c.dir.join("xdg");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.to_string_lossy().into_owned();
    for env in [
        [
            ("DBUS_SESSION_BUS_ADDRESS", Some(bus.as_str())),
            ("XDG_RUNTIME_DIR", Some(empty.as_str())),
        ],
        [
            ("DBUS_SESSION_BUS_ADDRESS", None),
            ("XDG_RUNTIME_DIR", None),
        ],
    ] {
        let out = c.run_as(RT, &["run", &c.id], &env);
        assert!(out.status.success(), "{env:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].ends_with(&format!("/user.slice/{}", c.unit())),
            "{env:?}: {text}"
        );
        assert_eq!(lines[1], "7", "{env:?}: {text}");
        c.assert_gone(&c.id, &c.unit());
    }
}

/// A user without a systemd instance (nobody: no user@.service, no
/// runtime directory), and a session bus address that leads nowhere:
/// one line each, nothing left. On a v1/hybrid host the refusal comes
/// first, as runc's.
#[test]
fn rootless_without_a_user_instance_is_one_clear_error() {
    let Some(user) = lane_user() else { return };
    let nobody = User {
        uid: 65534,
        gid: 65534,
        home: PathBuf::from("/nonexistent"),
    };
    let c = Ctr::new(&nobody, "sdnouser", &["true"], json!({}));
    let out = c.rt(&["run", &c.id]);
    assert!(!out.status.success());
    let line = err_line(&out);
    if pure_v2() {
        assert!(
            line.starts_with(
                "rt: --systemd-cgroup: rootless: cannot reach the user's systemd instance"
            ),
            "{line}"
        );
        assert!(line.contains("/run/user/65534/bus"), "{line}");
    } else {
        assert!(
            line.starts_with("rt: --systemd-cgroup: rootless containers need cgroup v2"),
            "{line}"
        );
    }
    assert!(!c.root.join(&c.id).exists(), "state dir left");
    assert_eq!(show(&c.unit(), &["LoadState"])["LoadState"], "not-found");

    let c = Ctr::new(&user, "sdbadbus", &["true"], json!({}));
    let out = c.run_as(
        RT,
        &["run", &c.id],
        &[(
            "DBUS_SESSION_BUS_ADDRESS",
            Some("unix:path=/nonexistent/bus"),
        )],
    );
    assert!(!out.status.success());
    let line = err_line(&out);
    if pure_v2() {
        assert!(
            line.starts_with(
                "rt: systemd: cannot reach the user's systemd instance over D-Bus at \
                              unix:path=/nonexistent/bus"
            ),
            "{line}"
        );
    } else {
        assert!(line.contains("need cgroup v2"), "{line}");
    }
    c.assert_gone(&c.id, &c.unit());
}
