//! The checks, grouped by the SQLAlchemy test class or the contract they come from.
//!
//! Every check is `fn name<H: Harness, B: Backend>(backend: &B) -> Outcome`. It builds
//! its pools with [`pool`](crate::pool) or [`build`](crate::build), asserts (a failure
//! panics), and returns a [`Skip`](crate::Skip) when the implementation's capabilities or
//! the backend cannot support it. A comment above each names its source test.

pub mod base;
pub mod checkout;
pub mod concurrency;
pub mod events;
pub mod failures;
pub mod queue;
pub mod reset;
