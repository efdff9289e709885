//! The conformance suite through NullPool's async front end.

pool_conformance::conformance_tests!(pool_conformance::harnesses::NullAsyncHarness);
