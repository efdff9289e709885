//! SQLAlchemy test cases about Python-only machinery, kept in the matrix as explicit skips
//! so that every ported case is accounted for.

use crate::{Backend, Harness, Outcome, Skip};

// test_pool.py PoolTest.test_is_asyncio_from_dialect and test_is_asyncio_from_dialect_cls:
// `_is_asyncio` follows the dialect or is pinned per pool class.
/// The asyncio flag of a pool class (Python-only).
pub fn is_asyncio_from_dialect<H: Harness, B: Backend>(_backend: &B) -> Outcome {
    Err(Skip::because(
        "no asyncio flag: every pool has the blocking get, and get_async exists exactly when \
         its strategy is an AsyncStrategy (QueuePool, NullPool, StaticPool, AssertionPool), \
         which the compiler checks",
    ))
}

// test_pool.py PoolTest.test_connection_setter: the deprecated `rec.connection` alias of
// `rec.dbapi_connection` can be assigned.
/// The deprecated `connection` alias (Python-only).
pub fn connection_setter<H: Harness, B: Backend>(_backend: &B) -> Outcome {
    Err(Skip::because("no deprecated alias to keep: the record's connection is not assignable"))
}

// test_pool.py PoolTest.test_rec_fairy_adapted_dialect: a dialect's
// `get_driver_connection` changes `driver_connection` on the record and the fairy.
/// A dialect-adapted driver connection (Python-only).
pub fn adapted_driver_connection<H: Harness, B: Backend>(_backend: &B) -> Outcome {
    Err(Skip::because(
        "a Connector's connection type is the driver connection; there is no adapter layer to unwrap",
    ))
}

// test_pool.py CreatorCompatibilityTest (test_creator_callable_outside_noarg,
// test_creator_callable_outside_witharg, test_creator_patching_arg_to_noarg): the creator's
// signature is inspected and re-inspected when patched.
/// Creator signature inspection (Python-only).
pub fn creator_signature<H: Harness, B: Backend>(_backend: &B) -> Outcome {
    Err(Skip::because("Connector::connect has one signature, checked by the compiler"))
}

// test_pool.py PoolTest.test_cursor_iterable: a raw DBAPI cursor is iterable.
/// DBAPI cursor iteration (a driver property, not the pool's).
pub fn cursor_iterable<H: Harness, B: Backend>(_backend: &B) -> Outcome {
    Err(Skip::because(
        "about the DBAPI driver's cursor, not the pool; rusqlite's rows are tested by rusqlite",
    ))
}
