//! `mounts` from config.json, applied in order below the rootfs.

use std::fs;
use std::path::PathBuf;

use oci_spec::runtime::Mount;

use super::bind::bind;
use super::options;
use super::resolve::resolve_in_root;
use super::{cgroupfs, do_mount, io_err, Context, Error, Result};

pub fn mount_all(ctx: &Context) -> Result<()> {
    for m in ctx.spec.mounts().iter().flatten() {
        mount_one(ctx, m)?;
    }
    Ok(())
}

fn mount_one(ctx: &Context, m: &Mount) -> Result<()> {
    let opts =
        options::parse(m.options().as_deref().unwrap_or(&[])).map_err(|source| Error::Option {
            dest: m.destination().clone(),
            source,
        })?;
    let fstype = m.typ().as_deref().unwrap_or("none");
    let dest = resolve_in_root(ctx.rootfs, m.destination())
        .map_err(io_err(format!("resolve {}", m.destination().display())))?;
    if !dest.starts_with(ctx.rootfs) {
        return Err(Error::Invalid(format!(
            "mount destination {} escapes the rootfs",
            m.destination().display()
        )));
    }
    if fstype == "cgroup" || fstype == "cgroup2" {
        return cgroupfs::mount(ctx, &dest, &opts);
    }
    if opts.bind || fstype == "bind" {
        let source = source_path(ctx, m)?;
        bind(&source, &dest, &opts)?;
    } else {
        fs::create_dir_all(&dest).map_err(io_err(format!("create {}", dest.display())))?;
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        let source = m.source().clone().unwrap_or_else(|| PathBuf::from(fstype));
        do_mount(Some(&source), &dest, Some(fstype), opts.flags, data)?;
    }
    for p in &opts.propagation {
        do_mount(None, &dest, None, *p, None)?;
    }
    Ok(())
}

/// A relative bind source is taken relative to the bundle, as runc does.
fn source_path(ctx: &Context, m: &Mount) -> Result<PathBuf> {
    let src = m.source().clone().ok_or_else(|| {
        Error::Invalid(format!(
            "bind mount {} has no source",
            m.destination().display()
        ))
    })?;
    Ok(if src.is_absolute() {
        src
    } else {
        ctx.bundle.join(src)
    })
}
