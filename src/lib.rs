//! rt: a lightweight OCI runtime. The library holds everything; `main.rs` is a
//! thin wrapper so that tests and benchmarks can drive the same code.

pub mod cgroups;
pub mod cli;
pub mod container;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
pub mod image;
pub mod log;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;
pub mod supervise;
pub mod syscall;
pub mod testpoint;

pub use error::{Error, Result};
