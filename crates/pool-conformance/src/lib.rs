#![doc = include_str!("../README.md")]

pub mod checks;
mod harness;
pub mod harnesses;
mod log;
mod noop;
pub mod peers;
mod scripted;

pub use crate::harness::{
    build, pool, Backend, BackendKind, BuilderOf, Caps, Event, EventLog, Harness, Identified,
    Outcome, PoolOf, R2d2SqliteBackend, Reason, ScriptedBackend, Skip, Spec, SqliteBackend,
};
pub use crate::log::{Call, CallLog, Numbered, Recorded};
pub use crate::noop::NoopConnector;
pub use crate::scripted::{Script, ScriptedConnection, ScriptedConnector, ScriptedError};

/// One check of the suite, ready to run on a backend.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// `group::name`, as the matrix shows it.
    pub name: &'static str,
    /// Runs the check on a backend; a failure panics.
    pub run: fn(BackendKind) -> Outcome,
}

/// Reports a check's outcome in a stamped test: a skip prints its reason (a failure has
/// already panicked).
pub fn report(name: &str, kind: BackendKind, outcome: Outcome) {
    if let Err(Skip(reason)) = outcome {
        println!("skipped {name} on {}: {reason}", kind.name());
    }
}

macro_rules! define_checks {
    ($d:tt $( $group:ident :: $check:ident ),* $(,)?) => {
        /// Every check of the suite for harness `H`, in order.
        pub fn registry<H: Harness>() -> Vec<Check> {
            vec![$(
                Check {
                    name: concat!(stringify!($group), "::", stringify!($check)),
                    run: |kind| match kind {
                        BackendKind::Scripted => checks::$group::$check::<H, ScriptedBackend>(&ScriptedBackend::new()),
                        BackendKind::Sqlite => checks::$group::$check::<H, SqliteBackend>(&SqliteBackend::new()),
                        BackendKind::R2d2Sqlite => checks::$group::$check::<H, R2d2SqliteBackend>(&R2d2SqliteBackend::new()),
                    },
                },
            )*]
        }

        /// Stamps one `#[test]` per check and backend for a [`Harness`]:
        /// `conformance_tests!(path::to::Harness);` in an integration test file.
        #[macro_export]
        macro_rules! conformance_tests {
            ($d harness:ty) => {
                $d crate::conformance_tests!(@on $d harness, scripted, $d crate::ScriptedBackend);
                $d crate::conformance_tests!(@on $d harness, sqlite, $d crate::SqliteBackend);
                $d crate::conformance_tests!(@on $d harness, r2d2_sqlite, $d crate::R2d2SqliteBackend);
            };
            (@on $d harness:ty, $d module:ident, $d backend:ty) => {
                mod $d module {
                    #[allow(unused_imports)]
                    use super::*;
                    $(
                        #[test]
                        fn $check() {
                            $d crate::report(
                                concat!(stringify!($group), "::", stringify!($check)),
                                <$d backend as $d crate::Backend>::KIND,
                                $d crate::checks::$group::$check::<$d harness, $d backend>(
                                    &<$d backend as $d crate::Backend>::new(),
                                ),
                            );
                        }
                    )*
                }
            };
        }
    };
}

include!("checks/list.rs");
