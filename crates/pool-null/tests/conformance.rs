//! The whole conformance suite on NullPool, on the scripted connector and on SQLite.

pool_conformance::conformance_tests!(pool_conformance::harnesses::NullHarness);
