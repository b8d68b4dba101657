//! Images as files: an OCI archive (a tar of an image layout, what
//! `podman save --format oci-archive` and `skopeo copy ... oci-archive:`
//! write) or a docker-archive (`docker save`, `podman save --format
//! docker-archive`: `manifest.json`, configs and layer tars). Either is
//! imported into a scratch image layout in the store and unpacked from
//! there, so it is verified exactly like a layout directory: blob digests
//! and sizes, and every layer against its config's diff_id.
//!
//! Archive member names are never used as paths: only `oci-layout`,
//! `index.json`, `blobs/ALG/HEX` with a valid digest, and (docker) members
//! named by `manifest.json` are kept, each stored under a name rt makes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::digest::{Algorithm, Digest, Hasher};
use super::progress::Progress;
use super::reference;
use super::store::Scratch;
use super::tarstream::{EntryType, TarStream};
use super::unpack::{unpack, UnpackOptions, UnpackReport};
use super::whiteout;
use super::Error;

/// Unpacks `PATH[:REF]`, where PATH is a layout directory or an archive.
pub fn unpack_any(image: &str, bundle: &Path, opts: &UnpackOptions) -> Result<UnpackReport, Error> {
    let (path, tag) = split_arg(image)?;
    if path.is_dir() {
        return unpack(&path, tag.as_deref(), bundle, opts);
    }
    let st = opts
        .store
        .as_deref()
        .ok_or_else(|| Error::Invalid("importing an archive needs an image store".into()))?;
    let scratch = Scratch::new(st, "import")?;
    let layout = scratch.dir.join("layout");
    let tag = import(&path, &layout, tag.as_deref(), opts.progress)?;
    unpack(&layout, tag.as_deref(), bundle, opts)
}

/// `DIR[:REF]` as for layouts; for a file, REF is whatever follows it, so
/// `img.tar:localhost/app:1.0` names the tag `localhost/app:1.0`.
fn split_arg(s: &str) -> Result<(PathBuf, Option<String>), Error> {
    for (i, _) in s.match_indices(':') {
        let p = Path::new(&s[..i]);
        if !s[..i].is_empty() && p.is_file() {
            let tag = &s[i + 1..];
            reference::validate_ref(tag)?;
            return Ok((p.to_path_buf(), Some(tag.to_string())));
        }
    }
    if Path::new(s).is_file() {
        return Ok((PathBuf::from(s), None));
    }
    let (dir, tag) = reference::parse_image_arg(s)?;
    Ok((PathBuf::from(dir), tag))
}

/// A member kept from the archive: where rt stored it and its digest.
#[derive(Clone)]
struct Member {
    file: PathBuf,
    digest: Digest,
}

enum Node {
    File(Member),
    /// Symbolic or hard link, to a normalised archive path.
    Link(Vec<u8>),
}

struct Members {
    nodes: HashMap<Vec<u8>, Node>,
}

impl Members {
    fn get(&self, name: &[u8]) -> Option<&Member> {
        let mut cur = whiteout::normalize(name);
        // Links chain at most a few times in real archives.
        for _ in 0..16 {
            match self.nodes.get(&cur)? {
                Node::File(m) => return Some(m),
                Node::Link(t) => cur = t.clone(),
            }
        }
        None
    }
}

/// What a docker-archive member name may be; the rest is ignored.
fn wanted(name: &[u8]) -> bool {
    name.ends_with(b".json")
        || name.ends_with(b".tar")
        || name.ends_with(b".tar.gz")
        || name.starts_with(b"blobs/")
        || name == b"oci-layout"
}

