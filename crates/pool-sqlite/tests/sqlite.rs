//! Tests of `SqliteConnector` through the `Connector` trait, against real SQLite databases.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pool_core::Connector;
use pool_sqlite::rusqlite::{self, Connection, ErrorCode, OpenFlags};
use pool_sqlite::SqliteConnector;
use tempfile::TempDir;

/// A fresh directory for one test, removed when dropped.
fn scratch(name: &str) -> TempDir {
    tempfile::Builder::new().prefix(name).tempdir().expect("a temporary directory")
}

fn count(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).unwrap()
}

/// A connector for `db.sqlite` in `dir`, with table `t` created.
fn file_connector(dir: &TempDir) -> SqliteConnector {
    let connector = SqliteConnector::new(dir.path().join("db.sqlite"));
    let conn = connector.connect().unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    connector.close(conn).unwrap();
    connector
}

#[test]
fn connects_to_memory() {
    let connector = SqliteConnector::memory();
    assert!(connector.is_memory());
    let conn = connector.connect().unwrap();
    let one: i64 = conn.query_row("SELECT 1", [], |row| row.get(0)).unwrap();
    assert_eq!(one, 1);
    assert!(conn.is_autocommit());
}

#[test]
fn rollback_discards_an_open_transaction() {
    let dir = scratch("rollback");
    let connector = file_connector(&dir);
    let mut writer = connector.connect().unwrap();
    let reader = connector.connect().unwrap();

    writer.execute_batch("BEGIN; INSERT INTO t VALUES (1);").unwrap();
    assert!(!writer.is_autocommit());
    assert_eq!(count(&writer), 1, "the writer sees its own insert");
    assert_eq!(count(&reader), 0, "uncommitted rows are invisible to others");

    connector.rollback(&mut writer).unwrap();
    assert!(writer.is_autocommit());
    assert_eq!(count(&writer), 0);
    assert_eq!(count(&reader), 0);

    // The database is not locked by a leftover transaction: the reader can write.
    reader.execute_batch("INSERT INTO t VALUES (2)").unwrap();
    assert_eq!(count(&writer), 1);
}

#[test]
fn commit_persists_an_open_transaction() {
    let dir = scratch("commit");
    let connector = file_connector(&dir);
    let mut writer = connector.connect().unwrap();
    let reader = connector.connect().unwrap();

    writer.execute_batch("BEGIN; INSERT INTO t VALUES (1);").unwrap();
    assert_eq!(count(&reader), 0);

    connector.commit(&mut writer).unwrap();
    assert!(writer.is_autocommit());
    assert_eq!(count(&reader), 1);

    // And it survives the connections.
    connector.close(writer).unwrap();
    connector.close(reader).unwrap();
    let fresh = connector.connect().unwrap();
    assert_eq!(count(&fresh), 1);
}

#[test]
fn rollback_and_commit_without_a_transaction_do_nothing() {
    let connector = SqliteConnector::memory();
    let mut conn = connector.connect().unwrap();
    conn.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);").unwrap();
    assert!(conn.is_autocommit());

    connector.rollback(&mut conn).unwrap();
    connector.commit(&mut conn).unwrap();
    connector.rollback(&mut conn).unwrap();

    assert!(conn.is_autocommit());
    assert_eq!(count(&conn), 1, "autocommitted rows are untouched");

    // A plain ROLLBACK here would have failed: that is what the check avoids.
    let err = conn.execute_batch("ROLLBACK").unwrap_err();
    assert!(!connector.is_disconnect(&err));
}

#[test]
fn ping_works_and_is_cached() {
    let connector = SqliteConnector::memory();
    let mut conn = connector.connect().unwrap();
    for _ in 0..3 {
        connector.ping(&mut conn).expect("SQLite can ping").unwrap();
    }
    // Ping works inside a transaction too, and leaves it open.
    conn.execute_batch("BEGIN").unwrap();
    connector.ping(&mut conn).unwrap().unwrap();
    assert!(!conn.is_autocommit());
}

#[test]
fn cannot_open_is_a_disconnect() {
    let dir = scratch("cantopen");
    let missing = dir.path().join("no-such-dir").join("db.sqlite");
    let connector = SqliteConnector::new(&missing).with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE);
    let err = connector.connect().unwrap_err();
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::CannotOpen), "{err:?}");
    assert!(connector.is_disconnect(&err));

    // Without SQLITE_OPEN_CREATE, a missing file in an existing directory is refused too.
    let connector = SqliteConnector::new(dir.path().join("missing.sqlite"))
        .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY);
    let err = connector.connect().unwrap_err();
    assert!(connector.is_disconnect(&err), "{err:?}");
}

#[test]
fn not_a_database_is_a_disconnect() {
    let dir = scratch("notadb");
    let path = dir.path().join("garbage.sqlite");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let connector = SqliteConnector::new(&path);
    // Opening is lazy; the first read finds the file is not a database.
    let err = match connector.connect() {
        Ok(conn) => conn.execute_batch("SELECT * FROM sqlite_master").unwrap_err(),
        Err(err) => err,
    };
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::NotADatabase), "{err:?}");
    assert!(connector.is_disconnect(&err));
}

