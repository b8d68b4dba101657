//! The kubelet-shaped CRI harness: owns one private containerd per test
//! binary (CRI plugin on, runtime handlers `runc` and `rt`, both
//! io.containerd.runc.v2 with their own BinaryName and state root), its CNI
//! network, the locally built pause and test images, a CRI client, pods
//! and containers configured as kubelet configures them, and the checks
//! that a removed pod left nothing behind. Every scenario runs with runc
//! (the reference) and then rt; a scenario passing on runc and failing on
//! rt is an rt bug.
//!
//! The daemon starts with the first scenario and is torn down when the
//! test binary exits (an atexit handler, which also runs after failed
//! tests); a run killed before that is cleaned up by the next one.
//! Scenarios use their own pod names, namespaces and cgroups, so they run
//! in parallel.
#![allow(dead_code)]

pub mod client;
pub mod daemon;
pub mod image;
pub mod leftovers;
pub mod pod;
pub mod stream;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use client::Cri;
pub use daemon::{Daemon, Driver, HANDLERS};
pub use pod::{Pod, PodOpts};

pub struct Harness {
    pub d: &'static Daemon,
    pub cri: Cri,
}

static DAEMON: OnceLock<Daemon> = OnceLock::new();
static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();

extern "C" fn tear_down() {
    if let Some(d) = DAEMON.get() {
        // Nothing here may unwind into libc.
        let _ = catch_unwind(|| d.shutdown());
    }
}

fn why_not(driver: Driver) -> Option<&'static str> {
    // SAFETY: geteuid has no failure mode.
    if unsafe { libc::geteuid() } != 0 {
        return Some("the CRI suite needs root");
    }
    if driver == Driver::Systemd && !Path::new("/run/systemd/system").is_dir() {
        return Some("systemd is not this host's init (tests/vm-systemd runs this)");
    }
    for (bin, pkg) in [
        ("/usr/bin/containerd", "containerd"),
        ("/usr/bin/containerd-shim-runc-v2", "containerd"),
        ("/usr/lib/cni/bridge", "containernetworking-plugins"),
        (crate::common::runtime::RUNC, "runc"),
    ] {
        if !Path::new(bin).exists() {
            eprintln!("note: {bin} missing (Debian package {pkg}; tests/setup.sh installs it)");
            return Some("a tool of the CRI suite is missing");
        }
    }
    None
}

fn start(driver: Driver) -> Result<Harness, String> {
    if let Some(why) = why_not(driver) {
        return Err(why.to_string());
    }
    // SAFETY: registering a plain extern "C" function.
    unsafe { libc::atexit(tear_down) };
    let d: &'static Daemon = DAEMON.get_or_init(|| Daemon::start(driver));
    let cri = Cri::connect(&d.sock);
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        match cri.status() {
            Ok(st) => {
                let conds = st.status.map(|s| s.conditions).unwrap_or_default();
                if conds.len() >= 2 && conds.iter().all(|c| c.status) {
                    break;
                }
                if Instant::now() > end {
                    return Err(format!("CRI not ready: {conds:?}\n{}", d.log_tail()));
                }
            }
            Err(e) if Instant::now() > end => {
                return Err(format!("CRI status: {e}\n{}", d.log_tail()));
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    catch_unwind(|| image::import(d)).map_err(|e| panic_text(&e))?;
    for img in [image::IMAGE, image::PAUSE] {
        match cri.image_status(img) {
            Ok(r) if r.image.is_some() => {}
            other => return Err(format!("image {img} not visible to the CRI: {other:?}")),
        }
    }
    Ok(Harness { d, cri })
}

/// The shared harness; None (with a note) where the suite cannot run.
pub fn harness() -> Option<&'static Harness> {
    harness_with(Driver::Cgroupfs)
}

/// The shared harness with the given cgroup driver (one per test binary).
pub fn harness_with(driver: Driver) -> Option<&'static Harness> {
    let h = HARNESS.get_or_init(|| start(driver));
    if let Ok(h) = h {
        assert_eq!(h.d.driver, driver, "one cgroup driver per test binary");
    }
    match h {
        Ok(h) => Some(h),
        Err(why) if why_not(driver).is_some() => {
            eprintln!("note: CRI scenario skipped: {why}");
            None
        }
        Err(why) => panic!("CRI harness: {why}"),
    }
}

/// Lower-case hex SHA-256, as digests and containerd's shim socket names
/// spell it.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn panic_text(e: &Box<dyn std::any::Any + Send>) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Run `scenario` with each handler (runc first), each to completion even
/// if the other failed; print one table row; fail if either failed.
/// Returns what each handler's run returned, for comparisons.
pub fn both<T>(name: &str, scenario: impl Fn(&'static Harness, &'static str) -> T) -> Vec<T> {
    both_with(Driver::Cgroupfs, name, scenario)
}

/// `both` on the harness with `driver`.
pub fn both_with<T>(
    driver: Driver,
    name: &str,
    scenario: impl Fn(&'static Harness, &'static str) -> T,
) -> Vec<T> {
    let Some(h) = harness_with(driver) else {
        return Vec::new();
    };
    let mut results = Vec::new();
    let mut verdicts = Vec::new();
    for handler in HANDLERS {
        let t = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| scenario(h, handler))) {
            Ok(v) => {
                verdicts.push(format!(
                    "{handler}: ok ({:.1} s)",
                    t.elapsed().as_secs_f64()
                ));
                results.push(v);
            }
            Err(e) => verdicts.push(format!("{handler}: FAILED: {}", panic_text(&e))),
        }
    }
    eprintln!("cri-scenario | {name} | {}", verdicts.join(" | "));
    if results.len() != HANDLERS.len() {
        panic!("scenario {name}:\n{}", verdicts.join("\n"));
    }
    results
}

/// `both`, and the two handlers' results must be equal (what the
/// container saw, with runc as the reference).
pub fn same<T: PartialEq + std::fmt::Debug>(
    name: &str,
    scenario: impl Fn(&'static Harness, &'static str) -> T,
) {
    same_with(Driver::Cgroupfs, name, scenario)
}

/// `same` on the harness with `driver`.
pub fn same_with<T: PartialEq + std::fmt::Debug>(
    driver: Driver,
    name: &str,
    scenario: impl Fn(&'static Harness, &'static str) -> T,
) {
    let r = both_with(driver, name, scenario);
    if r.len() == 2 {
        assert_eq!(r[1], r[0], "{name}: rt (left) differs from runc (right)");
    }
}
