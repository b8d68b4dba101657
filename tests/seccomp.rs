//! linux.seccomp: a filter that denies a syscall with a chosen errno, seen
//! from inside, the same under runc; a broken profile fails `create`
//! cleanly.

mod common;

use common::Case;
use serde_json::json;

fn deny_mkdir(errno: u32) -> serde_json::Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}
        ]
    })
}

#[test]
fn filter_denies_with_errno() {
    for nnp in [true, false] {
        let mut c = Case::new(if nnp { "seccomp-nnp" } else { "seccomp-no-nnp" });
        c.bundle.set("/linux/seccomp", deny_mkdir(95));
        c.bundle.set("/process/noNewPrivileges", json!(nnp));
        c.bundle.readonly_root(false);
        c.bundle.probe(&["mkdir", "/tmp/x"]);
        let v = c.probe(&["mkdir", "/tmp/x"]);
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["errno"], 95, "{v}");
        let v = c.probe(&["caps"]);
        assert_eq!(v["seccomp"], 2, "filter mode: {v}");
        assert_eq!(v["noNewPrivileges"], u8::from(nnp), "{v}");
        c.assert_nothing_left();
    }
}

#[test]
fn no_filter_means_mode_zero() {
    let mut c = Case::new("seccomp-none");
    let v = c.probe(&["caps"]);
    assert_eq!(v["seccomp"], 0, "{v}");
    c.assert_nothing_left();
}

#[test]
fn exec_gets_the_filter_too() {
    let mut c = Case::new("seccomp-exec");
    c.bundle.set("/linux/seccomp", deny_mkdir(95));
    c.bundle.readonly_root(false);
    c.bundle.probe(&["sleep", "30"]);
    c.rt.run_with(&c.bundle, &c.id, &["--detach"])
        .expect_ok("run --detach");
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "mkdir", "/tmp/y"]);
    out.expect_ok("exec");
    assert_eq!(out.json()["errno"], 95, "{out:#?}");
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

#[test]
fn broken_profile_fails_create_cleanly() {
    let mut c = Case::new("seccomp-bad");
    c.bundle.set(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                             "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]}),
    );
    let out = c.create();
    c.assert_failed_cleanly(&out);
}
