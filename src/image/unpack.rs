//! `unpack`: image layout + reference -> runtime bundle (rootfs + config.json).

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::blob;
use super::cache::{self, Cache, Source};
use super::config::{self, ImageConfig};
use super::digest::{self, Digest};
use super::extract::{Applier, Limits};
use super::layout::{Descriptor, Layout, Resolved};
use super::media::{self, Compression, Kind};
use super::overlay;
use super::pipeline;
use super::progress::Progress;
use super::reference::Platform;
use super::store;
use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assembly {
    /// Every layer extracted into the bundle's own rootfs directory: a
    /// self-contained bundle that survives reboots and `rm -rf` (default).
    Flat,
    /// Layers extracted once into the store's cache, the rootfs an overlay
    /// mount of them on the host (`--overlay`).
    Overlay,
    /// Layers in the cache, the overlay written into config.json as the
    /// first mount (destination `/`), so the container mounts it in its
    /// own mount namespace: nothing in the host's mount table, nothing to
    /// leak when rt dies (`rt run --image`).
    Mounts,
}

#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    pub platform: Option<Platform>,
    /// Device nodes become empty files, unappliable ownership is recorded.
    pub rootless: bool,
    /// The image store (see `store`); `None`: no cache.
    pub store: Option<PathBuf>,
    /// `None`: flat.
    pub assembly: Option<Assembly>,
    pub limits: Limits,
    /// Show a progress line on stderr when it is a terminal.
    pub progress: bool,
}

#[derive(Debug, Clone)]
pub struct UnpackReport {
    pub manifest_digest: String,
    pub config_digest: String,
    pub assembly: Assembly,
    pub layers: usize,
    pub layers_extracted: usize,
    pub layers_reused: usize,
    pub compressed_bytes: u64,
    pub entries: u64,
    pub unapplied_owners: Vec<(String, u64, u64)>,
    /// Attributes not applied: path, name, reason.
    pub skipped_xattrs: Vec<(String, String, String)>,
    /// One line each, for the user (an image of another platform).
    pub warnings: Vec<String>,
    pub elapsed: Duration,
}

struct Layer {
    digest: Digest,
    size: u64,
    compression: Compression,
    diff_id: Digest,
}

impl Layer {
    fn source(&self) -> Source {
        Source {
            digest: self.digest.clone(),
            size: self.size,
            compression: self.compression,
        }
    }
}

pub const ROOTFS: &str = "rootfs";
pub const OVERLAY_STATE: &str = ".rt-image";

/// Unpacks `reference` from the layout at `layout` into a new bundle
/// directory. The bundle must not exist or be empty; on any error it is
/// removed again (emptied if it existed), so no half bundle can be run.
pub fn unpack(
    layout: &Path,
    reference: Option<&str>,
    bundle: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, Error> {
    let created = match fs::DirBuilder::new().mode(0o700).create(bundle) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut it = fs::read_dir(bundle)
                .map_err(|e| Error::io(format!("read bundle {}", bundle.display()), e))?;
            if it.next().is_some() {
                return Err(Error::Invalid(format!(
                    "bundle {} already exists and is not empty",
                    bundle.display()
                )));
            }
            false
        }
        Err(e) => return Err(Error::io(format!("create bundle {}", bundle.display()), e)),
    };
    // Absolute, so overlay mount options do not depend on the cwd.
    let bundle = &fs::canonicalize(bundle)
        .map_err(|e| Error::io(format!("resolve bundle {}", bundle.display()), e))?;
    let r = unpack_into(layout, reference, bundle, opts);
    if r.is_err() {
        let _ = clear_bundle(bundle);
        if created {
            let _ = fs::remove_dir(bundle);
        }
    }
    r
}

/// Unmounts an overlay rootfs (if any) and deletes the bundle.
pub fn remove_bundle(bundle: &Path) -> Result<(), Error> {
    clear_bundle(bundle)?;
    fs::remove_dir(bundle).map_err(|e| Error::io(format!("remove {}", bundle.display()), e))
}

fn clear_bundle(bundle: &Path) -> Result<(), Error> {
    let rootfs = bundle.join(ROOTFS);
    // Detach whatever is mounted there; a flat rootfs is simply not a mount.
    while nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH).is_ok() {}
    let rd = match fs::read_dir(bundle) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("read {}", bundle.display()), e)),
    };
    for ent in rd {
        let ent = ent.map_err(|e| Error::io("read bundle", e))?;
        let p = ent.path();
        let r = if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        r.map_err(|e| Error::io(format!("remove {}", p.display()), e))?;
    }
    Ok(())
}

