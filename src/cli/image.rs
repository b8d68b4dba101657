//! `rt image ...`: unpack OCI images (layout directories, OCI archives,
//! docker-archives) into bundles, and look after the image store.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};

use super::GlobalArgs;
use crate::image::{self, reference, store, Assembly, Limits, UnpackOptions};
use crate::Result;

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Unpack an image (a layout DIR[:REF], or an OCI or docker archive
    /// FILE[:REF]) into a self-contained runtime bundle. Rootless mode
    /// follows the global `--rootless` (true, or auto when not root).
    Unpack(UnpackArgs),
    /// Unmount (if needed) and delete a bundle made by `rt image unpack`.
    Remove(RemoveArgs),
    /// Delete cached layers that no mounted overlay uses, and leftovers.
    Prune,
    /// Show what the image store holds and how much disk it takes.
    Df,
}

#[derive(Debug, ClapArgs)]
pub struct UnpackArgs {
    /// Pick this platform from a multi-platform index (OS/ARCH[/VARIANT]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Make the rootfs an overlay mount of layers cached in the image
    /// store (fast to repeat; the bundle depends on the mount and store).
    #[arg(long, conflicts_with = "flat")]
    pub overlay: bool,
    /// The default (a plain rootfs directory); kept for older scripts.
    #[arg(long, hide = true)]
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
    /// The image: a layout directory or an archive, optionally with :REF.
    pub image: String,
    /// The bundle directory to create.
    pub bundle: PathBuf,
}

#[derive(Debug, ClapArgs)]
pub struct RemoveArgs {
    pub bundle: PathBuf,
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
            let n = store::prune(&g.image_store, &g.root)?;
            eprintln!("removed {n} cached layers and leftovers");
            Ok(0)
        }
        ImageCommand::Df => df(g),
    }
}

fn df(g: &GlobalArgs) -> Result<u8> {
    let u = store::usage(&g.image_store)?;
    println!("store: {}", g.image_store.display());
    println!(
        "layers: {} ({} in use by a mount), {:.1} MB",
        u.layers,
        u.in_use,
        u.bytes as f64 / 1e6
    );
    if u.debris > 0 {
        println!(
            "leftovers of interrupted unpacks: {} (rt image prune)",
            u.debris
        );
    }
    if let Some(p) = store::legacy_cache(&g.root) {
        println!(
            "an older rt's cache is still at {} (not used; rt image prune removes it)",
            p.display()
        );
    }
    Ok(0)
}

fn unpack(g: &GlobalArgs, a: UnpackArgs) -> Result<u8> {
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
        store: Some(g.image_store.clone()),
        assembly: Some(if a.overlay {
            Assembly::Overlay
        } else {
            Assembly::Flat
        }),
        limits,
        progress: true,
    };
    let r = image::unpack_any(&a.image, &a.bundle, &opts)?;
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
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
