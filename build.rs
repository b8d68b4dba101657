//! Release link settings that keep rt's resident memory small.
//!
//! rt runs a few times for every container, so what one run maps counts:
//! - the functions rt's common commands run (benches/layout/hot-functions.txt,
//!   made by benches/layout/collect.sh) go first in .text, so the kernel's
//!   fault-around maps them and not the cold code around them;
//! - relative relocations are packed (DT_RELR), so the static-pie start-up
//!   reads a few KiB of relocations instead of a quarter MiB.
//!
//! Both need lld, the linker rustc uses on x86_64 Linux; debug builds (the
//! tests) are left as they are.

fn main() {
    let list = "benches/layout/hot-functions.txt";
    println!("cargo:rerun-if-changed={list}");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={dir}/{list}");
    // Names the list has but this build lacks (inlined, renamed) are fine.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
