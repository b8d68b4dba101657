//! process.* fields of config.json, each checked from inside with the probe.

mod common;

use common::{runc_too_old, sorted_strings, Case};
use serde_json::json;

#[test]
fn args_exit_code() {
    let mut c = Case::new("args-exit");
    c.bundle.probe(&["exit", "3"]);
    let out = c.run();
    assert_eq!(out.code, 3, "{out:#?}");
    c.assert_nothing_left();
}

#[test]
fn args_through_shell() {
    let mut c = Case::new("args-sh");
    c.bundle.args(&["sh", "-c", "echo \"$0\" one two", "zero"]);
    let out = c.run();
    out.expect_ok("run");
    assert_eq!(out.stdout, "zero one two\n");
}

#[test]
fn env_exact() {
    let mut c = Case::new("env");
    c.bundle
        .add_env("FOO=bar baz")
        .add_env("EMPTY=")
        .add_env("HOME=/home/x");
    let want = c.bundle.env();
    let v = c.probe(&["env"]);
    assert_eq!(sorted_strings(&v["env"]), {
        let mut w = want;
        w.sort();
        w
    });
}

#[test]
fn env_home_defaults_to_users_home() {
    // runc (and so rt) adds HOME from /etc/passwd when the config has none.
    let mut c = Case::new("env-home");
    let v = c.probe(&["env"]);
    assert!(
        sorted_strings(&v["env"]).contains(&"HOME=/root".to_string()),
        "{v}"
    );
}

#[test]
fn cwd() {
    let mut c = Case::new("cwd");
    c.bundle.cwd("/home/tester");
    assert_eq!(c.probe(&["cwd"])["cwd"], "/home/tester");
}

#[test]
fn cwd_created_when_missing() {
    let mut c = Case::new("cwd-missing");
    c.bundle.readonly_root(false).cwd("/does/not/exist");
    assert_eq!(c.probe(&["cwd"])["cwd"], "/does/not/exist");
}

#[test]
fn user_uid_gid_additional_gids() {
    // uid 2000 is not in the rootfs /etc/passwd: no groups from /etc/group.
    let mut c = Case::new("user");
    c.bundle.user(2000, 3000);
    c.bundle
        .set("/process/user/additionalGids", json!([5, 1001]));
    let v = c.probe(&["ids"]);
    for k in ["uid", "euid", "suid"] {
        assert_eq!(v[k], 2000, "{k}: {v}");
    }
    for k in ["gid", "egid", "sgid"] {
        assert_eq!(v[k], 3000, "{k}: {v}");
    }
    let mut groups: Vec<u64> = serde_json::from_value(v["groups"].clone()).unwrap();
    groups.sort();
    assert_eq!(groups, vec![5, 1001]);
}

#[test]
fn user_umask() {
    let mut c = Case::new("umask");
    c.bundle.set("/process/user/umask", json!(0o027));
    assert_eq!(c.probe(&["umask"])["umask"], 0o027);
}

#[test]
fn capabilities_five_sets() {
    let mut c = Case::new("caps");
    let set = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETUID",
    ];
    c.bundle.all_caps(&set);
    c.bundle.caps("ambient", &["CAP_KILL"]);
    c.bundle.caps("inheritable", &["CAP_KILL", "CAP_CHOWN"]);
    let v = c.probe(&["caps"]);
    let want: Vec<String> = {
        let mut w: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        w.sort();
        w
    };
    for s in ["bounding", "effective", "permitted"] {
        assert_eq!(sorted_strings(&v[s]), want, "{s}: {v}");
    }
    assert_eq!(
        sorted_strings(&v["inheritable"]),
        vec!["CAP_CHOWN", "CAP_KILL"],
        "{v}"
    );
    assert_eq!(sorted_strings(&v["ambient"]), vec!["CAP_KILL"], "{v}");
}

#[test]
fn ambient_caps_survive_non_root_user() {
    let mut c = Case::new("caps-ambient");
    c.bundle.user(1000, 1000);
    c.bundle.all_caps(&["CAP_NET_BIND_SERVICE"]);
    let v = c.probe(&["caps"]);
    assert_eq!(
        sorted_strings(&v["effective"]),
        vec!["CAP_NET_BIND_SERVICE"],
        "{v}"
    );
    assert_eq!(
        sorted_strings(&v["ambient"]),
        vec!["CAP_NET_BIND_SERVICE"],
        "{v}"
    );
}

