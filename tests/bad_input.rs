//! Bad input: each case fails with a non-zero exit, (for rt) a final
//! `rt: <cause>` line, and leaves nothing behind.

mod common;

use common::{Case, Out};
use serde_json::json;

/// Like Case::assert_failed_cleanly, for ids other than the case's own.
#[track_caller]
fn assert_failed_cleanly(c: &Case, out: &Out, id: &str) {
    assert_ne!(out.code, 0, "should fail: {out:#?}");
    assert_ne!(out.code, -1, "timed out: {out:#?}");
    if c.is_rt() {
        assert!(
            out.last_err_line().starts_with("rt: "),
            "last stderr line should be `rt: <cause>`: {out:#?}"
        );
    }
    common::assert_nothing_left(&c.rt.root, id, &c.bundle.cgroup_rel(id, c.rt.kind), &c.dir);
}

#[test]
fn missing_config() {
    let c = Case::new("no-config");
    let dir = c.bundle.dir.to_string_lossy().into_owned();
    let out = c.rt.cmd(&["run", "--bundle", &dir, &c.id]);
    assert_failed_cleanly(&c, &out, &c.id);
}

#[test]
fn garbled_config() {
    let c = Case::new("bad-json");
    std::fs::write(
        c.bundle.config_path(),
        "{\"ociVersion\": \"1.0.2\", \"process\": [",
    )
    .unwrap();
    let dir = c.bundle.dir.to_string_lossy().into_owned();
    let out = c.rt.cmd(&["create", "--bundle", &dir, &c.id]);
    assert_failed_cleanly(&c, &out, &c.id);
}

#[test]
fn missing_bundle_dir() {
    let c = Case::new("no-bundle");
    let dir = c.dir.join("does-not-exist").to_string_lossy().into_owned();
    let out = c.rt.cmd(&["create", "--bundle", &dir, &c.id]);
    assert_failed_cleanly(&c, &out, &c.id);
}

#[test]
fn unknown_namespace_type() {
    let mut c = Case::new("bad-ns");
    c.bundle.namespace("bogus", None);
    let out = c.create();
    assert_failed_cleanly(&c, &out, &c.id);
}

#[test]
fn missing_rootfs() {
    let mut c = Case::new("no-rootfs");
    c.bundle.set("/root/path", json!("no-such-rootfs"));
    let out = c.create();
    assert_failed_cleanly(&c, &out, &c.id);
}

#[test]
fn missing_bind_source() {
    let mut c = Case::new("no-bind-src");
    c.bundle
        .add_mount(json!({"destination": "/mnt", "type": "bind",
        "source": c.dir.join("nope"), "options": ["bind"]}));
    let out = c.create();
    assert_failed_cleanly(&c, &out, &c.id);
}

