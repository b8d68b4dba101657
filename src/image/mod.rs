//! OCI image layouts: index, manifests, verified blobs and safe layer
//! extraction into runtime bundles.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("image: {0}")]
    Invalid(String),
}
