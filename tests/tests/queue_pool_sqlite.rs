//! QueuePool against real SQLite files: the behaviours the scripted connector can only
//! imitate, shown on a real database.

use pool_core::{PooledConnection, ResetOnReturn};
use pool_queue::{QueueConfig, QueuePool};
use pool_sqlite::rusqlite::Connection;
use pool_sqlite::SqliteConnector;

/// A fresh directory for one test's database files, removed at the end.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(test: &str) -> Scratch {
        Scratch(tempfile::Builder::new().prefix(test).tempdir().expect("a temporary directory"))
    }

    /// A pool over `db.sqlite` in this directory, with table `t` created.
    fn pool(&self, reset: ResetOnReturn) -> QueuePool<SqliteConnector> {
        let pool = QueuePool::builder(SqliteConnector::new(self.0.path().join("db.sqlite")))
            .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
            .reset_on_return(reset)
            .pre_ping(true)
            .build()
            .expect("valid");
        pool.get()
            .expect("connect")
            .execute_batch("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            .expect("create");
        pool
    }
}

fn rows(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).expect("count")
}

#[test]
fn an_open_transaction_is_rolled_back_on_return() {
    let dir = Scratch::new("rollback");
    let pool = dir.pool(ResetOnReturn::Rollback);
    let writer = pool.get().expect("checkout");
    writer.execute_batch("BEGIN; INSERT INTO t VALUES (1);").expect("insert");
    assert!(!writer.is_autocommit(), "the transaction is open");
    drop(writer); // returned without a commit

    let reader = pool.get().expect("checkout");
    assert!(reader.is_autocommit(), "the returned connection has no open transaction");
    assert_eq!(rows(&reader), 0, "the next holder must not see the uncommitted row");
}

#[test]
fn an_open_transaction_is_committed_on_return_in_commit_mode() {
    let dir = Scratch::new("commit");
    let pool = dir.pool(ResetOnReturn::Commit);
    let writer = pool.get().expect("checkout");
    writer.execute_batch("BEGIN; INSERT INTO t VALUES (1);").expect("insert");
    drop(writer);

    let other = Connection::open(dir.0.path().join("db.sqlite")).expect("open");
    assert_eq!(rows(&other), 1, "commit mode keeps the row");
}

#[test]
fn a_deleted_database_is_a_disconnect_that_invalidates_the_pool() {
    let dir = Scratch::new("deleted");
    let pool = dir.pool(ResetOnReturn::Rollback);
    let (a, b) = (pool.get().expect("first"), pool.get().expect("second"));
    drop(b); // idle, opened before the disconnect
    let generation = pool.generation();

    std::fs::remove_file(dir.0.path().join("db.sqlite")).expect("delete the database");
    let err = a.execute("INSERT INTO t VALUES (1)", []).expect_err("the file is gone");
    assert!(PooledConnection::handle_error(a, &err).is_none(), "{err} is a disconnect");
    assert_eq!(pool.generation(), generation + 1, "the pool generation moved on");
    assert_eq!(pool.status().checked_out, 0, "the invalidated connection's slot came back");

    // Both connections of the old generation are replaced; the new ones see a new file.
    let c = pool.get().expect("reconnect");
    c.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);")
        .expect("a fresh database");
    assert_eq!(rows(&c), 1);
    let d = pool.get().expect("reconnect the idle one too");
    assert_eq!(rows(&d), 1, "the idle connection of the old generation was replaced");
}

#[test]
fn a_sql_error_is_not_a_disconnect() {
    let dir = Scratch::new("sqlerror");
    let pool = dir.pool(ResetOnReturn::Rollback);
    let conn = pool.get().expect("checkout");
    let err = conn.execute("INSERT INTO missing VALUES (1)", []).expect_err("no such table");
    let conn = PooledConnection::handle_error(conn, &err).expect("still usable");
    assert_eq!(rows(&conn), 0);
    assert_eq!(pool.generation(), 0);
}