#[test]
fn duplicate_id() {
    let mut c = Case::new("dup");
    c.bundle.probe(&["sleep", "30"]);
    c.create().expect_ok("first create");
    let out = c.create();
    assert_ne!(out.code, 0, "{out:#?}");
    if c.is_rt() {
        assert!(out.last_err_line().starts_with("rt: "), "{out:#?}");
    }
    assert_eq!(
        c.status().as_deref(),
        Some("created"),
        "first container intact"
    );
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

#[test]
fn invalid_ids() {
    let c = Case::new("bad-id");
    c.bundle.save();
    let dir = c.bundle.dir.to_string_lossy().into_owned();
    for id in ["../x", "", "a/b", ".."] {
        let out = c.rt.cmd(&["create", "--bundle", &dir, id]);
        assert_ne!(out.code, 0, "{id:?} accepted: {out:#?}");
        if c.is_rt() {
            assert!(out.last_err_line().starts_with("rt: "), "{out:#?}");
        }
        // Such ids name no state dir or cgroup of their own: check that the
        // root stayed empty and nothing of the bundle is running or mounted.
        let entries = std::fs::read_dir(&c.rt.root)
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(entries, 0, "{id:?} left state under --root");
        common::assert_nothing_left(&c.rt.root, &c.id, &c.id, &c.dir);
        assert!(!c.dir.join("x").exists(), "state escaped --root for {id:?}");
    }
}

#[test]
fn missing_executable() {
    let mut c = Case::new("no-exec");
    c.bundle.args(&["/does/not/exist"]);
    let out = c.run();
    assert_failed_cleanly(&c, &out, &c.id);
    if c.is_rt() {
        let last = out.last_err_line().to_lowercase();
        assert!(last.contains("no such file or directory"), "{out:#?}");
        assert!(
            last.contains("/does/not/exist"),
            "names the executable: {out:#?}"
        );
    } else {
        assert!(out.stderr.contains("no such file or directory"), "{out:#?}");
    }
}

#[test]
fn cwd_is_a_file() {
    let mut c = Case::new("cwd-file");
    c.bundle.cwd("/etc/passwd");
    let out = c.run();
    assert_failed_cleanly(&c, &out, &c.id);
}

#[test]
fn bad_signal_name() {
    let mut c = Case::new("bad-signal");
    c.bundle.probe(&["sleep", "30"]);
    c.create().expect_ok("create");
    for sig in ["SIGFOO", "NOPE", "99999", "-1"] {
        let out = c.rt.kill(&c.id, sig);
        assert_ne!(out.code, 0, "kill {sig}: {out:#?}");
        if c.is_rt() {
            assert!(out.last_err_line().starts_with("rt: "), "{out:#?}");
        }
    }
    assert_eq!(c.status().as_deref(), Some("created"));
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

#[test]
fn unknown_container_id() {
    let c = Case::new("unknown");
    for args in [
        vec!["state", "nope"],
        vec!["start", "nope"],
        vec!["kill", "nope", "KILL"],
        vec!["delete", "nope"],
    ] {
        let out = c.rt.cmd(&args);
        assert_ne!(out.code, 0, "{args:?}: {out:#?}");
        if c.is_rt() {
            assert!(out.last_err_line().starts_with("rt: "), "{out:#?}");
        }
    }
}

/// Configs that runc rejects, each one edit away from the default.
#[test]
fn invalid_configs() {
    type Edit = fn(&mut common::Bundle);
    let cases: [(&str, Edit); 6] = [
        ("dup-ns", |b| {
            b.push_namespace_raw(json!({"type": "pid"}));
        }),
        ("hostname-no-uts", |b| {
            b.remove_namespace("uts");
        }),
        ("bad-rlimit", |b| {
            b.add_rlimit("RLIMIT_FOO", 1, 1);
        }),
        ("soft-over-hard", |b| {
            b.add_rlimit("RLIMIT_NOFILE", 2048, 1024);
        }),
        ("empty-args", |b| {
            b.args(&[]);
        }),
        ("no-process", |b| {
            b.remove("/process");
        }),
    ];
    for (name, edit) in cases {
        let mut c = Case::new(name);
        edit(&mut c.bundle);
        let out = c.run();
        assert_failed_cleanly(&c, &out, &c.id);
    }
}

/// Process labels of a security module the host does not run cannot
/// confine anything: refused, naming the field and why (runc refuses too).
#[test]
fn lsm_process_labels_without_the_module() {
    for (name, field, value, module) in [
        (
            "selinux-label",
            "selinuxLabel",
            "system_u:system_r:container_t:s0",
            "/sys/fs/selinux/enforce",
        ),
        (
            "apparmor-profile",
            "apparmorProfile",
            "rt-test",
            "/sys/kernel/security/apparmor",
        ),
    ] {
        if std::path::Path::new(module).exists() {
            eprintln!("note: {module} exists: {field} not checked");
            continue;
        }
        let mut c = Case::new(name);
        c.bundle.set(&format!("/process/{field}"), json!(value));
        c.bundle.probe(&["exit", "0"]);
        let out = c.run();
        assert_failed_cleanly(&c, &out, &c.id);
        if c.is_rt() {
            assert!(
                out.last_err_line().contains(field)
                    && out.last_err_line().contains("not enabled on this host"),
                "{out:#?}"
            );
        }
    }
}

#[test]
fn rootless_mode_needs_a_user_namespace() {
    // The default config has none; rootless mode cannot run it.
    // tests/rootless.rs runs the real thing.
    let c = Case::new("rootless-flag");
    if !c.is_rt() {
        return; // runc run by root ignores --rootless true here
    }
    c.bundle.save();
    let dir = c.bundle.dir.to_string_lossy().into_owned();
    let out =
        c.rt.cmd(&["--rootless", "true", "run", "--bundle", &dir, &c.id]);
    c.assert_failed_cleanly(&out);
    assert!(out.last_err_line().contains("user namespace"), "{out:#?}");
}
