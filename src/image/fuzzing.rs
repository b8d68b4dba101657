//! Entry points for the cargo-fuzz targets in `fuzz/`: arbitrary bytes into
//! the image parsers and the layer tar path, the way `unpack` drives them,
//! without writing into any rootfs. They live here because the modules they
//! reach are private to `image`; they are not an API.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::budget::Budget;
use super::config::{self, ImageConfig};
use super::digest::{self, Digest};
use super::entry::Meta;
use super::layout::{Descriptor, Index, Manifest};
use super::reference::{self, Platform};
use super::tarstream::{self, TarStream};
use super::whiteout::{self, Name};
use super::{media, unpack, user};

/// A layer's tar stream, entry by entry: header, PAX records, metadata,
/// the name rules and the content through the bounded reader.
pub fn layer(data: &[u8]) {
    let mut s = TarStream::new(data);
    let mut budget = Budget::new(64 << 20);
    // A stream of empty entries is cheap to walk; the cap keeps one input
    // from running for seconds.
    for _ in 0..4096 {
        let h = match s.next_entry() {
            Ok(Some(h)) => h,
            Ok(None) | Err(_) => return,
        };
        entry_names(&h.path);
        if matches!(
            h.kind,
            tarstream::EntryType::Regular
                | tarstream::EntryType::Continuous
                | tarstream::EntryType::GnuSparse
        ) {
            let _ = budget.charge(&h);
        }
        if let Some(l) = &h.link {
            let _ = whiteout::normalize(l);
        }
        if let Some(pax) = &h.pax {
            for r in tarstream::pax_records(pax) {
                if r.is_err() {
                    break;
                }
            }
        }
        if let Ok(m) = Meta::from_header(&h) {
            check_times(&h, &m);
        }
        let mut sink = [0u8; 4096];
        loop {
            match s.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

fn entry_names(path: &[u8]) {
    let p = whiteout::normalize(path);
    assert!(!p.starts_with(b"/") && !p.ends_with(b"/"), "{p:?}");
    assert!(
        !p.split(|b| *b == b'/').any(|c| c == b".." || c == b"."),
        "normalised path keeps a dot component: {p:?}"
    );
    let (parent, base) = whiteout::split(&p);
    assert_eq!(whiteout::join(parent, base), p);
    if let Some(Name::Whiteout(n)) = whiteout::classify(base) {
        assert!(!n.is_empty() && n != b"." && n != b"..");
    }
    assert_eq!(whiteout::prefixes(&p).last(), Some(&p[..]));
}

/// A PAX time keeps its sign and lands in a valid timespec.
fn check_times(h: &tarstream::Header, m: &Meta) {
    for t in [m.mtime, m.atime] {
        assert!(
            (0..1_000_000_000).contains(&t.1),
            "tv_nsec out of range: {t:?}"
        );
    }
    let Some(pax) = &h.pax else { return };
    for (k, v) in tarstream::pax_records(pax).map_while(Result::ok) {
        if k != b"mtime" {
            continue;
        }
        let negative = v.first() == Some(&b'-') && v.iter().any(|b| (b'1'..=b'9').contains(b));
        if negative {
            assert!(m.mtime.0 < 0, "pax mtime {:?} became {:?}", v, m.mtime);
        }
    }
}

/// Index, manifest and image config documents, NUL-separated: each is
/// parsed as all three, then the first becomes `index.json` of a scratch
/// layout whose blobs are the others (named by their digests) and a
/// reference is resolved through it as `unpack` does.
pub fn image(data: &[u8]) {
    let parts: Vec<&[u8]> = data.split(|b| *b == 0).take(8).collect();
    for p in &parts {
        document(p);
    }
    layout(&parts);
}

fn document(p: &[u8]) {
    if let Ok(idx) = serde_json::from_slice::<Index>(p) {
        descriptors(&idx.manifests);
    }
    if let Ok(m) = serde_json::from_slice::<Manifest>(p) {
        descriptors(std::slice::from_ref(&m.config));
        descriptors(&m.layers);
    }
    if let Ok(cfg) = serde_json::from_slice::<ImageConfig>(p) {
        image_config(&cfg);
    }
    let text = String::from_utf8_lossy(p);
    let passwd = user::parse_passwd(p);
    let groups = user::parse_group(p);
    for line in text.lines().take(16) {
        let _ = Digest::parse(line);
        let _ = Platform::parse(line);
        let _ = reference::parse_image_arg(line);
        let _ = reference::validate_ref(line);
        let _ = media::kind(line);
        let _ = user::resolve(line, &passwd, &groups);
    }
}

fn descriptors(ds: &[Descriptor]) {
    let platforms = [
        Platform::host(),
        Platform::parse("linux/arm64").expect("a valid platform"),
        Platform::parse("linux/arm/v7").expect("a valid platform"),
    ];
    for d in ds {
        let _ = Digest::parse(&d.digest);
        let _ = media::kind(&d.media_type);
        if let Some(r) = d.annotations.get(super::layout::REF_ANNOTATION) {
            let _ = reference::validate_ref(r);
        }
        if let Some(p) = &d.platform {
            for w in &platforms {
                let _ = w.matches(&p.os, &p.architecture, p.variant.as_deref());
            }
        }
    }
}

fn image_config(cfg: &ImageConfig) {
    let passwd =
        user::parse_passwd(b"root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n");
    let groups = user::parse_group(b"root:x:0:\nwheel:x:10:u\n");
    let spec = cfg
        .config
        .as_ref()
        .and_then(|c| c.user.as_deref())
        .unwrap_or("");
    let u = user::resolve(spec, &passwd, &groups).unwrap_or(user::ExecUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".into(),
    });
    for rootless in [false, true] {
        if let Ok(v) = config::build(cfg, &u, rootless) {
            // What `unpack` writes as config.json must load as a Spec.
            let raw = serde_json::to_vec(&v).expect("a Value serialises");
            serde_json::from_slice::<oci_spec::runtime::Spec>(&raw)
                .expect("generated config.json parses as a runtime spec");
        }
    }
    let ids: Vec<Digest> = cfg
        .rootfs
        .diff_ids
        .iter()
        .filter_map(|d| Digest::parse(d).ok())
        .collect();
    assert_eq!(digest::chain_ids(&ids).len(), ids.len());
}

static SCRATCH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// libFuzzer ends with exit(), never by returning to the harness.
extern "C" fn remove_scratch() {
    if let Some(d) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        // SAFETY: registers a plain function with no preconditions.
        unsafe { libc::atexit(remove_scratch) };
        base.join(format!("rt-fuzz-layout-{}", std::process::id()))
    })
}

fn layout(parts: &[&[u8]]) {
    let Some((index, blobs)) = parts.split_first() else {
        return;
    };
    let dir = scratch();
    let _ = std::fs::remove_dir_all(dir);
    let bdir = dir.join("blobs/sha256");
    std::fs::create_dir_all(&bdir).expect("scratch layout");
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("scratch layout");
    std::fs::write(dir.join("index.json"), index).expect("scratch layout");
    for b in blobs {
        let d = digest::sha256_of(b);
        std::fs::write(bdir.join(&d.hex), b).expect("scratch layout");
    }
    let arm = Platform::parse("linux/arm64/v8").expect("a valid platform");
    for (reference, platform, strict) in
        [(None, Platform::host(), false), (Some("latest"), arm, true)]
    {
        if let Ok(img) = unpack::read_image(dir, reference, &platform, strict) {
            image_config(&img.cfg);
        }
    }
}
