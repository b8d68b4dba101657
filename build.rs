//! Release link settings that keep rt's resident memory small.
//!
//! rt runs a few times for every container, so what one run maps counts:
//! - relative relocations are packed (DT_RELR), so the static-pie start-up
//!   reads a few KiB of relocations instead of a quarter MiB.
//!
//! The link order that packs the code rt runs is benches/layout/link-gcc's
//! job (it needs this link's symbol names). DT_RELR needs lld, the linker
//! rustc uses on x86_64 Linux; debug builds (the tests) are left as they are.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Read by benches/layout/link-gcc, which cargo does not know about.
    println!("cargo:rerun-if-changed=benches/layout/hot-functions.txt");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
