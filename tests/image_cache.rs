//! The image store and its layer cache: a cache hit must agree with the
//! manifest's descriptor (each broken descriptor fails the same with a
//! warm cache as with a cold one), where the store lives, what `df` and
//! `prune` report, the cache of an older rt, self-contained bundles, and
//! images of another platform. Runs as root; every test has its own store.

#[path = "image_fixtures/support.rs"]
mod support;

use std::path::Path;

use support::*;

fn unpack(root: &Path, args: &[&str]) -> std::process::Output {
    let mut a = vec!["image", "unpack", "-q"];
    a.extend_from_slice(args);
    rt(root, &a)
}

fn chains(root: &Path) -> usize {
    std::fs::read_dir(store_of(root).join("layers/chains"))
        .map(|r| r.count())
        .unwrap_or(0)
}

/// The layer of these images is the same blob as the good image's, so a
/// cache filled from the good image has an entry for its digest.
#[test]
fn warm_and_cold_caches_judge_a_descriptor_alike() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("cache-descriptor");
    let good = t.path("good");
    mkimage(&good, "user", &[]);
    let good_ref = format!("{}:latest", good.display());
    for case in [
        "layer_size_mismatch",
        "gzip_labelled_tar",
        "gzip_labelled_zstd",
    ] {
        let img = t.path(case);
        mkimage(&img, case, &[]);
        let image = format!("{}:latest", img.display());
        let cold_root = t.path(&format!("b-cold-{case}"));
        let warm_root = t.path(&format!("b-warm-{case}"));
        let b = t.path("b-bundle");
        let cold = unpack(&cold_root, &["--overlay", &image, b.to_str().unwrap()]);
        assert!(!cold.status.success(), "{case}: accepted cold");
        assert!(!b.exists());
        ok(&unpack(
            &warm_root,
            &["--overlay", &good_ref, t.path("b-good").to_str().unwrap()],
        ));
        ok(&rt(
            &warm_root,
            &["image", "remove", t.path("b-good").to_str().unwrap()],
        ));
        assert_eq!(chains(&warm_root), 1);
        let warm = unpack(&warm_root, &["--overlay", &image, b.to_str().unwrap()]);
        assert!(!warm.status.success(), "{case}: accepted from a warm cache");
        assert!(!b.exists(), "{case}: bundle left behind");
        assert_eq!(last_line(&warm), last_line(&cold), "{case}");
        // The cached entry itself is untouched, and still serves the good image.
        assert_eq!(chains(&warm_root), 1);
        let o = rt(
            &warm_root,
            &[
                "image",
                "unpack",
                "--overlay",
                &good_ref,
                b.to_str().unwrap(),
            ],
        );
        ok(&o);
        assert!(
            last_line(&o).contains("0 extracted, 1 cached"),
            "{}",
            last_line(&o)
        );
        ok(&rt(&warm_root, &["image", "remove", b.to_str().unwrap()]));
        assert!(mounts_under(&t.0).is_empty());
    }
}

/// A blob that is corrupt but of the right size: a cold unpack fails on
/// its digest; a warm cache holds content already verified against that
/// digest, so the unpack uses it and the corrupt bytes are never read.
#[test]
fn a_corrupt_blob_is_never_read_from_a_warm_cache() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("cache-corrupt");
    let good = t.path("good");
    mkimage(&good, "user", &[]);
    let img = t.path("bad");
    mkimage(&img, "layer_digest_mismatch", &[]);
    let image = format!("{}:latest", img.display());
    let b = t.path("b-bundle");
    for mode in [None, Some("--overlay")] {
        let mut args: Vec<&str> = mode.into_iter().collect();
        args.extend([image.as_str(), b.to_str().unwrap()]);
        let o = unpack(&t.path("b-cold"), &args);
        assert!(!o.status.success());
        assert!(
            last_line(&o).contains("digest mismatch"),
            "{}",
            last_line(&o)
        );
    }
    let warm = t.path("b-warm");
    ok(&unpack(
        &warm,
        &[
            "--overlay",
            &format!("{}:latest", good.display()),
            t.path("b-good").to_str().unwrap(),
        ],
    ));
    let o = rt(
        &warm,
        &["image", "unpack", "--overlay", &image, b.to_str().unwrap()],
    );
    ok(&o);
    assert!(
        last_line(&o).contains("0 extracted, 1 cached"),
        "{}",
        last_line(&o)
    );
    assert_eq!(
        std::fs::read(b.join("rootfs/hello")).unwrap(),
        b"hello world\n"
    );
    for x in [&b, &t.path("b-good")] {
        ok(&rt(&warm, &["image", "remove", x.to_str().unwrap()]));
    }
}

