//! Layer application on a scratch directory, without root: the whiteout,
//! opaque and containment rules on in-memory tar streams.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::extract::{Applier, Limits};

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let p = std::env::temp_dir().join(format!("rt-extract-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(p.join("rootfs")).unwrap();
    Scratch(p)
}

enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(nix::unistd::geteuid().as_raw() as u64);
        h.set_gid(nix::unistd::getegid().as_raw() as u64);
        let (path, data): (&str, &[u8]) = match e {
            E::File(p, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                (p, d)
            }
            E::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                (p, b"")
            }
            E::Sym(p, t) | E::Hard(p, t) => {
                h.set_entry_type(if matches!(e, E::Sym(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_mode(0o777);
                h.set_link_name_literal(t.as_bytes()).unwrap();
                (p, b"")
            }
        };
        h.set_size(data.len() as u64);
        // The raw name, so `..` and absolute paths reach the extractor.
        let name = h.as_old_mut();
        name.name = [0; 100];
        name.name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn apply(root: &Path, entries: &[E]) -> Result<(), super::Error> {
    let fd = OwnedFd::from(std::fs::File::open(root).unwrap());
    let mut a = Applier::new(fd.as_raw_fd(), true, &Limits::default());
    a.apply(std::io::Cursor::new(layer(entries)))
}

#[test]
fn whiteouts_and_opaque_dirs_hide_only_lower_content() {
    let s = scratch("wh");
    let r = s.0.join("rootfs");
    apply(
        &r,
        &[
            E::Dir("d"),
            E::File("d/a", b"a"),
            E::Dir("d/sub"),
            E::File("d/sub/b", b"b"),
            E::File("gone", b"g"),
        ],
    )
    .unwrap();
    apply(
        &r,
        &[
            E::File("d/new", b"n"),
            E::File("d/sub/c", b"c"),
            E::File("d/.wh..wh..opq", b""),
            E::File(".wh.gone", b""),
            E::File("kept", b"k"),
            E::File(".wh.kept", b""),
        ],
    )
    .unwrap();
    assert!(!r.join("d/a").exists());
    assert!(!r.join("d/sub/b").exists());
    assert!(r.join("d/new").exists());
    assert!(r.join("d/sub/c").exists());
    assert!(!r.join("gone").exists());
    // A whiteout in the same layer does not remove that layer's own entry.
    assert!(r.join("kept").exists());
}

#[test]
fn paths_stay_inside_the_root() {
    let s = scratch("contain");
    let r = s.0.join("rootfs");
    let outside = s.0.join("outside");
    std::fs::write(&outside, b"host").unwrap();
    let abs = outside.to_str().unwrap().to_string();
    apply(
        &r,
        &[
            E::File("../outside", b"pwned"),
            E::Sym("esc", s.0.to_str().unwrap()),
            E::File("esc/outside", b"pwned"),
            E::Sym("up", ".."),
            E::File("up/up/outside2", b"contained"),
            E::File(&format!("..{abs}.x"), b"pwned"),
        ],
    )
    .unwrap();
    assert_eq!(std::fs::read(&outside).unwrap(), b"host");
    assert_eq!(std::fs::read(r.join("outside")).unwrap(), b"pwned");
    assert!(r.join("outside2").exists());
    let only = s.0.join("only-outside");
    std::fs::write(&only, b"host").unwrap();
    let e = apply(
        &r,
        &[E::Hard("h", &format!("../../../..{}", only.display()))],
    );
    assert!(e.is_err(), "hardlink to a path that only exists outside");
    assert_eq!(
        std::fs::metadata(&only)
            .map(|m| std::os::unix::fs::MetadataExt::nlink(&m))
            .unwrap(),
        1
    );
    assert_eq!(std::fs::read(&outside).unwrap(), b"host");
    let e = apply(
        &r,
        &[
            E::Sym("l1", "l2"),
            E::Sym("l2", "l1"),
            E::File("l1/x", b"x"),
        ],
    );
    assert!(e.unwrap_err().to_string().contains("symbolic links"));
}

#[test]
fn entry_limit_is_enforced() {
    let s = scratch("limit");
    let r = s.0.join("rootfs");
    let fd = OwnedFd::from(std::fs::File::open(&r).unwrap());
    let limits = Limits {
        max_entries: 2,
        max_bytes: 1 << 20,
    };
    let mut a = Applier::new(fd.as_raw_fd(), true, &limits);
    let t = layer(&[E::File("a", b""), E::File("b", b""), E::File("c", b"")]);
    let e = a.apply(std::io::Cursor::new(t)).unwrap_err();
    assert!(e.to_string().contains("more than 2 entries"), "{e}");
}

/// A sparse entry of 512 stored bytes claiming a 1 TiB file: the holes
/// count against `max_bytes`, or a tiny layer makes a huge file.
#[test]
fn sparse_holes_count_against_the_byte_limit() {
    let s = scratch("sparse-limit");
    let r = s.0.join("rootfs");
    let fd = OwnedFd::from(std::fs::File::open(&r).unwrap());
    let limits = Limits {
        max_entries: 10,
        max_bytes: 1 << 20,
    };
    let mut e = tar_core::builder::EntryBuilder::new_gnu();
    e.path(b"big");
    e.mode(0o644).unwrap();
    e.size(512).unwrap();
    e.mtime(1).unwrap();
    e.sparse(
        &[tar_core::SparseEntry {
            offset: (1 << 40) - 512,
            length: 512,
        }],
        1 << 40,
    );
    let mut t = e.finish_bytes();
    t.extend_from_slice(&[b'x'; 512]);
    t.extend_from_slice(&[0u8; 1024]);
    let mut a = Applier::new(fd.as_raw_fd(), true, &limits);
    let err = a.apply(std::io::Cursor::new(t)).unwrap_err();
    assert!(err.to_string().contains("holes of sparse files"), "{err}");
    assert!(!r.join("big").exists());
}
