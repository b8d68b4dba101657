//! What the runtime locked down stays locked: a container process tries
//! to undo masked paths, read-only paths, the device allow-list and
//! no_new_privs (umount, remount read-write, bind elsewhere, reopen
//! through /proc/self/fd, mknod), as an attacker would. (The masked and
//! read-only paths tried are those of `runc spec` that this host's kernel
//! has: it has no /proc/kcore or /proc/sysrq-trigger.)
//!
//! A container with CAP_SYS_ADMIN over a user namespace of its own owns
//! its mount namespace: it may umount a mask or remount /proc/sys (under
//! runc and crun too, which set up mounts the same way). For that shape the
//! tests check the harm instead: what the undo reveals stays guarded by
//! the kernel (host-wide sysctls and firmware files belong to the host's
//! root, which the namespace does not map).

mod common;

use common::Case;
use serde_json::Value;

/// Run `probe undo ARGS` in a fresh container shaped by `shape`.
fn undo(name: &str, shape: &dyn Fn(&mut Case), args: &[&str]) -> Value {
    let mut c = Case::new(name);
    shape(&mut c);
    let mut all = vec!["undo"];
    all.extend_from_slice(args);
    c.probe(&all)
}

fn default_caps(_: &mut Case) {}

/// Every capability, in a user namespace of its own (Kubernetes' user
/// namespaces): CAP_SYS_ADMIN over its mount namespace.
fn userns_all_caps(c: &mut Case) {
    let have = caps::read(None, caps::CapSet::Bounding).expect("bounding set");
    let all: Vec<String> = have.into_iter().map(|c| c.to_string()).collect();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    c.bundle.all_caps(&refs);
    c.bundle.user_ns(100_000, 100_000, 65_536);
}

/// Refused for want of privilege (EPERM, or EACCES from a permission
/// check), not because there was nothing there to undo (EINVAL).
#[track_caller]
fn refused(v: &Value, what: &str) {
    assert_eq!(v["ok"], false, "{what} succeeded: {v}");
    assert!(
        v["errno"] == libc::EPERM || v["errno"] == libc::EACCES || v["errno"] == libc::EROFS,
        "{what}: refused for another reason: {v}"
    );
}

/// How a test container is shaped.
type Shape = &'static dyn Fn(&mut Case);

fn shapes() -> [(&'static str, Shape); 2] {
    [("default", &default_caps), ("userns", &userns_all_caps)]
}

/// Run a shell line in a fresh container; its stdout.
fn sh(name: &str, shape: &dyn Fn(&mut Case), line: &str) -> String {
    let mut c = Case::new(name);
    shape(&mut c);
    c.bundle.args(&["/bin/sh", "-c", line]);
    let out = c.run();
    out.expect_ok("sh");
    c.assert_nothing_left();
    out.stdout
}

#[test]
fn masked_paths_stay_masked() {
    let v = undo("lock-mask", &default_caps, &["umount", "/proc/keys"]);
    refused(&v, "umount of masked /proc/keys");
    let v = undo("lock-mask", &default_caps, &["umount", "/sys/firmware"]);
    refused(&v, "umount of masked /sys/firmware");
    for (kind, shape) in shapes() {
        // A bind of a masked path elsewhere is refused, or binds the mask.
        let out = sh(
            "lock-mask-bind",
            shape,
            "touch /tmp/k; /probe undo bind /proc/keys /tmp/k; /probe read /tmp/k",
        );
        let last = out.lines().last().unwrap_or_default();
        assert!(
            last.contains("\"errno\"") || last.contains("\"content\":\"\""),
            "{kind}: /proc/keys readable through a bind: {out}"
        );
    }
    // Owning its mount namespace, it may lift the mask; what lies below
    // stays the host's: the ACPI tables are readable by the host's root
    // alone (what is world-readable there, any host user may read too).
    let out = sh(
        "lock-mask-userns",
        &userns_all_caps,
        "/probe undo umount /sys/firmware; /probe ls /sys/firmware/acpi/tables; \
         /probe read /sys/firmware/acpi/tables/DSDT",
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.contains("\"errno\""),
        "host ACPI tables readable: {out}"
    );
}

#[test]
fn readonly_paths_stay_readonly() {
    let v = undo("lock-ro", &default_caps, &["remount-rw", "/proc/sys"]);
    refused(&v, "remount rw of /proc/sys");
    let v = undo("lock-ro", &default_caps, &["umount", "/proc/sys"]);
    refused(&v, "umount of read-only /proc/sys");
    for (kind, shape) in shapes() {
        let v = undo(
            "lock-ro",
            shape,
            &["reopen-rw", "/proc/sys/kernel/domainname"],
        );
        refused(
            &v,
            &format!("{kind}: reopen of /proc/sys/kernel/domainname for writing"),
        );
        // A bind elsewhere is still read-only (or refused).
        let out = sh(
            "lock-ro-bind",
            shape,
            "mkdir -p /tmp/b; /probe undo bind /proc/sys /tmp/b; \
             /probe write /tmp/b/kernel/domainname x",
        );
        assert!(!out.contains("\"ok\":true}\n"), "{kind}: {out}");
        assert!(
            out.lines()
                .last()
                .is_some_and(|l| l.contains("\"ok\":false")),
            "{kind}: bind of /proc/sys is writable: {out}"
        );
    }
    // Owning its mount namespace, it may remount /proc/sys; host-wide
    // settings stay the host's root's.
    let out = sh(
        "lock-ro-userns",
        &userns_all_caps,
        "/probe undo remount-rw /proc/sys; /probe write /proc/sys/kernel/core_pattern core; \
         /probe write /proc/sys/vm/drop_caches 1",
    );
    assert!(!out.contains("\"ok\":true}\n{\"ok\":true"), "{out}");
    for l in out.lines().skip(1) {
        assert!(
            l.contains("\"ok\":false"),
            "a host-wide sysctl was written: {out}"
        );
    }
}

/// The default capabilities plus CAP_MKNOD: the node can be made, so
/// only the device allow-list stands between the container and a disk.
fn with_mknod(c: &mut Case) {
    let mut caps: Vec<String> =
        serde_json::from_value(c.bundle.get("/process/capabilities/bounding")).unwrap_or_default();
    caps.push("CAP_MKNOD".into());
    let refs: Vec<&str> = caps.iter().map(String::as_str).collect();
    c.bundle.all_caps(&refs);
    c.bundle.readonly_root(false);
}

#[test]
fn devices_outside_the_allow_list_stay_closed() {
    // /dev/sda's numbers: not in the default allow-list.
    let v = undo("lock-dev", &with_mknod, &["mknod", "/tmp/sda", "8", "0"]);
    assert_eq!(v["mknod"]["ok"], true, "the test needs the node: {v}");
    assert_eq!(v["open"]["ok"], false, "opened a disk: {v}");
    assert_eq!(v["open"]["errno"], libc::EPERM, "{v}");
    let v = undo(
        "lock-dev",
        &userns_all_caps,
        &["mknod", "/tmp/sda", "8", "0"],
    );
    assert_eq!(v["open"]["ok"], false, "userns: opened a disk: {v}");
}

#[test]
fn no_new_privs_cannot_be_cleared() {
    // The kernel knows no way back: EINVAL, and the bit stays.
    let v = undo("lock-nnp", &default_caps, &["nnp-off"]);
    assert_eq!(v["errno"], libc::EINVAL, "{v}");
    let out = sh(
        "lock-nnp",
        &default_caps,
        "/probe undo nnp-off; /probe status NoNewPrivs",
    );
    assert!(out.contains("\"NoNewPrivs\":\"1\""), "{out}");
}