/// The same layer compressed differently is another blob: verified once
/// (extracted through the cold path), then recorded as a source.
#[test]
fn another_blob_of_a_cached_layer_is_verified_once() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("cache-sources");
    let root = t.path("b-root");
    let (gz, zst) = (t.path("gz"), t.path("zst"));
    mkimage(&gz, "user", &[]);
    mkimage(&zst, "user", &["--comp", "zstd"]);
    let run = |img: &Path, b: &str| {
        let o = unpack(
            &root,
            &[
                "--overlay",
                &format!("{}:latest", img.display()),
                t.path(b).to_str().unwrap(),
            ],
        );
        ok(&o);
        let o = rt(&root, &["image", "remove", t.path(b).to_str().unwrap()]);
        ok(&o);
    };
    run(&gz, "b-1");
    assert_eq!(chains(&root), 1);
    let o = rt(
        &root,
        &[
            "image",
            "unpack",
            "--overlay",
            &format!("{}:latest", zst.display()),
            t.path("b-2").to_str().unwrap(),
        ],
    );
    ok(&o);
    assert!(
        last_line(&o).contains("1 extracted, 0 cached"),
        "{}",
        last_line(&o)
    );
    let o = rt(
        &root,
        &[
            "image",
            "unpack",
            "--overlay",
            &format!("{}:latest", zst.display()),
            t.path("b-3").to_str().unwrap(),
        ],
    );
    ok(&o);
    assert!(
        last_line(&o).contains("0 extracted, 1 cached"),
        "{}",
        last_line(&o)
    );
    assert_eq!(chains(&root), 1);
    let sources = std::fs::read_dir(store_of(&root).join("layers/chains"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path().join("sources")).unwrap())
        .next()
        .unwrap();
    assert_eq!(sources.lines().count(), 2, "{sources}");
    for b in ["b-2", "b-3"] {
        ok(&rt(
            &root,
            &["image", "remove", t.path(b).to_str().unwrap()],
        ));
    }
    run(&gz, "b-4");
}

#[test]
fn default_bundles_stand_on_their_own() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("selfcontained");
    let root = t.path("b-root");
    let img = t.path("img");
    mkimage(&img, "semantics", &[]);
    let image = format!("{}:latest", img.display());
    let b = t.path("b-plain");
    ok(&unpack(&root, &[&image, b.to_str().unwrap()]));
    // Not a mount, nothing cached: plain files the bundle owns.
    assert!(mounts_under(&t.0).is_empty());
    assert_eq!(chains(&root), 0);
    assert!(!std::fs::read(b.join("rootfs/etc/passwd"))
        .unwrap()
        .is_empty());
    let o = std::process::Command::new("rm")
        .arg("-rf")
        .arg(&b)
        .output()
        .unwrap();
    ok(&o);
    assert!(!b.exists());
    // --overlay: the rootfs is a mount of the store's layers.
    let o = t.path("b-ovl");
    ok(&unpack(&root, &["--overlay", &image, o.to_str().unwrap()]));
    assert_eq!(
        mounts_under(&t.0),
        vec![o.join("rootfs").display().to_string()]
    );
    ok(&rt(&root, &["image", "remove", o.to_str().unwrap()]));
    assert!(mounts_under(&t.0).is_empty());
}