fn layers_of(descs: &[Descriptor], cfg: &ImageConfig) -> Result<Vec<Layer>, Error> {
    if cfg.rootfs.kind != "layers" {
        return Err(Error::Invalid(format!(
            "image config rootfs.type is {:?}, not \"layers\"",
            cfg.rootfs.kind
        )));
    }
    if cfg.rootfs.diff_ids.len() != descs.len() {
        return Err(Error::Invalid(format!(
            "manifest has {} layers but config lists {} diff_ids",
            descs.len(),
            cfg.rootfs.diff_ids.len()
        )));
    }
    let mut out = Vec::with_capacity(descs.len());
    for (d, diff) in descs.iter().zip(&cfg.rootfs.diff_ids) {
        let compression = match media::kind(&d.media_type)? {
            Kind::Layer(c) => c,
            _ => {
                return Err(Error::UnknownMediaType(format!(
                    "{} (as a layer)",
                    d.media_type
                )))
            }
        };
        if d.size < 0 {
            return Err(Error::Invalid(format!(
                "layer {} has a negative size",
                d.digest
            )));
        }
        out.push(Layer {
            digest: Digest::parse(&d.digest)?,
            size: d.size as u64,
            compression,
            diff_id: Digest::parse(diff)?,
        });
    }
    Ok(out)
}

/// What a reference names in a layout, read and checked, before any layer
/// blob is opened.
pub(super) struct Image {
    pub layout: Layout,
    pub resolved: Resolved,
    pub cfg_digest: Digest,
    pub cfg: ImageConfig,
    layers: Vec<Layer>,
}

pub(super) fn read_image(
    layout_path: &Path,
    reference: Option<&str>,
    platform: &Platform,
    strict: bool,
) -> Result<Image, Error> {
    let layout = Layout::open(layout_path)?;
    let resolved = layout.resolve(layout_path, reference, platform, strict)?;
    let m = &resolved.manifest;
    if media::kind(&m.config.media_type)? != Kind::Config {
        return Err(Error::UnknownMediaType(format!(
            "{} (as a config)",
            m.config.media_type
        )));
    }
    let cfg_digest = Digest::parse(&m.config.digest)?;
    let cfg_raw = blob::read_verified(&layout.dir, &cfg_digest, m.config.size, "config")?;
    let cfg: ImageConfig = serde_json::from_slice(&cfg_raw)
        .map_err(|e| Error::Invalid(format!("parse image config {cfg_digest}: {e}")))?;
    let layers = layers_of(&m.layers, &cfg)?;
    Ok(Image {
        layout,
        resolved,
        cfg_digest,
        cfg,
        layers,
    })
}

