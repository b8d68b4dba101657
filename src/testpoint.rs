//! TEST ONLY: kill points for the fault tests. With RT_TEST_KILL_AT=N in
//! its environment, rt sends itself SIGKILL at the N-th point it reaches
//! (counting from 1), which lets tests/faults.rs check that `delete
//! --force` removes everything after a kill at each step of `create`,
//! without timing. Without the variable a point costs one load of a
//! cached value.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub const VAR: &str = "RT_TEST_KILL_AT";

fn target() -> Option<u32> {
    static AT: OnceLock<Option<u32>> = OnceLock::new();
    *AT.get_or_init(|| std::env::var(VAR).ok().and_then(|v| v.parse().ok()))
}

/// One more point reached; `what` says which, under --debug.
pub fn reached(what: &str) {
    let Some(at) = target() else { return };
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed) + 1;
    crate::log::debug(&format!("test point {n}: {what}"));
    if n == at {
        // SAFETY: signalling ourselves.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
