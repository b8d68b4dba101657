//! `rt image unpack` against umoci on crafted and tool-built images: layer
//! semantics, compression variants, platforms, references and the cache.
//! Runs as root (device nodes, ownership, overlay mounts).

#[path = "image_fixtures/support.rs"]
mod support;

use std::os::unix::fs::MetadataExt;

use support::*;

fn unpack(t: &TempDir, args: &[&str]) -> std::process::Output {
    let mut a = vec!["image", "unpack", "-q"];
    a.extend_from_slice(args);
    rt(&t.path("b-root"), &a)
}

#[test]
fn semantics_flat_matches_umoci_and_overlay_matches_flat() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    require("umoci");
    let t = TempDir::new("semantics");
    let img = t.path("img");
    mkimage(&img, "semantics", &[]);
    let image = format!("{}:latest", img.display());
    ok(&umoci_unpack(&image, &t.path("umoci")));
    ok(&unpack(
        &t,
        &["--flat", &image, t.path("b-flat").to_str().unwrap()],
    ));
    ok(&unpack(
        &t,
        &["--overlay", &image, t.path("b-ovl").to_str().unwrap()],
    ));
    let u = snapshot(&t.path("umoci/rootfs"));
    let f = snapshot(&t.path("b-flat/rootfs"));
    let o = snapshot(&t.path("b-ovl/rootfs"));
    let d = diff(
        &u,
        &f,
        &Cmp {
            dir_mtime: false,
            nlink: true,
        },
    );
    assert!(
        d.is_empty(),
        "rt --flat differs from umoci:\n{}",
        d.join("\n")
    );
    assert_eq!(link_groups(&u), link_groups(&f));
    let d = diff(
        &f,
        &o,
        &Cmp {
            dir_mtime: false,
            nlink: false,
        },
    );
    assert!(d.is_empty(), "overlay differs from flat:\n{}", d.join("\n"));

    // Spot checks, so the test fails even if umoci changed behaviour.
    let n = |k: &str| {
        f.get(k.as_bytes())
            .unwrap_or_else(|| panic!("{k} missing"))
            .clone()
    };
    for gone in [
        "wh_file",
        "wh_dir",
        "opq/a",
        "opq/sub",
        "opq/keep_me_not",
        "opq2/x",
        "opq2/deep/old",
    ] {
        assert!(
            !f.contains_key(gone.as_bytes()),
            "{gone} survived its whiteout"
        );
    }
    for kept in [
        "opq/new",
        "opq/sub2/d",
        "opq2/y",
        "opq2/deep/new",
        "realdir/g",
        "realdir/h",
    ] {
        assert!(f.contains_key(kept.as_bytes()), "{kept} missing");
    }
    assert_eq!(n("reappear").size, 6);
    assert_eq!(n("file_to_dir").kind, 'd');
    assert_eq!(n("dir_to_file").kind, 'f');
    assert_eq!(n("link_to_file").kind, 'f');
    assert_eq!(n("file_to_link").kind, 'l');
    assert_eq!(n("dir_to_link").kind, 'l');
    assert_eq!(n("fifo_to_file").kind, 'f');
    assert_eq!(n("dev_to_dir").kind, 'd');
    assert_eq!(n("dev/null").kind, 'c');
    assert_eq!(n("dev/null").rdev, libc::makedev(1, 3));
    assert_eq!(n("dev/loop0").kind, 'b');
    assert_eq!(n("fifo").kind, 'p');
    assert_eq!((n("owned").uid, n("owned").gid), (1234, 5678));
    assert_eq!(n("setuid").mode, 0o6755);
    assert_eq!(n("setgid").mode, 0o2775);
    assert_eq!(n("sticky").mode, 0o1777);
    assert_eq!(n("mtime_file").mtime.0, 1234567890);
    assert_eq!(n("mtime_dir").mtime.0, 1111111111);
    assert_eq!(n("dangling").link, b"nowhere/at/all");
    assert_eq!(n("abs_link").link, b"/etc/passwd");
    assert_eq!(n("xattr_file").xattrs.get("user.foo").unwrap(), b"bar");
    assert_eq!(
        n("xattr_file").xattrs.get("user.bin").unwrap(),
        b"\x00\xff\x01"
    );
    assert!(n("bin/ping").xattrs.contains_key("security.capability"));
    assert!(f.contains_key(&b"caf\xe9-\xff"[..]));
    assert_eq!(n("hl_upper").ino, n("hl_lower").ino);
    assert_eq!(n("hl_again").ino, n("hl_lower").ino);
    assert_eq!(n("hl_a").ino, n("hl_b").ino);
    assert!(f.keys().any(|k| k.len() > 200), "long names missing");

    ok(&rt(
        &t.path("b-root"),
        &["image", "remove", t.path("b-ovl").to_str().unwrap()],
    ));
    assert!(!t.path("b-ovl").exists());
    assert!(mounts_under(&t.0).is_empty());
}

