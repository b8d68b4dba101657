//! Reading blobs from an image layout, never trusting them before their
//! digest and size check out. Small JSON blobs are read whole and verified
//! before parsing; layers are verified while streaming (see `VerifyingReader`)
//! and their extracted content is only published once the check passed.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, OwnedFd};

use serde::de::DeserializeOwned;

use super::digest::{Digest, Hasher};
use super::fsops;
use super::Error;

/// JSON documents (index, manifest, config) larger than this are refused.
pub const MAX_JSON: u64 = 32 << 20;

/// Opens a blob inside the layout. The open is confined to the layout
/// directory, so a blob that is a symlink cannot make us read host files.
pub fn open_blob(layout: &OwnedFd, d: &Digest) -> Result<std::fs::File, Error> {
    let fd = fsops::open_in_root(layout.as_raw_fd(), d.blob_path().as_bytes(), libc::O_RDONLY)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::MissingBlob(d.to_string()),
            _ => Error::io(format!("open blob {d}"), e),
        })?;
    let f = std::fs::File::from(fd);
    let md = f
        .metadata()
        .map_err(|e| Error::io(format!("stat blob {d}"), e))?;
    if !md.is_file() {
        return Err(Error::Invalid(format!("blob {d} is not a regular file")));
    }
    Ok(f)
}

/// Reads a whole blob and checks size and digest before returning a byte.
pub fn read_verified(
    layout: &OwnedFd,
    d: &Digest,
    size: i64,
    what: &str,
) -> Result<Vec<u8>, Error> {
    if size < 0 || size as u64 > MAX_JSON {
        return Err(Error::Invalid(format!(
            "{what} {d} has size {size}, outside 0..{MAX_JSON}"
        )));
    }
    let f = open_blob(layout, d)?;
    let mut buf = Vec::with_capacity(size as usize);
    f.take(size as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(format!("read {what} {d}"), e))?;
    if buf.len() as u64 != size as u64 {
        return Err(Error::SizeMismatch {
            what: format!("{what} {d}"),
            expected: size as u64,
            actual: buf.len() as u64,
        });
    }
    let mut h = Hasher::new(d.algorithm);
    h.update(&buf);
    let got = h.finish();
    if &got != d {
        return Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: d.to_string(),
            actual: got.to_string(),
        });
    }
    Ok(buf)
}

pub fn read_json<T: DeserializeOwned>(
    layout: &OwnedFd,
    d: &Digest,
    size: i64,
    what: &str,
) -> Result<T, Error> {
    let b = read_verified(layout, d, size, what)?;
    serde_json::from_slice(&b).map_err(|e| Error::Invalid(format!("parse {what} {d}: {e}")))
}

/// Hashes and counts what passes through; at EOF it fails the read when the
/// size or digest differ, so a consumer sees a corrupt blob as an I/O error
/// at the latest on its final read. A blob longer than announced fails as
/// soon as the excess byte is read.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Hasher>,
    expected: Digest,
    size: u64,
    seen: u64,
    what: String,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: Digest, size: u64, what: String) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Hasher::new(expected.algorithm)),
            expected,
            size,
            seen: 0,
            what,
        }
    }
}

pub fn invalid_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if self.seen > self.size {
            return Err(invalid_data(format!(
                "{} is larger than its descriptor size {}",
                self.what, self.size
            )));
        }
        if n > 0 {
            if let Some(h) = self.hasher.as_mut() {
                h.update(&buf[..n]);
            }
            return Ok(n);
        }
        if let Some(h) = self.hasher.take() {
            if self.seen != self.size {
                return Err(invalid_data(format!(
                    "{} has size {}, descriptor says {}",
                    self.what, self.seen, self.size
                )));
            }
            let got = h.finish();
            if got != self.expected {
                return Err(invalid_data(format!(
                    "{} digest mismatch: expected {}, got {}",
                    self.what, self.expected, got
                )));
            }
        }
        Ok(0)
    }
}
