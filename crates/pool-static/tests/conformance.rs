//! The whole conformance suite for both strategies of this crate, on the scripted
//! connector and on SQLite.

mod static_pool {
    pool_conformance::conformance_tests!(pool_conformance::harnesses::StaticHarness);
}

mod assertion_pool {
    pool_conformance::conformance_tests!(pool_conformance::harnesses::AssertionHarness);
}
