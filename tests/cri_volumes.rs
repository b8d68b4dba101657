//! CRI scenarios about hostPath volumes (tests/cri/ has the harness):
//! read-write, read-only, a file, a symlinked host path, and mount
//! propagation None, HostToContainer and Bidirectional. Each runs with
//! handler runc, then rt.

mod common;
mod cri;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cri::{same, Pod, PodOpts};
use k8s_cri::v1::Mount;

const PRIVATE: i32 = 0;
const HOST_TO_CONTAINER: i32 = 1;
const BIDIRECTIONAL: i32 = 2;

fn volume(host: &Path, at: &str, readonly: bool, propagation: i32) -> Mount {
    Mount {
        container_path: at.into(),
        host_path: host.to_string_lossy().into_owned(),
        readonly,
        propagation,
        ..Default::default()
    }
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?}");
}

fn is_mount_point(p: &Path) -> bool {
    let p = p.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(p.as_ref()))
}

fn wait_file(p: &Path) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while !p.exists() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn host_path_volumes() {
    same("hostPath rw, ro, file, symlinked path", |h, handler| {
        let mut pod = Pod::run(h, handler, "hostpath", PodOpts::default());
        let vols = pod.dir.join("volumes");
        let (rw, ro, real) = (vols.join("rw"), vols.join("ro"), vols.join("real"));
        for d in [&rw, &ro, &real] {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(ro.join("f"), "ro-content").unwrap();
        fs::write(real.join("f"), "through-the-link").unwrap();
        fs::write(vols.join("file"), "a-file").unwrap();
        let link = vols.join("link");
        symlink(&real, &link).unwrap();
        let mut cfg = pod.container("app", &["/bin/sleep", "3600"]);
        cfg.mounts.extend([
            volume(&rw, "/data", false, PRIVATE),
            volume(&ro, "/config", true, PRIVATE),
            volume(&vols.join("file"), "/etc/app.conf", true, PRIVATE),
            volume(&link, "/linked", false, PRIVATE),
        ]);
        let c = pod.run_container(&cfg);
        pod.sh(&c, "echo from-inside > /data/out");
        assert_eq!(fs::read_to_string(rw.join("out")).unwrap(), "from-inside\n");
        assert_eq!(pod.sh(&c, "cat /config/f"), "ro-content");
        let w = pod.exec(&c, &["/bin/sh", "-c", "echo x > /config/f"]);
        assert_ne!(w.exit_code, 0, "read-only volume written");
        assert_eq!(pod.sh(&c, "cat /etc/app.conf"), "a-file");
        assert_eq!(pod.sh(&c, "cat /linked/f"), "through-the-link");
        // The symlink was resolved on the host: /linked is a directory.
        assert_eq!(pod.sh(&c, "test -L /linked || echo dir"), "dir");
        pod.teardown();
        w.exit_code
    });
}

/// Inside: mount a tmpfs at /vol/c, say ready, wait for the host's go,
/// report whether the host's mount at /vol/h is visible.
const SCRIPT: &str = "mount -t tmpfs -o size=1m tmpfs /vol/c && echo in > /vol/c/f; \
    touch /vol/ready; while [ ! -e /vol/go ]; do sleep 0.05; done; \
    if [ -e /vol/h/f ]; then echo saw > /vol/result; else echo none > /vol/result; fi; exec sleep 3600";

/// (container's mount seen on the host, host's mount seen in the container)
fn propagation(
    h: &'static cri::Harness,
    handler: &'static str,
    name: &str,
    mode: i32,
) -> (bool, bool) {
    let opts = PodOpts {
        privileged: true,
        ..Default::default()
    };
    let mut pod = Pod::run(h, handler, name, opts);
    let vol = pod.dir.join("vol");
    for d in ["c", "h"] {
        fs::create_dir_all(vol.join(d)).unwrap();
    }
    let v = vol.to_str().unwrap().to_string();
    // The CRI refuses Bidirectional (HostToContainer) unless the host path
    // is on a shared (or slave) mount, as on a systemd node.
    sh(&["mount", "--bind", &v, &v]);
    sh(&["mount", "--make-shared", &v]);
    let cleanup = |vol: &Path| {
        for m in ["h", "c", ""] {
            let p = vol.join(m);
            while is_mount_point(&p) {
                sh(&["umount", p.to_str().unwrap()]);
            }
        }
    };
    let mut cfg = pod.container("app", &["/bin/sh", "-c", SCRIPT]);
    let s = cfg
        .linux
        .as_mut()
        .unwrap()
        .security_context
        .as_mut()
        .unwrap();
    s.privileged = true;
    s.masked_paths.clear();
    s.readonly_paths.clear();
    cfg.mounts.push(volume(&vol, "/vol", false, mode));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pod.run_container(&cfg);
        assert!(wait_file(&vol.join("ready")), "container never ready");
        let up = is_mount_point(&vol.join("c"))
            && fs::read_to_string(vol.join("c/f")).unwrap_or_default() == "in\n";
        let hdir = vol.join("h").to_str().unwrap().to_string();
        sh(&["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", &hdir]);
        fs::write(vol.join("h/f"), "host").unwrap();
        fs::write(vol.join("go"), "").unwrap();
        assert!(wait_file(&vol.join("result")), "no result");
        let down = fs::read_to_string(vol.join("result")).unwrap().trim() == "saw";
        (up, down)
    }));
    match run {
        Ok(seen) => {
            cleanup(&vol);
            pod.teardown();
            seen
        }
        Err(e) => {
            drop(pod);
            cleanup(&vol);
            std::panic::resume_unwind(e)
        }
    }
}

#[test]
fn propagation_none() {
    same("hostPath propagation None", |h, handler| {
        let seen = propagation(h, handler, "propnone", PRIVATE);
        assert_eq!(seen, (false, false));
        seen
    });
}

#[test]
fn propagation_host_to_container() {
    same("hostPath propagation HostToContainer", |h, handler| {
        let seen = propagation(h, handler, "proph2c", HOST_TO_CONTAINER);
        assert_eq!(seen, (false, true));
        seen
    });
}

#[test]
fn propagation_bidirectional() {
    same("hostPath propagation Bidirectional", |h, handler| {
        let seen = propagation(h, handler, "propbidi", BIDIRECTIONAL);
        assert_eq!(seen, (true, true));
        seen
    });
}
