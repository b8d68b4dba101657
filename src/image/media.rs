//! Media types rt understands, OCI and the Docker ones skopeo writes.

use super::Error;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Index,
    Manifest,
    Config,
    Layer(Compression),
}

pub fn kind(mt: &str) -> Result<Kind, Error> {
    Ok(match mt {
        OCI_INDEX | DOCKER_LIST => Kind::Index,
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
        OCI_CONFIG | DOCKER_CONFIG => Kind::Config,
        "application/vnd.oci.image.layer.v1.tar"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar"
        | "application/vnd.docker.image.rootfs.diff.tar" => Kind::Layer(Compression::None),
        "application/vnd.oci.image.layer.v1.tar+gzip"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        | "application/vnd.docker.image.rootfs.diff.tar.gzip"
        | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            Kind::Layer(Compression::Gzip)
        }
        "application/vnd.oci.image.layer.v1.tar+zstd"
        | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
            Kind::Layer(Compression::Zstd)
        }
        other => return Err(Error::UnknownMediaType(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_types() {
        assert_eq!(kind(OCI_INDEX).unwrap(), Kind::Index);
        assert_eq!(kind(DOCKER_MANIFEST).unwrap(), Kind::Manifest);
        assert_eq!(
            kind("application/vnd.oci.image.layer.v1.tar+zstd").unwrap(),
            Kind::Layer(Compression::Zstd)
        );
        assert_eq!(
            kind("application/vnd.docker.image.rootfs.diff.tar.gzip").unwrap(),
            Kind::Layer(Compression::Gzip)
        );
        assert!(kind("application/vnd.oci.image.layer.v1.tar+bzip2").is_err());
        assert!(kind("").is_err());
    }
}
