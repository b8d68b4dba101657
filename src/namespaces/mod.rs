//! Namespace kinds, joining by path, user namespace id maps and time
//! offsets. The plan is data computed in the parent before cloning.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("namespace path {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("namespace path {path} is a {found} namespace, not {want}")]
    WrongKind {
        path: PathBuf,
        found: &'static str,
        want: &'static str,
    },
    #[error("join {kind} namespace {path}: {source}")]
    Join {
        kind: &'static str,
        path: PathBuf,
        source: nix::Error,
    },
    #[error("write {file}: {source}")]
    Write {
        file: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    IdMap(String),
    #[error("unknown time offset clock {0:?} (monotonic or boottime)")]
    Clock(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

pub fn name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

fn name_of_flag(flag: i32) -> &'static str {
    ALL.iter()
        .find(|k| self::flag(**k).bits() == flag)
        .map(|k| name(*k))
        .unwrap_or("unknown")
}

/// The order in which joined namespaces are entered: the user namespace
/// first (it grants the rights for the rest), the mount namespace last
/// (entering it changes how later paths resolve, though all are opened
/// beforehand).
pub const ALL: [LinuxNamespaceType; 8] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Time,
    LinuxNamespaceType::Mount,
];

/// An opened namespace to enter with setns.
pub struct Join {
    pub kind: LinuxNamespaceType,
    pub path: PathBuf,
    pub file: File,
    /// For a mount namespace: the root directory to change to once inside
    /// (setns puts us at the namespace's root; a container that has no
    /// mount namespace of its own lives in a chroot below it).
    pub root: Option<File>,
}

impl Join {
    pub fn enter(&self) -> Result<()> {
        let fail = |source| Error::Join {
            kind: name(self.kind),
            path: self.path.clone(),
            source,
        };
        nix::sched::setns(&self.file, flag(self.kind)).map_err(fail)?;
        if let Some(root) = &self.root {
            nix::unistd::fchdir(root).map_err(fail)?;
            nix::unistd::chroot(".").map_err(fail)?;
            nix::unistd::chdir("/").map_err(fail)?;
        }
        Ok(())
    }
}

/// Where the container's mount table comes from. With no mount namespace
/// of its own, rt mounts nothing (anything it did would change a table
/// someone else owns, and outlive the container); the container's root is
/// then a chroot into root.path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountNs {
    /// A new namespace: rt builds the rootfs and pivots into it.
    New,
    /// A namespace joined by path, already set up by whoever made it.
    Joined,
    /// No `mount` entry: the container shares rt's namespace.
    Shared,
}

/// The kind of mount namespace a config asks for.
pub fn mount_ns(spec: &Spec) -> MountNs {
    let listed = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let mount = listed.and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::Mount));
    match mount.map(|m| m.path()) {
        None => MountNs::Shared,
        Some(Some(p)) if !p.as_os_str().is_empty() => MountNs::Joined,
        Some(_) => MountNs::New,
    }
}

/// Which namespaces to create and which to join.
pub struct Plan {
    pub new: CloneFlags,
    pub joins: Vec<Join>,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Result<Plan> {
        let mut plan = Plan {
            new: CloneFlags::empty(),
            joins: Vec::new(),
        };
        let listed = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for kind in ALL {
            let Some(ns) = listed.iter().find(|n| n.typ() == kind) else {
                continue;
            };
            match ns.path() {
                Some(p) if !p.as_os_str().is_empty() => plan.joins.push(open(kind, p)?),
                _ => plan.new |= flag(kind),
            }
        }
        Ok(plan)
    }

    pub fn has_new(&self, kind: LinuxNamespaceType) -> bool {
        self.new.contains(flag(kind))
    }

    pub fn joins(&self, kind: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|j| j.kind == kind)
    }

    /// Everything can be created by a single clone: nothing is joined and
    /// no time namespace needs offsets written before its first process.
    pub fn single_clone(&self) -> bool {
        self.joins.is_empty() && !self.has_new(LinuxNamespaceType::Time)
    }
}

/// Open a namespace file and check it is of the kind the config claims.
pub fn open(kind: LinuxNamespaceType, path: &Path) -> Result<Join> {
    let file = File::open(path).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let found = crate::syscall::namespace_type(file.as_raw_fd()).map_err(|source| Error::Open {
        path: path.to_path_buf(),
        source,
    })?;
    if found != flag(kind).bits() {
        return Err(Error::WrongKind {
            path: path.to_path_buf(),
            found: name_of_flag(found),
            want: name(kind),
        });
    }
    Ok(Join {
        kind,
        path: path.to_path_buf(),
        file,
        root: None,
    })
}

