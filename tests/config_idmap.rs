//! Idmapped bind mounts (mounts[].uidMappings/gidMappings, `idmap`,
//! `ridmap`) and the recursive mount options (`rro`, ...), as Kubernetes
//! user namespaces and podman's `:idmap` volumes use them: checked from
//! inside (who owns what the container sees) and from the host (who owns
//! what it wrote).

mod common;

use std::fs;
use std::os::unix::fs::{chown, MetadataExt};

use common::mountns::MountNs;
use common::Case;
use serde_json::{json, Value};

const HOST: u32 = 100_000;
const SIZE: u32 = 65_536;

fn maps() -> Value {
    json!([{"containerID": 0, "hostID": HOST, "size": SIZE}])
}

/// A host directory owned by 1000:1000 (world-writable, so a container
/// root without CAP_DAC_OVERRIDE can create in it) with a file f, 1000:1000.
fn volume(c: &Case) -> std::path::PathBuf {
    // A container root in a user namespace cannot create it in the rootfs.
    fs::create_dir_all(c.bundle.rootfs().join("mnt/vol")).unwrap();
    let d = c.dir.join("vol");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("f"), "x").unwrap();
    chown(&d, Some(1000), Some(1000)).unwrap();
    chown(d.join("f"), Some(1000), Some(1000)).unwrap();
    common::fixtures::set_mode(&d, 0o777);
    d
}

fn mount(source: &std::path::Path, options: &[&str], with_maps: bool) -> Value {
    let mut m = json!({"destination": "/mnt/vol", "type": "bind",
                       "source": source, "options": options});
    if with_maps {
        m["uidMappings"] = maps();
        m["gidMappings"] = maps();
    }
    m
}

/// Run a shell line in the container; the probe's JSON lines.
fn run(c: &mut Case, line: &str) -> Vec<Value> {
    c.bundle.args(&["/bin/sh", "-c", line]);
    let out = c.run();
    out.expect_ok("run");
    c.assert_nothing_left();
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn uid_inside(v: &Value, path: &str) -> u64 {
    v[path]["uid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no uid for {path}: {v}"))
}

/// In a user namespace, the volume's owner 1000 shows as 1000 through an
/// idmapped mount (as nobody without one), and what the container's root
/// creates lands on the host as uid 0.
#[test]
fn idmapped_volume_in_a_user_namespace() {
    for (opts, with_maps) in [
        (&["bind", "idmap"][..], true),
        (&["bind", "idmap"][..], false),
    ] {
        let mut c = Case::new("idmap-userns");
        if !c.is_rt() {
            return; // runc 1.1.5 has no idmapped mounts
        }
        let vol = volume(&c);
        c.bundle.user_ns(HOST, HOST, SIZE);
        c.bundle.add_mount(mount(&vol, opts, with_maps));
        let out = run(&mut c, "/probe stat /mnt/vol/f; /probe create /mnt/vol/new");
        assert_eq!(
            uid_inside(&out[0], "/mnt/vol/f"),
            1000,
            "maps on mount {with_maps}: {out:?}"
        );
        assert_eq!(out[1]["ok"], true, "{out:?}");
        let new = fs::metadata(vol.join("new")).expect("created on the host");
        assert_eq!((new.uid(), new.gid()), (0, 0), "maps on mount {with_maps}");
    }
}

/// The control: the same volume without idmap.
#[test]
fn plain_volume_in_a_user_namespace() {
    let mut c = Case::new("idmap-none");
    let vol = volume(&c);
    c.bundle.user_ns(HOST, HOST, SIZE);
    c.bundle.add_mount(mount(&vol, &["bind"], false));
    let out = run(&mut c, "/probe stat /mnt/vol/f; /probe create /mnt/vol/new");
    assert_eq!(uid_inside(&out[0], "/mnt/vol/f"), 65534, "{out:?}");
    let new = fs::metadata(vol.join("new")).expect("created on the host");
    assert_eq!(new.uid(), HOST);
}