#[test]
fn non_root_without_ambient_has_no_effective_caps() {
    let mut c = Case::new("caps-drop");
    c.bundle.user(1000, 1000);
    c.bundle.caps("ambient", &[]).caps("inheritable", &[]);
    let v = c.probe(&["caps"]);
    assert_eq!(v["effective"], json!([]), "{v}");
    assert_eq!(v["permitted"], json!([]), "{v}");
    assert_eq!(sorted_strings(&v["bounding"]).len(), 3, "{v}");
}

#[test]
fn rlimits() {
    let mut c = Case::new("rlimits");
    c.bundle.add_rlimit("RLIMIT_CORE", 0, 4096);
    c.bundle.add_rlimit("RLIMIT_NPROC", 200, 300);
    // Stay below the host's hard limits: raising one needs CAP_SYS_RESOURCE,
    // which this VM's test environment may lack.
    c.bundle.add_rlimit("RLIMIT_MSGQUEUE", 8192, 409_600);
    let v = c.probe(&["rlimits"]);
    assert_eq!(v["RLIMIT_NOFILE"], json!({"soft": 1024, "hard": 1024}));
    assert_eq!(v["RLIMIT_CORE"], json!({"soft": 0, "hard": 4096}));
    assert_eq!(v["RLIMIT_NPROC"], json!({"soft": 200, "hard": 300}));
    assert_eq!(v["RLIMIT_MSGQUEUE"], json!({"soft": 8192, "hard": 409_600}));
}

#[test]
fn no_new_privileges() {
    for (flag, want) in [(true, 1), (false, 0)] {
        let mut c = Case::new("nnp");
        c.bundle.set("/process/noNewPrivileges", json!(flag));
        assert_eq!(c.probe(&["caps"])["noNewPrivileges"], want, "flag {flag}");
    }
}

#[test]
fn oom_score_adj() {
    let mut c = Case::new("oom");
    c.bundle.set("/process/oomScoreAdj", json!(123));
    assert_eq!(c.probe(&["oom_score_adj"])["oom_score_adj"], 123);
}

#[test]
fn io_priority() {
    let mut c = Case::new("ioprio");
    if runc_too_old(&c, (1, 2), "process.ioPriority") {
        return;
    }
    c.bundle.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    let v = c.probe(&["ioprio"]);
    assert_eq!(v, json!({"class": "IOPRIO_CLASS_BE", "priority": 6}));
}

#[test]
fn scheduler() {
    let mut c = Case::new("sched");
    if runc_too_old(&c, (1, 2), "process.scheduler") {
        return;
    }
    c.bundle.set(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 7}),
    );
    let v = c.probe(&["sched"]);
    assert_eq!(v["policy"], "SCHED_BATCH", "{v}");
    assert_eq!(v["nice"], 7, "{v}");
}

#[test]
fn terminal_false_gives_no_tty() {
    let mut c = Case::new("notty");
    let v = c.probe(&["tty"]);
    for fd in ["0", "1", "2"] {
        assert_eq!(v[fd], false, "{v}");
    }
}

#[test]
fn exec_cpu_affinity() {
    // execCPUAffinity applies to `exec`'d processes, not to the init.
    let mut c = Case::new("exec-affinity");
    if runc_too_old(&c, (1, 2), "process.execCPUAffinity") {
        return;
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let last = (ncpu - 1).to_string();
    c.bundle.probe(&["sleep", "30"]);
    c.rt.run_with(&c.bundle, &c.id, &["--detach"])
        .expect_ok("run --detach");
    let mut process = c.bundle.get("/process");
    process["args"] = json!(["/probe", "sched"]);
    process["execCPUAffinity"] = json!({"initial": "0", "final": last});
    let pfile = c.dir.join("process.json");
    std::fs::write(&pfile, process.to_string()).unwrap();
    let out =
        c.rt.cmd(&["exec", "--process", pfile.to_str().unwrap(), &c.id]);
    out.expect_ok("exec");
    assert_eq!(out.json()["cpus"], json!([ncpu - 1]), "{out:#?}");
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

#[test]
fn new_session_keyring_unless_asked_not_to() {
    // runc gives every container its own session keyring, so containers do
    // not see the caller's keys; --no-new-keyring keeps the caller's.
    let host = {
        // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, create).
        unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 1) }
    };
    assert!(host > 0, "host session keyring");
    let mut c = Case::new("keyring");
    let own = c.probe(&["keyring"]);
    assert!(own["session"].as_i64().unwrap() > 0, "{own}");
    assert_ne!(own["session"].as_i64(), Some(host), "{own}");
    c.bundle.probe(&["keyring"]);
    let out = c.rt.run_with(&c.bundle, &c.id, &["--no-new-keyring"]);
    out.expect_ok("run --no-new-keyring");
    assert_eq!(out.json()["session"].as_i64(), Some(host), "{out:#?}");
    c.assert_nothing_left();
}
