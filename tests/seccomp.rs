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

/// Every x86-64 syscall up to rseq (number 334, Linux 4.18): what older
/// profiles (Docker's default before 2020, hand-written allow-lists) know.
/// None of close_range, clone3, openat2, faccessat2, pidfd_*, epoll_pwait2.
fn classic_allow_list(except: &[&str]) -> serde_json::Value {
    let names: Vec<String> = (0..=334)
        .filter_map(|n| libseccomp::ScmpSyscall::from(n).get_name().ok())
        .filter(|n| !except.contains(&n.as_str()))
        .collect();
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    })
}

/// rt's own work after the filter must fit an old allow-list: the
/// container runs, and what the list leaves out gets EPERM. Without
/// execveat on the list rt cannot use its exec stub and runs sealed.
#[test]
fn classic_allow_list_profiles_run() {
    for (nnp, no_execveat) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut c = Case::new("seccomp-classic");
        let mut except = vec!["mkdir", "mkdirat"];
        if no_execveat {
            except.push("execveat");
        }
        c.bundle.set("/linux/seccomp", classic_allow_list(&except));
        c.bundle.set("/process/noNewPrivileges", json!(nnp));
        c.bundle.readonly_root(false);
        let v = c.probe(&["mkdir", "/tmp/x"]);
        assert_eq!(v["errno"], 1, "nnp {nnp}, no execveat {no_execveat}: {v}");
        let v = c.probe(&["caps"]);
        assert_eq!(v["seccomp"], 2, "{v}");
        c.assert_nothing_left();
    }
}

/// Profiles that name what rt does not know fail `create` cleanly.
#[test]
fn unknown_actions_and_architectures_are_refused() {
    for (what, profile) in [
        (
            "SCMP_ACT_FROBNICATE",
            json!({"defaultAction": "SCMP_ACT_FROBNICATE"}),
        ),
        (
            "SCMP_ARCH_Z80",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}),
        ),
        (
            "SECCOMP_FILTER_FLAG_NOPE",
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
        ),
    ] {
        let mut c = Case::new("seccomp-unknown");
        c.bundle.set("/linux/seccomp", profile);
        let out = c.create();
        c.assert_failed_cleanly(&out);
        if c.is_rt() {
            assert!(out.last_err_line().contains(what), "{what}: {out:#?}");
        }
    }
}

/// The filter flags rt passes to the kernel: LOG and SPEC_ALLOW load.
/// (runc 1.1.5 refuses every flag: "seccomp flags are not yet supported".)
#[test]
fn filter_flags_are_applied() {
    let mut c = Case::new("seccomp-flags");
    if !c.is_rt() {
        return;
    }
    let mut p = deny_mkdir(95);
    p["flags"] = json!(["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]);
    c.bundle.set("/linux/seccomp", p);
    c.bundle.readonly_root(false);
    let v = c.probe(&["mkdir", "/tmp/x"]);
    assert_eq!(v["errno"], 95, "{v}");
}
