//! The adapter's contract, over the fake manager in `fake/`: each `Connector` call maps to
//! the bb8 call the table in `Bb8Connector`'s docs names, in the blocking pools and in
//! the async one, and errors carry the manager's whole message.

mod fake;

use std::error::Error as _;

use pool_bb8::{Bb8Connector, Bb8Error};
use pool_core::{CheckoutError, Connector, PooledConnection, ResetOnReturn};
use pool_queue::{QueueConfig, QueuePool};

use crate::fake::{Cause, FakeError, FakeManager};

fn queue_pool(
    connector: Bb8Connector<FakeManager>,
    pre_ping: bool,
) -> QueuePool<Bb8Connector<FakeManager>> {
    QueuePool::builder(connector)
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .pre_ping(pre_ping)
        .build()
        .expect("valid settings")
}

#[test]
fn connect_ping_and_has_broken_are_the_managers() {
    let pool = queue_pool(Bb8Connector::new(FakeManager::default()), true);
    let conn = pool.get().unwrap();
    let first = conn.id;
    assert_eq!(pool.connector().manager().validations(), 0, "a new connection is not pinged");
    drop(conn);
    assert_eq!(pool.connector().manager().broken_checks(), 1, "has_broken at every return");

    let mut conn = pool.get().unwrap();
    assert_eq!(conn.id, first, "the idle connection is reused");
    assert_eq!(pool.connector().manager().validations(), 1, "a pooled connection is pinged");
    conn.broken = true;
    drop(conn);
    assert_eq!(pool.connector().manager().open(), 0, "a broken connection is closed");
    assert_eq!(pool.get().unwrap().id, first + 1);
    assert_eq!(pool.connector().manager().connects(), 2);
}

#[test]
fn reset_on_return_is_the_connections_reset() {
    for (mode, expected) in
        [(ResetOnReturn::Rollback, "rollback"), (ResetOnReturn::Commit, "commit")]
    {
        let pool = QueuePool::builder(Bb8Connector::new(FakeManager::default()))
            .reset_on_return(mode)
            .build()
            .unwrap();
        drop(pool.get().unwrap());
        assert_eq!(pool.get().unwrap().resets, [expected]);
    }
    let pool =
        QueuePool::builder(Bb8Connector::without_reset(FakeManager::default())).build().unwrap();
    drop(pool.get().unwrap());
    assert!(pool.get().unwrap().resets.is_empty(), "without_reset does nothing");
}

// A failed `is_valid` is a disconnect with no setting, as bb8 treats it: the checkout
// reconnects and the pool generation moves, so the other idle connection is replaced too.
#[test]
fn a_failed_is_valid_invalidates_the_pool_and_reconnects() {
    let pool = queue_pool(Bb8Connector::new(FakeManager::default()), true);
    let mut a = pool.get().unwrap();
    let b = pool.get().unwrap();
    a.invalid = true;
    drop((a, b));
    let generation = pool.generation();
    let first = pool.get().expect("pre-ping replaces the dead connection");
    let second = pool.get().expect("the older idle connection is replaced");
    assert!(first.id > 2 && second.id > 2, "new connections: {} {}", first.id, second.id);
    assert_eq!(pool.generation(), generation + 1);
}

#[test]
fn errors_show_the_managers_whole_message() {
    let connector = Bb8Connector::new(FakeManager::default());
    connector.manager().refuse_connects(true);
    let err = connector.connect().unwrap_err();
    assert_eq!(err.to_string(), "fake error: connection refused by the fake");
    let source = err.source().expect("the manager's error");
    assert_eq!(source.to_string(), "fake error");
    assert!(!connector.is_disconnect(&err), "an unknown error type is not a disconnect");

    let pool = queue_pool(connector, true);
    let err = pool.get().expect_err("the connect fails");
    assert_eq!(err.to_string(), "could not connect: fake error: connection refused by the fake");
    assert!(matches!(err, CheckoutError::Connect(e) if matches!(*e, Bb8Error::Connect(_))));
}

#[test]
fn with_disconnect_classifies_errors_of_use_through_handle_error() {
    let connector = Bb8Connector::new(FakeManager::default())
        .with_disconnect(|e: &FakeError| e.cause.0.contains("gone"));
    let pool = queue_pool(connector, false);
    let conn = pool.get().unwrap();
    let generation = pool.generation();
    let kept = Bb8Error::from(FakeError { cause: Cause("syntax error") });
    let conn = PooledConnection::handle_error(conn, &kept).expect("not a disconnect: kept");
    let gone = Bb8Error::from(FakeError { cause: Cause("the server is gone") });
    assert!(PooledConnection::handle_error(conn, &gone).is_none(), "a disconnect consumes it");
    assert_eq!(pool.generation(), generation + 1);
    assert_eq!(pool.connector().manager().open(), 0);
}

// The blocking calls on a current-thread runtime's thread would deadlock: refused.
#[test]
fn blocking_calls_on_a_current_thread_runtime_are_refused() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let connector = Bb8Connector::new(FakeManager::default());
    let err = runtime.block_on(async { connector.connect().unwrap_err() });
    assert!(matches!(err, Bb8Error::Blocking), "{err}");
    assert!(err.to_string().contains("get_async().await"), "{err}");
}

// The async pool awaits the manager: connect, is_valid and the reset.
#[tokio::test(flavor = "current_thread")]
async fn the_async_pool_awaits_the_manager() {
    let pool = QueuePool::builder(Bb8Connector::new(FakeManager::default()))
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .pre_ping(true)
        .build()
        .unwrap();
    let conn = pool.get_async().await.unwrap();
    let id = conn.id;
    drop(conn);
    let conn = pool.get_async().await.unwrap();
    assert_eq!(conn.id, id);
    assert_eq!(conn.resets, ["rollback"]);
    assert_eq!(pool.connector().manager().validations(), 1);
}
