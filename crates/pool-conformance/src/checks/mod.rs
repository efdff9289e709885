//! The checks, grouped by the SQLAlchemy test class or the contract they come from.
//!
//! Every check is `fn name<H: Harness, B: Backend>(backend: &B) -> Outcome`. It builds
//! its pools with [`pool`](crate::pool) or [`build`](crate::build), asserts (a failure
//! panics), and returns a [`Skip`] when the implementation's capabilities or
//! the backend cannot support it. A comment above each names its source test.

pub mod base;
pub mod checkout;
pub mod concurrency;
pub mod events;
pub mod failures;
pub mod queue;
pub mod reset;

use crate::{Caps, Harness, Outcome, Skip};

/// Skips unless the harness has `cap`, saying what is missing.
fn needs<H: Harness>(cap: fn(&Caps) -> bool, missing: &str) -> Outcome {
    if cap(&H::caps()) {
        Ok(())
    } else {
        Err(Skip::because(missing))
    }
}

/// Skips unless the pool keeps connections between checkouts.
pub(crate) fn needs_reuse<H: Harness>() -> Outcome {
    needs::<H>(|c| c.reuses_connections, "needs a pool that keeps connections between checkouts")
}

/// Skips unless one thread can hold several connections at once.
pub(crate) fn needs_concurrent<H: Harness>() -> Outcome {
    needs::<H>(
        |c| c.concurrent_checkouts,
        "needs several connections checked out at once by one thread",
    )
}

/// Skips unless the pool reports QueuePool's counts.
pub(crate) fn needs_counts<H: Harness>() -> Outcome {
    needs::<H>(|c| c.queue_counts, "no QueuePool counts (caps().queue_counts)")
}

/// Skips unless the pool has overflow.
pub(crate) fn needs_overflow<H: Harness>() -> Outcome {
    needs::<H>(|c| c.overflow, "no overflow (caps().overflow)")
}

/// Skips unless callers wait, with a timeout, at the pool's limit.
pub(crate) fn needs_bounded_wait<H: Harness>() -> Outcome {
    needs::<H>(|c| c.bounded_wait, "callers never wait (caps().bounded_wait)")
}
