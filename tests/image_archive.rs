//! Images as archive files: OCI archives and docker-archives written by
//! podman (`podman save`, private storage, the image pulled from a local
//! layout) and by skopeo unpack exactly as the layout they came from, with
//! or without a reference; tampered archives fail like tampered layouts;
//! member names never become paths. Runs as root.

#[path = "image_fixtures/podman.rs"]
mod podman;
#[path = "image_fixtures/support.rs"]
mod support;

use std::path::Path;

use support::*;

const TAG: &str = "localhost/rt-archive:1.0";

fn unpack(t: &TempDir, image: &str, b: &Path) -> std::process::Output {
    rt(
        &t.path("b-root"),
        &["image", "unpack", "-q", image, b.to_str().unwrap()],
    )
}

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

/// Python (tarfile) that copies archive argv[1] to argv[2], flipping a
/// byte in the middle of the first regular member whose base name matches
/// the regular expression argv[3].
const TAMPER: &str = r#"
import io, re, sys, tarfile
src = tarfile.open(sys.argv[1])
dst = tarfile.open(sys.argv[2], "w")
done = False
for m in src.getmembers():
    data = src.extractfile(m).read() if m.isreg() else None
    if data is not None and not done and re.fullmatch(sys.argv[3], m.name.split("/")[-1]):
        b = bytearray(data)
        b[len(b) // 2] ^= 0xFF
        data = bytes(b)
        done = True
    dst.addfile(m, io.BytesIO(data) if data is not None else None)
dst.close()
assert done, "no member matched"
"#;

/// Python: an OCI archive argv[1] copied to argv[2] with the first layer
/// blob corrupted (its name kept).
const CORRUPT_BLOB: &str = r#"
import io, json, sys, tarfile
src = tarfile.open(sys.argv[1])
idx = json.load(src.extractfile("index.json"))
man = json.load(src.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
victim = "blobs/sha256/" + man["layers"][0]["digest"].split(":")[1]
dst = tarfile.open(sys.argv[2], "w")
for m in src.getmembers():
    data = src.extractfile(m).read() if m.isreg() else None
    if m.name == victim:
        b = bytearray(data)
        b[len(b) // 2] ^= 0xFF
        data = bytes(b)
    dst.addfile(m, io.BytesIO(data) if data is not None else None)
dst.close()
"#;

/// Python: an archive argv[1] whose member names aim at argv[2] (the
/// canary): climbing, absolute, and links to it.
const EVIL: &str = r#"
import io, sys, tarfile
t = tarfile.open(sys.argv[1], "w")
c = sys.argv[2]
def add(name, kind=tarfile.REGTYPE, link=""):
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = link
    data = b"pwned" if kind == tarfile.REGTYPE else b""
    i.size = len(data)
    t.addfile(i, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
add("../" * 12 + c.lstrip("/"))
add(c)
add("manifest.json", tarfile.SYMTYPE, c)
add("oci-layout", tarfile.LNKTYPE, c)
add("blobs/sha256/../../../../x.json")
t.close()
"#;

fn python(script: &str, args: &[&str]) {
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "python: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn tamper(archive: &Path, member: &str, out: &Path) {
    python(
        TAMPER,
        &[archive.to_str().unwrap(), out.to_str().unwrap(), member],
    );
}

#[test]
fn podman_and_skopeo_archives_unpack_like_their_layout() {
    if !is_root() {
        return;
    }
    require("podman");
    require("skopeo");
    let t = TempDir::new("archives");
    let img = t.path("img");
    // Two layers and a config (podman cannot re-read some paths of the
    // "semantics" image, those written through symlinks).
    mkimage(&img, "shared", &[]);
    let layout_ref = format!("{}:derived", img.display());
    ok(&unpack(&t, &layout_ref, &t.path("b-layout")));
    let want = snapshot(&t.path("b-layout/rootfs"));
    let want_cfg = std::fs::read(t.path("b-layout/config.json")).unwrap();

    let p = podman::Podman::new("archives");
    p.run(&[
        "pull",
        "--signature-policy",
        &p.policy(),
        &format!("oci:{layout_ref}"),
    ]);
    let id = p.run(&["images", "--quiet"]);
    p.run(&["tag", &id, TAG]);
    let pod_oci = t.path("podman-oci.tar");
    let pod_docker = t.path("podman-docker.tar");
    p.run(&[
        "save",
        "--format",
        "oci-archive",
        "-o",
        pod_oci.to_str().unwrap(),
        TAG,
    ]);
    p.run(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        pod_docker.to_str().unwrap(),
        TAG,
    ]);
    let sk_oci = t.path("skopeo-oci.tar");
    let sk_docker = t.path("skopeo-docker.tar");
    sh(&format!(
        "skopeo copy --quiet oci:{layout_ref} oci-archive:{}:latest && \
         skopeo copy --quiet oci:{layout_ref} docker-archive:{}:{TAG}",
        sk_oci.display(),
        sk_docker.display()
    ));
    // `docker save | gzip`, as docker load accepts it.
    let sk_gz = t.path("skopeo-docker.tar.gz");
    sh(&format!(
        "gzip -c {} > {}",
        sk_docker.display(),
        sk_gz.display()
    ));
    let mut n = 0;
    for (archive, tags) in [
        (&sk_gz, vec![None]),
        (&pod_oci, vec![None, Some(TAG)]),
        (&pod_docker, vec![None, Some(TAG), Some("1.0")]),
        (&sk_oci, vec![None, Some("latest")]),
        (&sk_docker, vec![None, Some(TAG)]),
    ] {
        for tag in tags {
            n += 1;
            let b = t.path(&format!("b-{n}"));
            let image = match tag {
                Some(tag) => format!("{}:{tag}", archive.display()),
                None => archive.display().to_string(),
            };
            ok(&unpack(&t, &image, &b));
            let got = snapshot(&b.join("rootfs"));
            let d = diff(
                &want,
                &got,
                &Cmp {
                    dir_mtime: false,
                    nlink: true,
                },
            );
            assert!(d.is_empty(), "{image} differs:\n{}", d.join("\n"));
            let cfg = std::fs::read(b.join("config.json")).unwrap();
            assert_eq!(cfg, want_cfg, "{image}: config.json differs");
        }
    }
    // A tag the archive does not hold.
    let o = unpack(
        &t,
        &format!("{}:nope", pod_docker.display()),
        &t.path("b-nope"),
    );
    assert!(!o.status.success());
    assert!(
        last_line(&o).contains("\"nope\" not found"),
        "{}",
        last_line(&o)
    );
    // Nothing of the imports stays in the store.
    let tmp = store_of(&t.path("b-root")).join("tmp");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn tampered_archives_fail_like_tampered_layouts() {
    if !is_root() {
        return;
    }
    require("skopeo");
    let t = TempDir::new("archives-tampered");
    let img = t.path("img");
    mkimage(&img, "shared", &["--comp", "none"]);
    let src = format!("{}:derived", img.display());
    let (oci, docker) = (t.path("a-oci.tar"), t.path("a-docker.tar"));
    sh(&format!(
        "skopeo copy --quiet oci:{src} oci-archive:{}:latest && \
         skopeo copy --quiet oci:{src} docker-archive:{}:{TAG}",
        oci.display(),
        docker.display()
    ));
    let canary = Canary::new(&t.0);
    // Which member to break, and the cause the last line must name. The
    // layers of this image are uncompressed, so a layer blob's digest and
    // its diff_id are the same hash and either check may speak first.
    for (archive, member, why) in [
        (&docker, "[0-9a-f]{64}[.]json", "docker-archive config"),
        (&docker, "[0-9a-f]{64}[.]tar", "diff_id digest mismatch"),
        (&oci, "index[.]json", "parse"),
    ] {
        let bad = t.path("b-bad.tar");
        tamper(archive, member, &bad);
        let b = t.path("b-bundle");
        let o = unpack(&t, bad.to_str().unwrap(), &b);
        assert!(!o.status.success(), "{member}: accepted");
        let l = last_line(&o);
        assert!(l.starts_with("rt: ") && l.contains(why), "{member}: {l}");
        assert!(!b.exists());
        std::fs::remove_file(&bad).unwrap();
    }
    // A blob of an OCI archive whose content no longer matches its name.
    let bad = t.path("b-blob.tar");
    python(
        CORRUPT_BLOB,
        &[oci.to_str().unwrap(), bad.to_str().unwrap()],
    );
    let o = unpack(&t, bad.to_str().unwrap(), &t.path("b-bundle"));
    assert!(!o.status.success());
    assert!(
        last_line(&o).contains("digest mismatch"),
        "{}",
        last_line(&o)
    );

    // Member names that climb out, absolute ones, and links to the host
    // are never followed: the archive is simply not an image.
    let evil = t.path("b-evil.tar");
    python(
        EVIL,
        &[evil.to_str().unwrap(), canary.path.to_str().unwrap()],
    );
    let o = unpack(&t, evil.to_str().unwrap(), &t.path("b-bundle"));
    assert!(!o.status.success());
    canary.assert_unchanged("hostile archive");
    let tmp = store_of(&t.path("b-root")).join("tmp");
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}
