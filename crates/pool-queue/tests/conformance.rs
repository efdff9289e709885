//! The conformance suite for QueuePool, on every backend.

pool_conformance::conformance_tests!(pool_conformance::harnesses::QueueHarness);
