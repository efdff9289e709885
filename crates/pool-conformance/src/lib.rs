#![doc = include_str!("../README.md")]

pub mod checks;
mod harness;
pub mod harnesses;
mod log;
mod noop;
mod scripted;

pub use crate::harness::{
    build, pool, Backend, BackendKind, BuilderOf, Caps, Event, EventLog, Harness, Identified,
    Outcome, PoolOf, Reason, ScriptedBackend, Skip, Spec, SqliteBackend,
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
                    },
                },
            )*]
        }

        /// Stamps one `#[test]` per check and backend for a [`Harness`]:
        /// `conformance_tests!(path::to::Harness);` in an integration test file.
        #[macro_export]
        macro_rules! conformance_tests {
            ($d harness:ty) => {
                mod scripted {
                    #[allow(unused_imports)]
                    use super::*;
                    $(
                        #[test]
                        fn $check() {
                            $d crate::report(
                                concat!(stringify!($group), "::", stringify!($check)),
                                $d crate::BackendKind::Scripted,
                                $d crate::checks::$group::$check::<$d harness, $d crate::ScriptedBackend>(
                                    &<$d crate::ScriptedBackend as $d crate::Backend>::new(),
                                ),
                            );
                        }
                    )*
                }
                mod sqlite {
                    #[allow(unused_imports)]
                    use super::*;
                    $(
                        #[test]
                        fn $check() {
                            $d crate::report(
                                concat!(stringify!($group), "::", stringify!($check)),
                                $d crate::BackendKind::Sqlite,
                                $d crate::checks::$group::$check::<$d harness, $d crate::SqliteBackend>(
                                    &<$d crate::SqliteBackend as $d crate::Backend>::new(),
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
