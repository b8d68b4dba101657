//! Extended attributes and file capabilities in layers written by umoci,
//! buildah, GNU tar (`--xattrs`) and by hand (`LIBARCHIVE.xattr.*`), in
//! flat and overlay assembly; the attributes rt refuses to take from a
//! layer; and the form capabilities take in a user namespace. Runs as root.

#[path = "image_fixtures/buildah.rs"]
mod buildah;
#[path = "image_fixtures/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use support::*;

/// CAP_DAC_OVERRIDE|CAP_FOWNER, effective: byte 4 is a newline.
const CAP_NL: [u8; 20] = [
    1, 0, 0, 2, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];
/// CAP_NET_RAW, effective.
const CAP_RAW: [u8; 20] = [
    1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn unpack(t: &TempDir, args: &[&str]) -> std::process::Output {
    let mut a = vec!["image", "unpack"];
    a.extend_from_slice(args);
    rt(&t.path("b-root"), &a)
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

fn setx(p: &Path, name: &str, value: &[u8]) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid strings and buffer.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "setxattr {name} on {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

/// Files with the attributes every tool test expects back: capabilities
/// with and without a newline byte, a user.* value with newlines, trusted.*.
fn populate(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).unwrap();
    for f in ["bin/tool", "bin/ping", "notes"] {
        std::fs::write(root.join(f), b"content").unwrap();
    }
    sh(&format!(
        "chmod 755 {r}/bin/tool {r}/bin/ping && \
         setcap cap_dac_override,cap_fowner+ep {r}/bin/tool && \
         setcap cap_net_raw+ep {r}/bin/ping",
        r = root.display()
    ));
    setx(&root.join("notes"), "user.multi", b"line1\nline2\n");
    setx(&root.join("notes"), "trusted.t", b"\n\0binary\xff");
}

fn expected() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    vec![
        ("bin/tool", "security.capability", CAP_NL.to_vec()),
        ("bin/ping", "security.capability", CAP_RAW.to_vec()),
        ("notes", "user.multi", b"line1\nline2\n".to_vec()),
        ("notes", "trusted.t", b"\n\0binary\xff".to_vec()),
    ]
}

fn check(rootfs: &Path, want: &[(&str, &str, Vec<u8>)], what: &str) {
    for (f, name, value) in want {
        let got = xattrs(&rootfs.join(f));
        assert_eq!(
            got.get(*name),
            Some(value),
            "{what}: {f} {name}: all xattrs {got:?}"
        );
    }
}

/// Unpacks flat and through the overlay cache and checks both.
fn unpack_both(t: &TempDir, image: &str, want: &[(&str, &str, Vec<u8>)], what: &str) {
    for (name, extra) in [("b-flat", None), ("b-ovl", Some("--overlay"))] {
        let b = t.path(name);
        let mut args: Vec<&str> = extra.into_iter().collect();
        args.extend(["-q", image, b.to_str().unwrap()]);
        ok(&unpack(t, &args));
        check(&b.join("rootfs"), want, &format!("{what} ({name})"));
    }
}

#[test]
fn umoci_layers_keep_xattrs_and_capabilities() {
    if !is_root() {
        return;
    }
    require("umoci");
    require("setcap");
    let t = TempDir::new("xattr-umoci");
    let i = t.path("img");
    let b = t.path("src");
    sh(&format!(
        "umoci init --layout {i} && umoci new --image {i}:latest && \
         umoci unpack --image {i}:latest {b}",
        i = i.display(),
        b = b.display()
    ));
    populate(&b.join("rootfs"));
    sh(&format!(
        "umoci repack --image {}:latest {}",
        i.display(),
        b.display()
    ));
    let image = format!("{}:latest", i.display());
    unpack_both(&t, &image, &expected(), "umoci");
    // umoci itself agrees on what the layer holds.
    ok(&umoci_unpack(&image, &t.path("umoci")));
    check(&t.path("umoci/rootfs"), &expected(), "umoci unpack");
}

#[test]
fn gnu_tar_xattrs_layer() {
    if !is_root() {
        return;
    }
    require("tar");
    require("setcap");
    let t = TempDir::new("xattr-gnutar");
    let src = t.path("src");
    populate(&src);
    let layer = t.path("layer.tar");
    sh(&format!(
        "tar --xattrs --xattrs-include='*' --numeric-owner --format=posix -C {} -cf {} .",
        src.display(),
        layer.display()
    ));
    let img = t.path("img");
    mkimage(&img, "layers", &["--layer", layer.to_str().unwrap()]);
    unpack_both(
        &t,
        &format!("{}:latest", img.display()),
        &expected(),
        "gnu tar",
    );
}

#[test]
fn buildah_layers_keep_capabilities() {
    if !is_root() {
        return;
    }
    require("buildah");
    require("setcap");
    let b = buildah::Buildah::new("xattr");
    let ctr = b.run(&["from", "--signature-policy", &b.policy(), "scratch"]);
    let m = b.mount(&ctr);
    populate(&m);
    b.run(&["umount", &ctr]);
    let t = TempDir::new("xattr-buildah");
    let img = t.path("img");
    b.run(&[
        "commit",
        "--signature-policy",
        &b.policy(),
        &ctr,
        "localhost/rt-xattr:latest",
    ]);
    b.run(&[
        "push",
        "--signature-policy",
        &b.policy(),
        "localhost/rt-xattr:latest",
        &format!("oci:{}:latest", img.display()),
    ]);
    // containers/storage records security.capability and user.*; trusted.*
    // stays behind on the build host.
    let want: Vec<_> = expected()
        .into_iter()
        .filter(|(_, n, _)| !n.starts_with("trusted."))
        .collect();
    unpack_both(&t, &format!("{}:latest", img.display()), &want, "buildah");
    b.clean();
}

