//! The conformance suite through the async front ends of both strategies of this crate.

mod static_pool {
    pool_conformance::conformance_tests!(pool_conformance::harnesses::StaticAsyncHarness);
}

mod assertion_pool {
    pool_conformance::conformance_tests!(pool_conformance::harnesses::AssertionAsyncHarness);
}
