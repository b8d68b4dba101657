//! An image built offline by buildah (from scratch, two commits, config
//! set with `buildah config`) and pushed to OCI layouts in each format
//! buildah offers: rt unpacks it exactly as umoci does, overlay mode
//! matches flat mode, and config.json reflects what buildah was told.
//! Runs as root.

#[path = "image_fixtures/buildah.rs"]
mod buildah;
#[path = "image_fixtures/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;

use buildah::Buildah;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::*;

const BASE: &str = "localhost/rt-test-base:latest";
const FINAL: &str = "localhost/rt-test-final:latest";

/// Where an unconfined buildah writes host state (network locks, the
/// short-name alias cache); the private configuration must avoid them all.
/// (Its blob-info cache under /var/lib/containers/cache cannot be moved
/// from the command line; skopeo writes the same file.)
const HOST_STATE: [&str; 5] = [
    "/etc/cni/net.d/cni.lock",
    "/etc/containers/networks",
    "/run/containers/networks",
    "/var/cache/containers",
    "/var/lib/containers/storage",
];

fn sh(cmd: &str) {
    let o = std::process::Command::new("sh")
        .arg("-ec")
        .arg(cmd)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Layer 1 from scratch with `buildah copy` (plus direct writes in the
/// mounted container for what copy cannot express); layer 2 from the
/// committed image removes a directory and a file (whiteouts) and adds
/// more. The config is set partly on each container, so layer 2 must
/// inherit the rest.
fn build(b: &Buildah, src: &Path) {
    let s = src.display();
    sh(&format!(
        "mkdir -p {s}/bin {s}/etc {s}/data {s}/opt/gone/sub {s}/home/alice && \
         cp /bin/busybox {s}/bin/busybox && ln -s busybox {s}/bin/sh && \
         echo setuid > {s}/opt/setuid && chmod 4755 {s}/opt/setuid && \
         ln {s}/opt/setuid {s}/opt/hard && \
         echo gone > {s}/opt/gone/sub/f && echo drop > {s}/opt/dropped && \
         printf 'root:x:0:0:root:/root:/bin/sh\\nalice:x:1001:1002:Alice:/home/alice:/bin/sh\\n' \
           > {s}/etc/passwd && \
         printf 'root:x:0:\\nwheel:x:10:alice\\nstaff:x:1002:\\nusers:x:100:alice\\n' > {s}/etc/group && \
         echo special > {s}/special"
    ));
    let p = b.policy();
    let c = b.run(&["from", "--quiet", "--signature-policy", &p, "scratch"]);
    b.run(&["copy", "--quiet", &c, &format!("{s}/"), "/"]);
    b.run(&[
        "copy",
        "--quiet",
        "--chown",
        "7:8",
        "--chmod",
        "2750",
        &c,
        &format!("{s}/special"),
        "/opt/special",
    ]);
    let m = b.mount(&c);
    let m = m.display();
    sh(&format!(
        "mkdir -m 1777 {m}/tmp && chown 1001:1002 {m}/home/alice && \
         ln -s /etc/passwd {m}/opt/abs_link && ln -s nowhere {m}/opt/dangling && \
         mknod -m 0666 {m}/opt/null c 1 3"
    ));
    b.run(&["umount", &c]);
    b.run(&[
        "config",
        "--entrypoint",
        r#"["/bin/busybox"]"#,
        "--env",
        "FOO=bar",
        "--env",
        "PATH=/bin",
        "--user",
        "alice",
        &c,
    ]);
    b.run(&[
        "commit",
        "--quiet",
        "--rm",
        "--signature-policy",
        &p,
        &c,
        BASE,
    ]);

    let c = b.run(&[
        "from",
        "--quiet",
        "--pull-never",
        "--signature-policy",
        &p,
        BASE,
    ]);
    let m = b.mount(&c);
    let m = m.display();
    sh(&format!(
        "rm -rf {m}/opt/gone && rm {m}/opt/dropped && mkfifo -m 0600 {m}/opt/fifo && \
         echo owned > {m}/opt/owned && chown 1234:5678 {m}/opt/owned && \
         chmod 0640 {m}/opt/owned && touch -h -d @1234567890 {m}/opt/owned && \
         rm {m}/opt/setuid && echo again > {m}/opt/setuid"
    ));
    b.run(&["umount", &c]);
    b.run(&[
        "config",
        "--cmd",
        r#"["sh", "-c", "echo hi"]"#,
        "--workingdir",
        "/data",
        "--label",
        "org.example.flavour=buildah",
        "--port",
        "8080/tcp",
        "--port",
        "53/udp",
        "--volume",
        "/data",
        "--stop-signal",
        "SIGQUIT",
        &c,
    ]);
    b.run(&[
        "commit",
        "--quiet",
        "--rm",
        "--signature-policy",
        &p,
        &c,
        FINAL,
    ]);
}

fn config(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p.join("config.json")).unwrap()).unwrap()
}

