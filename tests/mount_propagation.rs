//! hostPath volume propagation as containerd's CRI writes it into
//! config.json (pkg/cri/opts WithMounts, containerd 1.6): None is
//! `rbind,rprivate`, HostToContainer `rbind,rslave` with rootfsPropagation
//! rslave, Bidirectional `rbind,rshared` with rootfsPropagation rshared, the
//! host directory being a shared mount (CRI refuses otherwise). Each mode
//! is run on runc and rt: a mount made inside the container under the
//! volume, and one made on the host after the start, must show up on the
//! other side exactly as they do with runc.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::leftovers::mounts_under;
use common::runtime::runc_available;
use common::{Case, Kind};
use serde_json::json;

const T: Duration = Duration::from_secs(10);

/// Inside: mount a tmpfs at /vol/c, say ready, wait for the host's go,
/// report whether the host's mount at /vol/h is visible, keep running.
const SCRIPT: &str = "mount -t tmpfs -o size=1m tmpfs /vol/c && echo in > /vol/c/f; \
    touch /vol/ready; i=0; while [ ! -e /vol/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; \
    if [ -e /vol/h/f ]; then echo saw > /vol/result; else echo none > /vol/result; fi; exec sleep 60";

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?}");
}

fn is_mount_point(p: &Path) -> bool {
    let p = p.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(4) == Some(p.as_ref()))
}

fn wait_file(p: &Path) -> bool {
    let end = Instant::now() + T;
    while !p.exists() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// What each side saw: (container's mount on the host, host's mount in the
/// container).
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    up: bool,
    down: bool,
}

fn run_mode(kind: Kind, mode: &str) -> Seen {
    let mut c = Case::with_kind(&format!("prop-{mode}-{}", kind.name()), kind);
    let vol: PathBuf = c.dir.join("vol");
    for d in ["c", "h"] {
        fs::create_dir_all(vol.join(d)).unwrap();
    }
    let v = vol.to_str().unwrap().to_string();
    // What the CRI requires of a Bidirectional source: a shared mount.
    sh(&["mount", "--bind", &v, &v]);
    sh(&["mount", "--make-shared", &v]);
    let (opt, root) = match mode {
        "none" => ("rprivate", None),
        "host-to-container" => ("rslave", Some("rslave")),
        _ => ("rshared", Some("rshared")),
    };
    c.bundle
        .add_mount(json!({"destination": "/vol", "type": "bind",
        "source": v, "options": ["rbind", opt, "rw"]}));
    if let Some(r) = root {
        c.bundle.set("/linux/rootfsPropagation", json!(r));
    }
    // Bidirectional needs a privileged container in Kubernetes; mounting
    // needs CAP_SYS_ADMIN here.
    c.bundle.all_caps(&["CAP_SYS_ADMIN"]);
    c.bundle.args(&["/bin/sh", "-c", SCRIPT]);
    c.create().expect_ok("create");
    c.start().expect_ok("start");
    assert!(
        wait_file(&vol.join("ready")),
        "{mode}: container never ready"
    );
    // The runtime's own mounts (rootfs, /proc, ...) must not leak to the
    // host, whatever the propagation.
    let leaked = mounts_under(&c.bundle.rootfs());
    let up = is_mount_point(&vol.join("c"))
        && fs::read_to_string(vol.join("c/f")).unwrap_or_default() == "in\n";
    let h = vol.join("h").to_str().unwrap().to_string();
    sh(&["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", &h]);
    fs::write(vol.join("h/f"), "host").unwrap();
    fs::write(vol.join("go"), "").unwrap();
    assert!(wait_file(&vol.join("result")), "{mode}: no result");
    let down = fs::read_to_string(vol.join("result")).unwrap().trim() == "saw";
    c.rt.kill(&c.id, "KILL").expect_ok("kill");
    assert!(c.rt.wait_status(&c.id, "stopped", T), "never stopped");
    c.rt.delete(&c.id).expect_ok("delete");
    for m in ["h", "c"] {
        let p = vol.join(m);
        while is_mount_point(&p) {
            sh(&["umount", p.to_str().unwrap()]);
        }
    }
    sh(&["umount", &v]);
    assert!(
        leaked.is_empty(),
        "{mode}: mounts leaked to the host: {leaked:#?}"
    );
    c.assert_nothing_left();
    Seen { up, down }
}

fn compare(mode: &str, want: Seen) {
    if !runc_available() {
        eprintln!("note: runc not installed, propagation not compared");
        return;
    }
    let mut runc = run_mode(Kind::Runc, mode);
    if runc != want {
        // runc itself once missed the host's mount in Bidirectional (up
        // true, down false) in a full run-all (2026-12-02), though not in
        // six runs of this file alone. One more run tells a flake of the
        // reference from a change in runc; rt gets no second chance.
        eprintln!("note: runc saw {runc:?} in {mode}, expected {want:?}: running it again");
        runc = run_mode(Kind::Runc, mode);
    }
    assert_eq!(runc, want, "runc, {mode}");
    let rt = run_mode(Kind::Rt, mode);
    assert_eq!(rt, runc, "rt differs from runc, {mode}");
}

#[test]
fn propagation_none() {
    compare(
        "none",
        Seen {
            up: false,
            down: false,
        },
    );
}

#[test]
fn propagation_host_to_container() {
    compare(
        "host-to-container",
        Seen {
            up: false,
            down: true,
        },
    );
}

#[test]
fn propagation_bidirectional() {
    compare(
        "bidirectional",
        Seen {
            up: true,
            down: true,
        },
    );
}
