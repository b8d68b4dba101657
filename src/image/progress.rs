//! A one-line progress display on stderr for big images, only when stderr is
//! a terminal: callers that capture output (containerd, scripts) see nothing.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Images smaller than this unpack too quickly to need a progress line.
const MIN_BYTES: u64 = 4 << 20;

struct Shared {
    /// What is being done, when it is not unpacking layers.
    label: Option<String>,
    total: u64,
    layers: usize,
    layer: AtomicUsize,
    finished_bytes: AtomicU64,
    current: Mutex<Option<Arc<AtomicU64>>>,
    stop: AtomicBool,
}

pub struct Progress {
    shared: Option<Arc<Shared>>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Progress {
    pub fn start(enabled: bool, total: u64, layers: usize) -> Progress {
        Progress::start_labelled(enabled, total, layers, None)
    }

    /// Reading an archive in: bytes only.
    pub fn start_import(enabled: bool, total: u64, what: String) -> Progress {
        Progress::start_labelled(enabled, total, 0, Some(what))
    }

    fn start_labelled(enabled: bool, total: u64, layers: usize, label: Option<String>) -> Progress {
        if !enabled || total < MIN_BYTES || !std::io::stderr().is_terminal() {
            return Progress {
                shared: None,
                handle: Mutex::new(None),
            };
        }
        let s = Arc::new(Shared {
            label,
            total,
            layers,
            layer: AtomicUsize::new(0),
            finished_bytes: AtomicU64::new(0),
            current: Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let s2 = s.clone();
        let h = std::thread::spawn(move || {
            while !s2.stop.load(Ordering::Relaxed) {
                s2.print();
                std::thread::sleep(Duration::from_millis(200));
            }
            s2.print();
            let _ = writeln!(std::io::stderr());
        });
        Progress {
            shared: Some(s),
            handle: Mutex::new(Some(h)),
        }
    }

    pub fn layer(&self, i: usize) {
        if let Some(s) = &self.shared {
            s.fold_current();
            s.layer.store(i + 1, Ordering::Relaxed);
        }
    }

    pub fn skip(&self, bytes: u64) {
        if let Some(s) = &self.shared {
            s.finished_bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    pub fn watch(&self, c: Arc<AtomicU64>) {
        if let Some(s) = &self.shared {
            if let Ok(mut g) = s.current.lock() {
                *g = Some(c);
            }
        }
    }

    pub fn done(&self) {
        if let Some(s) = &self.shared {
            s.fold_current();
            s.stop.store(true, Ordering::Relaxed);
        }
        if let Some(h) = self.handle.lock().ok().and_then(|mut g| g.take()) {
            let _ = h.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done();
    }
}

impl Shared {
    fn fold_current(&self) {
        if let Ok(mut g) = self.current.lock() {
            if let Some(c) = g.take() {
                self.finished_bytes
                    .fetch_add(c.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        }
    }

    fn print(&self) {
        let cur = self
            .current
            .lock()
            .ok()
            .and_then(|g| g.as_ref().map(|c| c.load(Ordering::Relaxed)))
            .unwrap_or(0);
        let done = self.finished_bytes.load(Ordering::Relaxed) + cur;
        let mb = |b: u64| b as f64 / 1048576.0;
        if let Some(l) = &self.label {
            let _ = write!(
                std::io::stderr(),
                "\rimporting {l}: {:.1}/{:.1} MB ",
                mb(done),
                mb(self.total)
            );
            return;
        }
        let _ = write!(
            std::io::stderr(),
            "\runpacking layer {}/{}: {:.1}/{:.1} MB ",
            self.layer.load(Ordering::Relaxed),
            self.layers,
            mb(done),
            mb(self.total)
        );
    }
}
