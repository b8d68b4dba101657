//! Images built by real tools (umoci, skopeo) unpack exactly as umoci
//! unpacks them. Runs as root.

#[path = "image_fixtures/support.rs"]
mod support;

use support::*;

fn unpack(t: &TempDir, args: &[&str]) -> std::process::Output {
    let mut a = vec!["image", "unpack", "-q"];
    a.extend_from_slice(args);
    rt(&t.path("b-root"), &a)
}

#[test]
fn tool_built_images_match_umoci() {
    if !is_root() {
        return;
    }
    require("umoci");
    require("skopeo");
    let t = TempDir::new("tools");
    let img = t.path("img");
    let sh = |cmd: &str| {
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
    };
    let i = img.display();
    let src = t.path("src");
    let s = src.display();
    sh(&format!(
        "umoci init --layout {i} && umoci new --image {i}:base && \
         mkdir -p {s}/a/b && echo one > {s}/a/b/f && ln -s b/f {s}/a/l && mkfifo {s}/a/p && \
         chmod 4711 {s}/a/b/f && ln {s}/a/b/f {s}/a/hard && \
         umoci insert --image {i}:base {s}/a /opt/a && \
         umoci insert --image {i}:base --whiteout /opt/a/l && \
         umoci config --image {i}:base --config.user 1000:1000 --config.cmd /bin/true && \
         skopeo copy oci:{i}:base oci:{i}2:copy && \
         skopeo copy --dest-compress-format zstd oci:{i}:base oci:{i}3:zstd"
    ));
    ok(&umoci_unpack(&format!("{i}:base"), &t.path("umoci")));
    let u = snapshot(&t.path("umoci/rootfs"));
    for (name, image) in [
        ("b-umoci", format!("{i}:base")),
        ("b-skopeo", format!("{i}2:copy")),
        ("b-zstd", format!("{i}3:zstd")),
    ] {
        ok(&unpack(
            &t,
            &["--flat", &image, t.path(name).to_str().unwrap()],
        ));
        let r = snapshot(&t.path(name).join("rootfs"));
        let d = diff(
            &u,
            &r,
            &Cmp {
                dir_mtime: false,
                nlink: true,
            },
        );
        assert!(d.is_empty(), "{name} differs from umoci:\n{}", d.join("\n"));
        assert!(!r.contains_key(&b"opt/a/l"[..]));
    }
}
