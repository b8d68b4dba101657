//! Reading a layer's tar stream entry by entry. tar-core parses the headers
//! (PAX records framed by their length, so binary values such as
//! `security.capability` may hold newlines; GNU long names; sparse maps);
//! this file only feeds it bytes and hands out each entry's content as a
//! bounded reader. Nothing here touches the file system.
//!
//! The `tar` crate's reader is not used: it splits PAX headers on newlines,
//! fails on binary xattr values and, worse, can take a fragment of a value
//! for a `path` or `linkpath` record that other readers never see.

use std::io::{self, Read};

use tar_core::parse::{Limits, ParseEvent, Parser};
pub use tar_core::EntryType;

use super::Error;

/// One entry's header, with every extension applied, owned.
#[derive(Debug, Clone)]
pub struct Header {
    pub kind: EntryType,
    pub path: Vec<u8>,
    pub link: Option<Vec<u8>>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub dev: (u32, u32),
    /// Bytes of content that follow in the archive.
    pub size: u64,
    /// `SCHILY.xattr.*` records, raw.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// The whole PAX header (for records tar-core does not resolve:
    /// fractional times, `LIBARCHIVE.xattr.*`).
    pub pax: Option<Vec<u8>>,
    /// For sparse files: the data regions (their bytes follow in order)
    /// and the logical size.
    pub sparse: Option<(Vec<(u64, u64)>, u64)>,
}

pub struct TarStream<R> {
    src: R,
    parser: Parser,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Content bytes of the current entry not read yet, then its padding.
    remaining: u64,
    padding: u64,
    eof: bool,
}

const BLOCK: u64 = 512;

/// Long paths and xattrs are fine; beyond this an entry's metadata is an
/// attack on memory.
const MAX_METADATA: usize = 4 << 20;

/// The most one header (its extensions and a PAX sparse map included) may
/// need in the buffer before tar-core can parse it.
const MAX_HEADER: usize = 2 * MAX_METADATA;

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("tar stream: {e}"))
}

impl<R: Read> TarStream<R> {
    pub fn new(src: R) -> TarStream<R> {
        let limits = Limits {
            max_metadata_size: MAX_METADATA as u32,
            max_path_len: Some(libc::PATH_MAX as u32),
            ..Limits::default()
        };
        TarStream {
            src,
            parser: Parser::new(limits),
            buf: vec![0; 64 << 10],
            start: 0,
            end: 0,
            remaining: 0,
            padding: 0,
            eof: false,
        }
    }

    /// Makes at least `n` bytes available at `start`; false at the end of
    /// the input.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < n {
            self.buf.resize(n.next_power_of_two(), 0);
        }
        while self.end < n {
            if self.eof {
                return Ok(false);
            }
            let k = self.src.read(&mut self.buf[self.end..])?;
            if k == 0 {
                self.eof = true;
            }
            self.end += k;
        }
        Ok(true)
    }

    /// Skips what is left of the current entry's content and padding.
    fn skip_rest(&mut self) -> io::Result<()> {
        let mut sink = [0u8; 8192];
        while self.remaining > 0 {
            let n = self.read(&mut sink)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tar entry content ends early",
                ));
            }
        }
        while self.padding > 0 {
            if !self.fill(1)? {
                // A final entry without padding: accepted, as other readers do.
                self.padding = 0;
                break;
            }
            let k = (self.end - self.start).min(self.padding as usize);
            self.start += k;
            self.padding -= k as u64;
        }
        Ok(())
    }

    /// The next entry's header, or `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<Header>, Error> {
        self.skip_rest().map_err(|e| Error::io("read layer", e))?;
        loop {
            let ev = self.parser.parse(&self.buf[self.start..self.end]);
            let (consumed, h) = match ev.map_err(corrupt)? {
                ParseEvent::NeedData { min_bytes } => {
                    let have = self.end - self.start;
                    // tar-core can ask for no more than it already has (a
                    // PAX sparse map with no newline in sight asks for a
                    // fixed size): asking for more than that makes every
                    // round read, so the loop ends, at the latest at
                    // MAX_HEADER or the end of the stream.
                    let want = min_bytes.max(have + 1);
                    if want > MAX_HEADER {
                        return Err(corrupt(format!(
                            "an entry header needs more than {MAX_HEADER} bytes"
                        )));
                    }
                    if !self.fill(want).map_err(|e| Error::io("read layer", e))? {
                        // A stream that stops cleanly between entries ends
                        // the archive, as with GNU tar and the tar crate.
                        if have == 0 && self.end == self.start {
                            return Ok(None);
                        }
                        return Err(corrupt("archive ends inside a header"));
                    }
                    continue;
                }
                ParseEvent::End { .. } => return Ok(None),
                ParseEvent::GlobalExtensions { consumed, .. } => {
                    // Global PAX defaults are not applied, as before.
                    self.start += consumed;
                    continue;
                }
                ParseEvent::Entry { consumed, entry } => (consumed, own(&entry, None)?),
                ParseEvent::SparseEntry {
                    consumed,
                    entry,
                    sparse_map,
                    real_size,
                } => {
                    let map = sparse_map.iter().map(|s| (s.offset, s.length)).collect();
                    (consumed, own(&entry, Some((map, real_size)))?)
                }
            };
            self.start += consumed;
            self.remaining = h.size;
            self.padding = h.size.next_multiple_of(BLOCK) - h.size;
            return Ok(Some(h));
        }
    }
}

