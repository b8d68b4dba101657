//! What is done after pivot_root: sysctls, read-only and masked paths and
//! a read-only root. Missing paths are skipped, as the spec allows.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;

use super::bind::remount_bind;
use super::{do_mount, io_err, Error, Result};

pub fn write_sysctls(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let mut keys: Vec<_> = sysctl.iter().collect();
    keys.sort();
    for (key, value) in keys {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        fs::write(&path, value).map_err(io_err(format!("sysctl {key}={value}")))?;
    }
    Ok(())
}

pub fn readonly_paths(spec: &Spec) -> Result<()> {
    for p in spec
        .linux()
        .as_ref()
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        match do_mount(
            Some(path),
            path,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        ) {
            Ok(()) => {}
            Err(Error::Mount {
                source: nix::Error::ENOENT,
                ..
            }) => continue,
            Err(e) => return Err(e),
        }
        remount_bind(path, MsFlags::MS_RDONLY | MsFlags::MS_REC, MsFlags::empty())?;
    }
    Ok(())
}

pub fn masked_paths(spec: &Spec) -> Result<()> {
    for p in spec
        .linux()
        .as_ref()
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        let path = Path::new(p);
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(format!("mask {p}"))(e)),
        };
        if meta.is_dir() {
            do_mount(
                Some(Path::new("tmpfs")),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None,
            )?;
        } else {
            do_mount(
                Some(Path::new("/dev/null")),
                path,
                None,
                MsFlags::MS_BIND,
                None,
            )?;
        }
    }
    Ok(())
}

pub fn remount_readonly(path: &Path) -> Result<()> {
    remount_bind(path, MsFlags::MS_RDONLY, MsFlags::empty())
}
