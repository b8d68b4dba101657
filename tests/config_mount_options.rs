//! Mount options beyond mount(2)'s flags that clients send: tmpcopyup
//! (podman), the mount(8) options runtime-spec lists (lazytime, iversion,
//! nosymfollow, remount), mount(8)'s X-mount.* and x-* options, crun's
//! copy-symlink, and the ones rt refuses clearly (recursive attributes,
//! id-mapped mounts, crun's src-nofollow). docs/mount-options.md has the
//! whole list.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use common::{has_opt, mount_at, runc_is_wrong, Case};
use serde_json::json;

const ELOOP: i64 = 40;
const EROFS: i64 = 30;

fn lchown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).expect("lchown");
}

fn set_xattr(p: &Path, key: &str, value: &[u8]) {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let key = CString::new(key).unwrap();
    // SAFETY: valid C strings and a buffer of the given length.
    let rc = unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "setxattr {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn get_xattr(p: &Path, key: &str) -> Option<Vec<u8>> {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let key = CString::new(key).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: as above.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            key.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// /data in the image: a file owned by 1000:1001 with xattrs and a second
/// hard link, a symlink, a private subdirectory and, with `special`, a
/// fifo and a device node.
fn image_data(root: &Path, special: bool) {
    let d = root.join("data");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::write(d.join("f"), "hello").unwrap();
    fs::set_permissions(d.join("f"), fs::Permissions::from_mode(0o640)).unwrap();
    lchown(&d.join("f"), 1000, 1001);
    set_xattr(&d.join("f"), "user.rt", b"v1");
    set_xattr(&d.join("f"), "trusted.rt", b"t1");
    fs::hard_link(d.join("f"), d.join("f2")).unwrap();
    symlink("f", d.join("link")).unwrap();
    lchown(&d.join("link"), 1000, 1000);
    fs::write(d.join("sub/g"), "g").unwrap();
    fs::set_permissions(d.join("sub"), fs::Permissions::from_mode(0o711)).unwrap();
    lchown(&d.join("sub"), 1001, 1001);
    if !special {
        return;
    }
    nix::unistd::mkfifo(
        &d.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    nix::sys::stat::mknod(
        &d.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
}

/// tmpcopyup: the tmpfs starts with a copy of what it covers, keeping
/// owners, modes, xattrs, symlinks, hard links, fifos and device nodes;
/// writes go to the tmpfs, not the image. With `ro` the copy is read-only.
#[test]
fn tmpcopyup_copies_what_the_tmpfs_covers() {
    let mut c = Case::new("copyup");
    let root = c.bundle.rootfs();
    // runc's copy fails on a fifo ("lchown ...: no such file or directory").
    let special = !runc_is_wrong(&c, "runc cannot copy up fifos and device nodes");
    image_data(&root, special);
    fs::create_dir_all(root.join("data-ro")).unwrap();
    fs::write(root.join("data-ro/r"), "r").unwrap();
    c.bundle.add_mount(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "tmpcopyup"]}),
    );
    c.bundle.add_mount(
        json!({"destination": "/data-ro", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "ro"]}),
    );
    c.bundle.probe(&["sleep", "60"]);
    c.create().expect_ok("create");
    let pid = c.rt.state_json(&c.id)["pid"].as_i64().unwrap();
    // The container's /data, as its own mount namespace has it.
    let inside = Path::new(&format!("/proc/{pid}/root")).join("data");
    let m = |p: &str| fs::symlink_metadata(inside.join(p)).unwrap();
    assert_ne!(
        m(".").dev(),
        fs::metadata(root.join("data")).unwrap().dev(),
        "a tmpfs"
    );
    assert_eq!(fs::read_to_string(inside.join("f")).unwrap(), "hello");
    assert_eq!(
        (m("f").mode() & 0o7777, m("f").uid(), m("f").gid()),
        (0o640, 1000, 1001)
    );
    assert_eq!((m("sub").mode() & 0o7777, m("sub").uid()), (0o711, 1001));
    assert_eq!(fs::read_to_string(inside.join("sub/g")).unwrap(), "g");
    assert!(m("link").file_type().is_symlink());
    assert_eq!(fs::read_link(inside.join("link")).unwrap(), Path::new("f"));
    assert_eq!((m("link").uid(), m("link").gid()), (1000, 1000));
    if special {
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(
            &m("fifo").file_type()
        ));
        assert_eq!(m("null").rdev(), nix::sys::stat::makedev(1, 3));
    }
    if !runc_is_wrong(&c, "runc's copy keeps no xattrs and no hard links") {
        assert_eq!(
            get_xattr(&inside.join("f"), "user.rt").as_deref(),
            Some(&b"v1"[..])
        );
        assert_eq!(
            get_xattr(&inside.join("f"), "trusted.rt").as_deref(),
            Some(&b"t1"[..])
        );
        assert_eq!(m("f").ino(), m("f2").ino(), "hard links stay one file");
    }
    // Writes stay in the tmpfs.
    fs::write(inside.join("new"), "x").unwrap();
    assert!(!root.join("data/new").exists());
    let ro = Path::new(&format!("/proc/{pid}/root")).join("data-ro");
    assert_eq!(fs::read_to_string(ro.join("r")).unwrap(), "r");
    let e = fs::write(ro.join("w"), "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(EROFS as i32));
    c.rt.delete_force(&c.id).expect_ok("delete");
    c.assert_nothing_left();
}