/// Counts what is read, for the progress line.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(b)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// Reads the whole archive once, keeping members that can matter.
fn read_members(path: &Path, dir: &Path, progress: bool) -> Result<Members, Error> {
    let f = File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let total = f.metadata().map(|m| m.len()).unwrap_or(0);
    let shown = Progress::start_import(progress, total, path.display().to_string());
    let counter = Arc::new(AtomicU64::new(0));
    shown.watch(counter.clone());
    let mut counted = std::io::BufReader::with_capacity(
        1 << 20,
        Counting {
            inner: f,
            n: counter,
        },
    );
    // `docker save | gzip` is common; `docker load` takes it too.
    let gz = std::io::BufRead::fill_buf(&mut counted)
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .map_err(|e| Error::io(format!("read archive {}", path.display()), e))?;
    let src: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(counted))
    } else {
        Box::new(counted)
    };
    let mut ar = TarStream::new(src);
    let mut nodes = HashMap::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    let ctx = |e| Error::io(format!("read archive {}", path.display()), e);
    let bad = |e: Error| Error::Invalid(format!("read archive {}: {e}", path.display()));
    while let Some(h) = ar.next_entry().map_err(bad)? {
        let name = whiteout::normalize(&h.path);
        if !wanted(&name) {
            continue;
        }
        match h.kind {
            EntryType::Regular | EntryType::Continuous => {
                n += 1;
                let file = dir.join(format!("m{n}"));
                let mut out = File::create(&file)
                    .map_err(|e| Error::io(format!("create {}", file.display()), e))?;
                let mut hs = Hasher::new(Algorithm::Sha256);
                loop {
                    let k = ar.read(&mut buf).map_err(ctx)?;
                    if k == 0 {
                        break;
                    }
                    hs.update(&buf[..k]);
                    out.write_all(&buf[..k])
                        .map_err(|e| Error::io(format!("write {}", file.display()), e))?;
                }
                nodes.insert(
                    name,
                    Node::File(Member {
                        file,
                        digest: hs.finish(),
                    }),
                );
            }
            EntryType::Symlink => {
                let (parent, _) = whiteout::split(&name);
                let t = h.link.unwrap_or_default();
                let full = if t.starts_with(b"/") {
                    t
                } else {
                    [parent, b"/", &t].concat()
                };
                nodes.insert(name, Node::Link(whiteout::normalize(&full)));
            }
            EntryType::Link => {
                let t = whiteout::normalize(&h.link.unwrap_or_default());
                nodes.insert(name, Node::Link(t));
            }
            _ => {}
        }
    }
    Ok(Members { nodes })
}

/// Turns the archive into an image layout at `layout`. Returns the
/// reference to unpack there.
fn import(
    path: &Path,
    layout: &Path,
    tag: Option<&str>,
    progress: bool,
) -> Result<Option<String>, Error> {
    let members_dir = layout.with_file_name("members");
    for d in [layout, &members_dir, &layout.join("blobs")] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(format!("create {}", d.display()), e))?;
    }
    let m = read_members(path, &members_dir, progress)?;
    if m.get(b"oci-layout").is_some() && m.get(b"index.json").is_some() {
        import_oci(&m, layout)?;
        return Ok(tag.map(str::to_string));
    }
    if m.get(b"manifest.json").is_some() {
        return import_docker(&m, layout, tag);
    }
    Err(Error::Invalid(format!(
        "{} is neither an image layout, an OCI archive nor a docker-archive",
        path.display()
    )))
}

fn place(m: &Member, to: &Path) -> Result<(), Error> {
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::io(format!("create {}", p.display()), e))?;
    }
    // A member linked under several names is stored once: copy then.
    if to.exists() {
        return Ok(());
    }
    match std::fs::hard_link(&m.file, to) {
        Ok(()) => Ok(()),
        Err(_) => std::fs::copy(&m.file, to)
            .map(drop)
            .map_err(|e| Error::io(format!("store {}", to.display()), e)),
    }
}

