//! CVE-2019-5736, tried the way an attacker in the container would: make
//! the runtime's own execve land on /proc/self/exe (a `#!` script, a
//! symlink, an ELF whose interpreter is /proc/self/exe, a `#!` through a
//! symlink chain), or open /proc/PID/exe of a runtime process, keep the
//! descriptor and reopen it for writing once the runtime has exited.
//!
//! Each test runs a private copy of rt (so a successful attack only harms
//! that copy) and checks that the copy's sha256 is unchanged afterwards,
//! that the in-container hunter (`probe exe-hunt`) wrote nothing, and, for
//! containers that cannot ptrace, that it could not even open the
//! runtime's executable.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{elf, Case};
use serde_json::Value;

struct Victim {
    path: PathBuf,
    sha: String,
}

fn sha256(p: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(p)
        .output()
        .expect("run sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The case runs a copy of rt named rt-victim-<id>; the hunter only goes
/// after executables with that name (or a sealed copy of it).
fn victim(c: &mut Case) -> Victim {
    // The hunter leaves a file behind to say it is watching.
    c.bundle.readonly_root(false);
    // The attacker's best case: all five capability sets alike, so an
    // execve gains nothing and the kernel keeps the new image dumpable.
    let bounding: Vec<String> =
        serde_json::from_value(c.bundle.get("/process/capabilities/bounding")).unwrap_or_default();
    let refs: Vec<&str> = bounding.iter().map(String::as_str).collect();
    c.bundle.all_caps(&refs);
    // Not beside the state root: rt's sealed copy (an overlay of rt's
    // directory) needs the two apart.
    let bin = c.dir.join("bin");
    fs::create_dir_all(&bin).expect("mkdir bin");
    let path = bin.join(format!("rt-victim-{}", c.id));
    fs::copy(&c.rt.bin, &path).expect("copy rt");
    c.rt.bin = path.clone();
    let sha = sha256(&path);
    Victim { path, sha }
}

const MATCH: &str = "rt-victim";

/// Programs that make an execve by the runtime run /proc/self/exe, plus a
/// fifo "bundle" that keeps a runtime started with `create --bundle /blk`
/// blocked until the hunter has had its chance. The test binary of rt is
/// linked dynamically: its loader and libraries go into the rootfs too, so
/// that a re-executed runtime runs there as the static release build would.
fn plant(rootfs: &Path, rt: &Path) {
    let ldd = std::process::Command::new("ldd")
        .arg(rt)
        .output()
        .expect("run ldd");
    for lib in String::from_utf8_lossy(&ldd.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
    {
        let dest = rootfs.join(lib.trim_start_matches('/'));
        fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir lib dir");
        fs::copy(lib, &dest).expect("copy library");
    }
    fs::write(rootfs.join("evil.sh"), "#!/proc/self/exe\n").expect("write script");
    fs::write(rootfs.join("evil-chain.sh"), "#!/lnk-a\n").expect("write script");
    symlink("/lnk-b", rootfs.join("lnk-a")).expect("symlink");
    symlink("/proc/self/exe", rootfs.join("lnk-b")).expect("symlink");
    symlink("/proc/self/exe", rootfs.join("evil-link")).expect("symlink");
    fs::write(
        rootfs.join("evil-elf"),
        elf::with_interpreter("/proc/self/exe"),
    )
    .expect("elf");
    for f in ["evil.sh", "evil-chain.sh", "evil-elf"] {
        common::fixtures::set_mode(&rootfs.join(f), 0o755);
    }
    fs::create_dir_all(rootfs.join("blk")).expect("mkdir blk");
    // Writable for a container root mapped to another uid.
    fs::create_dir_all(rootfs.join("hunt")).expect("mkdir hunt");
    common::fixtures::set_mode(&rootfs.join("hunt"), 0o1777);
    nix::unistd::mkfifo(
        &rootfs.join("blk/config.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o666),
    )
    .expect("mkfifo");
}

/// Arguments after the program that keep a runtime reading the fifo.
const BLOCKING: [&str; 6] = ["--root", "/blk", "create", "--bundle", "/blk", "v"];

/// The programs, each with the arguments it is started with.
fn programs() -> Vec<Vec<&'static str>> {
    let with_blocking = |p: &'static str| {
        let mut v = vec![p];
        v.extend_from_slice(&BLOCKING);
        v
    };
    vec![
        vec!["/evil.sh"],
        vec!["/evil-chain.sh"],
        with_blocking("/evil-link"),
        with_blocking("/evil-elf"),
    ]
}

fn hunter_args() -> Vec<&'static str> {
    vec![
        "/probe",
        "exe-hunt",
        "/hunt/stop",
        MATCH,
        "/blk/config.json",
    ]
}

fn wait_for(p: &Path) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if p.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The hunter's report: the last JSON line of a file, waited for.
fn report(read: impl Fn() -> String) -> Value {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let text = read();
        if let Some(v) = text
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get("rounds").is_some())
        {
            return v;
        }
        assert!(Instant::now() < end, "no hunter report in: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[track_caller]
fn assert_unharmed(v: &Victim, hunt: &Value, may_grab: bool) {
    eprintln!("hunter: {hunt}");
    assert_eq!(
        hunt["written"].as_array().map(|a| a.len()),
        Some(0),
        "the container wrote into the runtime binary: {hunt}"
    );
    if !may_grab {
        assert_eq!(
            hunt["grabbed"].as_array().map(|a| a.len()),
            Some(0),
            "the container opened the runtime's executable: {hunt}"
        );
    }
    assert!(
        hunt["rounds"].as_u64() > Some(1),
        "the hunter never hunted: {hunt}"
    );
    assert_eq!(sha256(&v.path), v.sha, "the runtime binary changed: {hunt}");
}

fn finish(c: &Case) {
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

/// The reported attack: `rt exec` of a program that re-enters
/// /proc/self/exe, with the hunter as the container's init.
#[test]
fn exec_of_programs_that_reenter_proc_self_exe() {
    let mut c = Case::new("exe-exec");
    if !c.is_rt() {
        return;
    }
    let v = victim(&mut c);
    plant(&c.bundle.rootfs(), &v.path);
    let hunter = hunter_args();
    c.bundle.args(&hunter);
    let created = c.create();
    created.expect_ok("create");
    c.start().expect_ok("start");
    assert!(
        wait_for(&c.bundle.rootfs().join("hunt/stop.ready")),
        "hunter not ready"
    );
    for prog in programs() {
        for _ in 0..2 {
            let mut args = vec!["exec", c.id.as_str()];
            args.extend_from_slice(&prog);
            let out = c.rt.cmd(&args);
            // The program re-entered rt's exec stub, which refuses to run
            // itself (127): it never became the runtime. The ELF goes once
            // through the stub as its interpreter; the stub execs it again,
            // and then /proc/self/exe is the ELF itself, whose own code
            // exits 0.
            let want = if prog[0] == "/evil-elf" { 0 } else { 127 };
            assert_eq!(out.code, want, "{prog:?} did not end as expected: {out:#?}");
        }
    }
    fs::write(c.bundle.rootfs().join("hunt/stop"), "").expect("stop the hunter");
    let hunt = report(|| created.reread_stdout());
    assert_unharmed(&v, &hunt, false);
    finish(&c);
}

/// The same programs as the container's init. Without a pid namespace the
/// hunter (exec'd before start) outlives the init and sees every process.
#[test]
fn init_programs_that_reenter_proc_self_exe() {
    for prog in programs() {
        let mut c = Case::new("exe-init");
        if !c.is_rt() {
            return;
        }
        let v = victim(&mut c);
        plant(&c.bundle.rootfs(), &v.path);
        c.bundle.remove_namespace("pid");
        c.bundle.args(&prog);
        c.create().expect_ok("create");
        let mut args = vec!["exec", "--detach", c.id.as_str()];
        let hunter = hunter_args();
        args.extend_from_slice(&hunter);
        let exec = c.rt.cmd(&args);
        exec.expect_ok("exec the hunter");
        assert!(
            wait_for(&c.bundle.rootfs().join("hunt/stop.ready")),
            "hunter not ready"
        );
        c.start().expect_ok("start");
        assert!(
            c.rt.wait_status(&c.id, "stopped", Duration::from_secs(20)),
            "{prog:?}: init did not exit"
        );
        fs::write(c.bundle.rootfs().join("hunt/stop"), "").expect("stop the hunter");
        let hunt = report(|| exec.reread_stdout());
        assert_unharmed(&v, &hunt, false);
        finish(&c);
    }
}

/// A startContainer hook runs in the container, from the init (still rt):
/// a hook path inside the image that leads to /proc/self/exe must not
/// start the runtime either. Here the hook's own output tells: the exec
/// stub's refusal (127), where the runtime would have complained about its
/// arguments.
#[test]
fn container_hooks_that_reenter_proc_self_exe() {
    for hook in ["/evil-link", "/evil.sh"] {
        let mut c = Case::new("exe-hook");
        if !c.is_rt() {
            return;
        }
        let v = victim(&mut c);
        plant(&c.bundle.rootfs(), &v.path);
        c.bundle.probe(&["sleep", "30"]);
        c.bundle.set(
            "/hooks/startContainer",
            serde_json::json!([{"path": hook, "args": [hook, "state", "x"]}]),
        );
        c.create().expect_ok("create");
        let out = c.start();
        let last = out.last_err_line();
        assert!(
            last.contains("status 127") && last.contains("exec stub"),
            "{hook}: the hook did not end in the exec stub: {out:#?}"
        );
        assert_eq!(sha256(&v.path), v.sha, "the runtime binary changed");
        finish(&c);
    }
}

/// A hunter exec'd into a created container waits for the init (still
/// runtime code) and for exec'd processes (runtime code until execve).
fn hunt_during_create_and_exec(c: &mut Case, may_grab: bool) {
    let v = victim(c);
    plant(&c.bundle.rootfs(), &v.path);
    c.bundle.probe(&["sleep", "30"]);
    c.create().expect_ok("create");
    let mut args = vec!["exec", "--detach", c.id.as_str()];
    let hunter = hunter_args();
    args.extend_from_slice(&hunter);
    let exec = c.rt.cmd(&args);
    exec.expect_ok("exec the hunter");
    assert!(
        wait_for(&c.bundle.rootfs().join("hunt/stop.ready")),
        "hunter not ready"
    );
    // Let it watch the waiting init for a moment, then start and exec.
    std::thread::sleep(Duration::from_millis(200));
    c.start().expect_ok("start");
    for _ in 0..3 {
        c.rt.cmd(&["exec", &c.id, "/probe", "exit", "0"])
            .expect_ok("exec");
    }
    for prog in programs() {
        let mut args = vec!["exec", c.id.as_str()];
        args.extend_from_slice(&prog);
        let _ = c.rt.cmd(&args);
    }
    fs::write(c.bundle.rootfs().join("hunt/stop"), "").expect("stop the hunter");
    let hunt = report(|| exec.reread_stdout());
    assert_unharmed(&v, &hunt, may_grab);
    finish(c);
}

/// An ordinary container: the runtime's processes are out of its reach.
#[test]
fn default_container_cannot_open_the_runtime() {
    let mut c = Case::new("exe-default");
    if !c.is_rt() {
        return;
    }
    hunt_during_create_and_exec(&mut c, false);
}

/// CAP_SYS_PTRACE and CAP_SYS_ADMIN without a user namespace get past
/// non-dumpable: what they reach must be a sealed, unwritable runtime.
#[test]
fn privileged_container_reaches_only_a_sealed_runtime() {
    let mut c = Case::new("exe-priv");
    if !c.is_rt() {
        return;
    }
    let all: Vec<String> = caps_all();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    c.bundle.all_caps(&refs);
    hunt_during_create_and_exec(&mut c, true);
}

/// Every capability, but inside a user namespace: none of them count
/// against the runtime's processes.
#[test]
fn user_namespace_container_cannot_open_the_runtime() {
    let mut c = Case::new("exe-userns");
    if !c.is_rt() {
        return;
    }
    let all: Vec<String> = caps_all();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    c.bundle.all_caps(&refs);
    c.bundle.user_ns(100_000, 100_000, 65_536);
    hunt_during_create_and_exec(&mut c, false);
}

/// Every capability this host can grant (its bounding set may lack some).
fn caps_all() -> Vec<String> {
    let have = caps::read(None, caps::CapSet::Bounding).expect("read bounding set");
    let mut v: Vec<String> = have.into_iter().map(|c| c.to_string()).collect();
    v.sort();
    v
}
