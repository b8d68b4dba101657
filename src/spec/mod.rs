//! Loading and checking a bundle's config.json. Anything rt cannot honour is
//! rejected here, before any state exists, so a bad config leaves nothing
//! behind and never half-runs.

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

mod default;
pub mod lsm;
mod validate;

pub use default::default_spec;
pub use validate::validate;
pub(crate) use validate::validate_on;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bundle {path}: {source}")]
    Bundle {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config.json in {path}: {cause}")]
    Parse { path: PathBuf, cause: String },
    #[error("config.json: {0}")]
    Invalid(String),
    #[error("config.json: {0} is not supported by rt")]
    Unsupported(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A loaded config plus the absolute paths derived from it.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Read `<bundle>/config.json`, check it, and resolve the root path.
pub fn load(bundle: &Path) -> Result<Bundle> {
    let dir = fs::canonicalize(bundle).map_err(|source| Error::Bundle {
        path: bundle.to_path_buf(),
        source,
    })?;
    let file = dir.join("config.json");
    let data = fs::read(&file).map_err(|source| Error::Bundle {
        path: file.clone(),
        source,
    })?;
    let spec: Spec = serde_json::from_slice(&data).map_err(|e| Error::Parse {
        path: dir.clone(),
        cause: e.to_string(),
    })?;
    validate(&spec)?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::Invalid("root is required".into()))?;
    let rootfs = dir.join(root.path());
    let rootfs = fs::canonicalize(&rootfs).map_err(|source| Error::Bundle {
        path: rootfs.clone(),
        source,
    })?;
    if !rootfs.is_dir() {
        return Err(Error::Invalid(format!(
            "root.path {} is not a directory",
            rootfs.display()
        )));
    }
    Ok(Bundle { dir, rootfs, spec })
}
