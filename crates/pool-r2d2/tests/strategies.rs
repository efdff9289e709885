//! Every strategy accepts the adapter: `R2d2Connector` over `r2d2_sqlite`'s manager (and
//! over the fake managers in `fake/`) in QueuePool, NullPool, SingletonThreadPool,
//! StaticPool and AssertionPool, each check stamped once per strategy at the bottom.

mod fake;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use pool_conformance::{EventLog, Harness, Spec};
use pool_core::{Builder, CheckoutError, Connector, Pool, ResetOnReturn};
use pool_r2d2::r2d2::ManageConnection;
use pool_r2d2::R2d2Connector;
use r2d2_sqlite::rusqlite::Connection;
use r2d2_sqlite::SqliteConnectionManager;
use tempfile::TempDir;

use crate::fake::FakeManager;

/// The pool of harness `H` over the adapter for manager `M`.
type PoolOver<H, M> = Pool<R2d2Connector<M>, <H as Harness>::Strategy<R2d2Connector<M>>>;

/// Its builder.
type BuilderOver<H, M> = Builder<R2d2Connector<M>, <H as Harness>::Strategy<R2d2Connector<M>>>;

/// Builds the pool of harness `H` (default sizes) over `connector`, after `configure`.
fn build<H: Harness, M>(
    connector: R2d2Connector<M>,
    configure: impl FnOnce(BuilderOver<H, M>) -> BuilderOver<H, M>,
) -> PoolOver<H, M>
where
    M: ManageConnection,
    M::Error: Send + Sync,
{
    let config = H::config::<R2d2Connector<M>>(&Spec::default());
    configure(Pool::builder(connector).strategy(config)).build().expect("valid settings")
}

/// A real manager whose calls are counted.
#[derive(Debug, Default)]
pub(crate) struct Counting<M> {
    inner: M,
    connects: AtomicUsize,
    validations: AtomicUsize,
    broken_checks: AtomicUsize,
}

impl<M> Counting<M> {
    pub(crate) fn new(inner: M) -> Self {
        Counting {
            inner,
            connects: AtomicUsize::new(0),
            validations: AtomicUsize::new(0),
            broken_checks: AtomicUsize::new(0),
        }
    }

    /// Calls of `connect` so far (failed ones too).
    pub(crate) fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }

    /// Calls of `is_valid` so far.
    pub(crate) fn validations(&self) -> usize {
        self.validations.load(Ordering::SeqCst)
    }

    /// Calls of `has_broken` so far.
    pub(crate) fn broken_checks(&self) -> usize {
        self.broken_checks.load(Ordering::SeqCst)
    }
}

impl<M: ManageConnection> ManageConnection for Counting<M> {
    type Connection = M::Connection;
    type Error = M::Error;

    fn connect(&self) -> Result<M::Connection, M::Error> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        self.inner.connect()
    }

    fn is_valid(&self, conn: &mut M::Connection) -> Result<(), M::Error> {
        self.validations.fetch_add(1, Ordering::SeqCst);
        self.inner.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut M::Connection) -> bool {
        self.broken_checks.fetch_add(1, Ordering::SeqCst);
        self.inner.has_broken(conn)
    }
}

/// A fresh directory for one test, removed when dropped.
fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new().prefix(name).tempdir().expect("a temporary directory")
}

/// A file database in `dir` with an empty table `t`, and a plain connection to watch it.
fn file_database(dir: &TempDir) -> (PathBuf, Connection) {
    let path = dir.path().join("db.sqlite");
    let watcher = Connection::open(&path).unwrap();
    watcher.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    (path, watcher)
}

fn count(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).unwrap()
}

fn checkout_and_select_one<H: Harness>() {
    let pool = build::<H, _>(R2d2Connector::new(SqliteConnectionManager::memory()), |b| b);
    let conn = pool.get().unwrap();
    let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0)).unwrap();
    assert_eq!(one, 1);
    assert_eq!(pool.status().checked_out, 1);
    drop(conn);
    assert_eq!(pool.status().checked_out, 0);

    // And again, whether the connection was kept or not.
    let conn = pool.get().unwrap();
    let two: i64 = conn.query_row("SELECT 2", [], |row| row.get(0)).unwrap();
    assert_eq!(two, 2);
}

fn return_rolls_back_an_open_transaction<H: Harness>() {
    let dir = scratch("rollback");
    let (path, watcher) = file_database(&dir);
    let pool = build::<H, _>(R2d2Connector::new(SqliteConnectionManager::file(&path)), |b| b);

    let conn = pool.get().unwrap();
    conn.execute_batch("BEGIN; INSERT INTO t VALUES (1);").unwrap();
    assert!(!conn.is_autocommit());
    assert_eq!(count(&conn), 1, "the holder sees its own insert");
    drop(conn);

    assert_eq!(count(&watcher), 0, "the row is gone");
    // No transaction is left holding the write lock: another connection can write.
    watcher.execute_batch("INSERT INTO t VALUES (2)").unwrap();

    let conn = pool.get().unwrap();
    assert!(conn.is_autocommit());
    assert_eq!(count(&conn), 1);
}

