//! The OCI image layout: `oci-layout`, `index.json`, and the walk from a
//! reference through (possibly nested) indexes to one image manifest.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::Path;

use serde::Deserialize;

use super::blob;
use super::digest::Digest;
use super::media::{self, Kind};
use super::reference::Platform;
use super::Error;

pub const REF_ANNOTATION: &str = "org.opencontainers.image.ref.name";
const MAX_INDEX_DEPTH: usize = 8;

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<PlatformJson>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlatformJson {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Index {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct OciLayout {
    #[serde(rename = "imageLayoutVersion")]
    version: String,
}

/// An opened layout directory.
pub struct Layout {
    pub dir: OwnedFd,
}

/// The manifest a reference resolved to, with its verified descriptor.
pub struct Resolved {
    pub manifest_digest: Digest,
    pub manifest: Manifest,
}

impl Layout {
    pub fn open(path: &Path) -> Result<Layout, Error> {
        let f = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("open image layout {}", path.display()), e))?;
        let dir = OwnedFd::from(f);
        let l = Layout { dir };
        let raw = l.read_top_file("oci-layout", path)?;
        let ol: OciLayout = serde_json::from_slice(&raw)
            .map_err(|e| Error::Invalid(format!("parse {}/oci-layout: {e}", path.display())))?;
        if !ol.version.starts_with("1.") {
            return Err(Error::Invalid(format!(
                "image layout version {:?} is not supported",
                ol.version
            )));
        }
        Ok(l)
    }

    fn read_top_file(&self, name: &str, path: &Path) -> Result<Vec<u8>, Error> {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let fd = super::fsops::open_in_root(self.dir.as_raw_fd(), name.as_bytes(), libc::O_RDONLY)
            .map_err(|e| Error::io(format!("open {}/{name}", path.display()), e))?;
        let mut buf = Vec::new();
        std::fs::File::from(fd)
            .take(blob::MAX_JSON)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(format!("read {}/{name}", path.display()), e))?;
        Ok(buf)
    }

    pub fn index(&self, path: &Path) -> Result<Index, Error> {
        let raw = self.read_top_file("index.json", path)?;
        serde_json::from_slice(&raw)
            .map_err(|e| Error::Invalid(format!("parse {}/index.json: {e}", path.display())))
    }

    /// Resolves `reference` (default `latest`) to a single image manifest.
    pub fn resolve(
        &self,
        path: &Path,
        reference: Option<&str>,
        platform: &Platform,
        strict: bool,
    ) -> Result<Resolved, Error> {
        let top = self.index(path)?;
        let want = reference.unwrap_or("latest");
        let tagged: Vec<&Descriptor> = top
            .manifests
            .iter()
            .filter(|d| d.annotations.get(REF_ANNOTATION).map(String::as_str) == Some(want))
            .collect();
        let candidates: Vec<&Descriptor> = if !tagged.is_empty() {
            tagged
        } else if reference.is_none() && top.manifests.len() == 1 {
            top.manifests.iter().collect()
        } else {
            let mut names: Vec<&str> = top
                .manifests
                .iter()
                .filter_map(|d| d.annotations.get(REF_ANNOTATION).map(String::as_str))
                .collect();
            names.sort();
            names.dedup();
            return Err(Error::RefNotFound {
                reference: want.to_string(),
                available: names.join(", "),
            });
        };
        self.select(&candidates, platform, strict, 0)
    }

    /// Follows the entry for `platform`; nested indexes that carry no
    /// platform of their own are searched when no entry matches directly.
    /// Unless `strict` (a platform the user asked for), a single entry is
    /// taken whatever its platform: the caller warns when it is foreign.
    fn select(
        &self,
        c: &[&Descriptor],
        platform: &Platform,
        strict: bool,
        depth: usize,
    ) -> Result<Resolved, Error> {
        let err = match pick_platform(c, platform, strict) {
            Ok(d) => return self.follow(d, platform, strict, depth),
            Err(e) => e,
        };
        for d in c.iter().filter(|d| d.platform.is_none()) {
            if media::kind(&d.media_type).ok() != Some(Kind::Index) {
                continue;
            }
            match self.follow(d, platform, strict, depth) {
                Err(Error::NoPlatform { .. }) => {}
                r => return r,
            }
        }
        Err(err)
    }

    fn follow(
        &self,
        d: &Descriptor,
        platform: &Platform,
        strict: bool,
        depth: usize,
    ) -> Result<Resolved, Error> {
        if depth > MAX_INDEX_DEPTH {
            return Err(Error::Invalid("image indexes are nested too deeply".into()));
        }
        let digest = Digest::parse(&d.digest)?;
        match media::kind(&d.media_type)? {
            Kind::Index => {
                let idx: Index = blob::read_json(&self.dir, &digest, d.size, "index")?;
                if let Some(mt) = &idx.media_type {
                    if media::kind(mt)? != Kind::Index {
                        return Err(Error::Invalid(format!(
                            "index {digest} declares media type {mt}"
                        )));
                    }
                }
                let all: Vec<&Descriptor> = idx.manifests.iter().collect();
                self.select(&all, platform, strict, depth + 1)
            }
            Kind::Manifest => {
                let manifest: Manifest = blob::read_json(&self.dir, &digest, d.size, "manifest")?;
                if let Some(mt) = &manifest.media_type {
                    if media::kind(mt)? != Kind::Manifest {
                        return Err(Error::Invalid(format!(
                            "manifest {digest} declares media type {mt}"
                        )));
                    }
                }
                Ok(Resolved {
                    manifest_digest: digest,
                    manifest,
                })
            }
            _ => Err(Error::UnknownMediaType(format!(
                "{} (expected an index or manifest)",
                d.media_type
            ))),
        }
    }
}