fn own(
    e: &tar_core::parse::ParsedEntry<'_>,
    sparse: Option<(Vec<(u64, u64)>, u64)>,
) -> Result<Header, Error> {
    let bad = |what: &str| Error::Invalid(format!("tar header has an invalid {what}"));
    let dev = match e.entry_type {
        EntryType::Char | EntryType::Block => (
            e.dev_major.ok_or_else(|| bad("device number"))?,
            e.dev_minor.ok_or_else(|| bad("device number"))?,
        ),
        _ => (0, 0),
    };
    Ok(Header {
        kind: e.entry_type,
        path: e.path.to_vec(),
        link: e.link_target.as_ref().map(|l| l.to_vec()),
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: e.mtime,
        dev,
        size: e.size,
        xattrs: e
            .xattrs
            .iter()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect(),
        pax: e.pax.map(<[u8]>::to_vec),
        sparse,
    })
}

/// The current entry's content.
impl<R: Read> Read for TarStream<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || out.is_empty() {
            return Ok(0);
        }
        let want = out
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        if self.start < self.end {
            let n = want.min(self.end - self.start);
            out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            self.remaining -= n as u64;
            return Ok(n);
        }
        // Large contents bypass the buffer.
        let n = self.src.read(&mut out[..want])?;
        if n == 0 {
            self.eof = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar entry content ends early",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A PAX header's records, each `LEN KEY=VALUE\n` framed by its length.
pub fn pax_records(pax: &[u8]) -> impl Iterator<Item = Result<(&[u8], &[u8]), Error>> {
    tar_core::PaxExtensions::new(pax).map(|r| {
        r.map(|e| (e.key_bytes(), e.value_bytes()))
            .map_err(|e| corrupt(format!("pax header: {e}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(k: &str, v: &[u8]) -> Vec<u8> {
        let body = [k.as_bytes(), b"=", v, b"\n"].concat();
        let mut n = body.len() + 2;
        loop {
            let len = format!("{n} ").len() + body.len();
            if len == n {
                break;
            }
            n = len;
        }
        [format!("{n} ").as_bytes(), &body].concat()
    }

    fn header(name: &str, kind: u8, size: usize) -> Vec<u8> {
        let mut h = tar_core::builder::HeaderBuilder::new_ustar();
        h.path(name)
            .unwrap()
            .mode(0o644)
            .unwrap()
            .size(size as u64)
            .unwrap();
        h.entry_type(EntryType::from_byte(kind));
        h.uid(0).unwrap().gid(0).unwrap().mtime(1).unwrap();
        h.finish().as_bytes().to_vec()
    }

    fn pad(v: &mut Vec<u8>) {
        while !v.len().is_multiple_of(512) {
            v.push(0);
        }
    }

    /// A binary xattr value holding "\n20 path=/etc/evil\n" is one record:
    /// neither a parse error nor a second `path`.
    #[test]
    fn binary_pax_values_are_framed_by_length() {
        let cap = b"\x01\x00\x00\x02\x0a\x00\x00\x00\n20 path=/etc/evil\n";
        let pax = [
            record("SCHILY.xattr.security.capability", cap),
            record("path", b"real/name"),
        ]
        .concat();
        let mut a = header("PaxHeaders/x", b'x', pax.len());
        a.extend_from_slice(&pax);
        pad(&mut a);
        a.extend_from_slice(&header("short", b'0', 3));
        a.extend_from_slice(b"abc");
        pad(&mut a);
        a.extend_from_slice(&[0u8; 1024]);
        let mut s = TarStream::new(&a[..]);
        let h = s.next_entry().unwrap().unwrap();
        assert_eq!(h.path, b"real/name");
        assert_eq!(
            h.xattrs,
            vec![(b"security.capability".to_vec(), cap.to_vec())]
        );
        let mut body = Vec::new();
        s.read_to_end(&mut body).unwrap();
        assert_eq!(body, b"abc");
        assert!(s.next_entry().unwrap().is_none());
    }

    /// Found by fuzz/layer: a PAX sparse 1.0 entry whose map has no
    /// newline made tar-core ask for fewer bytes than it had, forever;
    /// next_entry spun without reading.
    #[test]
    fn sparse_map_without_newline_ends() {
        let pax = [
            record("GNU.sparse.major", b"1"),
            record("GNU.sparse.minor", b"0"),
            record("GNU.sparse.name", b"f"),
            record("GNU.sparse.realsize", b"4096"),
        ]
        .concat();
        let mut a = header("PaxHeaders/f", b'x', pax.len());
        a.extend_from_slice(&pax);
        pad(&mut a);
        a.extend_from_slice(&header("f", b'0', 4096));
        a.extend_from_slice(&[b'1'; 4096]);
        a.extend_from_slice(&[0u8; 1024]);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut s = TarStream::new(&a[..]);
            let r = s.next_entry().map(|h| h.is_some());
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("next_entry did not return");
        assert!(r.is_err(), "{r:?}");
    }

    #[test]
    fn truncated_content_is_an_error() {
        let mut a = header("f", b'0', 1000);
        a.extend_from_slice(&[7u8; 100]);
        let mut s = TarStream::new(&a[..]);
        s.next_entry().unwrap().unwrap();
        let mut body = Vec::new();
        assert!(s.read_to_end(&mut body).is_err());
    }
}
