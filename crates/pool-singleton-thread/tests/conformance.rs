//! The conformance suite for SingletonThreadPool, on every backend.

pool_conformance::conformance_tests!(pool_conformance::harnesses::SingletonThreadHarness);
