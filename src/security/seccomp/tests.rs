//! Unit tests of profile compilation (loading needs a process to spend).

use super::*;

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("profile parses")
}

#[test]
fn compiles_a_typical_profile() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["read","write","no_such_syscall_anywhere"],"action":"SCMP_ACT_ALLOW"},
                        {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
                        {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
    );
    assert!(compile(&p).is_ok());
}

#[test]
fn knows_what_it_lets_through() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["read","execveat"],"action":"SCMP_ACT_ALLOW"},
            {"names":["write"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]},
            {"names":["openat"],"action":"SCMP_ACT_ALLOW"},
            {"names":["openat"],"action":"SCMP_ACT_ERRNO","args":[{"index":2,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(allows(&p, "execveat"));
    assert!(!allows(&p, "write"), "only with some arguments");
    assert!(!allows(&p, "openat"), "refused with some arguments");
    assert!(!allows(&p, "close"), "the default refuses");
    let open = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["execveat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(!allows(&open, "execveat"));
    assert!(allows(&open, "read"));
}

#[test]
fn notify_needs_a_listener_and_indices_stop_at_5() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(compile(&p).is_err());
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(compile(&p).expect("compiles").notifies());
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"value":0,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(compile(&p).is_err());
}

#[test]
fn flags_and_listener() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_TSYNC","SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "listenerPath":"/run/a.sock","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    let f = super::load::flags(&p, true).expect("flags");
    // LOG | TSYNC | WAIT_KILLABLE_RECV | NEW_LISTENER | TSYNC_ESRCH
    assert_eq!(f, 2 | 1 | 32 | 8 | 16);
    // Without a listener WAIT_KILLABLE_RECV means nothing (and the kernel
    // would refuse it).
    assert_eq!(super::load::flags(&p, false).expect("flags"), 2 | 1);
}
