//! Thin syscall wrappers that nix does not offer.