#[test]
fn compression_variants_unpack_identically() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("comp");
    let mut snaps = Vec::new();
    for comp in ["gzip", "none", "zstd", "docker"] {
        let img = t.path(&format!("img-{comp}"));
        mkimage(&img, "semantics", &["--comp", comp]);
        let b = t.path(&format!("b-{comp}"));
        ok(&unpack(
            &t,
            &[
                "--flat",
                &format!("{}:latest", img.display()),
                b.to_str().unwrap(),
            ],
        ));
        snaps.push((comp, snapshot(&b.join("rootfs"))));
    }
    for (comp, s) in &snaps[1..] {
        let d = diff(
            &snaps[0].1,
            s,
            &Cmp {
                dir_mtime: false,
                nlink: true,
            },
        );
        assert!(d.is_empty(), "{comp} differs from gzip:\n{}", d.join("\n"));
    }
}

#[test]
fn sparse_files_keep_holes() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("sparse");
    // Old GNU sparse entries, and PAX sparse 1.0 (which the tar crate
    // used to extract as "GNUSparseFile.N/sparse" with its map inside).
    for case in ["sparse", "sparse_pax"] {
        let img = t.path(case);
        mkimage(&img, case, &[]);
        let b = t.path(&format!("b-{case}"));
        ok(&unpack(&t, &[img.to_str().unwrap(), b.to_str().unwrap()]));
        let p = b.join("rootfs/sparse");
        let data = std::fs::read(&p).unwrap();
        assert_eq!(data.len(), 8 << 20, "{case}");
        assert_eq!(&data[4 << 20..(4 << 20) + 6], b"middle", "{case}");
        assert_eq!(&data[(8 << 20) - 4..], b"end!", "{case}");
        assert!(data[..4 << 20].iter().all(|b| *b == 0), "{case}");
        let md = std::fs::metadata(&p).unwrap();
        assert!(
            md.blocks() * 512 < 1 << 20,
            "{case}: holes were filled: {} blocks",
            md.blocks()
        );
        let names: Vec<_> = std::fs::read_dir(b.join("rootfs"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["sparse"], "{case}");
    }
}

