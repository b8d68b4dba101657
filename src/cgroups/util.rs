//! Reading and writing cgroup files with errors that name the file, the
//! value and the kernel's answer, plus the parsers for the kernel's few
//! file formats.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::{Error, Result};

thread_local! {
    static DRY: Cell<bool> = const { Cell::new(false) };
    // None: a file seen but not restorable, kept so it is read only once
    // (the device list is checked once per rule).
    static JOURNAL: RefCell<Vec<(PathBuf, Option<String>)>> = const { RefCell::new(Vec::new()) };
}

/// The values files had before a plan ran, for `restore`.
pub type Journal = Vec<(PathBuf, String)>;

/// Run `f` with every `write` only checking that its file exists and
/// noting the file's current value. The manager runs each resource plan
/// this way first, so a knob this host lacks is reported before any limit
/// changes, and a write the kernel refuses midway can be undone. (A flag
/// rather than a parameter threaded through every controller file.)
pub fn dry_run(f: impl FnOnce() -> Result<()>) -> Result<Journal> {
    DRY.with(|d| d.set(true));
    JOURNAL.with(|j| j.borrow_mut().clear());
    let r = f();
    DRY.with(|d| d.set(false));
    let seen = JOURNAL.with(|j| std::mem::take(&mut *j.borrow_mut()));
    r.map(|()| {
        seen.into_iter()
            .filter_map(|(p, old)| Some((p, old?)))
            .collect()
    })
}

/// Best-effort undo of a partly applied plan: rewrite, newest first, the
/// single-value files it touched (multi-line files such as io.max or the
/// device lists cannot be written back as read, and are not journaled).
pub fn restore(journal: &Journal) {
    for (path, old) in journal.iter().rev() {
        let _ = fs::write(path, old.as_bytes());
    }
}

fn note(path: &Path) {
    if JOURNAL.with(|j| j.borrow().iter().any(|(p, _)| p == path)) {
        return;
    }
    // Write-only files (devices.allow) and multi-line ones cannot be restored.
    let old = fs::read_to_string(path)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && !v.contains('\n'));
    JOURNAL.with(|j| j.borrow_mut().push((path.to_path_buf(), old)));
}

pub fn is_dry() -> bool {
    DRY.with(|d| d.get())
}

/// Write `value` to `dir/file`. A missing file means the controller or the
/// knob does not exist on this host, which callers turn into a clear error.
pub fn write(dir: &Path, file: &str, value: impl std::fmt::Display) -> Result<()> {
    let path = dir.join(file);
    if is_dry() {
        return match path.try_exists() {
            Ok(true) => {
                note(&path);
                Ok(())
            }
            _ => Err(Error::MissingFile { path }),
        };
    }
    let value = value.to_string();
    fs::write(&path, value.as_bytes()).map_err(|source| {
        if source.kind() == ErrorKind::NotFound {
            Error::MissingFile { path: path.clone() }
        } else {
            Error::Write {
                path: path.clone(),
                value: value.clone(),
                source,
            }
        }
    })
}

pub fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|source| {
        if source.kind() == ErrorKind::NotFound {
            Error::MissingFile { path: path.clone() }
        } else {
            Error::Io { path, source }
        }
    })
}

/// Read a file that may legitimately be absent (older kernels, optional
/// knobs): None when it does not exist.
pub fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    match read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(Error::MissingFile { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A single number; "max" (v2's unlimited) reads as u64::MAX.
pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

pub fn read_u64(dir: &Path, file: &str) -> Result<Option<u64>> {
    Ok(read_opt(dir, file)?.and_then(|s| parse_u64(&s)))
}

/// "key value" lines (memory.stat, cpu.stat, memory.events, ...).
pub fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = parse_u64(it.next()?)?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// "8:0 rbytes=1 wbytes=2" lines (io.stat, io.max): (major, minor, pairs).
pub fn nested_keyed(text: &str) -> Vec<(u64, u64, BTreeMap<String, u64>)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (maj, min) = it.next()?.split_once(':')?;
            let pairs = it
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_string(), parse_u64(v)?))
                })
                .collect();
            Some((maj.parse().ok()?, min.parse().ok()?, pairs))
        })
        .collect()
}

/// A cpuset list such as "0-3,5": only digits, commas and ascending ranges.
pub fn valid_cpu_list(s: &str) -> bool {
    let s = s.trim();
    if s.is_empty() {
        return true;
    }
    s.split(',').all(|part| {
        let mut it = part.splitn(2, '-');
        let a = it.next().and_then(|a| a.parse::<u32>().ok());
        match (a, it.next()) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => b.parse::<u32>().is_ok_and(|b| b >= a),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_formats() {
        let m = flat_keyed("usage_usec 12\nnr_throttled 3\nbad\n");
        assert_eq!(m["usage_usec"], 12);
        assert_eq!(m["nr_throttled"], 3);
        assert_eq!(m.len(), 2);
        let n = nested_keyed("8:0 rbytes=10 wbytes=20 rios=max\n253:1 rbytes=1\n");
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].0, 8);
        assert_eq!(n[0].2["wbytes"], 20);
        assert_eq!(n[0].2["rios"], u64::MAX);
        assert_eq!(n[1].1, 1);
        assert_eq!(parse_u64("max\n"), Some(u64::MAX));
        assert_eq!(parse_u64(" 42\n"), Some(42));
    }

    #[test]
    fn cpu_lists() {
        assert!(valid_cpu_list("0"));
        assert!(valid_cpu_list("0-3,5,7-8"));
        assert!(valid_cpu_list(""));
        assert!(!valid_cpu_list("3-1"));
        assert!(!valid_cpu_list("a"));
        assert!(!valid_cpu_list("0,,1"));
        assert!(!valid_cpu_list("-1"));
    }
}