fn import_oci(m: &Members, layout: &Path) -> Result<(), Error> {
    for (name, _) in m.nodes.iter() {
        let Some(rest) = name.strip_prefix(b"blobs/") else {
            continue;
        };
        let Some((alg, hex)) = std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.split_once('/'))
        else {
            continue;
        };
        // Only names that are digests become blobs: nothing else from the
        // archive names a file here.
        let Ok(d) = Digest::parse(&format!("{alg}:{hex}")) else {
            continue;
        };
        if let Some(mem) = m.get(name) {
            place(mem, &layout.join(d.blob_path()))?;
        }
    }
    for f in ["oci-layout", "index.json"] {
        if let Some(mem) = m.get(f.as_bytes()) {
            place(mem, &layout.join(f))?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn read_json<T: serde::de::DeserializeOwned>(m: &Member, what: &str) -> Result<T, Error> {
    let f = File::open(&m.file).map_err(|e| Error::io(format!("open {what}"), e))?;
    let mut b = Vec::new();
    f.take(super::blob::MAX_JSON)
        .read_to_end(&mut b)
        .map_err(|e| Error::io(format!("read {what}"), e))?;
    serde_json::from_slice(&b).map_err(|e| Error::Invalid(format!("parse {what}: {e}")))
}

/// The digest a docker-archive member's name claims, if it is one
/// (`HEX.json`, `HEX/layer.tar` is not: old docker ids are not digests).
fn named_digest(name: &str) -> Option<Digest> {
    let base = name.rsplit('/').next()?;
    let hex = base
        .strip_suffix(".json")
        .or_else(|| base.strip_suffix(".tar"))?;
    if name.starts_with("blobs/") {
        let rest = name.strip_prefix("blobs/")?;
        let (alg, hex) = rest.split_once('/')?;
        return Digest::parse(&format!("{alg}:{hex}")).ok();
    }
    Digest::parse(&format!("sha256:{hex}")).ok()
}

fn layer_media_type(m: &Member) -> Result<&'static str, Error> {
    let mut magic = [0u8; 4];
    let mut f = File::open(&m.file).map_err(|e| Error::io("open layer", e))?;
    let n = f.read(&mut magic).map_err(|e| Error::io("read layer", e))?;
    Ok(match &magic[..n] {
        [0x1f, 0x8b, ..] => "application/vnd.docker.image.rootfs.diff.tar.gzip",
        [0x28, 0xb5, 0x2f, 0xfd] => "application/vnd.oci.image.layer.v1.tar+zstd",
        _ => "application/vnd.docker.image.rootfs.diff.tar",
    })
}

fn import_docker(m: &Members, layout: &Path, tag: Option<&str>) -> Result<Option<String>, Error> {
    let mf = m
        .get(b"manifest.json")
        .ok_or_else(|| Error::Invalid("docker-archive without manifest.json".into()))?;
    let entries: Vec<DockerEntry> = read_json(mf, "docker-archive manifest.json")?;
    let missing = |n: &str| Error::Invalid(format!("docker-archive lacks {n:?}"));
    let mut index = Vec::new();
    for e in &entries {
        let cfg = m
            .get(e.config.as_bytes())
            .ok_or_else(|| missing(&e.config))?;
        if let Some(claimed) = named_digest(&e.config) {
            if claimed != cfg.digest {
                return Err(Error::DigestMismatch {
                    what: format!("docker-archive config {}", e.config),
                    expected: claimed.to_string(),
                    actual: cfg.digest.to_string(),
                });
            }
        }
        place(cfg, &layout.join(cfg.digest.blob_path()))?;
        let mut layers = Vec::new();
        for l in &e.layers {
            let mem = m.get(l.as_bytes()).ok_or_else(|| missing(l))?;
            place(mem, &layout.join(mem.digest.blob_path()))?;
            let size = std::fs::metadata(&mem.file)
                .map_err(|e| Error::io("stat layer", e))?
                .len();
            layers.push(json!({
                "mediaType": layer_media_type(mem)?,
                "digest": mem.digest.to_string(),
                "size": size,
            }));
        }
        let cfg_size = std::fs::metadata(&cfg.file)
            .map_err(|e| Error::io("stat config", e))?
            .len();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": cfg.digest.to_string(),
                "size": cfg_size,
            },
            "layers": layers,
        }))
        .map_err(|e| Error::Invalid(format!("serialise manifest: {e}")))?;
        let md = super::digest::sha256_of(&manifest);
        let mp = layout.join(md.blob_path());
        if let Some(p) = mp.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io("create blobs", e))?;
        }
        std::fs::write(&mp, &manifest).map_err(|e| Error::io("write manifest", e))?;
        let tags = e.repo_tags.clone().unwrap_or_default();
        let desc = |name: Option<&str>| {
            let mut d = json!({
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "digest": md.to_string(),
                "size": manifest.len(),
            });
            if let Some(n) = name {
                d["annotations"] = json!({ super::layout::REF_ANNOTATION: n });
            }
            d
        };
        if tags.is_empty() {
            index.push(desc(None));
        }
        for t in &tags {
            index.push(desc(Some(t)));
            // Also by its tag alone, so `img.tar:1.0` finds `app:1.0`.
            if let Some((_, short)) = t.rsplit_once(':') {
                if !short.contains('/') {
                    index.push(desc(Some(short)));
                }
            }
        }
    }
    // Which reference to unpack: as asked; otherwise the only image.
    let wanted = match tag {
        Some(t) => Some(t.to_string()),
        None if entries.len() == 1 => {
            let first = entries[0]
                .repo_tags
                .as_ref()
                .and_then(|t| t.first())
                .cloned();
            if first.is_none() {
                // Untagged and alone: resolved without a reference.
                index.truncate(1);
            }
            first
        }
        None => {
            return Err(Error::Invalid(
                "the docker-archive holds several images: name one (ARCHIVE:TAG)".into(),
            ))
        }
    };
    let idx = json!({"schemaVersion": 2, "manifests": index});
    std::fs::write(layout.join("index.json"), idx.to_string())
        .map_err(|e| Error::io("write index.json", e))?;
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .map_err(|e| Error::io("write oci-layout", e))?;
    Ok(wanted)
}
