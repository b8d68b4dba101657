//! `rt image ...`: work with OCI image layouts.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};

use super::GlobalArgs;
use crate::image::{self, reference, Assembly, Limits, UnpackOptions};
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Unpack an image from an OCI layout (DIR[:REF]) into a runtime bundle.
    /// Rootless mode follows the global `--rootless` (true, or auto when
    /// not running as root).
    Unpack(UnpackArgs),
    /// Unmount (if needed) and delete a bundle made by `rt image unpack`.
    Remove(RemoveArgs),
    /// Delete cached layers that no unpacked bundle uses.
    Prune,
}

#[derive(Debug, ClapArgs)]
pub struct UnpackArgs {
    /// Pick this platform from a multi-platform index (OS/ARCH[/VARIANT]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Write a plain rootfs directory instead of an overlay of cached layers.
    #[arg(long)]
    pub flat: bool,
    /// Do not print a summary line on success.
    #[arg(long, short)]
    pub quiet: bool,
    /// Refuse layers with more entries than this.
    #[arg(long, hide = true)]
    pub max_entries: Option<u64>,
    /// Refuse layers that expand to more bytes than this.
    #[arg(long, hide = true)]
    pub max_bytes: Option<u64>,
    /// The image: an OCI layout directory, optionally with :TAG.
    pub image: String,
    /// The bundle directory to create.
    pub bundle: PathBuf,
}

#[derive(Debug, ClapArgs)]
pub struct RemoveArgs {
    pub bundle: PathBuf,
}

/// The cache of extracted layers lives under rt's state root.
pub fn cache_root(g: &GlobalArgs) -> PathBuf {
    crate::image::cache_root(&g.root)
}

pub fn rootless(g: &GlobalArgs) -> bool {
    match g.rootless.as_str() {
        "true" => true,
        "false" => false,
        _ => !nix::unistd::geteuid().is_root(),
    }
}

pub fn run(g: &GlobalArgs, a: Args) -> Result<u8> {
    match a.command {
        ImageCommand::Unpack(u) => unpack(g, u),
        ImageCommand::Remove(r) => {
            image::remove_bundle(&r.bundle)?;
            Ok(0)
        }
        ImageCommand::Prune => {
            let n = image::prune_cache(&cache_root(g))?;
            eprintln!("removed {n} cached layers");
            Ok(0)
        }
    }
}

fn unpack(g: &GlobalArgs, a: UnpackArgs) -> Result<u8> {
    let (dir, tag) = reference::parse_image_arg(&a.image)?;
    let mut limits = Limits::default();
    if let Some(n) = a.max_entries {
        limits.max_entries = n;
    }
    if let Some(n) = a.max_bytes {
        limits.max_bytes = n;
    }
    let opts = UnpackOptions {
        platform: a
            .platform
            .as_deref()
            .map(reference::Platform::parse)
            .transpose()?,
        rootless: rootless(g),
        cache_root: Some(cache_root(g)),
        assembly: a.flat.then_some(Assembly::Flat),
        limits,
        progress: true,
    };
    let r = image::unpack(
        PathBuf::from(dir).as_path(),
        tag.as_deref(),
        &a.bundle,
        &opts,
    )?;
    if !a.quiet {
        eprintln!(
            "unpacked {} ({} layers: {} extracted, {} cached; {:?}) into {} in {:.2}s",
            r.manifest_digest,
            r.layers,
            r.layers_extracted,
            r.layers_reused,
            r.assembly,
            a.bundle.display(),
            r.elapsed.as_secs_f64()
        );
        for (p, u, gid) in &r.unapplied_owners {
            eprintln!("rootless: could not set owner of {p} to {u}:{gid} (recorded in user.rootlesscontainers)");
        }
        for (p, name, why) in &r.skipped_xattrs {
            eprintln!("xattr {name} of {p} not applied: {why}");
        }
    }
    Ok(0)
}