#[test]
fn platforms_and_references() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("platform");
    let img = t.path("img");
    mkimage(&img, "multiplatform", &[]);
    let multi = format!("{}:multi", img.display());
    let cases = [
        (None, "amd64/"),
        (Some("linux/amd64"), "amd64/"),
        (Some("linux/arm64"), "arm64/v8"),
        (Some("linux/arm64/v8"), "arm64/v8"),
        (Some("linux/arm/v7"), "arm/v7"),
        (Some("linux/s390x"), "s390x/"),
    ];
    for (i, (p, want)) in cases.iter().enumerate() {
        let b = t.path(&format!("b-{i}"));
        let mut args = vec!["--flat"];
        if let Some(p) = p {
            args.extend(["--platform", p]);
        }
        args.extend([multi.as_str(), b.to_str().unwrap()]);
        ok(&unpack(&t, &args));
        let got = std::fs::read_to_string(b.join("rootfs/platform")).unwrap();
        assert_eq!(&got, want, "platform {p:?}");
    }
    if std::env::consts::ARCH == "x86_64" {
        let o = unpack(
            &t,
            &[
                "--platform",
                "linux/ppc64le",
                &multi,
                t.path("b-x").to_str().unwrap(),
            ],
        );
        assert!(!o.status.success());
        assert!(
            last_line(&o).contains("no manifest for platform linux/ppc64le"),
            "{}",
            last_line(&o)
        );
        assert!(!t.path("b-x").exists());
    }
    // The other tag, and an unknown one listing what exists.
    ok(&unpack(
        &t,
        &[
            &format!("{}:other", img.display()),
            t.path("b-other").to_str().unwrap(),
        ],
    ));
    assert!(t.path("b-other/rootfs/hello").exists());
    let o = unpack(
        &t,
        &[
            &format!("{}:nope", img.display()),
            t.path("b-y").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let l = last_line(&o);
    assert!(
        l.starts_with("rt: ") && l.contains("\"nope\"") && l.contains("multi, other"),
        "{l}"
    );
    // No tag given and no `latest`: more than one manifest is ambiguous.
    let o = unpack(
        &t,
        &[img.to_str().unwrap(), t.path("b-z").to_str().unwrap()],
    );
    assert!(!o.status.success());

    let img2 = t.path("img2");
    mkimage(&img2, "untagged", &[]);
    ok(&unpack(
        &t,
        &[img2.to_str().unwrap(), t.path("b-u").to_str().unwrap()],
    ));
}

#[test]
fn cache_reuses_layers_across_unpacks_and_images() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("cache");
    let img = t.path("img");
    mkimage(&img, "shared", &[]);
    let run = |tag: &str, b: &str| {
        let o = rt(
            &t.path("b-root"),
            &[
                "image",
                "unpack",
                "--overlay",
                &format!("{}:{tag}", img.display()),
                t.path(b).to_str().unwrap(),
            ],
        );
        ok(&o);
        last_line(&o)
    };
    let l = run("base", "b-1");
    assert!(l.contains("1 extracted, 0 cached"), "{l}");
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(t.path("b-root-store/layers/chains"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    };
    let base = entries().pop().unwrap();
    // Written without fsync: not durable until reused in this boot.
    assert!(!base.join("durable").exists());
    let l = run("base", "b-2");
    assert!(l.contains("0 extracted, 1 cached"), "{l}");
    assert!(base.join("durable").exists());
    let l = run("derived", "b-3");
    assert!(l.contains("1 extracted, 1 cached"), "{l}");
    assert_eq!(
        std::fs::read(t.path("b-3/rootfs/extra")).unwrap(),
        b"derived"
    );
    // A container writing into one bundle must not leak into the cache.
    std::fs::write(t.path("b-2/rootfs/hello"), b"changed").unwrap();
    std::fs::remove_file(t.path("b-2/rootfs/etc/group")).unwrap();
    let l = run("base", "b-4");
    assert!(l.contains("0 extracted"), "{l}");
    assert_eq!(
        std::fs::read(t.path("b-4/rootfs/hello")).unwrap(),
        b"hello world\n"
    );
    assert!(t.path("b-4/rootfs/etc/group").exists());
    assert_eq!(
        std::fs::read_dir(t.path("b-root-store/layers/tmp"))
            .unwrap()
            .count(),
        0
    );
    for b in ["b-1", "b-2", "b-3"] {
        ok(&rt(
            &t.path("b-root"),
            &["image", "remove", t.path(b).to_str().unwrap()],
        ));
    }
    // b-4 still uses the base layer: only the derived one may go.
    let chains = || {
        std::fs::read_dir(t.path("b-root-store/layers/chains"))
            .unwrap()
            .count()
    };
    assert_eq!(chains(), 2);
    let o = rt(&t.path("b-root"), &["image", "prune"]);
    ok(&o);
    assert_eq!(last_line(&o), "removed 1 cached layers and leftovers");
    assert_eq!(chains(), 1);
    assert_eq!(
        std::fs::read(t.path("b-4/rootfs/hello")).unwrap(),
        b"hello world\n"
    );
    ok(&rt(
        &t.path("b-root"),
        &["image", "remove", t.path("b-4").to_str().unwrap()],
    ));
    // An unsynced entry from another boot may be torn by a crash: it is
    // extracted again, never trusted.
    std::fs::remove_file(base.join("durable")).unwrap();
    std::fs::write(base.join("boot"), "an-earlier-boot").unwrap();
    let l = run("base", "b-5");
    assert!(l.contains("1 extracted, 0 cached"), "{l}");
    assert_eq!(
        std::fs::read(t.path("b-5/rootfs/hello")).unwrap(),
        b"hello world\n"
    );
    ok(&rt(
        &t.path("b-root"),
        &["image", "remove", t.path("b-5").to_str().unwrap()],
    ));
    ok(&rt(&t.path("b-root"), &["image", "prune"]));
    assert_eq!(chains(), 0);
    assert!(mounts_under(&t.0).is_empty());
}

#[test]
fn refuses_existing_bundle_and_is_silent_without_tty() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("exists");
    let img = t.path("img");
    mkimage(&img, "bomb", &[]);
    let b = t.path("b-1");
    std::fs::create_dir(&b).unwrap();
    std::fs::write(b.join("keep"), b"mine").unwrap();
    let o = unpack(&t, &[img.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(last_line(&o).contains("already exists"));
    assert_eq!(std::fs::read(b.join("keep")).unwrap(), b"mine");
    // A 16 MiB layer, but stderr is a pipe: no progress output at all.
    let o = unpack(
        &t,
        &[img.to_str().unwrap(), t.path("b-2").to_str().unwrap()],
    );
    ok(&o);
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn rootless_unpack_records_ownership_and_fakes_devices() {
    if !is_root() {
        return;
    }
    require("setpriv");
    let t = TempDir::new("rootless");
    let img = t.path("img");
    mkimage(&img, "semantics", &[]);
    std::fs::set_permissions(&t.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let b = t.path("b-1");
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            RT,
            "--root",
        ])
        .arg(t.path("b-root"))
        .args(["image", "unpack", &format!("{}:latest", img.display())])
        .arg(&b)
        .output()
        .unwrap();
    ok(&o);
    let s = snapshot(&b.join("rootfs"));
    let n = |k: &str| s.get(k.as_bytes()).unwrap().clone();
    assert_eq!(n("dev/null").kind, 'f');
    assert_eq!(n("dev/null").size, 0);
    assert_eq!(n("owned").uid, 65534);
    assert_eq!(
        n("owned").xattrs.get("user.rootlesscontainers").unwrap(),
        &[0x08, 0xd2, 0x09, 0x10, 0xae, 0x2c]
    );
    assert_eq!(n("setuid").mode, 0o6755);
    assert_eq!(n("ro_dir").mode, 0o555);
    assert!(s.contains_key(&b"ro_dir/b"[..]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("could not set owner of owned to 1234:5678"),
        "{err}"
    );
    // Without privilege a file capability cannot be set: said, not fatal.
    assert!(
        err.contains(
            "xattr security.capability of bin/ping not applied: not permitted without privilege"
        ),
        "{err}"
    );
    assert!(!n("bin/ping").xattrs.contains_key("security.capability"));
    assert_eq!(n("xattr_file").xattrs.get("user.foo").unwrap(), b"bar");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    let ns = cfg["linux"]["namespaces"].as_array().unwrap();
    assert!(ns.iter().any(|n| n["type"] == "user"));
}

#[test]
fn progress_line_on_a_terminal() {
    if !is_root() {
        return;
    }
    require("script");
    let t = TempDir::new("progress");
    let img = t.path("img");
    mkimage(&img, "big", &[]);
    // script(1) gives rt a pseudo-terminal as stderr.
    let cmd = format!(
        "{RT} --root {} image unpack --flat {} {} 2>&1",
        t.path("b-root").display(),
        img.display(),
        t.path("b-1").display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("unpacking layer 1/1"), "{out}");
    assert!(out.contains("MB"), "{out}");
    // Reading an archive in shows its own line, then the layers'.
    require("skopeo");
    let archive = t.path("img.tar");
    let o = std::process::Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:latest", img.display()))
        .arg(format!("oci-archive:{}:latest", archive.display()))
        .output()
        .unwrap();
    ok(&o);
    let cmd = format!(
        "{RT} --root {} --image-store {} image unpack {} {} 2>&1",
        t.path("b-root").display(),
        t.path("b-store").display(),
        archive.display(),
        t.path("b-2").display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("importing {}: ", archive.display())),
        "{out}"
    );
    assert!(out.contains("unpacking layer 1/1"), "{out}");
}
