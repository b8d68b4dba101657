//! The runtime protects itself: a container process can never reach the
//! host's rt binary through /proc/PID/exe (CVE-2019-5736).

mod common;

use common::Case;

/// While a container is created but not started, its pid 1 is still rt
/// (blocked before execve). Another process in the container must not be
/// able to open /proc/1/exe: with that descriptor it could wait for rt to
/// exit and then overwrite the host binary.
#[test]
fn container_cannot_open_runtime_binary() {
    let mut c = Case::new("cve-5736");
    c.bundle.probe(&["sleep", "30"]);
    c.create().expect_ok("create");
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "open", "/proc/1/exe"]);
    out.expect_ok("exec");
    let v = out.json();
    assert_eq!(v["ok"], false, "/proc/1/exe of the runtime was opened: {v}");
    // The runtime's own exec'd helper is out of reach too: the exec'd
    // process's parent-side twin is gone, and our own exe is the probe.
    let out =
        c.rt.cmd(&["exec", &c.id, "/probe", "open", "/proc/self/exe"]);
    assert_eq!(out.json()["ok"], true, "control: own exe opens: {out:#?}");
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

/// A privileged container (CAP_SYS_PTRACE, no user namespace) can get past
/// non-dumpable: there rt runs from a sealed copy of itself, so
/// what /proc/PID/exe leads to is never the host's binary and cannot be
/// written.
#[test]
fn privileged_container_only_reaches_a_sealed_copy() {
    let mut c = Case::new("cve-5736-priv");
    if !c.is_rt() {
        return;
    }
    c.bundle
        .all_caps(&["CAP_SYS_PTRACE", "CAP_KILL", "CAP_SYS_ADMIN"]);
    c.bundle.probe(&["sleep", "30"]);
    c.create().expect_ok("create");
    let out = c.rt.cmd(&["exec", &c.id, "/probe", "stat", "/proc/1/exe"]);
    out.expect_ok("exec");
    let target = out.json()["/proc/1/exe"]["target"]
        .as_str()
        .unwrap_or("")
        .to_string();
    // A sealed copy: rt's overlay (the binary at its root) or a memfd.
    assert!(
        target == "/rt" || target.starts_with("/memfd:rt"),
        "init runs the host binary: {out:#?}"
    );
    let out =
        c.rt.cmd(&["exec", &c.id, "/probe", "write", "/proc/1/exe", "x"]);
    assert_eq!(
        out.json()["ok"],
        false,
        "the runtime's image was writable: {out:#?}"
    );
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}
