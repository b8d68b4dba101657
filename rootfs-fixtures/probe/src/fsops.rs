//! File checks: what a path is inside the container, and whether it can be
//! read or written (errors are results here, not failures).

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use crate::json::{err, J};

fn kind(ft: &fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "unknown"
    }
}

/// lstat of each path: symlinks are reported as such, with their target.
pub fn stat(paths: &[String]) -> J {
    let mut o = J::obj();
    for p in paths {
        let v = match fs::symlink_metadata(p) {
            Ok(m) => {
                let ft = m.file_type();
                let rdev = m.rdev();
                let mut v = J::obj()
                    .with("type", J::str(kind(&ft)))
                    .with("mode", J::UInt((m.mode() & 0o7777) as u64))
                    .with("octal", J::Str(format!("{:04o}", m.mode() & 0o7777)))
                    .with("uid", J::UInt(m.uid() as u64))
                    .with("gid", J::UInt(m.gid() as u64))
                    .with("size", J::UInt(m.size()))
                    .with("major", J::UInt(libc::major(rdev) as u64))
                    .with("minor", J::UInt(libc::minor(rdev) as u64));
                if ft.is_symlink() {
                    if let Ok(t) = fs::read_link(p) {
                        v.set("target", J::Str(t.to_string_lossy().into_owned()));
                    }
                }
                v
            }
            Err(e) => err(&e),
        };
        o.set(p, v);
    }
    o
}

pub fn read(path: &str) -> J {
    match fs::read(path) {
        Ok(b) => J::obj().with("content", J::Str(String::from_utf8_lossy(&b).into_owned())),
        Err(e) => err(&e),
    }
}

/// Open for writing without creating or truncating, so that probing a
/// read-only or masked file cannot damage anything on success either.
pub fn write(path: &str, data: &str) -> J {
    let res = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(data.as_bytes()));
    match res {
        Ok(()) => J::obj().with("ok", J::Bool(true)),
        Err(e) => err(&e).with("ok", J::Bool(false)),
    }
}

/// Open for reading and close again, reading nothing: used to check that
/// /proc/PID/exe of a runtime process is out of reach (CVE-2019-5736).
pub fn open(path: &str) -> J {
    match fs::File::open(path) {
        Ok(_) => J::obj().with("ok", J::Bool(true)),
        Err(e) => err(&e).with("ok", J::Bool(false)),
    }
}

/// Create a file (or fail): used to check read-only mounts.
pub fn create(path: &str) -> J {
    match fs::File::create(path) {
        Ok(_) => J::obj().with("ok", J::Bool(true)),
        Err(e) => err(&e).with("ok", J::Bool(false)),
    }
}

pub fn ls(path: &str) -> J {
    match fs::read_dir(path) {
        Ok(rd) => {
            let mut names: Vec<String> = rd
                .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect();
            names.sort();
            J::obj().with("entries", J::Arr(names.into_iter().map(J::Str).collect()))
        }
        Err(e) => err(&e),
    }
}

/// The serial of the session keyring (0 when there is none).
pub fn keyring() -> J {
    const KEYCTL_GET_KEYRING_ID: libc::c_long = 0;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    // SAFETY: keyctl with integer arguments; 0 = do not create one.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_KEYRING_ID,
            KEY_SPEC_SESSION_KEYRING,
            0,
        )
    };
    if id < 0 {
        return err(&std::io::Error::last_os_error());
    }
    J::obj().with("session", J::Int(id))
}

pub fn tty() -> J {
    let mut o = J::obj();
    for fd in 0..3 {
        // SAFETY: isatty only inspects the descriptor.
        let is = unsafe { libc::isatty(fd) } == 1;
        o.set(&format!("{fd}"), J::Bool(is));
    }
    if let Ok(t) = fs::read_link("/proc/self/fd/0") {
        o.set("stdin", J::Str(t.to_string_lossy().into_owned()));
    }
    o
}

/// mkdir, reported like write: a result, not a failure.
pub fn mkdir(path: &str) -> J {
    let Ok(c) = CString::new(path) else {
        return J::obj().with("ok", J::Bool(false));
    };
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::mkdir(c.as_ptr(), 0o755) } == 0 {
        J::obj().with("ok", J::Bool(true))
    } else {
        err(&std::io::Error::last_os_error()).with("ok", J::Bool(false))
    }
}
