//! The checks, grouped by the SQLAlchemy test class or the contract they come from.
//!
//! Every check is `fn name<H: Harness, B: Backend>(backend: &B) -> Outcome`. It builds
//! its pools with [`pool`](crate::pool) or [`build`](crate::build), asserts (a failure
//! panics), and returns a [`Skip`] when the implementation's capabilities or
//! the backend cannot support it. A comment above each names its source test.

pub mod affinity;
pub mod base;
pub mod checkout;
pub mod close;
pub mod concurrency;
pub mod events;
pub mod failures;
pub mod maintain;
pub mod parity;
pub mod prune;
pub mod python;
pub mod queue;
pub mod reset;
pub mod single;
pub mod stats;
pub mod waiting;

use crate::{Caps, Harness, Outcome, Skip};

/// Skips unless the harness has `cap`, saying what is missing.
pub(crate) fn needs<H: Harness>(cap: fn(&Caps) -> bool, missing: &str) -> Outcome {
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

/// Skips unless a check can follow the pool's counts through a bounded wait: either the
/// pool reports QueuePool's counts (`caps().queue_counts`), or it keeps connections, hands
/// several out at once and makes callers wait at its limit, so its idle, checked-out and
/// waiting counts say the same things. Checks that take this compare QueuePool's
/// `(size, idle, overflow, checked_out)` when `queue_counts` is set, and those three
/// counts otherwise.
pub(crate) fn needs_pool_counts<H: Harness>() -> Outcome {
    if H::caps().queue_counts {
        return Ok(());
    }
    needs_reuse::<H>()?;
    needs_concurrent::<H>()?;
    needs_bounded_wait::<H>()
}

/// Skips unless the pool has overflow.
pub(crate) fn needs_overflow<H: Harness>() -> Outcome {
    needs::<H>(|c| c.overflow, "no overflow (caps().overflow)")
}

/// Skips unless the pool can have several connections open at once (for any threads).
pub(crate) fn needs_several<H: Harness>() -> Outcome {
    needs::<H>(
        |c| !c.single_connection,
        "needs several connections open at once (the pool holds one: caps().single_connection)",
    )
}

/// Skips unless callers wait, with a timeout, at the pool's limit.
pub(crate) fn needs_bounded_wait<H: Harness>() -> Outcome {
    needs::<H>(|c| c.bounded_wait, "callers never wait (caps().bounded_wait)")
}

/// What follows the reset of a returned connection `id` on the connector: nothing in a
/// pool that keeps connections; a graceful close in one that keeps none (NullPool).
pub(crate) fn closed_after_return<H: Harness>(id: u64) -> Vec<crate::Call> {
    if H::caps().reuses_connections {
        vec![]
    } else {
        vec![crate::Call::Close(id)]
    }
}

/// `calls`, then what follows the reset of a return of `id` ([`closed_after_return`]).
pub(crate) fn then_closed<H: Harness>(calls: Vec<crate::Call>, id: u64) -> Vec<crate::Call> {
    [calls, closed_after_return::<H>(id)].concat()
}
