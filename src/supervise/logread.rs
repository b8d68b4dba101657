//! Reading a CRI log back (`rt logs`): records joined into whole lines,
//! oldest rotated file first, and following the live file across
//! rotations.
//!
//! A file is identified by its inode, not its name: the file being read
//! may be renamed under us (PATH -> PATH.1 -> PATH.2). At its end, if PATH
//! is no longer it, the file that follows is the one that now sits one
//! rotation index below it. A reader too slow for the rotation can only
//! miss files that were deleted, never read one twice.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::logfile::{rotated, Stream};
use super::units::parse_rfc3339;
use super::{Error, Result};

/// One line as the container wrote it (its `P` pieces joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Time of its first piece.
    pub ts: String,
    pub stream: Stream,
    pub text: Vec<u8>,
}

impl Line {
    pub fn nanos(&self) -> i128 {
        parse_rfc3339(&self.ts).unwrap_or(0)
    }
}

/// Rotation indexes are looked for up to here.
const MAX_INDEX: u32 = 1000;

pub struct Reader {
    path: PathBuf,
    cur: Option<(File, u64)>,
    /// Bytes after the last complete record of the live file.
    pending: Vec<u8>,
    /// Pieces of an unfinished line per stream, and its first timestamp.
    parts: [(Vec<u8>, String); 2],
}

fn ino(p: &Path) -> Option<u64> {
    fs::metadata(p).ok().map(|m| m.ino())
}

/// Inodes of PATH (index 0), PATH.1, PATH.2, ... A rotation renames the
/// files one by one, from the oldest down, so a scan racing one sees a
/// single name missing (or a file twice): the scan goes on past one hole.
fn chain(path: &Path) -> Vec<Option<u64>> {
    let mut v = vec![ino(path)];
    for n in 1..MAX_INDEX {
        let i = ino(&rotated(path, n));
        if i.is_none() && v.last().is_some_and(Option::is_none) {
            v.pop();
            break;
        }
        v.push(i);
    }
    while v.len() > 1 && v.last().is_some_and(Option::is_none) {
        v.pop();
    }
    v
}

fn name_at(path: &Path, idx: usize) -> PathBuf {
    if idx == 0 {
        path.to_path_buf()
    } else {
        rotated(path, idx as u32)
    }
}

impl Reader {
    pub fn new(path: &Path) -> Reader {
        Reader {
            path: path.to_path_buf(),
            cur: None,
            pending: Vec::new(),
            parts: [(Vec::new(), String::new()), (Vec::new(), String::new())],
        }
    }

    /// Open the file at chain index `idx` if it still has inode `want`.
    fn open_at(&mut self, idx: usize, want: Option<u64>) -> bool {
        let Ok(f) = File::open(name_at(&self.path, idx)) else {
            return false;
        };
        let Ok(i) = f.metadata().map(|m| m.ino()) else {
            return false;
        };
        if want.is_some_and(|w| w != i) {
            return false;
        }
        self.cur = Some((f, i));
        true
    }