/// The text the kernel expects in uid_map/gid_map.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Write the id maps of `pid`'s user namespace (done by the parent, which
/// holds the rights in the outer namespace). Root writes any map. An
/// unprivileged caller may only map its own id once (and must deny
/// setgroups first for gid_map); anything more goes through the setuid
/// helpers newuidmap/newgidmap, which check /etc/subuid and /etc/subgid.
/// The target must be dumpable until then: /proc/PID files of a
/// non-dumpable process belong to root.
pub fn write_id_maps(pid: i32, spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux() else {
        return Ok(());
    };
    let privileged = nix::unistd::geteuid().is_root();
    let write = |file: String, text: &str| {
        fs::write(&file, text).map_err(|source| Error::Write { file, source })
    };
    if let Some(maps) = linux.uid_mappings() {
        let own = nix::unistd::geteuid().as_raw();
        if privileged || only_own(maps, own) {
            write(format!("/proc/{pid}/uid_map"), &map_text(maps))?;
        } else {
            helper("newuidmap", "uid", own, pid, maps)?;
        }
    }
    if let Some(maps) = linux.gid_mappings() {
        let own = nix::unistd::getegid().as_raw();
        if privileged {
            write(format!("/proc/{pid}/gid_map"), &map_text(maps))?;
        } else if only_own(maps, own) {
            write(format!("/proc/{pid}/setgroups"), "deny")?;
            write(format!("/proc/{pid}/gid_map"), &map_text(maps))?;
        } else {
            helper("newgidmap", "gid", own, pid, maps)?;
        }
    }
    Ok(())
}

/// The one map the kernel lets an unprivileged process write itself.
fn only_own(maps: &[LinuxIdMapping], own: u32) -> bool {
    matches!(maps, [m] if m.host_id() == own && m.size() == 1)
}

/// Run newuidmap/newgidmap: `PID inside outside count ...`.
fn helper(
    name: &'static str,
    kind: &'static str,
    own: u32,
    pid: i32,
    maps: &[LinuxIdMapping],
) -> Result<()> {
    let Some(path) = find_helper(name) else {
        return Err(Error::IdMap(format!(
            "linux.{kind}Mappings maps more than your own {kind} {own}: an unprivileged user \
             needs {name} (Debian package uidmap) and ranges in /etc/sub{kind}"
        )));
    };
    let mut cmd = std::process::Command::new(&path);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id(), m.host_id(), m.size()].map(|v| v.to_string()));
    }
    let out = cmd.output().map_err(|source| Error::Write {
        file: path.display().to_string(),
        source,
    })?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.trim().lines().last().unwrap_or("").to_string();
        return Err(Error::IdMap(format!(
            "{name} {pid} failed ({}): {why} (are the ranges in /etc/sub{kind}?)",
            out.status
        )));
    }
    Ok(())
}

fn find_helper(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .filter(|d| !d.is_empty())
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"])
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file());
    found
}

/// Text for /proc/self/timens_offsets from `linux.timeOffsets`.
pub fn time_offsets_text(spec: &Spec) -> Result<Option<String>> {
    let Some(offsets) = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()) else {
        return Ok(None);
    };
    let mut text = String::new();
    let mut clocks: Vec<_> = offsets.iter().collect();
    clocks.sort_by_key(|(k, _)| k.to_string());
    for (clock, off) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            return Err(Error::Clock(clock.clone()));
        }
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    Ok(Some(text))
}

pub fn write_time_offsets(text: &str) -> Result<()> {
    fs::write("/proc/self/timens_offsets", text).map_err(|source| Error::Write {
        file: "/proc/self/timens_offsets".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_text_is_kernel_format() {
        let m: Vec<LinuxIdMapping> =
            serde_json::from_str(r#"[{"containerID":0,"hostID":1000,"size":1},{"containerID":1,"hostID":100000,"size":65536}]"#)
                .unwrap();
        assert_eq!(map_text(&m), "0 1000 1\n1 100000 65536\n");
        assert!(!only_own(&m, 1000));
        assert!(only_own(&m[..1], 1000));
        assert!(!only_own(&m[..1], 1001));
    }

    #[test]
    fn plan_splits_new_and_joined() {
        let spec: Spec = serde_json::from_str(
            r#"{"ociVersion":"1.0.2","root":{"path":"r"},"linux":{"namespaces":[{"type":"pid"},{"type":"network","path":"/proc/self/ns/net"},{"type":"mount"}]}}"#,
        )
        .unwrap();
        let plan = Plan::from_spec(&spec).unwrap();
        assert!(plan.has_new(LinuxNamespaceType::Pid));
        assert!(plan.has_new(LinuxNamespaceType::Mount));
        assert!(plan.joins(LinuxNamespaceType::Network));
        assert!(!plan.single_clone());
    }

    #[test]
    fn mount_namespace_kinds() {
        let with = |ns: &str| -> Spec {
            serde_json::from_str(&format!(
                r#"{{"ociVersion":"1.0.2","root":{{"path":"r"}},"linux":{{"namespaces":[{ns}]}}}}"#
            ))
            .unwrap()
        };
        assert_eq!(mount_ns(&with(r#"{"type":"mount"}"#)), MountNs::New);
        assert_eq!(
            mount_ns(&with(r#"{"type":"mount","path":""}"#)),
            MountNs::New
        );
        let joined = with(r#"{"type":"mount","path":"/proc/1/ns/mnt"}"#);
        assert_eq!(mount_ns(&joined), MountNs::Joined);
        assert_eq!(mount_ns(&with(r#"{"type":"pid"}"#)), MountNs::Shared);
    }

    #[test]
    fn join_checks_kind() {
        let err = open(LinuxNamespaceType::Pid, Path::new("/proc/self/ns/net"));
        assert!(matches!(err, Err(Error::WrongKind { .. })));
    }
}
