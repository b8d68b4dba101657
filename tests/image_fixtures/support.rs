//! Shared helpers for the image integration tests: temp dirs, fixture
//! generation, running rt and umoci, tree snapshots and the host canary.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use sha2::{Digest, Sha256};

pub const RT: &str = env!("CARGO_BIN_EXE_rt");

pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/image_fixtures/mkimage.py")
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A unique directory, removed (after unmounting any bundle rootfs in it)
/// when dropped.
pub struct TempDir(pub PathBuf);

static N: AtomicU32 = AtomicU32::new(0);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "rt-image-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        unmount_under(&self.0);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Mount points at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = dir.to_string_lossy().to_string();
    let mut v: Vec<String> = mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.len()));
    v
}

pub fn unmount_under(dir: &Path) {
    for m in mounts_under(dir) {
        let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

pub fn mkimage(out: &Path, case: &str, extra: &[&str]) {
    let o = Command::new("python3")
        .arg(script())
        .arg(out)
        .arg(case)
        .args(extra)
        .output()
        .expect("run python3");
    assert!(
        o.status.success(),
        "mkimage {case} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The private image store that goes with an rt root in these tests (a
/// sibling of it, so never the host's /var/lib/rt).
pub fn store_of(root: &Path) -> PathBuf {
    let name = root.file_name().unwrap().to_string_lossy();
    root.with_file_name(format!("{name}-store"))
}

pub fn rt(root: &Path, args: &[&str]) -> Output {
    Command::new(RT)
        .arg("--root")
        .arg(root)
        .arg("--image-store")
        .arg(store_of(root))
        .args(args)
        .output()
        .expect("run rt")
}

pub fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "command failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

pub fn last_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

pub fn require(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{tool} is not installed (apt-get install {tool})");
}

pub fn umoci_unpack(image: &str, bundle: &Path) -> Output {
    Command::new("umoci")
        .args(["unpack", "--image", image])
        .arg(bundle)
        .output()
        .expect("run umoci")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub content: String,
    pub link: Vec<u8>,
    pub rdev: u64,
    pub mtime: (i64, i64),
    pub nlink: u64,
    pub ino: u64,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

pub fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut out = BTreeMap::new();
    let mut names = vec![0u8; 65536];
    // SAFETY: buffer and path are valid.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return out;
    }
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
    {
        let cn = CString::new(name).unwrap();
        let mut val = vec![0u8; 65536];
        // SAFETY: buffers are valid.
        let m =
            unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), val.as_mut_ptr().cast(), val.len()) };
        if m >= 0 {
            val.truncate(m as usize);
            out.insert(String::from_utf8_lossy(name).into_owned(), val);
        }
    }
    out
}

/// Everything observable about a tree, keyed by relative path bytes.
pub fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, p: &Path, out: &mut BTreeMap<Vec<u8>, Node>) {
    let md = std::fs::symlink_metadata(p).unwrap();
    let ft = md.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_file() {
        'f'
    } else if ft.is_fifo() {
        'p'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        's'
    };
    let content = if kind == 'f' {
        Sha256::digest(std::fs::read(p).unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    } else {
        String::new()
    };
    let link = if kind == 'l' {
        std::fs::read_link(p)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec()
    } else {
        Vec::new()
    };
    let rel = p
        .strip_prefix(root)
        .unwrap()
        .as_os_str()
        .as_bytes()
        .to_vec();
    out.insert(
        rel,
        Node {
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            size: if kind == 'd' { 0 } else { md.size() },
            content,
            link,
            rdev: md.rdev(),
            mtime: (md.mtime(), md.mtime_nsec()),
            nlink: md.nlink(),
            ino: md.ino(),
            xattrs: xattrs(p)
                .into_iter()
                .filter(|(k, _)| !k.starts_with("trusted.overlay."))
                .collect(),
        },
    );
    if kind == 'd' {
        let mut names: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for n in names {
            walk(root, &n, out);
        }
    }
}

pub struct Cmp {
    /// Directory mtimes depend on when a directory was implicitly created.
    pub dir_mtime: bool,
    /// overlayfs reports 1 link for directories and cannot keep hardlink
    /// identity across layers.
    pub nlink: bool,
}

/// Differences between two snapshots, as readable lines.
pub fn diff(a: &BTreeMap<Vec<u8>, Node>, b: &BTreeMap<Vec<u8>, Node>, c: &Cmp) -> Vec<String> {
    let mut out = Vec::new();
    for (k, na) in a {
        let name = String::from_utf8_lossy(k);
        let Some(nb) = b.get(k) else {
            out.push(format!("only in first: {name}"));
            continue;
        };
        if k.is_empty() {
            continue;
        }
        let mut x = na.clone();
        let mut y = nb.clone();
        x.ino = 0;
        y.ino = 0;
        if x.kind == 'd' && !c.dir_mtime {
            x.mtime = (0, 0);
            y.mtime = (0, 0);
        }
        if !c.nlink {
            x.nlink = 0;
            y.nlink = 0;
        }
        if x != y {
            out.push(format!("{name}: {x:?} != {y:?}"));
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) {
            out.push(format!("only in second: {}", String::from_utf8_lossy(k)));
        }
    }
    out
}

/// Paths grouped by inode, for comparing hardlink structure.
pub fn link_groups(s: &BTreeMap<Vec<u8>, Node>) -> Vec<Vec<Vec<u8>>> {
    let mut by: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    for (k, n) in s {
        if n.kind != 'd' {
            by.entry(n.ino).or_default().push(k.clone());
        }
    }
    let mut v: Vec<_> = by.into_values().filter(|g| g.len() > 1).collect();
    v.sort();
    v
}

/// A file outside every bundle that hostile layers aim at.
pub struct Canary {
    pub path: PathBuf,
    before: (Vec<u8>, u32, u32, u32, i64, u64),
    siblings: Vec<PathBuf>,
}

impl Canary {
    pub fn new(dir: &Path) -> Canary {
        let d = dir.join("canary-dir");
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("canary");
        std::fs::write(&path, b"original canary content").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .unwrap();
        if is_root() {
            std::os::unix::fs::chown(&path, Some(4321), Some(4321)).unwrap();
        }
        let t = nix::sys::time::TimeSpec::new(1_500_000_000, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &path,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
        let mut c = Canary {
            path,
            before: (Vec::new(), 0, 0, 0, 0, 0),
            siblings: Vec::new(),
        };
        c.before = c.state();
        c.siblings = c.list();
        c
    }

    fn state(&self) -> (Vec<u8>, u32, u32, u32, i64, u64) {
        let md = std::fs::symlink_metadata(&self.path).expect("canary is gone");
        (
            std::fs::read(&self.path).unwrap(),
            md.mode(),
            md.uid(),
            md.gid(),
            md.mtime(),
            md.nlink(),
        )
    }

    fn list(&self) -> Vec<PathBuf> {
        let d = self.path.parent().unwrap();
        let up = d.parent().unwrap();
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap()
            .chain(std::fs::read_dir(up).unwrap())
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    /// Content, mode, owner, mtime, link count, and no new neighbours.
    pub fn assert_unchanged(&self, what: &str) {
        assert_eq!(self.state(), self.before, "{what}: canary changed");
        let now: Vec<PathBuf> = self
            .list()
            .into_iter()
            .filter(|p| !self.siblings.contains(p))
            .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with("b-"))
            .collect();
        assert!(
            now.is_empty(),
            "{what}: new files next to the canary: {now:?}"
        );
    }
}
