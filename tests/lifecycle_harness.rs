//! Self-tests of the harness: the leftover checks must be able to fail, the
//! probe must be static and the default config must be `runc spec`'s. They
//! drive runc (the reference) so they hold whatever state rt is in.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::runtime::runc_available;
use common::{Case, Kind};

fn runc_case(name: &str) -> Option<Case> {
    if !runc_available() {
        eprintln!("note: runc not installed, harness self-test skipped");
        return None;
    }
    Some(Case::with_kind(name, Kind::Runc))
}

fn panic_text(r: std::thread::Result<()>) -> String {
    match r {
        Ok(()) => String::new(),
        Err(e) => e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

#[test]
fn leftover_check_sees_a_running_container() {
    let Some(mut c) = runc_case("harness-left") else {
        return;
    };
    c.bundle.probe(&["sleep", "30"]);
    c.rt.run_with(&c.bundle, &c.id, &["--detach"])
        .expect_ok("run --detach");
    let text = panic_text(catch_unwind(AssertUnwindSafe(|| c.assert_nothing_left())));
    assert!(text.contains("state dir"), "{text}");
    assert!(text.contains("cgroup"), "{text}");
    assert!(text.contains("process"), "{text}");
    c.rt.delete_force(&c.id).expect_ok("delete --force");
    c.assert_nothing_left();
}

#[test]
fn leftover_check_sees_a_mount() {
    let Some(c) = runc_case("harness-mount") else {
        return;
    };
    let target = c.dir.join("m");
    std::fs::create_dir_all(&target).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&target)
        .status()
        .expect("mount");
    assert!(st.success());
    let text = panic_text(catch_unwind(AssertUnwindSafe(|| c.assert_nothing_left())));
    let _ = std::process::Command::new("umount").arg(&target).status();
    assert!(text.contains("mount left"), "{text}");
    c.assert_nothing_left();
}

#[test]
fn probe_is_static() {
    let bin = std::fs::read(common::fixtures::probe()).expect("probe built");
    assert_eq!(&bin[..4], b"\x7fELF");
    // No PT_INTERP program header: nothing to load from the rootfs.
    let u16_at = |o: usize| u16::from_le_bytes([bin[o], bin[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bin[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(bin[o..o + 4].try_into().unwrap());
        assert_ne!(p_type, PT_INTERP, "probe is dynamically linked");
    }
}

#[test]
fn default_config_is_runc_spec() {
    let Some(c) = runc_case("harness-spec") else {
        return;
    };
    let dir = c.dir.join("spec");
    std::fs::create_dir_all(&dir).unwrap();
    let st = std::process::Command::new(common::runtime::RUNC)
        .arg("spec")
        .current_dir(&dir)
        .status()
        .expect("runc spec");
    assert!(st.success());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(written, common::bundle::default_config());
}

#[test]
fn leftover_check_sees_rt_default_cgroup() {
    // rt's default cgroup is rt/<id>: a directory left there must be seen.
    let c = Case::with_kind("harness-cg", Kind::Rt);
    let dir = std::path::Path::new("/sys/fs/cgroup/pids/rt").join(&c.id);
    let dir = if dir.parent().unwrap().parent().unwrap().exists() {
        dir
    } else {
        std::path::Path::new("/sys/fs/cgroup/rt").join(&c.id)
    };
    std::fs::create_dir_all(&dir).expect("make a stray cgroup");
    let text = panic_text(catch_unwind(AssertUnwindSafe(|| c.assert_nothing_left())));
    std::fs::remove_dir(&dir).expect("remove the stray cgroup");
    assert!(text.contains("cgroup"), "{text}");
}
