//! `rt run --image`: the README's first command. The sample image from
//! rootfs-fixtures runs with memory and CPU limits that the container sees
//! in its own cgroup files; exit codes come back; nothing is left after.

mod common;

use std::path::Path;
use std::process::Command;

use common::Case;

fn sample_image(dir: &Path) -> std::path::PathBuf {
    common::fixtures::probe(); // built once, under the harness's lock
    let img = dir.join("image");
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-fixtures/make-image.sh"))
        .arg(&img)
        .output()
        .expect("run make-image.sh");
    assert!(out.status.success(), "make-image.sh: {out:?}");
    img
}

const SHOW_LIMITS: &str = "if [ -f /sys/fs/cgroup/memory.max ]; then \
     cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/cpu.max; \
   else cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
     echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us); fi";

#[test]
fn run_image_with_limits_and_clean_up() {
    let c = Case::new("image-run");
    if !c.is_rt() {
        return;
    }
    let img = sample_image(&c.dir);
    let out = c.rt.cmd(&[
        "run",
        "--image",
        img.to_str().unwrap(),
        "--name",
        &c.id,
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "--",
        "/bin/sh",
        "-c",
        SHOW_LIMITS,
    ]);
    out.expect_ok("run --image");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["67108864", "50000 100000"], "{out:#?}");
    assert!(
        !c.rt.root.join(".image-bundles").join(&c.id).exists(),
        "bundle left behind"
    );
    c.assert_nothing_left();
}

#[test]
fn run_image_returns_exit_code_and_runs_default_command() {
    let c = Case::new("image-exit");
    if !c.is_rt() {
        return;
    }
    let img = sample_image(&c.dir);
    let i = img.to_str().unwrap();
    let out = c.rt.cmd(&[
        "run", "--image", i, "--name", &c.id, "--", "/probe", "exit", "3",
    ]);
    assert_eq!(out.code, 3, "{out:#?}");
    // The image's own command (/probe all) when none is given.
    let out =
        c.rt.cmd(&["run", "--image", &format!("{i}:latest"), "--name", &c.id]);
    out.expect_ok("run --image default command");
    assert_eq!(out.json()["pid"]["pid"], 1, "{out:#?}");
    c.assert_nothing_left();
}

#[test]
fn run_image_bad_input_leaves_nothing() {
    let c = Case::new("image-bad");
    if !c.is_rt() {
        return;
    }
    let img = sample_image(&c.dir);
    let i = img.to_str().unwrap();
    let out =
        c.rt.cmd(&["run", "--image", &format!("{i}:nosuchtag"), "--name", &c.id]);
    c.assert_failed_cleanly(&out);
    let out = c.rt.cmd(&[
        "run",
        "--image",
        i,
        "--name",
        &c.id,
        "--",
        "/no/such/program",
    ]);
    c.assert_failed_cleanly(&out);
    assert!(
        !c.rt.root.join(".image-bundles").join(&c.id).exists(),
        "bundle left behind"
    );
}