fn manifest_media(layout: &Path) -> (String, Vec<String>) {
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let idx = read(&layout.join("index.json"));
    let d = idx["manifests"][0]["digest"].as_str().unwrap();
    let m = read(&layout.join("blobs/sha256").join(&d["sha256:".len()..]));
    let layers = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect();
    (m["mediaType"].as_str().unwrap().to_string(), layers)
}

fn env(v: &Value) -> Vec<String> {
    v["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .filter(|e| !e.starts_with("TERM="))
        .collect()
}

/// rt's config.json against umoci's and against what buildah was told.
fn check_config(u: &Value, r: &Value, what: &str) {
    for ptr in ["/process/args", "/process/cwd", "/root/path"] {
        assert_eq!(u.pointer(ptr), r.pointer(ptr), "{what}: {ptr}");
    }
    let user = |v: &Value| {
        let mut u = v["process"]["user"].clone();
        if u.get("additionalGids").is_none() {
            u["additionalGids"] = json!([]);
        }
        u
    };
    assert_eq!(user(u), user(r), "{what}: user");
    // umoci moves an image's PATH to the front (it overwrites the default
    // spec's PATH in place); rt keeps the image's order. Same environment.
    let sorted = |v: &Value| {
        let mut e = env(v);
        e.sort();
        e
    };
    assert_eq!(sorted(u), sorted(r), "{what}: env");

    assert_eq!(
        r["process"]["args"],
        json!(["/bin/busybox", "sh", "-c", "echo hi"]),
        "{what}"
    );
    assert_eq!(r["process"]["cwd"], "/data", "{what}");
    assert_eq!(r["process"]["user"]["uid"], 1001, "{what}");
    assert_eq!(r["process"]["user"]["gid"], 1002, "{what}");
    let mut gids: Vec<u64> = r["process"]["user"]["additionalGids"]
        .as_array()
        .map(|a| a.iter().map(|g| g.as_u64().unwrap()).collect())
        .unwrap_or_default();
    gids.sort();
    assert!(
        gids.contains(&10) && gids.contains(&100),
        "{what}: additional gids {gids:?}"
    );
    assert_eq!(
        env(r),
        ["FOO=bar", "PATH=/bin", "HOME=/home/alice"],
        "{what}: env"
    );
    let vol = |v: &Value| {
        v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/data")
            .cloned()
    };
    assert!(vol(r).is_some(), "{what}: volume /data not mounted");
    assert_eq!(vol(u), vol(r), "{what}: volume");
    // umoci writes empty annotations for absent fields; rt leaves them out.
    for (k, val) in u["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| *v != "")
    {
        assert_eq!(r["annotations"].get(k), Some(val), "{what}: annotation {k}");
    }
    let ann = &r["annotations"];
    assert_eq!(ann["org.example.flavour"], "buildah", "{what}");
    assert_eq!(
        ann["org.opencontainers.image.stopSignal"], "SIGQUIT",
        "{what}"
    );
    let mut ports: Vec<&str> = ann["org.opencontainers.image.exposedPorts"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .collect();
    ports.sort();
    assert_eq!(ports, ["53/udp", "8080/tcp"], "{what}");
    assert_eq!(ann["org.opencontainers.image.os"], "linux", "{what}");
    let _: oci_spec::runtime::Spec = serde_json::from_value(r.clone()).unwrap();
}

/// Spot checks, so the test fails even if umoci changed behaviour.
fn spot_checks(f: &BTreeMap<Vec<u8>, Node>, what: &str) {
    let n = |k: &str| {
        f.get(k.as_bytes())
            .unwrap_or_else(|| panic!("{what}: {k} missing"))
            .clone()
    };
    for gone in ["opt/gone", "opt/gone/sub/f", "opt/dropped"] {
        assert!(!f.contains_key(gone.as_bytes()), "{what}: {gone} survived");
    }
    assert!(
        !f.keys().any(|k| k.windows(4).any(|w| w == b".wh.")),
        "{what}: whiteout file left in the tree"
    );
    let busybox = std::fs::read("/bin/busybox").unwrap();
    let sum: String = Sha256::digest(&busybox)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(n("bin/busybox").content, sum, "{what}");
    assert_eq!(n("bin/busybox").mode & 0o111, 0o111, "{what}");
    assert_eq!(n("bin/sh").link, b"busybox", "{what}");
    assert_eq!(n("opt/abs_link").link, b"/etc/passwd", "{what}");
    assert_eq!(n("opt/dangling").link, b"nowhere", "{what}");
    // Rewritten in layer 2, so the hardlink to it is broken there.
    assert_eq!(n("opt/setuid").size, 6, "{what}");
    assert_eq!(n("opt/hard").size, 7, "{what}");
    assert_eq!(n("opt/hard").mode, 0o4755, "{what}");
    let sp = n("opt/special");
    assert_eq!((sp.mode, sp.uid, sp.gid), (0o2750, 7, 8), "{what}");
    let ow = n("opt/owned");
    assert_eq!((ow.mode, ow.uid, ow.gid), (0o640, 1234, 5678), "{what}");
    assert_eq!(ow.mtime.0, 1234567890, "{what}");
    assert_eq!(n("opt/fifo").kind, 'p', "{what}");
    assert_eq!(n("opt/fifo").mode, 0o600, "{what}");
    assert_eq!(n("opt/null").kind, 'c', "{what}");
    assert_eq!(n("opt/null").rdev, libc::makedev(1, 3), "{what}");
    assert_eq!(n("tmp").mode, 0o1777, "{what}");
    let h = n("home/alice");
    assert_eq!((h.uid, h.gid), (1001, 1002), "{what}");
}

#[test]
fn buildah_images_match_umoci() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    require("buildah");
    require("umoci");
    assert!(Path::new("/bin/busybox").exists(), "busybox-static missing");
    let t = TempDir::new("buildah");
    let host_before: Vec<bool> = HOST_STATE.iter().map(|p| Path::new(p).exists()).collect();
    let b = Buildah::new("img");
    build(&b, &t.path("src"));

    // buildah 1.28 pushes an OCI layout as OCI/gzip by default, as Docker
    // schema 2 with --format docker, and with zstd layers on request.
    let p = b.policy();
    let variants: [(&str, &[&str], &str); 3] = [
        ("oci", &[], "application/vnd.oci.image.layer.v1.tar+gzip"),
        (
            "docker",
            &["--format", "docker"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        (
            "zstd",
            &["--compression-format", "zstd"],
            "application/vnd.oci.image.layer.v1.tar+zstd",
        ),
    ];
    for (name, flags, layer_type) in &variants {
        let dest = format!("oci:{}:v1", t.path(&format!("layout-{name}")).display());
        let mut a = vec!["push", "--quiet", "--signature-policy", &p];
        a.extend_from_slice(flags);
        a.extend_from_slice(&[FINAL, &dest]);
        b.run(&a);
        let (_, layers) = manifest_media(&t.path(&format!("layout-{name}")));
        assert_eq!(layers.len(), 2, "{name}: {layers:?}");
        assert!(layers.iter().all(|l| l == layer_type), "{name}: {layers:?}");
    }
    b.clean();
    drop(b);
    for (p, existed) in HOST_STATE.iter().zip(host_before) {
        assert!(existed || !Path::new(p).exists(), "buildah created {p}");
    }

    let oci = format!("{}:v1", t.path("layout-oci").display());
    ok(&umoci_unpack(&oci, &t.path("umoci")));
    let u = snapshot(&t.path("umoci/rootfs"));
    let uc = config(&t.path("umoci"));
    spot_checks(&u, "umoci");

    let canary = Canary::new(&t.0);
    let root = t.path("b-root");
    let mut first_cfg: Option<Value> = None;
    for (name, _, _) in &variants {
        let image = format!("{}:v1", t.path(&format!("layout-{name}")).display());
        let flat = t.path(&format!("b-flat-{name}"));
        let ovl = t.path(&format!("b-ovl-{name}"));
        ok(&rt(
            &root,
            &[
                "image",
                "unpack",
                "-q",
                "--flat",
                &image,
                flat.to_str().unwrap(),
            ],
        ));
        ok(&rt(
            &root,
            &[
                "image",
                "unpack",
                "-q",
                "--overlay",
                &image,
                ovl.to_str().unwrap(),
            ],
        ));
        let f = snapshot(&flat.join("rootfs"));
        let o = snapshot(&ovl.join("rootfs"));
        let full = Cmp {
            dir_mtime: false,
            nlink: true,
        };
        let d = diff(&u, &f, &full);
        assert!(
            d.is_empty(),
            "{name}: rt --flat differs from umoci:\n{}",
            d.join("\n")
        );
        assert_eq!(link_groups(&u), link_groups(&f), "{name}: hardlinks");
        let lax = Cmp {
            dir_mtime: false,
            nlink: false,
        };
        let d = diff(&f, &o, &lax);
        assert!(
            d.is_empty(),
            "{name}: overlay differs from flat:\n{}",
            d.join("\n")
        );
        spot_checks(&f, name);

        let (fc, oc) = (config(&flat), config(&ovl));
        check_config(&uc, &fc, name);
        assert_eq!(fc, oc, "{name}: flat and overlay config.json differ");
        // The same image config in every format: the same config.json.
        match &first_cfg {
            None => first_cfg = Some(fc),
            Some(c) => assert_eq!(c, &fc, "{name}: config.json differs from oci"),
        }

        for bundle in [&flat, &ovl] {
            ok(&rt(&root, &["image", "remove", bundle.to_str().unwrap()]));
            assert!(!bundle.exists(), "{} left behind", bundle.display());
        }
        canary.assert_unchanged(name);
    }
    assert!(mounts_under(&t.0).is_empty(), "mounts left behind");
}
