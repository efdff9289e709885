//! The conformance suite through QueuePool's async front end: every checkout is
//! `get_async().await`.

pool_conformance::conformance_tests!(pool_conformance::harnesses::QueueAsyncHarness);
