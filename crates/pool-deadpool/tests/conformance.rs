//! The whole conformance suite on the async pool: every checkout is `get_async().await`.

pool_conformance::conformance_tests!(pool_conformance::harnesses::DeadpoolHarness);