/// Without a user namespace the mount's own mappings still apply.
#[test]
fn idmapped_volume_without_a_user_namespace() {
    let mut c = Case::new("idmap-hostns");
    if !c.is_rt() {
        return;
    }
    let vol = volume(&c);
    c.bundle.add_mount(mount(&vol, &["bind", "idmap"], true));
    let out = run(&mut c, "/probe stat /mnt/vol/f");
    assert_eq!(
        uid_inside(&out[0], "/mnt/vol/f"),
        u64::from(HOST + 1000),
        "{out:?}"
    );
}

/// What cannot be idmapped fails create with the reason, leaving nothing.
#[test]
fn impossible_idmaps_fail_cleanly() {
    type MakeMount = Box<dyn Fn(&Case) -> Value>;
    let cases: Vec<(&str, MakeMount)> = vec![
        (
            "no user namespace",
            Box::new(|c| mount(&volume(c), &["bind", "idmap"], false)),
        ),
        (
            "go together",
            Box::new(|c| {
                let mut m = mount(&volume(c), &["bind", "idmap"], false);
                m["uidMappings"] = maps();
                m
            }),
        ),
        (
            "only bind mounts",
            Box::new(|_| {
                json!({"destination": "/mnt/vol", "type": "tmpfs", "source": "tmpfs",
                       "options": ["idmap"], "uidMappings": maps(), "gidMappings": maps()})
            }),
        ),
        (
            "idmapped",
            Box::new(|_| mount(std::path::Path::new("/proc/sys"), &["bind", "idmap"], true)),
        ),
    ];
    for (why, make) in cases {
        let mut c = Case::new("idmap-bad");
        if !c.is_rt() {
            return;
        }
        let m = make(&c);
        c.bundle.add_mount(m);
        let out = c.create();
        c.assert_failed_cleanly(&out);
        let last = out.last_err_line();
        assert!(
            last.contains("/mnt/vol") && last.contains(why),
            "{why}: {out:#?}"
        );
    }
}

/// A volume with a mount below it, prepared in a private mount namespace
/// where the runtime then runs: `sub` is a tmpfs holding g (1000:1000).
fn nested_volume(c: &mut Case) -> (MountNs, std::path::PathBuf) {
    let vol = volume(c);
    let sub = vol.join("sub");
    fs::create_dir_all(&sub).unwrap();
    let s = sub.display();
    let ns = MountNs::new(&format!(
        "mount -t tmpfs -o mode=0777 t {s}\necho y > {s}/g\nchown 1000:1000 {s}/g"
    ));
    ns.wrap(c);
    (ns, vol)
}

#[test]
fn ridmap_maps_the_mounts_below_too() {
    for (opt, want) in [("ridmap", 1000), ("idmap", 65534)] {
        let mut c = Case::new("idmap-rec");
        if !c.is_rt() {
            return;
        }
        let (_ns, vol) = nested_volume(&mut c);
        c.bundle.user_ns(HOST, HOST, SIZE);
        c.bundle.add_mount(mount(&vol, &["rbind", opt], true));
        let out = run(&mut c, "/probe stat /mnt/vol/sub/g");
        assert_eq!(
            uid_inside(&out[0], "/mnt/vol/sub/g"),
            want,
            "{opt}: {out:?}"
        );
    }
}

/// rro makes the mounts below read-only too; ro only the top one.
#[test]
fn recursive_read_only() {
    for (opt, sub_ok) in [("rro", false), ("ro", true)] {
        let mut c = Case::new("rro");
        let (_ns, vol) = nested_volume(&mut c);
        c.bundle.add_mount(mount(&vol, &["rbind", opt], false));
        let out = run(
            &mut c,
            "/probe create /mnt/vol/x; /probe create /mnt/vol/sub/x",
        );
        assert_eq!(out[0]["ok"], false, "{opt}: top writable: {out:?}");
        assert_eq!(out[1]["ok"], sub_ok, "{opt}: {out:?}");
        if !sub_ok {
            assert_eq!(out[1]["errno"], libc::EROFS, "{out:?}");
        }
    }
}
