//! Content digests (`algorithm:hex`) as the image spec defines them. Only
//! registered algorithms are accepted, and the encoded part is checked so a
//! digest can never smuggle a path (`..`, `/`) into the blob store.

use std::fmt;

use sha2::{Digest as _, Sha256, Sha512};

use super::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    pub algorithm: Algorithm,
    pub hex: String,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Digest, Error> {
        let bad = |why: &str| Error::BadDigest(s.to_string(), why.to_string());
        let (alg, hex) = s.split_once(':').ok_or_else(|| bad("missing ':'"))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad("unsupported algorithm")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(bad("wrong length"));
        }
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("not lower-case hex"));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }

    /// Path of the blob relative to the layout root.
    pub fn blob_path(&self) -> String {
        format!("blobs/{}/{}", self.algorithm.name(), self.hex)
    }

    /// A name safe to use as one path component (cache directories).
    pub fn file_name(&self) -> String {
        format!("{}-{}", self.algorithm.name(), self.hex)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

/// A running hash of either algorithm.
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(a: Algorithm) -> Hasher {
        match a {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }
    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }
    pub fn finish(self) -> Digest {
        let (algorithm, bytes): (Algorithm, Vec<u8>) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Hasher::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        };
        Digest {
            algorithm,
            hex: to_hex(&bytes),
        }
    }
}

pub fn to_hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

pub fn sha256_of(b: &[u8]) -> Digest {
    let mut h = Hasher::new(Algorithm::Sha256);
    h.update(b);
    h.finish()
}

/// ChainID of a layer stack (image-spec config.md): the identity of the
/// filesystem after applying these layers in order.
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid_sha256() {
        let d = Digest::parse(&format!("sha256:{E}")).unwrap();
        assert_eq!(d.algorithm, Algorithm::Sha256);
        assert_eq!(d.blob_path(), format!("blobs/sha256/{E}"));
        assert_eq!(d.to_string(), format!("sha256:{E}"));
    }

    #[test]
    fn rejects_bad_digests() {
        for s in [
            "sha256",
            "md5:abcd",
            "sha256:abc",
            &format!("sha256:{}", E.to_uppercase()),
            &format!("sha256:../{}", &E[3..]),
            &format!("sha256:{}/x", &E[2..]),
            &format!("sha384:{E}"),
            &format!("SHA256:{E}"),
            "",
        ] {
            assert!(Digest::parse(s).is_err(), "{s} accepted");
        }
    }

    #[test]
    fn hashes_empty_input() {
        assert_eq!(sha256_of(b"").hex, E);
        let mut h = Hasher::new(Algorithm::Sha512);
        h.update(b"");
        assert!(h.finish().hex.starts_with("cf83e1357eefb8bd"));
    }

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = Digest::parse(&format!("sha256:{E}")).unwrap();
        let ids = chain_ids(&[a.clone(), a.clone()]);
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], sha256_of(format!("{a} {a}").as_bytes()));
    }
}