#[test]
fn hand_made_records_libarchive_and_v3() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("xattr-records");
    let img = t.path("img");
    mkimage(&img, "xattr_records", &[]);
    // A v3 capability's rootid (10, a uid of the build host) is dropped.
    let want = vec![
        ("nl_cap", "security.capability", CAP_NL.to_vec()),
        ("v3_cap", "security.capability", CAP_RAW.to_vec()),
        ("nl_user", "user.multi", b"line1\nline2\n".to_vec()),
        ("nl_user", "trusted.t", b"\n".to_vec()),
        ("libarchive", "user.a=b", vec![0, 0xff, 0x0a, 1]),
        ("libarchive", "user.both", b"schily".to_vec()),
        (
            "libarchive",
            "security.capability",
            [
                1, 0, 0, 2, 0x0a, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ]
            .to_vec(),
        ),
    ];
    unpack_both(&t, &format!("{}:latest", img.display()), &want, "records");
}

#[test]
fn attributes_a_layer_may_not_set() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("xattr-hostile");
    let img = t.path("img");
    mkimage(&img, "xattr_skips", &[]);
    let image = format!("{}:latest", img.display());
    for (name, extra) in [("b-flat", None), ("b-ovl", Some("--overlay"))] {
        let b = t.path(name);
        let mut args: Vec<&str> = extra.into_iter().collect();
        args.extend([image.as_str(), b.to_str().unwrap()]);
        let o = unpack(&t, &args);
        ok(&o);
        let r = b.join("rootfs");
        // A forged opaque marker must not hide the lower layer's file in
        // the overlay cache, nor a forged redirect move the directory.
        assert_eq!(
            std::fs::read(r.join("ovl/lower")).unwrap(),
            b"lower",
            "{name}"
        );
        assert_eq!(
            std::fs::read(r.join("ovl/upper")).unwrap(),
            b"upper",
            "{name}"
        );
        let upper: BTreeMap<String, Vec<u8>> = xattrs(&r.join("ovl/upper"));
        assert_eq!(upper.get("user.kept").map(Vec::as_slice), Some(&b"yes"[..]));
        for k in upper.keys().chain(xattrs(&r.join("ovl")).keys()) {
            assert!(k == "user.kept", "{name}: attribute {k} was applied");
        }
        let err = String::from_utf8_lossy(&o.stderr);
        for skipped in [
            "trusted.overlay.opaque",
            "user.overlay.opaque",
            "trusted.overlay.redirect",
            "security.selinux",
            "system.nfs4_acl",
        ] {
            assert!(
                err.contains(&format!("xattr {skipped} of ")),
                "{name}: {skipped} not reported: {err}"
            );
        }
    }
    // Values and names beyond the kernel's limits, and a capability that is
    // not one, refuse the layer with the reason and leave no bundle.
    for (case, why) in [
        ("xattr_long_value", "value is longer than 64 KiB"),
        ("xattr_long_name", "longer than 255 bytes"),
        ("xattr_bad_cap", "not a v1, v2 or v3 file capability"),
    ] {
        let img = t.path(case);
        mkimage(&img, case, &[]);
        let b = t.path(&format!("b-{case}"));
        let o = unpack(
            &t,
            &[&format!("{}:latest", img.display()), b.to_str().unwrap()],
        );
        assert!(!o.status.success(), "{case} unpacked");
        let last = last_line(&o);
        assert!(
            last.starts_with("rt: ") && last.contains(why),
            "{case}: {last}"
        );
        assert!(!b.exists(), "{case}: bundle left behind");
    }
}

/// Unpacking inside a user namespace (an unprivileged user mapped to root):
/// the kernel stores the capability as v3 with that namespace's root as
/// rootid, so it takes effect only in containers of that user.
#[test]
fn capabilities_in_a_user_namespace_get_its_rootid() {
    if !is_root() {
        return;
    }
    require("setpriv");
    require("unshare");
    let t = TempDir::new("xattr-userns");
    let img = t.path("img");
    mkimage(&img, "xattr_records", &[]);
    std::fs::set_permissions(&t.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let b = t.path("b-userns");
    let o = std::process::Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .args(["unshare", "--user", "--map-root-user", RT, "--root"])
        .arg(t.path("b-root"))
        .args(["--rootless", "true", "image", "unpack", "--flat"])
        .arg(format!("{}:latest", img.display()))
        .arg(&b)
        .output()
        .unwrap();
    ok(&o);
    let got = xattrs(&b.join("rootfs/v3_cap"));
    let mut want = vec![
        1, 0, 0, 3, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    want.extend_from_slice(&65534u32.to_le_bytes());
    assert_eq!(got.get("security.capability"), Some(&want), "{got:?}");
}
