//! Repository automation behind `cargo xtask`: the library half, so that tests can call
//! what the commands are made of (the binary, `src/main.rs`, parses the command line).
//!
//! [`conformance`] is `cargo xtask conformance`; `cargo xtask bench` lives in the binary.

pub mod conformance;
