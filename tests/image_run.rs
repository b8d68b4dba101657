//! `rt run --image`: the README's first command. The sample image from
//! rootfs-fixtures runs with memory and CPU limits that the container sees
//! in its own cgroup files; exit codes come back; nothing is left after.
//! The rootfs overlay exists only in the container's mount namespace, so
//! killing rt leaks no mount. Every test has a private image store.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::Case;

fn store(c: &Case) -> PathBuf {
    c.dir.join("store")
}

/// `run --image-store S ARGS`, keeping the test's store private.
fn run_image<'a>(s: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["run", "--image-store", s];
    v.extend_from_slice(args);
    v
}

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
    let st = store(&c);
    let out = c.rt.cmd(&run_image(
        st.to_str().unwrap(),
        &[
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
        ],
    ));
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
    // A relative store works too (the harness runs rt in the test's
    // directory).
    let s = "store";
    let out = c.rt.cmd(&run_image(
        s,
        &["--image", i, "--name", &c.id, "--", "/probe", "exit", "3"],
    ));
    assert_eq!(out.code, 3, "{out:#?}");
    // The image's own command (/probe all) when none is given.
    let tagged = format!("{i}:latest");
    let out =
        c.rt.cmd(&run_image(s, &["--image", &tagged, "--name", &c.id]));
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
    let st = store(&c);
    let s = st.to_str().unwrap();
    let bad = format!("{i}:nosuchtag");
    let out = c.rt.cmd(&run_image(s, &["--image", &bad, "--name", &c.id]));
    c.assert_failed_cleanly(&out);
    let out = c.rt.cmd(&run_image(
        s,
        &["--image", i, "--name", &c.id, "--", "/no/such/program"],
    ));
    c.assert_failed_cleanly(&out);
    assert!(
        !c.rt.root.join(".image-bundles").join(&c.id).exists(),
        "bundle left behind"
    );
}

/// Mount points in this (the host's) mount table that name `dir`, as a
/// mount point or in their options (an overlay's lowerdir).
fn host_mounts_naming(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&d))
        .map(str::to_string)
        .collect()
}

#[test]
fn run_image_overlay_lives_in_the_container_and_survives_a_killed_rt() {
    let c = Case::new("image-mountns");
    if !c.is_rt() {
        return;
    }
    let img = sample_image(&c.dir);
    let st = store(&c);
    let s = st.to_str().unwrap();
    let running = c.rt.spawn(&run_image(
        s,
        &[
            "--image",
            img.to_str().unwrap(),
            "--name",
            &c.id,
            "--",
            "/bin/sh",
            "-c",
            "grep ' / / ' /proc/self/mountinfo; echo up; exec sleep 1000",
        ],
    ));
    assert!(
        running.wait_for_output("up", Duration::from_secs(20)),
        "container did not start: {}",
        running.stdout_now()
    );
    // Inside: the root is an overlay of the store's cached layers.
    let root_line = running.stdout_now();
    assert!(
        root_line.contains(" - overlay ") && root_line.contains(&format!("lowerdir={s}/layers/")),
        "{root_line}"
    );
    // Outside: nothing mounted anywhere for it.
    for d in [&c.rt.root, &st] {
        assert_eq!(host_mounts_naming(d), Vec::<String>::new());
    }
    // Layers in use by that namespace's overlay survive a prune.
    let o = c.rt.cmd(&["image", "--image-store", s, "df"]);
    assert!(
        o.stdout.contains("layers: 1 (1 in use by a mount)"),
        "{o:#?}"
    );
    c.rt.cmd(&["image", "--image-store", s, "prune"])
        .expect_ok("prune");
    assert_eq!(
        std::fs::read_dir(st.join("layers/chains")).unwrap().count(),
        1
    );

    // rt killed: the container outlives it, its overlay still only in its
    // own namespace; once it is gone, nothing is mounted and prune removes
    // the bundle rt had no chance to remove.
    running.signal(libc::SIGKILL);
    running.wait(Duration::from_secs(10));
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    for d in [&c.rt.root, &st] {
        assert_eq!(host_mounts_naming(d), Vec::<String>::new());
    }
    assert!(c.rt.root.join(".image-bundles").join(&c.id).exists());
    c.rt.cmd(&["image", "--image-store", s, "prune"])
        .expect_ok("prune");
    assert!(!c.rt.root.join(".image-bundles").join(&c.id).exists());
    c.assert_nothing_left();
}

#[test]
fn run_image_from_oci_and_docker_archives() {
    let c = Case::new("image-archive");
    if !c.is_rt() {
        return;
    }
    let img = sample_image(&c.dir);
    let st = store(&c);
    let s = st.to_str().unwrap();
    let oci = c.dir.join("image-oci.tar");
    let docker = c.dir.join("image-docker.tar");
    for (dest, file) in [("oci-archive", &oci), ("docker-archive", &docker)] {
        let o = Command::new("skopeo")
            .args(["copy", "--quiet"])
            .arg(format!("oci:{}:latest", img.display()))
            .arg(format!("{dest}:{}:localhost/sample:1", file.display()))
            .output()
            .expect("run skopeo");
        assert!(o.status.success(), "skopeo: {o:?}");
    }
    for file in [&oci, &docker] {
        let f = file.to_str().unwrap();
        let out = c.rt.cmd(&run_image(
            s,
            &["--image", f, "--name", &c.id, "--", "/probe", "exit", "3"],
        ));
        assert_eq!(out.code, 3, "{f}: {out:#?}");
        let tagged = format!("{f}:localhost/sample:1");
        let out =
            c.rt.cmd(&run_image(s, &["--image", &tagged, "--name", &c.id]));
        out.expect_ok("run --image ARCHIVE:TAG");
        assert_eq!(out.json()["pid"]["pid"], 1, "{out:#?}");
    }
    assert_eq!(std::fs::read_dir(st.join("tmp")).unwrap().count(), 0);
    c.assert_nothing_left();
}
