//! The container's log in the CRI format kubelet and crictl read:
//! `<RFC3339Nano> <stdout|stderr> <F|P> <text>`, one record per line, `P`
//! for a piece of a line that continues in the next record of the same
//! stream, `F` for the piece that ends it.
//!
//! Output is written as soon as it is read, never held back waiting for
//! its newline: a killed supervisor then loses nothing it had taken from
//! the pipe, and a prompt without a newline shows up at once (as a `P`
//! record). Lines longer than MAX_LINE are cut into several records.
//!
//! Rotation is by size, between records (a record is never split across
//! files): `PATH` is renamed to `PATH.1`, `PATH.1` to `PATH.2` and so on,
//! keeping `max_files` files in all.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Error, Result};

/// Longest text in one record (what docker and containerd use too).
pub const MAX_LINE: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

pub struct LogWriter {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: u64,
    max_files: u32,
    /// The last record of each stream was a `P`.
    open_line: [bool; 2],
    buf: Vec<u8>,
}

fn open_log(path: &Path) -> Result<(File, u64)> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(format!("open log {}", path.display()), e))?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    Ok((f, size))
}

/// `PATH.n`
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    s.into()
}

impl LogWriter {
    pub fn open(path: &Path, max_size: u64, max_files: u32) -> Result<LogWriter> {
        let (file, size) = open_log(path)?;
        Ok(LogWriter {
            path: path.to_path_buf(),
            file: Some(file),
            size,
            max_size,
            max_files: max_files.max(1),
            open_line: [false; 2],
            buf: Vec::with_capacity(8192),
        })
    }

    /// Log `data` read from `stream` at time `ts` (RFC 3339).
    pub fn write(&mut self, stream: Stream, data: &[u8], ts: &str) -> Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            let (piece, full, used) = match rest.iter().position(|&b| b == b'\n') {
                Some(nl) if nl <= MAX_LINE => (&rest[..nl], true, nl + 1),
                _ => {
                    let n = rest.len().min(MAX_LINE);
                    (&rest[..n], false, n)
                }
            };
            self.record(stream, full, piece, ts)?;
            rest = &rest[used..];
        }
        self.flush()
    }

    /// End a line the container left open (it exited mid-line), so the
    /// next run's output starts a line of its own.
    pub fn close_line(&mut self, stream: Stream, ts: &str) -> Result<()> {
        if self.open_line[stream.index()] {
            self.record(stream, true, b"", ts)?;
            self.flush()?;
        }
        Ok(())
    }

    fn record(&mut self, stream: Stream, full: bool, text: &[u8], ts: &str) -> Result<()> {
        let len = (ts.len() + stream.name().len() + text.len() + 5) as u64;
        let pending = self.buf.len() as u64;
        if self.max_size > 0 && self.size + pending > 0 && self.size + pending + len > self.max_size
        {
            self.flush()?;
            self.rotate()?;
        }
        self.buf.extend_from_slice(ts.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(stream.name().as_bytes());
        self.buf
            .extend_from_slice(if full { b" F " } else { b" P " });
        self.buf.extend_from_slice(text);
        self.buf.push(b'\n');
        self.open_line[stream.index()] = !full;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            let (f, size) = open_log(&self.path)?;
            self.file = Some(f);
            self.size = size;
        }
        let r = match self.file.as_mut() {
            Some(f) => f.write_all(&self.buf),
            None => Ok(()),
        };
        self.size += self.buf.len() as u64;
        self.buf.clear();
        r.map_err(|e| Error::io(format!("write log {}", self.path.display()), e))
    }

    fn rotate(&mut self) -> Result<()> {
        self.file = None;
        let rename = |from: &Path, to: &Path| match fs::rename(from, to) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(
                format!("rotate log {} to {}", from.display(), to.display()),
                e,
            )),
            _ => Ok(()),
        };
        if self.max_files == 1 {
            let _ = fs::remove_file(&self.path);
        } else {
            for n in (1..self.max_files - 1).rev() {
                rename(&rotated(&self.path, n), &rotated(&self.path, n + 1))?;
            }
            rename(&self.path, &rotated(&self.path, 1))?;
        }
        let (f, size) = open_log(&self.path)?;
        self.file = Some(f);
        self.size = size;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rt-logfile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn lines_partial_reads_and_long_lines() {
        let d = tmp("lines");
        let p = d.join("log");
        let mut w = LogWriter::open(&p, 0, 1).unwrap();
        w.write(Stream::Stdout, b"one\ntw", "T").unwrap();
        w.write(Stream::Stderr, b"err\n", "T").unwrap();
        w.write(Stream::Stdout, b"o\n", "T").unwrap();
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        w.write(Stream::Stdout, &long, "T").unwrap();
        w.close_line(Stream::Stdout, "T").unwrap();
        w.close_line(Stream::Stderr, "T").unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let tags: Vec<String> = text
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.splitn(4, ' ').collect();
                format!("{} {} {}", f[1], f[2], f[3].len())
            })
            .collect();
        assert_eq!(
            tags,
            [
                "stdout F 3",
                "stdout P 2",
                "stderr F 3",
                "stdout F 1",
                &format!("stdout P {MAX_LINE}"),
                &format!("stdout P {MAX_LINE}"),
                "stdout P 5",
                "stdout F 0",
            ]
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rotation_keeps_whole_records_and_max_files() {
        let d = tmp("rotate");
        let p = d.join("log");
        let mut w = LogWriter::open(&p, 100, 3).unwrap();
        for i in 0..40 {
            w.write(Stream::Stdout, format!("line {i:02}\n").as_bytes(), "T")
                .unwrap();
        }
        let files = [rotated(&p, 2), rotated(&p, 1), p.clone()];
        let mut all = String::new();
        for f in &files {
            let t = fs::read_to_string(f).unwrap();
            assert!(t.len() <= 100, "{} is {} bytes", f.display(), t.len());
            assert!(t.ends_with('\n'));
            all.push_str(&t);
        }
        assert!(!rotated(&p, 3).exists());
        let nums: Vec<u32> = all
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        let last = *nums.last().unwrap();
        assert_eq!(last, 39);
        let first = nums[0];
        assert_eq!(nums, (first..=last).collect::<Vec<_>>());
        fs::remove_dir_all(&d).unwrap();
    }
}