fn return_commits_in_commit_mode<H: Harness>() {
    let dir = scratch("commit");
    let (path, watcher) = file_database(&dir);
    let pool = build::<H, _>(R2d2Connector::new(SqliteConnectionManager::file(&path)), |b| {
        b.reset_on_return(ResetOnReturn::Commit)
    });

    let conn = pool.get().unwrap();
    conn.execute_batch("BEGIN; INSERT INTO t VALUES (1);").unwrap();
    assert_eq!(count(&watcher), 0);
    drop(conn);
    assert_eq!(count(&watcher), 1, "committed on return");
}

fn without_reset_leaves_the_transaction_open<H: Harness>() {
    let dir = scratch("noreset");
    let (path, watcher) = file_database(&dir);
    let pool =
        build::<H, _>(R2d2Connector::without_reset(SqliteConnectionManager::file(&path)), |b| b);

    let conn = pool.get().unwrap();
    conn.execute_batch("BEGIN; INSERT INTO t VALUES (1);").unwrap();
    if H::caps().reuses_connections {
        drop(conn);
        let conn = pool.get().unwrap();
        assert!(!conn.is_autocommit(), "pooled as it was, as r2d2 pools it");
        assert_eq!(count(&conn), 1);
        conn.execute_batch("ROLLBACK").unwrap();
    } else {
        // NullPool closes it on return; closing a SQLite connection rolls back.
        drop(conn);
    }
    assert_eq!(count(&watcher), 0);
}

fn pre_ping_calls_is_valid<H: Harness>() {
    let manager = Counting::new(SqliteConnectionManager::memory());
    let pool = build::<H, _>(R2d2Connector::new(manager), |b| b.pre_ping(true));
    for _ in 0..3 {
        let conn = pool.get().unwrap();
        conn.execute_batch("SELECT 1").unwrap();
    }
    let manager = pool.connector().manager();
    if H::caps().reuses_connections {
        assert_eq!(manager.connects(), 1);
        assert_eq!(manager.validations(), 2, "every checkout of the pooled connection");
    } else {
        assert_eq!(manager.connects(), 3);
        assert_eq!(manager.validations(), 0, "a connection opened by the checkout is not pinged");
    }
    assert_eq!(manager.broken_checks(), 3, "has_broken runs at every return");

    // Without pre-ping, is_valid is never called.
    let manager = Counting::new(SqliteConnectionManager::memory());
    let pool = build::<H, _>(R2d2Connector::new(manager), |b| b);
    for _ in 0..3 {
        drop(pool.get().unwrap());
    }
    assert_eq!(pool.connector().manager().validations(), 0);
}

fn failing_pre_ping_replaces_the_connection<H: Harness>() {
    // Not a disconnect (no classifier): that connection is invalidated, the checkout fails.
    let pool = build::<H, _>(R2d2Connector::new(FakeManager::default()), |b| b.pre_ping(true));
    let manager = || pool.connector().manager();
    let mut conn = pool.get().unwrap();
    let first = conn.id;
    conn.invalid = Some(false);
    drop(conn);
    if !H::caps().reuses_connections {
        assert_eq!(manager().open(), 0);
        drop(pool.get().unwrap());
        assert_eq!(manager().validations(), 0, "a fresh connection is never pinged");
        return;
    }
    let before = pool.status();
    let err = pool.get().unwrap_err();
    assert!(matches!(err, CheckoutError::Ping(_)), "{err:?}");
    assert_eq!(manager().validations(), 1);
    assert_eq!(manager().open(), 0, "the invalid connection was dropped");
    assert_eq!(pool.status(), before, "the slot came back");
    let conn = pool.get().unwrap();
    assert_ne!(conn.id, first);
    drop(conn);

    // A disconnect (the classifier says so): the pool is invalidated and reconnects.
    let connector = R2d2Connector::new(FakeManager::default()).with_disconnect(|e| e.gone);
    let pool = build::<H, _>(connector, |b| b.pre_ping(true));
    let mut conn = pool.get().unwrap();
    let first = conn.id;
    conn.invalid = Some(true);
    drop(conn);
    let generation = pool.generation();
    let conn = pool.get().unwrap();
    assert_ne!(conn.id, first, "a new connection");
    assert_eq!(pool.generation(), generation + 1, "every older connection is invalidated");
    assert_eq!(pool.connector().manager().open(), 1);
}

