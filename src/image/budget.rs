//! The bytes of file content one layer may create. The stream limit
//! (pipeline.rs) counts what the archive holds, but a sparse entry holds
//! only its data regions and still becomes a file of its full logical
//! size: without this count a layer of a few KiB could make files of
//! terabytes, which every later reader (a copy-up, an export, a backup)
//! reads back as zeros. Each regular file is charged its logical size,
//! holes included.

use super::tarstream::Header;
use super::Error;

pub struct Budget {
    max: u64,
    used: u64,
}

impl Budget {
    pub fn new(max_bytes: u64) -> Budget {
        Budget {
            max: max_bytes,
            used: 0,
        }
    }

    /// Charges a regular file entry before anything of it is written.
    pub fn charge(&mut self, h: &Header) -> Result<(), Error> {
        let size = match &h.sparse {
            Some((_, real_size)) => *real_size,
            None => h.size,
        };
        match self.used.checked_add(size).filter(|u| *u <= self.max) {
            Some(u) => {
                self.used = u;
                Ok(())
            }
            None => Err(Error::Limit(format!(
                "the layer's files hold more than {} bytes (holes of sparse files included)",
                self.max
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tarstream::EntryType;

    fn file(size: u64, sparse: Option<u64>) -> Header {
        Header {
            kind: EntryType::Regular,
            path: b"f".to_vec(),
            link: None,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            dev: (0, 0),
            size,
            xattrs: Vec::new(),
            pax: None,
            sparse: sparse.map(|r| (vec![(0, size)], r)),
        }
    }

    #[test]
    fn holes_count() {
        let mut b = Budget::new(1000);
        b.charge(&file(400, None)).unwrap();
        b.charge(&file(100, Some(600))).unwrap();
        assert!(b.charge(&file(1, None)).is_err());
        let mut b = Budget::new(u64::MAX);
        b.charge(&file(1, None)).unwrap();
        assert!(b.charge(&file(1, Some(u64::MAX))).is_err());
    }
}
