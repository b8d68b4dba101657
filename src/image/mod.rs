//! OCI image layouts: index, manifests, verified blobs and safe layer
//! extraction into runtime bundles (`rt image unpack`, `rt run --image`).
//!
//! Flow: `layout` resolves a reference (through nested indexes, by
//! platform) to a manifest; `blob` reads JSON blobs only after checking
//! size and digest; each layer is streamed by `pipeline` (blob digest and
//! decompression on one thread, diff_id hash and extraction on the other)
//! into `extract`, which applies tar entries with image-spec semantics using
//! only descriptors resolved by `openat2(RESOLVE_IN_ROOT)` (`fsops`).
//!
//! Assembly: by default every layer is extracted into the bundle's own
//! rootfs directory, like umoci: a self-contained bundle. With `--overlay`
//! (and for `rt run --image`) layers go into a cache in the image store
//! (`store`), keyed by ChainID, each extracted through an overlay of its
//! parents so the result is identical to flat extraction; the rootfs is
//! then one overlay mount (a repeated unpack costs milliseconds), on the
//! host for `--overlay`, inside the container's mount namespace for
//! `rt run --image`. What differs with overlay: directories report one
//! link, and a hardlink to a file from a lower layer is a separate inode
//! once a third layer links it again (content and metadata are the same).
//! Archives (`archive`) are imported into a scratch layout first.

mod archive;
mod blob;
mod budget;
mod cache;
pub mod config;
pub mod defaults;
pub mod digest;
mod entry;
mod extract;
mod fsops;
#[doc(hidden)]
pub mod fuzzing;
mod layout;
mod media;
mod overlay;
mod pipeline;
mod progress;
pub mod reference;
pub mod store;
mod tarstream;
mod unpack;
pub mod user;
mod whiteout;
mod xattr;

pub use archive::unpack_any;
pub use cache::Usage;
pub use extract::Limits;
pub use unpack::{
    prepare_run_bundle, remove_bundle, unpack, Assembly, UnpackOptions, UnpackReport,
};

/// Under rt's state root: bundles unpacked for `rt run --image` (runtime
/// state; images themselves live in the store).
pub const BUNDLES_DIR: &str = ".image-bundles";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("digest {0:?} is invalid: {1}")]
    BadDigest(String, String),
    #[error("{what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} size mismatch: descriptor says {expected}, blob has {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0} is missing from the image layout")]
    MissingBlob(String),
    #[error("media type {0:?} is not supported")]
    UnknownMediaType(String),
    #[error("reference {reference:?} not found in the image index (available: {available})")]
    RefNotFound {
        reference: String,
        available: String,
    },
    #[error("no manifest for platform {wanted} (available: {available})")]
    NoPlatform { wanted: String, available: String },
    #[error("layer is corrupt: {0}")]
    Corrupt(String),
    #[error("limit exceeded: {0}")]
    Limit(String),
    #[error("image user: {0}")]
    User(String),
    #[error("image: {0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Entry { path: String, source: Box<Error> },
    #[error("layer extraction stopped")]
    Stopped,
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Names the layer entry an error happened on.
    pub fn context(self, path: &str) -> Error {
        match self {
            e @ Error::Entry { .. } => e,
            e => Error::Entry {
                path: format!("layer entry {path:?}"),
                source: Box::new(e),
            },
        }
    }
}

impl Error {
    /// Names the layer an extraction error belongs to.
    pub fn context_layer(self, d: &digest::Digest) -> Error {
        match self {
            e @ (Error::DigestMismatch { .. } | Error::SizeMismatch { .. }) => e,
            e => Error::Entry {
                path: format!("layer {d}"),
                source: Box::new(e),
            },
        }
    }
}

#[cfg(test)]
mod extract_tests;
