#![doc = include_str!("../README.md")]

pub mod checks;
pub mod errors;
pub mod faults;
mod harness;
pub mod harnesses;
mod log;
mod noop;
pub mod observe;
pub mod peers;
mod scripted;
mod servers;

pub use crate::harness::{
    build, pool, try_build, Backend, BackendKind, BuilderOf, Caps, Checkout, DeadpoolSqliteBackend,
    Event, EventLog, Harness, Identified, Outcome, PoolOf, R2d2SqliteBackend, Reason,
    ScriptedBackend, Skip, Spec, SqliteBackend,
};
pub use crate::log::{Call, CallLog, Numbered, Recorded};
pub use crate::noop::NoopConnector;
pub use crate::scripted::{Script, ScriptedConnection, ScriptedConnector, ScriptedError};
pub use crate::servers::{
    server_url, Bb8PostgresBackend, DeadpoolPostgresBackend, MysqlAsyncBackend, MysqlBackend,
    PgbouncerSessionAsyncBackend, PgbouncerSessionBackend, PgbouncerTxAsyncBackend,
    PgbouncerTxBackend, PostgresBackend, RedisAsyncBackend, RedisBackend, TokioPostgresBackend,
    MYSQL_URL, PGBOUNCER_SESSION_URL, PGBOUNCER_TX_URL, POSTGRES_URL, REDIS_URL,
};

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

/// Runs `check` on a fresh `B`, or skips when `B` cannot run here (a server backend
/// whose URL variable is unset) or cannot serve harness `H`.
pub fn run_on<H: Harness, B: Backend>(check: fn(&B) -> Outcome) -> Outcome {
    B::available()?;
    H::runs_on::<B>()?;
    check(&B::new())
}

macro_rules! define_checks {
    ($d:tt $( $group:ident :: $check:ident ),* $(,)?) => {
        /// Every check of the suite for harness `H`, in order.
        pub fn registry<H: Harness>() -> Vec<Check> {
            vec![$(
                Check {
                    name: concat!(stringify!($group), "::", stringify!($check)),
                    run: |kind| match kind {
                        BackendKind::Scripted => run_on::<H, ScriptedBackend>(checks::$group::$check::<H, ScriptedBackend>),
                        BackendKind::Sqlite => run_on::<H, SqliteBackend>(checks::$group::$check::<H, SqliteBackend>),
                        BackendKind::R2d2Sqlite => run_on::<H, R2d2SqliteBackend>(checks::$group::$check::<H, R2d2SqliteBackend>),
                        BackendKind::DeadpoolSqlite => run_on::<H, DeadpoolSqliteBackend>(checks::$group::$check::<H, DeadpoolSqliteBackend>),
                        BackendKind::DeadpoolPostgres => run_on::<H, DeadpoolPostgresBackend>(checks::$group::$check::<H, DeadpoolPostgresBackend>),
                        BackendKind::Bb8Postgres => run_on::<H, Bb8PostgresBackend>(checks::$group::$check::<H, Bb8PostgresBackend>),
                        BackendKind::Postgres => run_on::<H, PostgresBackend>(checks::$group::$check::<H, PostgresBackend>),
                        BackendKind::TokioPostgres => run_on::<H, TokioPostgresBackend>(checks::$group::$check::<H, TokioPostgresBackend>),
                        BackendKind::PgbouncerTx => run_on::<H, PgbouncerTxBackend>(checks::$group::$check::<H, PgbouncerTxBackend>),
                        BackendKind::PgbouncerTxAsync => run_on::<H, PgbouncerTxAsyncBackend>(checks::$group::$check::<H, PgbouncerTxAsyncBackend>),
                        BackendKind::PgbouncerSession => run_on::<H, PgbouncerSessionBackend>(checks::$group::$check::<H, PgbouncerSessionBackend>),
                        BackendKind::PgbouncerSessionAsync => run_on::<H, PgbouncerSessionAsyncBackend>(checks::$group::$check::<H, PgbouncerSessionAsyncBackend>),
                        BackendKind::Mysql => run_on::<H, MysqlBackend>(checks::$group::$check::<H, MysqlBackend>),
                        BackendKind::MysqlAsync => run_on::<H, MysqlAsyncBackend>(checks::$group::$check::<H, MysqlAsyncBackend>),
                        BackendKind::Redis => run_on::<H, RedisBackend>(checks::$group::$check::<H, RedisBackend>),
                        BackendKind::RedisAsync => run_on::<H, RedisAsyncBackend>(checks::$group::$check::<H, RedisAsyncBackend>),
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
                $d crate::conformance_tests!(@on $d harness, deadpool_sqlite, $d crate::DeadpoolSqliteBackend);
                $d crate::conformance_tests!(@on $d harness, deadpool_postgres, $d crate::DeadpoolPostgresBackend);
                $d crate::conformance_tests!(@on $d harness, bb8_postgres, $d crate::Bb8PostgresBackend);
                $d crate::conformance_tests!(@on $d harness, postgres, $d crate::PostgresBackend);
                $d crate::conformance_tests!(@on $d harness, tokio_postgres, $d crate::TokioPostgresBackend);
                $d crate::conformance_tests!(@on $d harness, pgbouncer_tx, $d crate::PgbouncerTxBackend);
                $d crate::conformance_tests!(@on $d harness, pgbouncer_tx_async, $d crate::PgbouncerTxAsyncBackend);
                $d crate::conformance_tests!(@on $d harness, pgbouncer_session, $d crate::PgbouncerSessionBackend);
                $d crate::conformance_tests!(@on $d harness, pgbouncer_session_async, $d crate::PgbouncerSessionAsyncBackend);
                $d crate::conformance_tests!(@on $d harness, mysql, $d crate::MysqlBackend);
                $d crate::conformance_tests!(@on $d harness, mysql_async, $d crate::MysqlAsyncBackend);
                $d crate::conformance_tests!(@on $d harness, redis, $d crate::RedisBackend);
                $d crate::conformance_tests!(@on $d harness, redis_async, $d crate::RedisAsyncBackend);
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
                                $d crate::run_on::<$d harness, $d backend>(
                                    $d crate::checks::$group::$check::<$d harness, $d backend>,
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