fn broken_on_return_is_not_pooled<H: Harness>() {
    let events = EventLog::new();
    let pool =
        build::<H, _>(R2d2Connector::new(FakeManager::default()), |b| b.listener(events.clone()));
    let manager = || pool.connector().manager();

    // A healthy connection is reset and, where the strategy keeps connections, reused.
    let conn = pool.get().unwrap();
    let first = conn.id;
    drop(conn);
    let mut conn = pool.get().unwrap();
    if H::caps().reuses_connections {
        assert_eq!(conn.id, first);
        assert_eq!(conn.resets, ["rollback"], "reset on return, through `Reset`");
    } else {
        assert_ne!(conn.id, first);
        assert!(conn.resets.is_empty());
    }

    // A broken one is invalidated on return: not reset, not pooled, dropped.
    let broken = conn.id;
    conn.broken = true;
    events.clear();
    let checks = manager().broken_checks();
    drop(conn);
    assert_eq!(manager().broken_checks(), checks + 1);
    assert_eq!(manager().open(), 0, "the broken connection is not kept");
    assert!(!events.names().contains(&"reset"), "{:?}", events.names());
    let invalidated =
        events.events().into_iter().find(|e| e.name == "invalidate").expect("an invalidate event");
    assert_eq!(invalidated.conn, Some(broken));
    assert!(invalidated.reason.unwrap().contains("broken"));
    assert_eq!(pool.status().checked_out, 0);

    // The next checkout connects a new one.
    let connects = manager().connects();
    let conn = pool.get().unwrap();
    assert_ne!(conn.id, broken);
    assert_eq!(conn.id, connects + 1);
    assert_eq!(manager().connects(), connects + 1);
}

fn failing_connect_leaves_counts_unchanged<H: Harness>() {
    let dir = scratch("connect");
    let later = dir.path().join("later");
    let manager = Counting::new(SqliteConnectionManager::file(later.join("db.sqlite")));
    let connector = R2d2Connector::new(manager); // classifies SQLite's errors by itself
    let pool = build::<H, _>(connector, |b| b);

    let before = pool.status();
    for attempt in 1..=2 {
        let err = pool.get().unwrap_err();
        match &err {
            CheckoutError::Connect(e) => assert!(pool.connector().is_disconnect(e), "{e:?}"),
            other => panic!("expected a connect error, got {other:?}"),
        }
        assert_eq!(pool.status(), before, "attempt {attempt}");
        assert_eq!(pool.connector().manager().connects(), attempt);
    }

    // Once the directory exists, the same pool connects.
    std::fs::create_dir(&later).unwrap();
    let conn = pool.get().unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    assert_eq!(pool.status().checked_out, 1);

    // On the fake manager, after a connection was returned: no connection is left open.
    let pool = build::<H, _>(R2d2Connector::new(FakeManager::default()), |b| b);
    drop(pool.get().unwrap());
    let manager = pool.connector().manager();
    let held = if H::caps().concurrent_checkouts {
        // Hold one so that the next checkout has to connect (NullPool always does).
        Some(pool.get().unwrap())
    } else {
        // One connection at most: make it stale so that the next checkout reconnects.
        pool.invalidate_all();
        None
    };
    let before = pool.status();
    manager.refuse_connects(true);
    let err = pool.get().unwrap_err();
    assert!(matches!(err, CheckoutError::Connect(_)), "{err:?}");
    assert_eq!(pool.status(), before);
    assert_eq!(manager.open(), usize::from(held.is_some()), "nothing half-open is left");
    manager.refuse_connects(false);
    drop(held);
    drop(pool.get().unwrap());
}

/// Stamps one `#[test]` per check for one strategy.
macro_rules! checks_for {
    ($harness:ty: $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                super::$check::<$harness>();
            }
        )*
    };
}

/// Stamps every check for every strategy, one module per strategy.
macro_rules! every_strategy {
    ($($module:ident => $harness:ty),* $(,)?) => {
        $(
            mod $module {
                checks_for!($harness:
                    checkout_and_select_one,
                    return_rolls_back_an_open_transaction,
                    return_commits_in_commit_mode,
                    without_reset_leaves_the_transaction_open,
                    pre_ping_calls_is_valid,
                    failing_pre_ping_replaces_the_connection,
                    broken_on_return_is_not_pooled,
                    failing_connect_leaves_counts_unchanged,
                );
            }
        )*
    };
}

every_strategy! {
    queue_pool => pool_conformance::harnesses::QueueHarness,
    null_pool => pool_conformance::harnesses::NullHarness,
    singleton_thread_pool => pool_conformance::harnesses::SingletonThreadHarness,
    static_pool => pool_conformance::harnesses::StaticHarness,
    assertion_pool => pool_conformance::harnesses::AssertionHarness,
}