    /// Move to the file after the current one; false when the current
    /// one is the live file (or there is none yet).
    fn advance(&mut self) -> bool {
        for attempt in 0..64 {
            if attempt > 0 {
                // A rotation is under way: let it finish.
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let c = chain(&self.path);
            let next = match &self.cur {
                // The oldest file there is.
                None => c.iter().rposition(Option::is_some),
                Some((_, cur)) => match c.iter().position(|i| *i == Some(*cur)) {
                    Some(0) => return false,
                    Some(k) => Some(k - 1),
                    // Not seen: a scan that raced a rotation, or the file
                    // was rotated out of existence. Only the latter, seen
                    // again and again, means going on with the oldest left.
                    None if attempt < 8 => continue,
                    None => c.iter().rposition(Option::is_some),
                },
            };
            let Some(idx) = next else { return false };
            if c[idx].is_some() && self.open_at(idx, c[idx]) {
                return true;
            }
        }
        false
    }

    /// Hand every line that is complete now to `out`, oldest first.
    pub fn read_available(&mut self, out: &mut dyn FnMut(Line)) -> Result<()> {
        if self.cur.is_none() && !self.advance() {
            return Ok(());
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match self.cur.as_mut() {
                Some((f, _)) => f
                    .read(&mut buf)
                    .map_err(|e| Error::io(format!("read {}", self.path.display()), e))?,
                None => 0,
            };
            if n > 0 {
                self.pending.extend_from_slice(&buf[..n]);
                self.parse(out);
                continue;
            }
            let live = match &self.cur {
                Some((_, i)) => ino(&self.path) == Some(*i),
                None => true,
            };
            if live {
                return Ok(());
            }
            // Rotated away: what it got before its rename is all it will
            // ever hold, and we may not have read that yet.
            if let Some((f, _)) = self.cur.as_mut() {
                let mut rest = Vec::new();
                let _ = f.read_to_end(&mut rest);
                self.pending.extend_from_slice(&rest);
                self.parse(out);
            }
            self.pending.clear();
            if !self.advance() {
                return Ok(());
            }
        }
    }

    fn parse(&mut self, out: &mut dyn FnMut(Line)) {
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let rec = &self.pending[start..start + nl];
            start += nl + 1;
            let mut f = rec.splitn(4, |&b| b == b' ');
            let (Some(ts), Some(stream), Some(tag)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let text = f.next().unwrap_or(b"");
            let stream = match stream {
                b"stdout" => Stream::Stdout,
                b"stderr" => Stream::Stderr,
                _ => continue,
            };
            let ts = String::from_utf8_lossy(ts);
            let (acc, first_ts) = &mut self.parts[stream as usize];
            if acc.is_empty() && first_ts.is_empty() {
                *first_ts = ts.into_owned();
            }
            acc.extend_from_slice(text);
            if tag == b"F" {
                out(Line {
                    ts: std::mem::take(first_ts),
                    stream,
                    text: std::mem::take(acc),
                });
            }
        }
        self.pending.drain(..start);
    }
}

/// inotify on the log's directory: wakes on any write, creation or rename
/// there, which is all a follower needs (no polling).
pub struct Watch(std::os::fd::OwnedFd);

impl Watch {
    pub fn new(path: &Path) -> Result<Watch> {
        use std::os::fd::FromRawFd;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // SAFETY: plain syscall returning a new descriptor or -1.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if fd < 0 {
            return Err(Error::io("inotify", std::io::Error::last_os_error()));
        }
        // SAFETY: fd was just created and is owned by nobody else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::Invalid(format!("{}: path contains NUL", dir.display())))?;
        let mask = libc::IN_MODIFY | libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_MOVED_FROM;
        // SAFETY: valid descriptor and NUL-terminated path.
        if unsafe {
            libc::inotify_add_watch(std::os::fd::AsRawFd::as_raw_fd(&fd), c.as_ptr(), mask)
        } < 0
        {
            return Err(Error::io(
                format!("watch {}", dir.display()),
                std::io::Error::last_os_error(),
            ));
        }
        Ok(Watch(fd))
    }

    /// Block until something changed in the directory or `other` (a pidfd)
    /// became readable; true for the latter.
    pub fn wait(&self, other: Option<&std::os::fd::OwnedFd>) -> bool {
        use std::os::fd::AsRawFd;
        let mut fds = vec![libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(o) = other {
            fds.push(libc::pollfd {
                fd: o.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: a valid array of pollfds.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if rc > 0 && fds[0].revents != 0 {
            let mut buf = [0u8; 4096];
            // SAFETY: reading into a local buffer from our descriptor.
            while unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0
            {
            }
        }
        rc > 0 && fds.get(1).is_some_and(|f| f.revents != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::logfile::LogWriter;
    use super::*;

    #[test]
    fn a_scan_racing_a_rotation_goes_past_one_missing_name() {
        let d = std::env::temp_dir().join(format!("rt-chain-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let p = d.join("log");
        for f in ["log", "log.1", "log.3", "log.6"] {
            fs::write(d.join(f), f).unwrap();
        }
        let c = chain(&p);
        assert_eq!(c.len(), 4, "{c:?}");
        assert!(c[0].is_some() && c[1].is_some() && c[2].is_none() && c[3].is_some());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn reads_across_rotations_while_written() {
        let d = std::env::temp_dir().join(format!("rt-logread-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        let p = d.join("log");
        let mut w = LogWriter::open(&p, 200, 50).unwrap();
        let mut r = Reader::new(&p);
        let mut got = Vec::new();
        let long = "y".repeat(70_000);
        for i in 0..300 {
            let s = if i == 150 {
                format!("{long}\n")
            } else {
                format!("o{i}\n")
            };
            w.write(
                Stream::Stdout,
                s.as_bytes(),
                "2020-01-01T00:00:00.000000000Z",
            )
            .unwrap();
            w.write(Stream::Stderr, format!("e{i}\n").as_bytes(), "T")
                .unwrap();
            if i % 7 == 0 {
                r.read_available(&mut |l| got.push(l)).unwrap();
            }
        }
        r.read_available(&mut |l| got.push(l)).unwrap();
        let outs: Vec<String> = got
            .iter()
            .filter(|l| l.stream == Stream::Stdout)
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect();
        let errs: Vec<String> = got
            .iter()
            .filter(|l| l.stream == Stream::Stderr)
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect();
        let want_out: Vec<String> = (0..300)
            .map(|i| {
                if i == 150 {
                    long.clone()
                } else {
                    format!("o{i}")
                }
            })
            .collect();
        assert_eq!(outs, want_out);
        assert_eq!(errs, (0..300).map(|i| format!("e{i}")).collect::<Vec<_>>());
        fs::remove_dir_all(&d).unwrap();
    }
}
