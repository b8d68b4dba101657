//! Attempts to undo what the runtime locked down: masked and read-only
//! paths, the device allow-list, no_new_privs. Each reports
//! {ok: bool[, errno, error]}; none fails the probe.
//!
//! Usage: `undo umount PATH` | `undo remount-rw PATH` | `undo mount-over PATH`
//! | `undo bind SRC DST` | `undo mknod PATH MAJOR MINOR` (and open it) |
//! `undo reopen-rw PATH` (O_PATH, then O_RDWR through /proc/self/fd) |
//! `undo nnp-off`.

use std::ffi::CString;

use crate::json::J;

fn result(rc: libc::c_int) -> J {
    if rc == 0 {
        J::obj().with("ok", J::Bool(true))
    } else {
        crate::json::err(&std::io::Error::last_os_error()).with("ok", J::Bool(false))
    }
}

fn c(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

fn mount(src: Option<&str>, dst: &str, fstype: Option<&str>, flags: libc::c_ulong) -> J {
    let (src, dst, fstype) = (src.map(c), c(dst), fstype.map(c));
    let ptr = |o: &Option<CString>| o.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: valid C strings or null, as mount(2) takes them.
    result(unsafe {
        libc::mount(
            ptr(&src),
            dst.as_ptr(),
            ptr(&fstype),
            flags,
            std::ptr::null(),
        )
    })
}

fn open(path: &str, flags: libc::c_int) -> Result<libc::c_int, J> {
    let p = c(path);
    // SAFETY: a valid C string.
    let fd = unsafe { libc::open(p.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(result(-1))
    } else {
        Ok(fd)
    }
}

pub fn undo(args: &[String]) -> J {
    let a = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match a(0) {
        "umount" => {
            let p = c(a(1));
            // SAFETY: a valid C string.
            result(unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) })
        }
        "remount-rw" => mount(None, a(1), None, libc::MS_REMOUNT | libc::MS_BIND),
        "mount-over" => mount(Some("tmpfs"), a(1), Some("tmpfs"), 0),
        "bind" => mount(Some(a(1)), a(2), None, libc::MS_BIND),
        "mknod" => {
            let (maj, min) = (a(2).parse().unwrap_or(0), a(3).parse().unwrap_or(0));
            let p = c(a(1));
            // SAFETY: a valid C string and a device number.
            let rc =
                unsafe { libc::mknod(p.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(maj, min)) };
            let made = result(rc);
            let opened = match open(a(1), libc::O_RDWR) {
                Ok(fd) => {
                    // SAFETY: our own descriptor.
                    unsafe { libc::close(fd) };
                    J::obj().with("ok", J::Bool(true))
                }
                Err(e) => e,
            };
            J::obj().with("mknod", made).with("open", opened)
        }
        "reopen-rw" => match open(a(1), libc::O_PATH) {
            Ok(fd) => {
                let r = match open(&format!("/proc/self/fd/{fd}"), libc::O_RDWR) {
                    Ok(w) => {
                        // SAFETY: our own descriptor.
                        unsafe { libc::close(w) };
                        J::obj().with("ok", J::Bool(true))
                    }
                    Err(e) => e,
                };
                // SAFETY: our own descriptor.
                unsafe { libc::close(fd) };
                r
            }
            Err(e) => e,
        },
        // SAFETY: prctl with integer arguments.
        "nnp-off" => result(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) }),
        other => J::obj().with("error", J::Str(format!("unknown undo {other:?}"))),
    }
}
