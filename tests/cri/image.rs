//! The pod's pause image and the test image, built here (no registry): one
//! layer with busybox (every applet linked), the static probe and a minimal
//! /etc, as an OCI image layout packed into a tar, imported with
//! `ctr -n k8s.io images import`. Two tags share the layer: `pause` runs
//! `/probe pause` (a reaping pid 1), `latest` runs `/probe all`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::daemon::Daemon;
use crate::common::fixtures;

pub const IMAGE: &str = "rt.test/probe:latest";
pub const PAUSE: &str = "rt.test/probe:pause";

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct Blob {
    media: &'static str,
    digest: String,
    data: Vec<u8>,
}

fn blob(media: &'static str, data: Vec<u8>) -> Blob {
    let digest = format!("sha256:{}", super::sha256_hex(&data));
    Blob {
        media,
        digest,
        data,
    }
}

fn descriptor(b: &Blob) -> Value {
    json!({"mediaType": b.media, "digest": b.digest, "size": b.data.len()})
}

/// The layer: the harness's rootfs plus a link for every busybox applet.
fn layer(work: &Path) -> Vec<u8> {
    let rootfs = work.join("rootfs");
    fixtures::make_rootfs(&rootfs);
    let out = Command::new(fixtures::busybox())
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let link = rootfs.join("bin").join(applet);
        if applet != "busybox" && fs::symlink_metadata(&link).is_err() {
            symlink("busybox", &link).expect("applet link");
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all(".", &rootfs).expect("tar the rootfs");
    tar.into_inner().expect("finish layer tar")
}

/// Build both images into an OCI archive and import it.
pub fn import(d: &Daemon) {
    let work = d.dir.join("image");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("image work dir");
    let layer = blob("application/vnd.oci.image.layer.v1.tar", layer(&work));
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    for (tag, cmd) in [
        ("latest", ["/probe", "all"]),
        ("pause", ["/probe", "pause"]),
    ] {
        let config = blob(
            "application/vnd.oci.image.config.v1+json",
            json!({
                "architecture": "amd64",
                "os": "linux",
                "config": {"Env": [PATH_ENV], "Cmd": cmd, "WorkingDir": "/"},
                "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
            })
            .to_string()
            .into_bytes(),
        );
        let manifest = blob(
            "application/vnd.oci.image.manifest.v1+json",
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": descriptor(&config),
                "layers": [descriptor(&layer)],
            })
            .to_string()
            .into_bytes(),
        );
        let mut desc = descriptor(&manifest);
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        manifests.push(desc);
        blobs.push(config);
        blobs.push(manifest);
    }
    blobs.push(layer);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data).expect("archive entry");
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = json!({"schemaVersion": 2, "manifests": manifests}).to_string();
    add("index.json", index.as_bytes());
    for b in &blobs {
        let hex = b.digest.trim_start_matches("sha256:");
        add(&format!("blobs/sha256/{hex}"), &b.data);
    }
    let archive = work.join("images.tar");
    fs::write(&archive, tar.into_inner().expect("finish archive")).expect("write archive");
    let o = d.ctr(&[
        "images",
        "import",
        "--base-name",
        "rt.test/probe",
        archive.to_str().expect("utf-8 path"),
    ]);
    assert!(o.status.success(), "ctr images import: {o:?}");
    let _ = fs::remove_dir_all(&work);
}
