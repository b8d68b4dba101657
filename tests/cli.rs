//! Command-line behaviour callers depend on: the --log file and its JSON
//! format, `rt run DIR` (and `rt run .`) for people, `list` next to a
//! corrupt entry, a --pid-file that cannot be written, and descriptors
//! passed with --preserve-fds.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::Case;

fn rt() -> &'static str {
    env!("CARGO_BIN_EXE_rt")
}

#[test]
fn log_file_gets_the_error_as_json() {
    let mut c = Case::new("cli-log");
    if !c.is_rt() {
        return;
    }
    c.bundle.args(&["/no/such/program"]);
    c.bundle.save();
    let log = c.dir.join("rt.log");
    let out = Command::new(rt())
        .args([
            "--root",
            c.rt.root.to_str().unwrap(),
            "--log",
            log.to_str().unwrap(),
        ])
        .args([
            "--log-format=json",
            "run",
            "--bundle",
            c.bundle.dir.to_str().unwrap(),
            &c.id,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).expect("log file written");
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(line["level"], "error", "{line}");
    assert!(
        line["msg"].as_str().unwrap().contains("/no/such/program"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.lines().last().unwrap().starts_with("rt: "),
        "{stderr}"
    );
    c.assert_nothing_left();
}

#[test]
fn run_a_bundle_directory_directly() {
    let mut c = Case::new("cli-rundir");
    if !c.is_rt() {
        return;
    }
    c.bundle.probe(&["exit", "4"]);
    c.bundle.save();
    let out = Command::new(rt())
        .args(["--root", c.rt.root.to_str().unwrap(), "run"])
        .arg(&c.bundle.dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    // The transient container is gone afterwards.
    let list = c.rt.cmd(&["list", "-q"]);
    assert_eq!(list.stdout.trim(), "", "{list:#?}");
}

/// `rt run .` (and `./`) inside the bundle directory: "." can be no
/// container's id, so it names the bundle, as `rt run DIR` does.
#[test]
fn run_dot_inside_the_bundle_directory() {
    let mut c = Case::new("cli-rundot");
    if !c.is_rt() {
        return;
    }
    c.bundle.probe(&["exit", "4"]);
    c.bundle.save();
    for dot in [".", "./"] {
        let out = Command::new(rt())
            .args(["--root", c.rt.root.to_str().unwrap(), "run", dot])
            .current_dir(&c.bundle.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(4), "rt run {dot}: {out:?}");
        let list = c.rt.cmd(&["list", "-q"]);
        assert_eq!(list.stdout.trim(), "", "{list:#?}");
    }
    c.assert_nothing_left();
}

/// A pid file that cannot be written fails `create` after the state was
/// saved: the state, cgroup and process must go too (runc leaves nothing).
#[test]
fn unwritable_pid_file_leaves_nothing() {
    let mut c = Case::new("cli-pidfile");
    c.bundle.probe(&["sleep", "30"]);
    let pid_file = c.dir.join("no-such-dir/pid");
    let out = c.rt.create_with(
        &c.bundle,
        &c.id,
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    c.assert_failed_cleanly(&out);
    let list = c.rt.cmd(&["list", "-q"]);
    assert_eq!(list.stdout.trim(), "", "{list:#?}");
    assert!(!pid_file.exists());
}

#[test]
fn list_survives_a_corrupt_entry() {
    let mut c = Case::new("cli-list");
    c.bundle.probe(&["sleep", "30"]);
    c.create().expect_ok("create");
    let junk = c.rt.root.join("junk");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join("state.json"), b"{half a file").unwrap();
    let out = c.rt.cmd(&["list", "--format", "json"]);
    out.expect_ok("list");
    let ids: Vec<String> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![c.id.clone()], "{out:#?}");
    if c.is_rt() {
        assert!(
            out.stderr.contains("junk"),
            "the corrupt entry is named: {out:#?}"
        );
    }
    std::fs::remove_dir_all(&junk).unwrap();
    c.rt.delete_force(&c.id).expect_ok("delete");
    c.assert_nothing_left();
}

#[test]
fn preserve_fds_passes_descriptor_three() {
    let mut c = Case::new("cli-fds");
    c.bundle.probe(&["fds"]);
    c.bundle.save();
    let extra = c.dir.join("extra-fd");
    std::fs::write(&extra, b"x").unwrap();
    let file = std::fs::File::open(&extra).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut cmd = Command::new(&c.rt.bin);
    cmd.args([
        "--root",
        c.rt.root.to_str().unwrap(),
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
    ])
    .arg(&c.bundle.dir)
    .arg(&c.id)
    .stdin(Stdio::null());
    // SAFETY: dup2 in the child before exec, onto descriptor 3.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself would keep close-on-exec: clear it explicitly.
            if libc::dup2(fd, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    let fds = v["fds"].as_array().unwrap();
    let three = fds.iter().find(|f| f["fd"] == 3).expect("fd 3 passed in");
    assert!(
        three["target"].as_str().unwrap().ends_with("extra-fd"),
        "{v}"
    );
    assert!(
        !fds.iter().any(|f| f["fd"].as_i64().unwrap() > 3),
        "nothing else leaks: {v}"
    );
    c.assert_nothing_left();
}

#[test]
fn debug_reports_phase_timings() {
    let mut c = Case::new("cli-debug");
    if !c.is_rt() {
        return;
    }
    c.bundle.probe(&["exit", "0"]);
    c.bundle.save();
    let out = Command::new(rt())
        .args([
            "--root",
            c.rt.root.to_str().unwrap(),
            "--debug",
            "run",
            "--bundle",
        ])
        .arg(&c.bundle.dir)
        .arg(&c.id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for phase in [
        "create clone:",
        "create state saved:",
        "start init released:",
        "delete cgroup removed:",
    ] {
        assert!(
            stderr.contains(&format!("rt: debug: {phase}")),
            "{phase} missing: {stderr}"
        );
    }
    c.assert_nothing_left();
}