#[test]
fn tmpcopyup_needs_a_tmpfs() {
    let mut c = Case::new("copyup-bind");
    let src = c.dir.join("src");
    fs::create_dir_all(&src).unwrap();
    c.bundle
        .add_mount(json!({"destination": "/mnt", "type": "bind", "source": src,
        "options": ["rbind", "tmpcopyup"]}));
    let out = c.run();
    if runc_is_wrong(&c, "runc ignores tmpcopyup on a bind mount") {
        return;
    }
    c.assert_failed_cleanly(&out);
    assert!(
        out.last_err_line().contains("tmpcopyup needs a tmpfs"),
        "{out:#?}"
    );
}

/// lazytime, iversion and nosymfollow (runtime-spec's MUST and SHOULD
/// mount(8) options) are mount flags; nosymfollow stops symlinks there.
#[test]
fn mount8_flags_lazytime_iversion_nosymfollow() {
    let mut c = Case::new("mountflags");
    let root = c.bundle.rootfs();
    fs::create_dir_all(root.join("nsf")).unwrap();
    fs::write(root.join("nsf/f"), "x").unwrap();
    symlink("f", root.join("nsf/link")).unwrap();
    c.bundle.add_mount(
        json!({"destination": "/lazy", "type": "tmpfs", "source": "tmpfs",
        "options": ["lazytime", "iversion"]}),
    );
    c.bundle.add_mount(
        json!({"destination": "/nsf", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "nosymfollow"]}),
    );
    let v = c.probe(&["mounts"]);
    let lazy = mount_at(&v, "/lazy").expect("lazy mount");
    assert!(has_opt(lazy, "lazytime"), "{lazy}");
    let nsf = mount_at(&v, "/nsf").expect("nsf mount");
    assert!(has_opt(nsf, "nosymfollow"), "{nsf}");
    assert_eq!(c.probe(&["read", "/nsf/link"])["errno"], ELOOP);
    assert_eq!(c.probe(&["read", "/nsf/f"])["content"], "x");
}

/// `remount` changes the mount already at the destination (mount(8)).
#[test]
fn remount_changes_an_earlier_mount() {
    let mut c = Case::new("remount");
    c.bundle.add_mount(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=1m"]}),
    );
    c.bundle.add_mount(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["remount", "ro"]}),
    );
    assert_eq!(c.probe(&["create", "/scratch/x"])["errno"], EROFS);
}

/// mount(8)'s X-mount.mkdir (rt always creates the destination) and
/// X-mount.owner=/group=/mode= (set on the new mount's root); x-* options
/// are for fstab readers and never reach the kernel.
#[test]
fn x_mount_options() {
    let mut c = Case::new("xmount");
    c.bundle.add_mount(
        json!({"destination": "/made/here", "type": "tmpfs", "source": "tmpfs",
        "options": ["X-mount.mkdir", "X-mount.owner=1000", "X-mount.group=1001",
                    "X-mount.mode=0750", "x-systemd.automount"]}),
    );
    c.bundle.probe(&["stat", "/made/here"]);
    let out = c.run();
    if runc_is_wrong(
        &c,
        "runc passes X-mount.* and x-* options to the kernel: EINVAL",
    ) {
        return;
    }
    out.expect_ok("run");
    let v = out.json();
    let st = &v["/made/here"];
    assert_eq!(
        (st["uid"].as_u64(), st["gid"].as_u64()),
        (Some(1000), Some(1001)),
        "{v}"
    );
    assert_eq!(st["octal"], "0750", "{v}");
}

/// copy-symlink (crun): a bind whose source is a symlink becomes that
/// symlink in the container, resolving inside it.
#[test]
fn copy_symlink_makes_the_destination_a_symlink() {
    let mut c = Case::new("copysymlink");
    let link = c.dir.join("zone");
    symlink("/usr/share/zoneinfo/Etc/UTC", &link).unwrap();
    c.bundle
        .add_mount(json!({"destination": "/etc/localtime", "type": "bind",
        "source": link, "options": ["bind", "copy-symlink"]}));
    let v = c.probe(&["stat", "/etc/localtime"]);
    if runc_is_wrong(&c, "runc does not know copy-symlink") {
        return;
    }
    let st = &v["/etc/localtime"];
    assert_eq!(st["type"], "symlink", "{v}");
    assert_eq!(st["target"], "/usr/share/zoneinfo/Etc/UTC", "{v}");
}

/// What rt cannot do yet is refused before anything exists, naming the
/// option and why.
#[test]
fn refused_options_name_themselves() {
    for (opt, why) in [
        // Superblock flags: mount_setattr has no per-mount form of them
        // (rro, rnosymfollow, idmap and friends work: config_idmap.rs).
        ("rsync", "superblock"),
        ("rmand", "superblock"),
        ("src-nofollow", "symlink"),
        ("X-mount.idmap=0:100000:65536", "X-mount"),
        ("X-mount.owner=tester", "number"),
    ] {
        let mut c = Case::with_kind(&format!("opt-{}", opt.len()), common::Kind::Rt);
        let src = c.dir.join("src");
        fs::create_dir_all(&src).unwrap();
        c.bundle
            .add_mount(json!({"destination": "/mnt", "type": "bind", "source": src,
            "options": ["rbind", opt]}));
        let out = c.run();
        c.assert_failed_cleanly(&out);
        let last = out.last_err_line();
        assert!(last.contains(opt) && last.contains(why), "{opt}: {out:#?}");
    }
}
