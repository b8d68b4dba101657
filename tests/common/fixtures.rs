//! Test payloads: the static probe (built once per test run from
//! rootfs-fixtures/probe) and a busybox rootfs around it.

use std::fs;
use std::os::unix::fs::symlink;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "sleep", "true", "false", "id", "mount", "umount", "mkdir", "rm",
    "touch", "ps", "kill", "env", "test", "grep", "hostname", "stat", "readlink", "chmod", "chown",
    "ln", "cp", "mv", "head", "tail", "wc", "date", "pwd", "printf", "uname", "mknod", "dd", "tr",
    "sed", "cut", "nc", "ip", "whoami", "nproc", "stty", "tty",
];

/// target/ of this package, found from the rt binary cargo built for us.
pub fn target_dir() -> PathBuf {
    let rt = Path::new(env!("CARGO_BIN_EXE_rt"));
    rt.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

pub fn fixtures_dir() -> PathBuf {
    target_dir().join("fixtures")
}

/// Holds an exclusive flock for as long as it lives.
struct FileLock(fs::File);

impl FileLock {
    fn take(path: &Path) -> FileLock {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open lock {}: {e}", path.display()));
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        FileLock(f)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Path of the static probe, building it on first use. Test binaries run in
/// parallel, so the build is serialised with a lock file; cargo decides
/// whether anything needs rebuilding.
pub fn probe() -> &'static Path {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE.get_or_init(|| {
        let dir = fixtures_dir();
        fs::create_dir_all(&dir).expect("create target/fixtures");
        let _lock = FileLock::take(&dir.join(".lock"));
        let manifest =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rootfs-fixtures/probe/Cargo.toml");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--release",
                "--target",
                "x86_64-unknown-linux-gnu",
            ])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .expect("run cargo to build the probe");
        assert!(
            out.status.success(),
            "building the probe failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("x86_64-unknown-linux-gnu/release/probe")
    })
}

/// Debian's busybox-static (merged /usr: /bin and /usr/bin are the same).
pub fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox not found: install the Debian package busybox-static");
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
tester:x:1000:1000:tester:/home/tester:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\ntester:x:1000:\nextra:x:1001:tester\nnogroup:x:65534:\n";

/// A rootfs with busybox (and its applet links), /probe and minimal /etc.
pub fn make_rootfs(rootfs: &Path) {
    for d in [
        "bin",
        "etc",
        "tmp",
        "proc",
        "sys",
        "dev",
        "root",
        "home/tester",
    ] {
        fs::create_dir_all(rootfs.join(d)).expect("create rootfs dir");
    }
    fs::copy(busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
    fs::copy(probe(), rootfs.join("probe")).expect("copy probe");
    for a in BUSYBOX_APPLETS {
        symlink("busybox", rootfs.join("bin").join(a)).expect("applet symlink");
    }
    fs::write(rootfs.join("etc/passwd"), PASSWD).expect("write passwd");
    fs::write(rootfs.join("etc/group"), GROUP).expect("write group");
    set_mode(&rootfs.join("tmp"), 0o1777);
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}
