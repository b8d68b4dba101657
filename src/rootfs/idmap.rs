//! Idmapped bind mounts: `mounts[].uidMappings`/`gidMappings` and the
//! `idmap`/`ridmap` options (config.md).
//!
//! mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over the user
//! namespace that owns the source's superblock: the host's, for a host
//! directory. The container's init lives in its own user namespace by then,
//! so rt does that part before cloning: it clones each source as a
//! detached mount (open_tree), gives it the mapping of a user namespace made
//! for that purpose, and hands the descriptor down; the init attaches it
//! where the mount goes (move_mount) and applies the other options there.

use std::ffi::CString;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use super::{Error, Result};
use crate::syscall::{clone3, exit_now};

/// A mount to attach instead of binding: its index in `mounts`, and the
/// detached, idmapped tree.
pub struct Idmapped {
    pub index: usize,
    pub tree: OwnedFd,
}

/// What a mount's options say about idmapping: none, the mount itself,
/// or (ridmap) every mount below it too.
fn wanted(m: &Mount) -> Option<bool> {
    let opts = m.options().as_deref().unwrap_or(&[]);
    if opts.iter().any(|o| o == "ridmap") {
        Some(true)
    } else if opts.iter().any(|o| o == "idmap")
        || m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
    {
        Some(false)
    } else {
        None
    }
}

/// Prepare every idmapped mount of `spec`; `bundle` resolves relative
/// sources, as for other binds.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Vec<Idmapped>> {
    let mut out = Vec::new();
    let mut namespaces: Vec<(String, OwnedFd)> = Vec::new();
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(recursive) = wanted(m) else { continue };
        let dest = m.destination().display().to_string();
        let bad = |why: &str| Error::Invalid(format!("idmapped mount {dest}: {why}"));
        let (uids, gids) = mappings(spec, m).map_err(|w| bad(&w))?;
        let opts = m.options().as_deref().unwrap_or(&[]);
        let rbind = opts.iter().any(|o| o == "rbind");
        if !rbind && !opts.iter().any(|o| o == "bind") && m.typ().as_deref() != Some("bind") {
            return Err(bad("only bind mounts can be idmapped"));
        }
        let Some(src) = m.source() else {
            return Err(bad("no source"));
        };
        let src = if src.is_absolute() {
            src.clone()
        } else {
            bundle.join(src)
        };
        let key = format!("{}|{}", map_text(uids), map_text(gids));
        let userns = match namespaces.iter().find(|(k, _)| *k == key) {
            Some((_, fd)) => fd.as_raw_fd(),
            None => {
                let fd = user_namespace(uids, gids).map_err(|e| bad(&e))?;
                namespaces.push((key, fd));
                namespaces.last().map(|(_, f)| f.as_raw_fd()).unwrap_or(-1)
            }
        };
        let tree = clone_tree(&src, rbind).map_err(|e| bad(&e))?;
        set_idmap(&tree, userns, recursive).map_err(|e| {
            bad(&format!(
                "{e} (can the file system of {} be idmapped?)",
                src.display()
            ))
        })?;
        out.push(Idmapped { index, tree });
    }
    Ok(out)
}

/// The mount's own mappings, or else the container's user namespace's.
fn mappings<'a>(
    spec: &'a Spec,
    m: &'a Mount,
) -> std::result::Result<(&'a [LinuxIdMapping], &'a [LinuxIdMapping]), String> {
    match (m.uid_mappings(), m.gid_mappings()) {
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => return Ok((u, g)),
        (Some(u), Some(g)) if u.is_empty() != g.is_empty() => {
            return Err("uidMappings and gidMappings go together".into())
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err("uidMappings and gidMappings go together".into())
        }
        _ => {}
    }
    let linux = spec.linux().as_ref();
    let own_userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
        });
    match (
        own_userns,
        linux.and_then(|l| l.uid_mappings().as_deref()),
        linux.and_then(|l| l.gid_mappings().as_deref()),
    ) {
        (true, Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => Ok((u, g)),
        _ => Err(
            "no uidMappings/gidMappings on the mount and no user namespace mappings to use".into(),
        ),
    }
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// A user namespace with these mappings, held by its descriptor: a child
/// unshares it and waits on a pipe while rt writes its maps and opens it.
fn user_namespace(
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> std::result::Result<OwnedFd, String> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    // SAFETY: single-threaded; the child only reads a pipe and exits.
    let pid = unsafe { clone3(libc::CLONE_NEWUSER as u64, None) }.map_err(|e| e.to_string())?;
    if pid == 0 {
        drop(wr);
        let mut b = [0u8; 1];
        let _ = nix::unistd::read(&rd, &mut b);
        exit_now(0);
    }
    drop(rd);
    let result = (|| {
        fs::write(format!("/proc/{pid}/uid_map"), map_text(uids))
            .map_err(|e| format!("write uid_map: {e}"))?;
        fs::write(format!("/proc/{pid}/gid_map"), map_text(gids))
            .map_err(|e| format!("write gid_map: {e}"))?;
        fs::File::open(format!("/proc/{pid}/ns/user"))
            .map(OwnedFd::from)
            .map_err(|e| format!("open the user namespace: {e}"))
    })();
    drop(wr);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

fn clone_tree(src: &Path, recursive: bool) -> std::result::Result<OwnedFd, String> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let path = CString::new(src.as_os_str().as_bytes()).map_err(|_| "NUL in source".to_string())?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree with a valid path; the descriptor is owned below.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(format!(
            "clone {}: {}",
            src.display(),
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_idmap(tree: &OwnedFd, userns: RawFd, recursive: bool) -> std::result::Result<(), String> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns as u64,
    };
    super::attr::setattr(tree.as_raw_fd(), None, recursive, &attr)
        .map_err(|e| format!("set the idmapping: {e}"))
}

/// In the init: put the prepared tree at `dest` (created like a bind
/// target beforehand).
pub fn attach(tree: RawFd, dest: &Path) -> Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
    let to = CString::new(dest.as_os_str().as_bytes())
        .map_err(|_| Error::Invalid(format!("NUL in {}", dest.display())))?;
    // SAFETY: move_mount of our detached tree onto a path.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(Error::Io {
            context: format!("attach the idmapped mount at {}", dest.display()),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}
