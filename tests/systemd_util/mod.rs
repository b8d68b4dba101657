//! Helpers for the systemd driver's tests (tests/cgroups_systemd.rs,
//! tests/systemd_rootless.rs), which run in the systemd VM lane
//! (tests/vm-systemd): whether systemd is this host's init, what
//! `systemctl show` says of a unit, waiting for a condition (never for a
//! time), and containers of the system instance (`scope`) and of a user's
//! instance (`user`).
#![allow(dead_code)]

mod bundle;
pub mod scope;
pub mod user;

pub use crate::support::Container;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const RT: &str = env!("CARGO_BIN_EXE_rt");

pub fn under_systemd() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// In the lane, a missing systemd is a broken lane, not a skip.
pub fn require_systemd() -> bool {
    if under_systemd() {
        return true;
    }
    assert!(
        std::env::var_os("RT_TEST_SYSTEMD").is_none(),
        "RT_TEST_SYSTEMD is set but systemd is not running"
    );
    eprintln!("skipped: systemd is not this host's init (tests/vm-systemd runs this)");
    false
}

pub fn layout() -> rt::cgroups::Layout {
    rt::cgroups::Layout::detect()
}

pub fn pure_v2() -> bool {
    layout().is_pure_v2()
}

/// `systemctl show` output: property -> value; repeated keys
/// (DeviceAllow=) are joined with newlines.
pub fn parse_show(out: &Output) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = l.split_once('=') {
            m.entry(k.to_string())
                .and_modify(|o: &mut String| {
                    o.push('\n');
                    o.push_str(v);
                })
                .or_insert_with(|| v.to_string());
        }
    }
    m
}

/// `systemctl show UNIT -p ...` in the system instance.
pub fn show(unit: &str, props: &[&str]) -> BTreeMap<String, String> {
    let mut c = Command::new("systemctl");
    c.arg("show").arg(unit);
    for p in props {
        c.arg("-p").arg(p);
    }
    parse_show(&c.output().expect("systemctl"))
}

pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_until(what: &str, f: impl FnMut() -> bool) {
    wait_for(what, Duration::from_secs(20), f)
}

/// The last non-empty line of stderr: rt's `rt: ...` line.
pub fn err_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string()
}
