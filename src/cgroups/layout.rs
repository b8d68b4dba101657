//! Which cgroup hierarchies this host mounts and where each controller
//! lives. A controller is either bound to a v1 hierarchy or available in the
//! unified (cgroup2) tree, never both; a hybrid host mixes the two per
//! controller (this machine: cpu, memory, ... on v1, hugetlb on cgroup2).
//!
//! cgroups-rs is not used for this: `hierarchies::auto()` classifies a
//! hybrid host as pure v1 and never sees the unified mount nor the
//! controllers bound to it, so per-controller placement is decided here.

use std::fs;
use std::path::{Path, PathBuf};

/// v1 controllers rt knows how to drive. `name=systemd` is a named
/// hierarchy without a controller: the container joins it too so that
/// /proc/PID/cgroup is coherent, as runc does.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "rdma",
    "perf_event",
    "misc",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    pub mount: PathBuf,
    /// Controllers bound here (co-mounts like cpu,cpuacct list both), or
    /// `name=...` for a named hierarchy.
    pub controllers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    pub v1: Vec<V1Mount>,
    pub unified: Option<PathBuf>,
    /// Controllers the unified root offers (its cgroup.controllers).
    pub v2_controllers: Vec<String>,
}

/// Where a controller's files are for this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Home<'a> {
    V1(&'a Path),
    V2,
    Absent,
}

/// Cgroup mounts mountinfo lists, before checking what is really there.
#[derive(Default)]
struct Candidates {
    v1: Vec<V1Mount>,
    unified: Vec<PathBuf>,
}

/// statfs f_type of cgroup v1 and cgroup2 file systems (linux/magic.h).
const CGROUP_MAGIC: i64 = 0x0027_e0eb;
const CGROUP2_MAGIC: i64 = 0x6367_7270;

fn fs_magic(path: &Path) -> Option<i64> {
    nix::sys::statfs::statfs(path)
        .ok()
        .map(|s| s.filesystem_type().0)
}