fn unpack_into(
    layout_path: &Path,
    reference: Option<&str>,
    bundle: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackReport, Error> {
    let start = Instant::now();
    let host = Platform::host();
    let platform = opts.platform.clone().unwrap_or_else(|| host.clone());
    let Image {
        layout,
        resolved,
        cfg_digest,
        cfg,
        layers,
    } = read_image(layout_path, reference, &platform, opts.platform.is_some())?;
    // Every blob must be there, as large as its descriptor says, before
    // anything is written; a cache hit must not hide a wrong size.
    for l in &layers {
        let f = blob::open_blob(&layout.dir, &l.digest)?;
        let len = f
            .metadata()
            .map_err(|e| Error::io(format!("stat blob {}", l.digest), e))?
            .len();
        if len != l.size {
            return Err(Error::SizeMismatch {
                what: format!("layer {}", l.digest),
                expected: l.size,
                actual: len,
            });
        }
    }
    let assembly = match opts.assembly.unwrap_or(Assembly::Flat) {
        _ if layers.is_empty() => Assembly::Flat,
        a => a,
    };
    if assembly != Assembly::Flat && (opts.rootless || !nix::unistd::geteuid().is_root()) {
        return Err(Error::Invalid(
            "an overlay of cached layers needs root (not rootless)".into(),
        ));
    }
    let total: u64 = layers.iter().map(|l| l.size).sum();
    let progress = Progress::start(opts.progress, total, layers.len());
    let mut report = UnpackReport {
        manifest_digest: resolved.manifest_digest.to_string(),
        config_digest: cfg_digest.to_string(),
        assembly,
        layers: layers.len(),
        layers_extracted: 0,
        layers_reused: 0,
        compressed_bytes: 0,
        entries: 0,
        unapplied_owners: Vec::new(),
        skipped_xattrs: Vec::new(),
        warnings: Vec::new(),
        elapsed: Duration::ZERO,
    };
    if !cfg.architecture.is_empty()
        && !host.matches(&cfg.os, &cfg.architecture, cfg.variant.as_deref())
    {
        let mut img = format!("{}/{}", cfg.os, cfg.architecture);
        if let Some(v) = &cfg.variant {
            img = format!("{img}/{v}");
        }
        report.warnings.push(format!(
            "image is {img}: it cannot run on this {host} host without emulation"
        ));
    }
    let rootfs = bundle.join(ROOTFS);
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&rootfs)
        .map_err(|e| Error::io(format!("create {}", rootfs.display()), e))?;
    let mut overlay = None;
    match assembly {
        Assembly::Flat => {
            let fd = open_dir(&rootfs)?;
            for (i, l) in layers.iter().enumerate() {
                progress.layer(i);
                apply_one(&layout, l, fd.as_raw_fd(), opts, &progress, &mut report)?;
            }
        }
        Assembly::Overlay | Assembly::Mounts => {
            let lowers = stack(&layout, &layers, opts, &progress, &mut report)?;
            let state = bundle.join(OVERLAY_STATE);
            for d in [state.clone(), state.join("upper"), state.join("work")] {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&d)
                    .map_err(|e| Error::io(format!("create {}", d.display()), e))?;
            }
            if let Some(top) = lowers.first() {
                cache::copy_root_meta(top, &state.join("upper"))?;
            }
            let o = overlay::overlay_options(&lowers, &state.join("upper"), &state.join("work"))?;
            if assembly == Assembly::Overlay {
                overlay::mount_overlay(&rootfs, &o)?;
            } else {
                overlay = Some((o, lowers));
            }
        }
    }
    progress.done();
    let spec = match &overlay {
        None => config::generate(&cfg, open_dir(&rootfs)?.as_raw_fd(), opts.rootless)?,
        Some((o, lowers)) => {
            let mut spec = overlay::with_merged_view(lowers, &rootfs, |fd| {
                config::generate(&cfg, fd, opts.rootless)
            })?;
            let mut options = vec![json!("nodev")];
            options.extend(o.split(',').map(|s| json!(s)));
            let mount = json!({
                "destination": "/",
                "type": "overlay",
                "source": "overlay",
                "options": options,
            });
            match spec["mounts"].as_array_mut() {
                Some(a) => a.insert(0, mount),
                None => spec["mounts"] = json!([mount]),
            }
            spec
        }
    };
    let body = serde_json::to_vec_pretty(&spec)
        .map_err(|e| Error::Invalid(format!("serialise config.json: {e}")))?;
    let tmp = bundle.join(".config.json.tmp");
    fs::write(&tmp, body).map_err(|e| Error::io("write config.json", e))?;
    fs::rename(&tmp, bundle.join("config.json")).map_err(|e| Error::io("write config.json", e))?;
    report.elapsed = start.elapsed();
    Ok(report)
}

fn open_dir(p: &Path) -> Result<OwnedFd, Error> {
    let f = fs::File::open(p).map_err(|e| Error::io(format!("open {}", p.display()), e))?;
    Ok(OwnedFd::from(f))
}

fn apply_one(
    layout: &Layout,
    l: &Layer,
    root: std::os::fd::RawFd,
    opts: &UnpackOptions,
    progress: &Progress,
    report: &mut UnpackReport,
) -> Result<(), Error> {
    let file = blob::open_blob(&layout.dir, &l.digest)?;
    let counter = Arc::new(AtomicU64::new(0));
    progress.watch(counter.clone());
    let src = pipeline::LayerSource {
        digest: l.digest.clone(),
        size: l.size,
        compression: l.compression,
        diff_id: l.diff_id.clone(),
    };
    let mut stream = pipeline::start(file, src, opts.limits.max_bytes, counter.clone());
    let mut applier = Applier::new(root, opts.rootless, &opts.limits);
    let r = applier.apply(&mut stream);
    stream.finish(r).map_err(|e| e.context_layer(&l.digest))?;
    report.layers_extracted += 1;
    report.compressed_bytes += counter.load(Ordering::Relaxed);
    report.entries += applier.stats.entries;
    report
        .unapplied_owners
        .append(&mut applier.stats.unapplied_owners);
    report
        .skipped_xattrs
        .append(&mut applier.stats.skipped_xattrs);
    Ok(())
}

