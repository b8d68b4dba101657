//! One layer's byte stream: blob file -> digest/size check -> decompression
//! on a thread of its own, then over a bounded channel to the extracting
//! thread, which also hashes the uncompressed bytes for the diff_id. The
//! two hashes sit on different threads so neither side is the only
//! bottleneck; memory stays small and nothing touches a temporary file.

use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::blob::{invalid_data, VerifyingReader};
use super::digest::{Digest, Hasher};
use super::media::Compression;
use super::Error;

const CHUNK: usize = 512 << 10;

struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(b)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The consumer side: a `Read` over the chunks the producer sends.
pub struct Stream {
    rx: Receiver<io::Result<Vec<u8>>>,
    /// Consumed chunks go back to the producer for reuse, which saves an
    /// allocation, page faults and zeroing per chunk.
    spent: Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    handle: Option<JoinHandle<Result<(), Error>>>,
    diff_id: Digest,
    hasher: Option<Hasher>,
    seen: u64,
    limit: u64,
}

impl Read for Stream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(c)) if c.is_empty() => self.done = true,
                Ok(Ok(c)) => {
                    let old = std::mem::replace(&mut self.cur, c);
                    if old.capacity() > 0 {
                        let _ = self.spent.send(old);
                    }
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(invalid_data("layer stream ended early".into()));
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        self.seen += n as u64;
        if self.seen > self.limit {
            self.done = true;
            return Err(invalid_data(self.limit_message()));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&out[..n]);
        }
        Ok(n)
    }
}

impl Stream {
    fn limit_message(&self) -> String {
        format!("layer expands beyond {} bytes", self.limit)
    }

    /// Drains what the tar reader left (end-of-archive padding), waits for
    /// the producer, and checks the diff_id. A producer error (bad digest,
    /// corrupt compression) wins over any symptom the consumer saw.
    pub fn finish(mut self, consumer: Result<(), Error>) -> Result<(), Error> {
        if consumer.is_ok() {
            let mut sink = vec![0u8; 64 << 10];
            while let Ok(n) = self.read(&mut sink) {
                if n == 0 {
                    break;
                }
            }
        }
        let over = self.seen > self.limit;
        let handle = self.handle.take();
        drop(std::mem::replace(&mut self.rx, sync_channel(0).1));
        let produced = match handle {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(Error::Invalid("layer reader thread panicked".into()))),
            None => Err(Error::Invalid("layer reader missing".into())),
        };
        if over {
            return Err(Error::Limit(self.limit_message()));
        }
        match (produced, consumer) {
            (Err(Error::Stopped), Err(c)) => return Err(c),
            (Err(p), _) => return Err(p),
            (Ok(()), Err(c)) => return Err(c),
            (Ok(()), Ok(())) => {}
        }
        let got = match self.hasher.take() {
            Some(h) => h.finish(),
            None => return Err(Error::Invalid("layer hash missing".into())),
        };
        if got != self.diff_id {
            return Err(Error::DigestMismatch {
                what: "layer diff_id".into(),
                expected: self.diff_id.to_string(),
                actual: got.to_string(),
            });
        }
        Ok(())
    }
}

/// Decompresses into the channel until the end of the compressed stream.
fn pump<R: Read>(
    verified: &mut R,
    compression: Compression,
    tx: &SyncSender<io::Result<Vec<u8>>>,
    spent: &Receiver<Vec<u8>>,
) -> Result<(), Error> {
    let mut dec: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(verified),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(verified)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(verified)
                .map_err(|e| Error::io("start zstd decoder", e))?,
        ),
    };
    loop {
        let mut buf = spent.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let mut n = 0;
        while n < CHUNK {
            match dec.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Corrupt(e.to_string())),
            }
        }
        if n == 0 {
            return Ok(());
        }
        buf.truncate(n);
        if tx.send(Ok(buf)).is_err() {
            // The consumer gave up; its error is the one reported.
            return Err(Error::Stopped);
        }
    }
}

pub struct LayerSource {
    pub digest: Digest,
    pub size: u64,
    pub compression: Compression,
    pub diff_id: Digest,
}

pub fn start(file: File, l: LayerSource, max_bytes: u64, progress: Arc<AtomicU64>) -> Stream {
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(8);
    let (spent_tx, spent_rx) = channel::<Vec<u8>>();
    let alg = l.diff_id.algorithm;
    let (digest, size, compression) = (l.digest, l.size, l.compression);
    let handle = std::thread::spawn(move || -> Result<(), Error> {
        let what = format!("layer {digest}");
        let counted = Counting {
            inner: file,
            n: progress,
        };
        let mut verified = VerifyingReader::new(counted, digest, size, what);
        let pumped = pump(&mut verified, compression, &tx, &spent_rx);
        // Read the blob to its end even when decompression failed: a digest
        // mismatch is the root cause of most corrupt streams, and on success
        // this is what completes the digest check for every compression.
        let drained = if matches!(pumped, Err(Error::Stopped)) {
            Ok(())
        } else {
            let mut sink = vec![0u8; 64 << 10];
            loop {
                match verified.read(&mut sink) {
                    Ok(0) => break Ok(()),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            }
        };
        let result = match (pumped, drained) {
            (Err(Error::Stopped), _) => Err(Error::Stopped),
            (_, Err(e)) => Err(Error::Corrupt(e.to_string())),
            (r, Ok(())) => r,
        };
        // The end-of-stream marker goes out only once the blob is verified.
        match &result {
            Ok(()) => drop(tx.send(Ok(Vec::new()))),
            Err(e) => drop(tx.send(Err(invalid_data(e.to_string())))),
        }
        result
    });
    Stream {
        rx,
        spent: spent_tx,
        cur: Vec::new(),
        pos: 0,
        done: false,
        handle: Some(handle),
        diff_id: l.diff_id,
        hasher: Some(Hasher::new(alg)),
        seen: 0,
        limit: max_bytes,
    }
}