impl Layout {
    /// The hierarchies of this host: mountinfo names the candidates, and
    /// each is kept only if the file system now at its mount point really is
    /// a cgroup one (statfs magic). A mount point can be covered by another
    /// mount (a tmpfs over /sys/fs/cgroup/unified) or be a leftover empty
    /// directory; treating it as a hierarchy would fail every container.
    pub fn detect() -> Layout {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut l = Layout::from_candidates(Layout::candidates(&info), |p, magic| {
            fs_magic(p) == Some(magic)
        });
        if let Some(u) = &l.unified {
            l.v2_controllers = fs::read_to_string(u.join("cgroup.controllers"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_string)
                .collect();
        }
        l
    }

    /// The layout from mountinfo candidates, keeping those `is_fs` confirms:
    /// the first confirmed cgroup2 mount, and each v1 hierarchy once.
    fn from_candidates(c: Candidates, is_fs: impl Fn(&Path, i64) -> bool) -> Layout {
        let mut l = Layout {
            unified: c.unified.into_iter().find(|u| is_fs(u, CGROUP2_MAGIC)),
            ..Layout::default()
        };
        for m in c.v1 {
            if l.v1.iter().all(|x| x.controllers != m.controllers) && is_fs(&m.mount, CGROUP_MAGIC)
            {
                l.v1.push(m);
            }
        }
        l
    }

    /// The hierarchies in a mountinfo text, without looking at the file
    /// systems (for tests): the first cgroup2 mount, each v1 hierarchy once.
    pub fn parse(mountinfo: &str) -> Layout {
        Layout::from_candidates(Layout::candidates(mountinfo), |_, _| true)
    }

    /// Every cgroup mount in a mountinfo text, in order. Only mounts of a
    /// hierarchy's root are used: a bind mount of a sub-cgroup would shift
    /// every path.
    fn candidates(mountinfo: &str) -> Candidates {
        let mut l = Candidates::default();
        for line in mountinfo.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            let (Some(root), Some(mnt), Some(fstype)) = (pre.get(3), pre.get(4), post.first())
            else {
                continue;
            };
            if *root != "/" {
                continue;
            }
            let mnt = PathBuf::from(unescape(mnt));
            match *fstype {
                "cgroup2" => l.unified.push(mnt),
                "cgroup" => {
                    let opts = post.get(2).copied().unwrap_or("");
                    let controllers: Vec<String> = opts
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_string)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    l.v1.push(V1Mount {
                        mount: mnt,
                        controllers,
                    });
                }
                _ => {}
            }
        }
        l
    }

    /// A view of only the unified tree, as on a pure v2 host. Tests use it to
    /// drive the v2 code paths (freezer, device filter) on a hybrid host.
    pub fn unified_only(&self) -> Layout {
        Layout {
            v1: Vec::new(),
            unified: self.unified.clone(),
            v2_controllers: self.v2_controllers.clone(),
        }
    }

    pub fn is_pure_v2(&self) -> bool {
        self.v1.is_empty() && self.unified.is_some()
    }

    /// "v1", "hybrid", "v2" or "none".
    pub fn mode(&self) -> &'static str {
        match (self.v1.is_empty(), self.unified.is_some()) {
            (false, false) => "v1",
            (false, true) => "hybrid",
            (true, true) => "v2",
            (true, false) => "none",
        }
    }

    pub fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
            .map(|m| m.mount.as_path())
    }

    /// `v1` is the controller's v1 name, `v2` its name in the unified tree
    /// (blkio is io there); freezer and devices are part of every cgroup2
    /// (cgroup.freeze, BPF device programs) so callers pass "" for them.
    pub fn home(&self, v1: &str, v2: &str) -> Home<'_> {
        if let Some(m) = self.v1_mount(v1) {
            return Home::V1(m);
        }
        match &self.unified {
            Some(_) if v2.is_empty() || self.v2_controllers.iter().any(|c| c == v2) => Home::V2,
            _ => Home::Absent,
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 31 0:32 /sub /mnt/memsub rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn parses_hybrid_mountinfo() {
        let mut l = Layout::parse(HYBRID);
        assert_eq!(l.v1.len(), 3);
        assert_eq!(l.v1[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(
            l.v1_mount("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct"))
        );
        assert_eq!(
            l.v1_mount("name=systemd"),
            Some(Path::new("/sys/fs/cgroup/systemd"))
        );
        assert_eq!(
            l.unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(l.mode(), "hybrid");
        l.v2_controllers = vec!["hugetlb".into()];
        assert_eq!(l.home("hugetlb", "hugetlb"), Home::V2);
        assert_eq!(l.home("pids", "pids"), Home::Absent);
        assert_eq!(l.home("freezer", ""), Home::V2);
        assert!(matches!(l.home("memory", "memory"), Home::V1(_)));
        let u = l.unified_only();
        assert!(u.is_pure_v2());
        assert_eq!(u.mode(), "v2");
    }

    #[test]
    fn only_mounts_that_are_cgroup_file_systems_count() {
        // /sys/fs/cgroup/unified covered by a tmpfs, or an empty directory:
        // mountinfo still lists it, statfs says it is not cgroup2.
        let covered = |p: &Path, _| p != Path::new("/sys/fs/cgroup/unified");
        let l = Layout::from_candidates(Layout::candidates(HYBRID), covered);
        assert_eq!(l.unified, None);
        assert_eq!(l.mode(), "v1");
        assert_eq!(l.v1.len(), 3);
        let no_memory = |p: &Path, _| p != Path::new("/sys/fs/cgroup/memory");
        let l = Layout::from_candidates(Layout::candidates(HYBRID), no_memory);
        assert_eq!(l.v1_mount("memory"), None);
        // A second cgroup2 mount elsewhere is used when the first is covered.
        let two = format!("{HYBRID}60 31 0:38 / /run/cg2 rw - cgroup2 cgroup2 rw\n");
        let l = Layout::from_candidates(Layout::candidates(&two), covered);
        assert_eq!(l.unified.as_deref(), Some(Path::new("/run/cg2")));
    }

    #[test]
    fn parses_pure_v2() {
        let l = Layout::parse("30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert!(l.is_pure_v2());
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