/// Picks the descriptor for `platform`. A single candidate without platform
/// information is taken as is, and so is a single one of another platform
/// unless `strict`; several need a match.
fn pick_platform<'a>(
    c: &[&'a Descriptor],
    platform: &Platform,
    strict: bool,
) -> Result<&'a Descriptor, Error> {
    if c.len() == 1 && (c[0].platform.is_none() || !strict) {
        return Ok(c[0]);
    }
    if let Some(d) = c.iter().find(|d| match &d.platform {
        Some(p) => platform.matches(&p.os, &p.architecture, p.variant.as_deref()),
        None => false,
    }) {
        return Ok(d);
    }
    let avail: Vec<String> = c
        .iter()
        .map(|d| match &d.platform {
            Some(p) => {
                let mut s = format!("{}/{}", p.os, p.architecture);
                if let Some(v) = &p.variant {
                    s.push('/');
                    s.push_str(v);
                }
                s
            }
            None => "unknown".to_string(),
        })
        .collect();
    Err(Error::NoPlatform {
        wanted: platform.to_string(),
        available: avail.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(p: Option<(&str, &str, Option<&str>)>) -> Descriptor {
        Descriptor {
            media_type: media::OCI_MANIFEST.into(),
            digest: String::new(),
            size: 0,
            annotations: BTreeMap::new(),
            platform: p.map(|(os, a, v)| PlatformJson {
                os: os.into(),
                architecture: a.into(),
                variant: v.map(str::to_string),
            }),
        }
    }

    #[test]
    fn picks_matching_platform() {
        let a = desc(Some(("linux", "amd64", None)));
        let b = desc(Some(("linux", "arm64", Some("v8"))));
        let c = desc(Some(("linux", "arm", Some("v7"))));
        let all = [&a, &b, &c];
        let arm = Platform::parse("linux/arm/v7").unwrap();
        assert!(std::ptr::eq(pick_platform(&all, &arm, false).unwrap(), &c));
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(std::ptr::eq(
            pick_platform(&all, &arm64, false).unwrap(),
            &b
        ));
        let s390 = Platform::parse("linux/s390x").unwrap();
        let e = pick_platform(&all, &s390, false).unwrap_err().to_string();
        assert!(e.contains("linux/arm/v7"), "{e}");
    }

    #[test]
    fn single_untagged_platformless_manifest_is_taken() {
        let a = desc(None);
        let p = Platform::parse("linux/riscv64").unwrap();
        assert!(pick_platform(&[&a], &p, true).is_ok());
        let b = desc(Some(("linux", "amd64", None)));
        assert!(pick_platform(&[&b], &p, true).is_err());
        // The only manifest, of another platform: taken unless asked strictly.
        assert!(pick_platform(&[&b], &p, false).is_ok());
    }
}