/// Brings every layer into the store's cache (extracting those missing,
/// each through an overlay of its parents) and returns the cached diffs,
/// top layer first.
fn stack(
    layout: &Layout,
    layers: &[Layer],
    opts: &UnpackOptions,
    progress: &Progress,
    report: &mut UnpackReport,
) -> Result<Vec<PathBuf>, Error> {
    let root =
        opts.store.as_deref().map(store::layers).ok_or_else(|| {
            Error::Invalid("an overlay of cached layers needs an image store".into())
        })?;
    let cache = Cache::open(&root)?;
    let diffs: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let chains = digest::chain_ids(&diffs);
    let mut lowers: Vec<PathBuf> = Vec::new();
    for (i, (l, chain)) in layers.iter().zip(&chains).enumerate() {
        progress.layer(i);
        // A hit needs the descriptor to match a blob this entry was made
        // from; otherwise the layer goes the cold way, which fails as it
        // would without the cache (wrong media type, corrupt blob) or
        // records one more blob of the same content.
        if cache.usable(chain)? && cache.knows(chain, &l.source()) {
            cache.hold(chain);
            report.layers_reused += 1;
            progress.skip(l.size);
            lowers.insert(0, cache.chain_dir(chain));
            continue;
        }
        let pending = cache.begin(&lowers)?;
        apply_one(layout, l, pending.target()?, opts, progress, report)?;
        lowers.insert(0, cache.commit(pending, chain, &l.source())?);
        cache.hold(chain);
    }
    Ok(lowers)
}

/// A bundle of `rt run --image`, locked while this process lives so that
/// `rt image prune` never takes it for the leftover of a killed rt.
pub struct RunBundle {
    pub path: PathBuf,
    lock_path: PathBuf,
    _lock: nix::fcntl::Flock<fs::File>,
}

impl RunBundle {
    /// Deletes the bundle (and its lock).
    pub fn remove(self) -> Result<(), Error> {
        let r = remove_bundle(&self.path);
        let _ = fs::remove_file(&self.lock_path);
        r
    }
}

/// The lock file beside a run bundle.
pub fn run_bundle_lock(bundle: &Path) -> PathBuf {
    bundle.with_extension("lock")
}

/// What `rt run --image IMAGE[:REF]` needs: the image unpacked into a
/// fresh bundle under rt's root, named after the container. As root the
/// layers come from the store's cache and the container mounts their
/// overlay itself; rootless, the bundle is flat. Remove it with
/// `RunBundle::remove` once the container is gone.
pub fn prepare_run_bundle(
    rt_root: &Path,
    store: &Path,
    image: &str,
    id: &str,
    rootless: bool,
    platform: Option<Platform>,
) -> Result<(RunBundle, UnpackReport), Error> {
    if id.is_empty() || id.contains('/') || id.starts_with('.') {
        return Err(Error::Invalid(format!(
            "container id {id:?} cannot name a bundle"
        )));
    }
    let parent = rt_root.join(super::BUNDLES_DIR);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&parent)
        .map_err(|e| Error::io(format!("create {}", parent.display()), e))?;
    let bundle = parent.join(id);
    let lock_path = run_bundle_lock(&bundle);
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(format!("create {}", lock_path.display()), e))?;
    let lock = nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|_| Error::Invalid(format!("a container named {id} is being started")))?;
    let opts = UnpackOptions {
        platform,
        rootless,
        store: Some(store.to_path_buf()),
        assembly: Some(if rootless {
            Assembly::Flat
        } else {
            Assembly::Mounts
        }),
        progress: true,
        ..UnpackOptions::default()
    };
    let report = match super::archive::unpack_any(image, &bundle, &opts) {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_file(&lock_path);
            return Err(e);
        }
    };
    let rb = RunBundle {
        path: bundle,
        lock_path,
        _lock: lock,
    };
    Ok((rb, report))
}