#[cfg(unix)]
#[test]
fn deleted_database_file_is_a_disconnect() {
    let dir = scratch("dbmoved");
    let connector = file_connector(&dir);
    let conn = connector.connect().unwrap();
    std::fs::remove_file(dir.path().join("db.sqlite")).unwrap();
    let err = conn.execute_batch("INSERT INTO t VALUES (1)").unwrap_err();
    assert!(connector.is_disconnect(&err), "{err:?}");
}

#[test]
fn sql_errors_are_not_disconnects() {
    let connector = SqliteConnector::memory();
    let conn = connector.connect().unwrap();

    let err = conn.execute_batch("SELEC 1").unwrap_err();
    // With the bundled (modern) SQLite, a syntax error carries its position.
    assert!(
        matches!(err, rusqlite::Error::SqlInputError { .. } | rusqlite::Error::SqliteFailure(..)),
        "{err:?}"
    );
    assert!(!connector.is_disconnect(&err));

    let err = conn.execute_batch("SELECT * FROM no_such_table").unwrap_err();
    assert!(!connector.is_disconnect(&err));

    conn.execute_batch("CREATE TABLE u (x INTEGER UNIQUE); INSERT INTO u VALUES (1);").unwrap();
    let err = conn.execute_batch("INSERT INTO u VALUES (1)").unwrap_err();
    assert_eq!(err.sqlite_error_code(), Some(ErrorCode::ConstraintViolation));
    assert!(!connector.is_disconnect(&err));

    let err = conn.query_row("SELECT 1 WHERE 0", [], |row| row.get::<_, i64>(0)).unwrap_err();
    assert!(!connector.is_disconnect(&err));
}

#[test]
fn init_hook_runs_on_every_connect() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let connector = SqliteConnector::memory().with_init(move |conn| {
        seen.fetch_add(1, Ordering::SeqCst);
        conn.execute_batch("PRAGMA foreign_keys = ON")
    });

    let conns: Vec<Connection> = (0..3).map(|_| connector.connect().unwrap()).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    for conn in &conns {
        let fk: i64 = conn.query_row("PRAGMA foreign_keys", [], |row| row.get(0)).unwrap();
        assert_eq!(fk, 1);
    }

    // Clones share the hook.
    let _ = connector.clone().connect().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[test]
fn init_hook_error_fails_the_connect() {
    let connector =
        SqliteConnector::memory().with_init(|conn| conn.execute_batch("NOT SQL AT ALL"));
    let err = connector.connect().unwrap_err();
    assert!(!connector.is_disconnect(&err));
}

#[test]
fn busy_timeout_is_applied() {
    let connector = SqliteConnector::memory().with_busy_timeout(Duration::from_millis(1234));
    assert_eq!(connector.busy_timeout(), Some(Duration::from_millis(1234)));
    let conn = connector.connect().unwrap();
    let ms: i64 = conn.query_row("PRAGMA busy_timeout", [], |row| row.get(0)).unwrap();
    assert_eq!(ms, 1234);
}

#[test]
fn close_and_terminate_work() {
    let connector = SqliteConnector::memory();
    let mut conn = connector.connect().unwrap();
    // A cached statement does not prevent the close.
    connector.ping(&mut conn).unwrap().unwrap();
    connector.close(conn).unwrap();

    let conn = connector.connect().unwrap();
    conn.execute_batch("BEGIN; CREATE TABLE t (x INTEGER);").unwrap();
    connector.terminate(conn).unwrap();
}

#[test]
fn memory_detection() {
    assert!(SqliteConnector::memory().is_memory());
    assert!(SqliteConnector::default().is_memory());
    assert!(SqliteConnector::new("").is_memory());
    assert!(SqliteConnector::new("file::memory:").is_memory());
    assert!(SqliteConnector::new("file:x?mode=memory").is_memory());
    assert!(!SqliteConnector::new("file::memory:?cache=shared").is_memory());
    assert!(!SqliteConnector::new("file:x?mode=memory&cache=shared").is_memory());
    assert!(!SqliteConnector::new("app.db").is_memory());
    assert!(!SqliteConnector::new("file:x?mode=memory")
        .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE)
        .is_memory());
}

#[test]
fn memory_connections_are_separate_databases() {
    let connector = SqliteConnector::memory();
    let a = connector.connect().unwrap();
    let b = connector.connect().unwrap();
    a.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    assert!(b.execute_batch("SELECT * FROM t").is_err());
}

#[test]
fn debug_output_names_the_settings() {
    let connector = SqliteConnector::new("app.db").with_init(|_| Ok(()));
    let debug = format!("{connector:?}");
    assert!(debug.contains("SqliteConnector"), "{debug}");
    assert!(debug.contains("app.db"), "{debug}");
    assert!(debug.contains("Fn(&Connection)"), "{debug}");
    assert_eq!(connector.path(), Path::new("app.db"));
    assert_eq!(connector.flags(), OpenFlags::default());
    assert_eq!(connector.busy_timeout(), None);
}