#[test]
fn where_the_store_lives_df_prune_and_an_old_cache() {
    if !is_root() {
        return;
    }
    require("setpriv");
    let t = TempDir::new("store");
    // Root's default, reported without creating anything.
    let o = std::process::Command::new(RT)
        .args(["--root"])
        .arg(t.path("b-root"))
        .args(["image", "df"])
        .env_remove("RT_IMAGE_STORE")
        .output()
        .unwrap();
    ok(&o);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("store: /var/lib/rt\n"));
    // RT_IMAGE_STORE, and an unprivileged user's $XDG_DATA_HOME/rt.
    let o = std::process::Command::new(RT)
        .args(["image", "df"])
        .env("RT_IMAGE_STORE", t.path("env-store"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains(&format!("store: {}\n", t.path("env-store").display())));
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            RT,
            "image",
            "df",
        ])
        .env_remove("RT_IMAGE_STORE")
        .env("XDG_DATA_HOME", t.path("xdg"))
        .env("XDG_RUNTIME_DIR", t.path("xdg-run"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains(&format!("store: {}/rt\n", t.path("xdg").display())),
        "{o:?}"
    );

    // An older rt's cache under --root: reported, never used, pruned.
    let root = t.path("b-root");
    let old = root.join(".images/chains/sha256-0000/diff");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("stale"), b"old").unwrap();
    let img = t.path("img");
    mkimage(&img, "shared", &[]);
    let b = t.path("b-1");
    let o = rt(
        &root,
        &[
            "image",
            "unpack",
            "--overlay",
            &format!("{}:derived", img.display()),
            b.to_str().unwrap(),
        ],
    );
    ok(&o);
    assert!(
        last_line(&o).contains("2 extracted, 0 cached"),
        "{}",
        last_line(&o)
    );
    let o = rt(&root, &["image", "df"]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains(&format!("store: {}\n", store_of(&root).display())),
        "{out}"
    );
    assert!(out.contains("layers: 2 (2 in use by a mount)"), "{out}");
    assert!(out.contains("an older rt's cache is still at"), "{out}");
    ok(&rt(&root, &["image", "remove", b.to_str().unwrap()]));
    let o = rt(&root, &["image", "prune"]);
    ok(&o);
    assert_eq!(last_line(&o), "removed 3 cached layers and leftovers");
    assert!(!root.join(".images").exists());
    let out = String::from_utf8_lossy(&rt(&root, &["image", "df"]).stdout).to_string();
    assert!(
        out.contains("layers: 0 (0 in use by a mount), 0.0 MB"),
        "{out}"
    );
}

#[test]
fn the_only_manifest_of_another_platform_unpacks_with_a_warning() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("foreign");
    let root = t.path("b-root");
    let img = t.path("img");
    mkimage(&img, "foreign", &[]);
    for tag in ["arm", "arm-index"] {
        let b = t.path(&format!("b-{tag}"));
        let o = rt(
            &root,
            &[
                "image",
                "unpack",
                "-q",
                &format!("{}:{tag}", img.display()),
                b.to_str().unwrap(),
            ],
        );
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(
            err.lines().collect::<Vec<_>>(),
            ["warning: image is linux/arm64/v8: it cannot run on this linux/amd64 host without emulation"],
            "{tag}"
        );
        assert_eq!(std::fs::read(b.join("rootfs/platform")).unwrap(), b"arm64");
        // Asked for this host's platform explicitly: refused.
        let b2 = t.path(&format!("b-{tag}-strict"));
        let o = rt(
            &root,
            &[
                "image",
                "unpack",
                "--platform",
                "linux/amd64",
                &format!("{}:{tag}", img.display()),
                b2.to_str().unwrap(),
            ],
        );
        assert!(!o.status.success());
        assert!(
            last_line(&o).contains("no manifest for platform linux/amd64"),
            "{}",
            last_line(&o)
        );
        assert!(!b2.exists());
    }
}

/// rt killed while a layer is written through the overlay of its parents:
/// that overlay lived in rt's private mount namespace, so nothing stays
/// mounted, and prune removes the half-written layer.
#[test]
fn a_killed_unpack_leaves_no_mount() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("killed");
    let root = t.path("b-root");
    let img = t.path("img");
    mkimage(&img, "slow_second_layer", &[]);
    let store = store_of(&root);
    let mut child = std::process::Command::new(RT)
        .arg("--root")
        .arg(&root)
        .arg("--image-store")
        .arg(&store)
        .args(["image", "unpack", "-q", "--overlay"])
        .arg(format!("{}:latest", img.display()))
        .arg(t.path("b-1"))
        .spawn()
        .unwrap();
    // Wait until the second layer's big file is being written.
    let tmp = store.join("layers/tmp");
    let writing = || {
        std::fs::read_dir(&tmp)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("diff/zeros").exists())
    };
    while !writing() {
        if child.try_wait().unwrap().is_some() {
            panic!("rt finished before the second layer was seen being written");
        }
        std::thread::yield_now();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Killed mid-layer: the pending layer is still there, unpublished.
    assert!(writing(), "the layer was published before rt was killed");
    assert_eq!(mounts_under(&store), Vec::<String>::new());
    assert_eq!(mounts_under(&t.0), Vec::<String>::new());
    ok(&rt(&root, &["image", "prune"]));
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}
