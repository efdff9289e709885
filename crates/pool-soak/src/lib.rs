//! The soak lives in `tests/soak.rs`; this package exists so that its test binary alone
//! is compiled optimized (`[profile.dev.package.pool-soak]` in the workspace manifest)
//! while its dependencies are shared with the rest of the tests.
