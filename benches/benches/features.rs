//! Group 5, the cost of each feature when it is on, one at a time, in QueuePool on one
//! thread: the difference between a row and its group's baseline is the feature's price.
//!
//! - `features (no-op connection)`: checkout and return of a no-op connection with
//!   nothing on (no reset, no pre-ping, no recycle, no listener), then with reset on
//!   return (a rollback the connection answers at once), pre-ping, recycle, one
//!   listener that handles every event (each event has one listener to call), and the
//!   maintenance settings: `max_lifetime` (a clock read at checkout and return),
//!   `idle_timeout` with `keepalive` (a clock read at return), `min_idle` (a poke of the
//!   worker at checkout, one atomic load while it is awake); then the observability
//!   settings: `measure_hold_time` (a clock read at checkout and return, a histogram
//!   record at return) and `leak_threshold` (that, plus a backtrace captured at checkout
//!   and a lease kept under a lock).
//! - `features (SQLite)`: an in-memory SQLite connection with a table. `SELECT 1` per
//!   checkout with nothing on, then with a pre-ping (SQLite's is a `SELECT 1` too) and
//!   with reset on return when no transaction is open (a call to
//!   `sqlite3_get_autocommit`); then a real transaction (`BEGIN` and an `INSERT`) ended
//!   by the caller's own `ROLLBACK` with reset off, against the same transaction left to
//!   reset on return.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::error::Error as StdError;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pool_core::{
    ConnectionRecord, Connector, ListenerError, PoolListener, ResetOnReturn, ResetState,
};
use pool_queue::{QueueConfig, QueuePool};
use pool_sqlite::SqliteConnector;
use rusqlite::Connection;

use benches::{select1, Noop};

/// The group names `cargo xtask bench` reads back from `target/criterion`.
const NOOP_GROUP: &str = "features (no-op connection)";
const SQLITE_GROUP: &str = "features (SQLite)";

/// One listener for every event, each counting its calls: the cheapest listener that
/// still does something.
#[derive(Debug, Default)]
struct EveryEvent(AtomicU64);

impl EveryEvent {
    fn hit(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl<C: Connector> PoolListener<C> for EveryEvent {
    fn first_connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.hit();
        Ok(())
    }

    fn connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.hit();
        Ok(())
    }

    fn checkout(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.hit();
        Ok(())
    }

    fn checkin(&self, _conn: Option<&mut C::Connection>, _record: &mut ConnectionRecord<C>) {
        self.hit();
    }

    fn reset(
        &self,
        _conn: &mut C::Connection,
        _record: Option<&mut ConnectionRecord<C>>,
        _state: ResetState,
    ) -> Result<(), ListenerError> {
        self.hit();
        Ok(())
    }

    fn invalidate(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
        _reason: Option<&(dyn StdError + 'static)>,
    ) {
        self.hit();
    }

    fn soft_invalidate(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
        _reason: Option<&(dyn StdError + 'static)>,
    ) {
        self.hit();
    }

    fn close(&self, _conn: &mut C::Connection, _record: &mut ConnectionRecord<C>) {
        self.hit();
    }

    fn close_detached(&self, _conn: &mut C::Connection) {
        self.hit();
    }

    fn detach(&self, _conn: &mut C::Connection, _record: &mut ConnectionRecord<C>) {
        self.hit();
    }
}

fn noop(c: &mut Criterion) {
    let mut group = c.benchmark_group(NOOP_GROUP);
    group.throughput(Throughput::Elements(1));
    let base = || {
        QueuePool::builder(Noop)
            .strategy(QueueConfig::default().pool_size(8))
            .reset_on_return(ResetOnReturn::Nothing)
    };
    let rows = [
        ("baseline (nothing on)", base().build()),
        ("reset on return (rollback)", base().reset_on_return(ResetOnReturn::Rollback).build()),
        ("pre_ping", base().pre_ping(true).build()),
        ("recycle (1 h)", base().recycle(Duration::from_secs(3600)).build()),
        ("one listener per event", base().listener(EveryEvent::default()).build()),
        ("max_lifetime (1 h)", base().max_lifetime(Duration::from_secs(3600)).build()),
        (
            "idle_timeout + keepalive (10 min)",
            base()
                .idle_timeout(Duration::from_secs(600))
                .keepalive(Duration::from_secs(600))
                .build(),
        ),
        ("min_idle (2)", base().min_idle(2).build()),
        ("measure_hold_time", base().measure_hold_time(true).build()),
        ("leak_threshold (1 h)", base().leak_threshold(Duration::from_secs(3600)).build()),
    ];
    for (name, pool) in rows {
        let pool = pool.expect("valid");
        drop(pool.get().expect("warm"));
        group.bench_function(name, |b| b.iter(|| black_box(pool.get().expect("idle"))));
    }
    group.finish();
}

/// A real transaction: `BEGIN` and a row inserted, left open.
fn transaction(conn: &Connection) {
    conn.execute_batch("BEGIN").expect("BEGIN");
    conn.prepare_cached("INSERT INTO t VALUES (1)")
        .and_then(|mut stmt| stmt.execute([]))
        .expect("INSERT");
}

fn sqlite(c: &mut Criterion) {
    let mut group = c.benchmark_group(SQLITE_GROUP);
    group.throughput(Throughput::Elements(1));
    let base = || {
        QueuePool::builder(
            SqliteConnector::memory()
                .with_init(|conn| conn.execute_batch("CREATE TABLE t (x INTEGER)")),
        )
        .strategy(QueueConfig::default().pool_size(1))
        .reset_on_return(ResetOnReturn::Nothing)
    };
    type Work = fn(&Connection);
    let rows: [(&str, _, Work); 5] = [
        ("SELECT 1, baseline (nothing on)", base().build(), |conn| {
            select1(conn);
        }),
        ("SELECT 1, pre_ping", base().pre_ping(true).build(), |conn| {
            select1(conn);
        }),
        (
            "SELECT 1, reset on return (no transaction open)",
            base().reset_on_return(ResetOnReturn::Rollback).build(),
            |conn| {
                select1(conn);
            },
        ),
        ("transaction, caller's ROLLBACK (reset off)", base().build(), |conn| {
            transaction(conn);
            conn.execute_batch("ROLLBACK").expect("ROLLBACK");
        }),
        (
            "transaction, reset on return rolls back",
            base().reset_on_return(ResetOnReturn::Rollback).build(),
            transaction,
        ),
    ];
    for (name, pool, work) in rows {
        let pool = pool.expect("valid");
        drop(pool.get().expect("warm"));
        group.bench_function(name, |b| {
            b.iter(|| {
                let conn = pool.get().expect("idle");
                work(&conn);
                conn
            })
        });
        // The reset row must leave nothing open: a pooled connection is in autocommit.
        assert!(pool.get().expect("idle").is_autocommit(), "{name}: transaction left open");
    }
    group.finish();
}

criterion_group!(benches, noop, sqlite);
criterion_main!(benches);
