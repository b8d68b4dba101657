//! Sub-commands that do something (exit, wait, use resources) rather than
//! only report.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::json::J;

const SIGNALS: [(i32, &str); 8] = [
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGCONT, "SIGCONT"),
];

extern "C" fn ignore(_: libc::c_int) {}

/// Block until one of SIGNALS arrives; print it and exit with its number,
/// which keeps "caught SIGTERM" (15) apart from "killed by SIGTERM" (143).
///
/// A handler is installed as well as the mask because the kernel drops
/// SIG_DFL signals sent to a pid namespace's init.
pub fn signal_wait() -> ! {
    // SAFETY: sigset and sigaction are plain data, set up before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for (sig, _) in SIGNALS {
            libc::signal(
                sig,
                ignore as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        println!("{}", J::obj().with("waiting", J::Bool(true)).render());
        let _ = std::io::stdout().flush();
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
        let name = SIGNALS
            .iter()
            .find(|(n, _)| *n == sig)
            .map(|(_, s)| *s)
            .unwrap_or("unknown");
        println!(
            "{}",
            J::obj()
                .with("signal", J::str(name))
                .with("number", J::Int(sig as i64))
                .render()
        );
        let _ = std::io::stdout().flush();
        libc::_exit(sig)
    }
}

pub fn sleep(secs: f64) -> J {
    std::thread::sleep(Duration::from_secs_f64(secs.max(0.0)));
    J::obj().with("slept", J::Bool(true))
}

pub fn spin(secs: f64) -> J {
    let end = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
    let mut n: u64 = 0;
    while Instant::now() < end {
        n = std::hint::black_box(n.wrapping_add(1));
    }
    J::obj().with("iterations", J::UInt(n))
}

/// Touch every page so the memory is really charged to the cgroup.
pub fn alloc(mib: usize) -> J {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mib {
        let mut c = vec![0u8; 1 << 20];
        for i in (0..c.len()).step_by(4096) {
            c[i] = 1;
        }
        chunks.push(std::hint::black_box(c));
    }
    J::obj().with("allocated_mib", J::UInt(chunks.len() as u64))
}

/// Start up to n children that wait; report how many forks succeeded, then
/// reap them all (for pids.max and RLIMIT_NPROC tests).
pub fn fork(n: usize) -> J {
    let mut kids = Vec::new();
    let mut error = J::Null;
    for _ in 0..n {
        // SAFETY: the child only calls async-signal-safe functions.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            unsafe {
                libc::pause();
                libc::_exit(0)
            }
        }
        if pid < 0 {
            error = crate::json::err(&std::io::Error::last_os_error());
            break;
        }
        kids.push(pid);
    }
    for pid in &kids {
        // SAFETY: signalling and reaping our own children.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
            libc::waitpid(*pid, std::ptr::null_mut(), 0);
        }
    }
    J::obj()
        .with("requested", J::UInt(n as u64))
        .with("succeeded", J::UInt(kids.len() as u64))
        .with("error", error)
}

/// A pod's infrastructure process, what the pause image runs: pid 1 of the
/// pod's namespaces, reaping every child re-parented to it (with a shared
/// pid namespace), until SIGTERM or SIGINT ends it with 0.
pub fn pause() -> ! {
    // SAFETY: as in signal_wait; waitpid on any child of ours.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGCHLD] {
            libc::signal(
                sig,
                ignore as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        loop {
            let mut sig = 0;
            libc::sigwait(&set, &mut sig);
            if sig != libc::SIGCHLD {
                libc::_exit(0);
            }
            while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
        }
    }
}
