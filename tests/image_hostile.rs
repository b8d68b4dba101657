//! Hostile and broken images: nothing outside the rootfs may change, and a
//! broken image leaves no bundle, no cache debris and no mount behind.

#[path = "image_fixtures/support.rs"]
mod support;

use support::*;

const HOSTILE: &[&str] = &[
    "traversal",
    "absolute",
    "symlink_same_layer",
    "symlink_earlier_layer",
    "symlink_chain",
    "hardlink_outside",
    "whiteout_outside",
    "symlink_dot",
    "symlink_loop",
    "chmod_through_symlink",
];

#[test]
fn hostile_layers_never_touch_the_host() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    require("umoci");
    for case in HOSTILE {
        let t = TempDir::new(case);
        let canary = Canary::new(&t.0);
        let img = t.path("b-img");
        mkimage(&img, case, &["--canary", canary.path.to_str().unwrap()]);
        let image = format!("{}:latest", img.display());
        let flat = t.path("b-flat");
        let o1 = rt(
            &t.path("b-root"),
            &[
                "image",
                "unpack",
                "-q",
                "--flat",
                &image,
                flat.to_str().unwrap(),
            ],
        );
        canary.assert_unchanged(&format!("{case} (flat)"));
        let ovl = t.path("b-ovl");
        let o2 = rt(
            &t.path("b-root"),
            &[
                "image",
                "unpack",
                "-q",
                "--overlay",
                &image,
                ovl.to_str().unwrap(),
            ],
        );
        canary.assert_unchanged(&format!("{case} (overlay)"));
        assert_eq!(
            o1.status.success(),
            o2.status.success(),
            "{case}: flat and overlay disagree"
        );
        let um = t.path("b-umoci");
        let ou = umoci_unpack(&image, &um);
        canary.assert_unchanged(&format!("{case} (umoci)"));
        if o1.status.success() {
            // What the layer wrote stayed inside the rootfs.
            if [
                "traversal",
                "absolute",
                "symlink_same_layer",
                "symlink_earlier_layer",
            ]
            .contains(case)
            {
                let inside = flat
                    .join("rootfs")
                    .join(canary.path.strip_prefix("/").unwrap());
                assert_eq!(
                    std::fs::read(&inside).unwrap(),
                    b"pwned",
                    "{case}: write not contained"
                );
            }
            let f = snapshot(&flat.join("rootfs"));
            let o = snapshot(&ovl.join("rootfs"));
            let d = diff(
                &f,
                &o,
                &Cmp {
                    dir_mtime: false,
                    nlink: false,
                },
            );
            assert!(
                d.is_empty(),
                "{case}: overlay differs from flat:\n{}",
                d.join("\n")
            );
            if ou.status.success() {
                let u = snapshot(&um.join("rootfs"));
                let d = diff(
                    &u,
                    &f,
                    &Cmp {
                        dir_mtime: false,
                        nlink: false,
                    },
                );
                assert!(
                    d.is_empty(),
                    "{case}: rt differs from umoci:\n{}",
                    d.join("\n")
                );
            }
        } else {
            let l = last_line(&o1);
            assert!(l.starts_with("rt: "), "{case}: {l}");
            assert!(
                !flat.exists() && !ovl.exists(),
                "{case}: failed unpack left a bundle"
            );
        }
        unmount_under(&t.0);
    }
}

/// (case, words the final error line must contain)
const BROKEN: &[(&str, &str)] = &[
    ("truncated_gzip", "corrupt"),
    ("diffid_mismatch", "diff_id digest mismatch"),
    ("layer_size_mismatch", "size"),
    ("unknown_media_type", "tar+bzip2"),
    ("bad_layer_digest", "is invalid"),
    ("unsupported_algorithm", "unsupported algorithm"),
    ("missing_blob", "missing"),
    ("layer_digest_mismatch", "digest mismatch"),
    ("config_digest_mismatch", "config digest mismatch"),
    ("manifest_digest_mismatch", "manifest digest mismatch"),
    ("bad_index_digest", "is invalid"),
];

#[test]
fn broken_images_fail_cleanly() {
    if !is_root() {
        return;
    }
    for (case, want) in BROKEN {
        let t = TempDir::new(case);
        let canary = Canary::new(&t.0);
        let img = t.path("b-img");
        mkimage(&img, case, &[]);
        for flat in [true, false] {
            let b = t.path("b-bundle");
            let mut args = vec!["image", "unpack", "-q"];
            if !flat {
                args.push("--overlay");
            }
            let image = format!("{}:latest", img.display());
            args.extend([image.as_str(), b.to_str().unwrap()]);
            let o = rt(&t.path("b-root"), &args);
            assert!(!o.status.success(), "{case}: accepted");
            let l = last_line(&o);
            assert!(l.starts_with("rt: ") && l.contains(want), "{case}: {l}");
            assert!(!b.exists(), "{case}: bundle left behind");
            let tmp = t.path("b-root-store/layers/tmp");
            if tmp.exists() {
                assert_eq!(
                    std::fs::read_dir(&tmp).unwrap().count(),
                    0,
                    "{case}: cache debris"
                );
            }
            let chains = t.path("b-root-store/layers/chains");
            if chains.exists() {
                assert_eq!(
                    std::fs::read_dir(&chains).unwrap().count(),
                    0,
                    "{case}: bad layer cached"
                );
            }
            assert!(mounts_under(&t.0).is_empty(), "{case}: mount left behind");
        }
        canary.assert_unchanged(case);
    }
}

#[test]
fn decompression_bombs_hit_the_limits() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("bomb");
    let img = t.path("b-img");
    mkimage(&img, "bomb", &[]);
    let b = t.path("b-1");
    let o = rt(
        &t.path("b-root"),
        &[
            "image",
            "unpack",
            "--max-bytes",
            "1048576",
            img.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(last_line(&o).contains("limit"), "{}", last_line(&o));
    assert!(!b.exists());
    let img2 = t.path("b-img2");
    mkimage(&img2, "many_entries", &["--entries", "50"]);
    let o = rt(
        &t.path("b-root"),
        &[
            "image",
            "unpack",
            "--max-entries",
            "10",
            img2.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(
        last_line(&o).contains("more than 10 entries"),
        "{}",
        last_line(&o)
    );
    assert!(!b.exists());
    ok(&rt(
        &t.path("b-root"),
        &[
            "image",
            "unpack",
            "-q",
            img2.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    ));
}
