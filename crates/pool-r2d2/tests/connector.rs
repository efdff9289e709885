//! `R2d2Connector` through the `Connector` trait: each method maps to the manager's (or
//! the connection's `Reset`), on the fake manager in `fake/` and on `r2d2_sqlite`'s.

mod fake;

use pool_core::Connector;
use pool_r2d2::R2d2Connector;
use r2d2_sqlite::SqliteConnectionManager;

use crate::fake::FakeManager;

#[test]
fn connect_ping_and_broken_are_the_managers() {
    let connector = R2d2Connector::new(FakeManager::default());
    let manager = connector.manager();

    let mut conn = connector.connect().unwrap();
    assert_eq!((conn.id, manager.connects(), manager.open()), (1, 1, 1));

    manager.refuse_connects(true);
    assert!(connector.connect().is_err());
    assert_eq!(manager.open(), 1);
    manager.refuse_connects(false);

    connector.ping(&mut conn).expect("r2d2 managers can ping").unwrap();
    conn.invalid = Some(false);
    assert!(connector.ping(&mut conn).unwrap().is_err());
    assert_eq!(manager.validations(), 2);

    assert!(!connector.is_broken(&mut conn));
    conn.broken = true;
    assert!(connector.is_broken(&mut conn));
    assert_eq!(manager.broken_checks(), 2);
}

#[test]
fn close_and_terminate_drop_the_connection() {
    let connector = R2d2Connector::new(FakeManager::default());
    let a = connector.connect().unwrap();
    let b = connector.connect().unwrap();
    assert_eq!(connector.manager().open(), 2);
    connector.close(a).unwrap();
    connector.terminate(b).unwrap();
    assert_eq!(connector.manager().open(), 0);
}

#[test]
fn new_resets_through_the_connections_reset() {
    let connector = R2d2Connector::new(FakeManager::default());
    let mut conn = connector.connect().unwrap();
    connector.rollback(&mut conn).unwrap();
    connector.commit(&mut conn).unwrap();
    assert_eq!(conn.resets, ["rollback", "commit"]);
}

#[test]
fn without_reset_does_nothing_on_reset() {
    let connector = R2d2Connector::without_reset(FakeManager::default());
    let mut conn = connector.connect().unwrap();
    connector.rollback(&mut conn).unwrap();
    connector.commit(&mut conn).unwrap();
    assert!(conn.resets.is_empty());
}

#[test]
fn sqlite_reset_ends_only_an_open_transaction() {
    let connector = R2d2Connector::new(SqliteConnectionManager::memory());
    let mut conn = connector.connect().unwrap();
    // Nothing open: no statement runs, so no "no transaction is active" error.
    connector.rollback(&mut conn).unwrap();
    connector.commit(&mut conn).unwrap();

    conn.execute_batch("CREATE TABLE t (x INTEGER); BEGIN; INSERT INTO t VALUES (1);").unwrap();
    connector.commit(&mut conn).unwrap();
    conn.execute_batch("BEGIN; INSERT INTO t VALUES (2);").unwrap();
    connector.rollback(&mut conn).unwrap();
    assert!(conn.is_autocommit());
    let rows: i64 = conn.query_row("SELECT count(*) FROM t", [], |row| row.get(0)).unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn no_error_is_a_disconnect_without_a_classifier() {
    let connector = R2d2Connector::new(FakeManager::default());
    connector.manager().refuse_connects(true);
    let err = connector.connect().unwrap_err();
    assert!(err.gone);
    assert!(!connector.is_disconnect(&err));

    let connector = connector.with_disconnect(|e| e.gone);
    let err = connector.connect().unwrap_err();
    assert!(connector.is_disconnect(&err));
}

// Issue 10: r2d2_sqlite's connections classify disconnects with no setting.
#[test]
fn sqlite_disconnects_are_classified_with_no_setting() {
    let connector = R2d2Connector::new(SqliteConnectionManager::memory());
    let conn = connector.connect().unwrap();
    let err = conn.execute_batch("SELEC 1").unwrap_err();
    assert!(!connector.is_disconnect(&err), "a SQL error is not a disconnect");

    let connector = R2d2Connector::new(SqliteConnectionManager::file("/no/such/dir/db.sqlite"));
    let err = connector.connect().unwrap_err();
    assert!(connector.is_disconnect(&err), "{err:?}");

    // `with_disconnect` overrides it; `without_reset` has no classification of its own.
    let connector = connector.with_disconnect(|_| false);
    assert!(!connector.is_disconnect(&err), "the classifier given wins");
    let connector =
        R2d2Connector::without_reset(SqliteConnectionManager::file("/no/such/dir/db.sqlite"));
    assert!(!connector.is_disconnect(&err));
}

#[test]
fn debug_names_the_manager_and_the_settings() {
    let debug = format!("{:?}", R2d2Connector::new(FakeManager::default()));
    assert!(debug.starts_with("R2d2Connector"), "{debug}");
    assert!(debug.contains("FakeManager"), "{debug}");
    assert!(debug.contains("reset: true"), "{debug}");
    assert!(debug.contains("disconnect: None"), "{debug}");

    let debug = format!(
        "{:?}",
        R2d2Connector::without_reset(FakeManager::default()).with_disconnect(|_| true)
    );
    assert!(debug.contains("reset: false"), "{debug}");
    assert!(debug.contains("Fn(&Error) -> bool"), "{debug}");
}

#[test]
fn clones_share_the_classifier() {
    #[derive(Debug, Clone)]
    struct Memory;

    impl pool_r2d2::r2d2::ManageConnection for Memory {
        type Connection = r2d2_sqlite::rusqlite::Connection;
        type Error = r2d2_sqlite::rusqlite::Error;

        fn connect(&self) -> Result<Self::Connection, Self::Error> {
            r2d2_sqlite::rusqlite::Connection::open_in_memory()
        }
        fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), Self::Error> {
            conn.execute_batch("")
        }
        fn has_broken(&self, _conn: &mut Self::Connection) -> bool {
            false
        }
    }

    let connector = R2d2Connector::new(Memory).with_disconnect(|_| true);
    let clone = connector.clone();
    let mut conn = clone.connect().unwrap();
    conn.execute_batch("BEGIN").unwrap();
    clone.rollback(&mut conn).unwrap();
    assert!(conn.is_autocommit(), "the clone resets too");
    let err = conn.execute_batch("SELEC 1").unwrap_err();
    assert!(clone.is_disconnect(&err));
}
