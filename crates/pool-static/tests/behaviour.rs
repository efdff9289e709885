//! The documented behaviour of both strategies on one thread: refusals and their
//! messages, dispose while checked out, failed first connects, panics, recreate.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pool_conformance::{Call, Script, ScriptedConnector};
use pool_core::{CheckoutError, ConnectionRecord, PoolListener, PooledConnection};
use pool_static::{AssertionConfig, AssertionPool, StaticConfig, StaticPool};

/// A `close` listener that panics once when armed.
#[derive(Debug, Clone, Default)]
struct PanicOnClose(Arc<AtomicBool>);

impl PoolListener<ScriptedConnector> for PanicOnClose {
    fn close(
        &self,
        _conn: &mut pool_conformance::ScriptedConnection,
        _record: &mut ConnectionRecord<ScriptedConnector>,
    ) {
        if self.0.swap(false, Ordering::SeqCst) {
            panic!("close listener panics");
        }
    }
}

fn static_pool(script: &Script) -> StaticPool<ScriptedConnector> {
    StaticPool::builder(script.connector())
        .strategy(StaticConfig::default().timeout(Duration::from_secs(5)))
        .build()
        .expect("pool")
}

#[test]
fn static_second_checkout_on_the_holding_thread_is_refused() {
    let script = Script::new();
    let pool = static_pool(&script);
    let c = pool.get().expect("checkout");
    let err = pool.get().map(drop).expect_err("refused");
    let CheckoutError::Unavailable(message) = &err else { panic!("{err:?}") };
    assert_eq!(
        message,
        "the StaticPool connection is already checked out by this thread; \
         return it (drop the PooledConnection) before checking it out again"
    );
    drop(c);
    drop(pool.get().expect("once returned, the thread checks it out again"));
    assert_eq!(script.log().connects(), 1);
}

#[test]
fn static_dispose_idle_closes_and_forgets_the_record() {
    let script = Script::new();
    let pool = static_pool(&script);
    pool.dispose(); // nothing made yet: nothing to do
    assert_eq!(script.log().calls(), vec![]);
    let c = pool.get().expect("checkout");
    let (a, rec) = (c.id(), PooledConnection::record(&c).expect("record").id());
    drop(c);
    pool.dispose();
    assert_eq!(
        script.log().calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Close(a)]
    );
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (0, 0));
    let c = pool.get().expect("checkout after dispose");
    assert_ne!(c.id(), a);
    assert_ne!(PooledConnection::record(&c).expect("record").id(), rec, "a new record");
}

#[test]
fn static_dispose_while_checked_out_closes_on_return() {
    let script = Script::new();
    let pool = static_pool(&script);
    let mut c = pool.get().expect("checkout");
    let a = c.id();
    pool.dispose();
    assert_eq!(pool.status().checked_out, 1, "still out: it is not taken from its holder");
    c.execute().expect("the holder keeps a working connection");
    drop(c);
    assert_eq!(
        script.log().calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Close(a)]
    );
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (0, 0));
    let c = pool.get().expect("a new connection after the disposed one came back");
    assert_ne!(c.id(), a);
    drop(c);
    // The mark is spent: the next return keeps the connection.
    let b = pool.get().expect("checkout").id();
    assert_eq!(
        script.log().calls_for(b),
        vec![Call::Connect(b), Call::Rollback(b), Call::Rollback(b)]
    );
}

#[test]
fn static_failed_first_connect_leaves_the_pool_as_it_was() {
    let script = Script::new();
    let pool = static_pool(&script);
    let before = pool.status();
    script.fail_connects(1);
    assert!(matches!(pool.get(), Err(CheckoutError::Connect(_))));
    assert_eq!(pool.status(), before);
    script.panic_connects(1);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| pool.get().map(drop)));
    assert!(caught.is_err(), "the connector panicked");
    assert_eq!(pool.status(), before, "a panicking connect frees the pool too");
    let c = pool.get().expect("the next checkout connects");
    assert_eq!(script.log().connects(), 1);
    drop(c);
}

#[test]
fn static_invalidated_connection_is_replaced_on_the_same_record() {
    let script = Script::new();
    let pool = static_pool(&script);
    let c = pool.get().expect("checkout");
    let (a, rec) = (c.id(), PooledConnection::record(&c).expect("record").id());
    PooledConnection::invalidate(c, None);
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (1, 0), "the empty record is back");
    let c = pool.get().expect("checkout");
    assert_ne!(c.id(), a);
    assert_eq!(PooledConnection::record(&c).expect("record").id(), rec);
    drop(c);
    // Soft invalidation: the old connection is closed (not dropped) by the replacement,
    // again on the same record.
    let mut c = pool.get().expect("checkout");
    let b = c.id();
    PooledConnection::soft_invalidate(&mut c, None);
    drop(c);
    let c = pool.get().expect("checkout");
    assert_ne!(c.id(), b);
    assert_eq!(PooledConnection::record(&c).expect("record").id(), rec);
    assert_eq!(
        script.log().calls_for(b),
        vec![Call::Connect(b), Call::Rollback(b), Call::Rollback(b), Call::Terminate(b)],
        "reset at its two returns, then closed by its replacement"
    );
}

#[test]
fn static_panicking_close_listener_on_dispose_frees_the_pool() {
    let script = Script::new();
    let trip = PanicOnClose::default();
    let pool = StaticPool::builder(script.connector())
        .strategy(StaticConfig::default().timeout(Duration::from_secs(5)))
        .listener(trip.clone())
        .build()
        .expect("pool");
    drop(pool.get().expect("checkout"));
    trip.0.store(true, Ordering::SeqCst);
    assert!(panic::catch_unwind(AssertUnwindSafe(|| pool.dispose())).is_err());
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (0, 0));
    drop(pool.get().expect("the pool is not left closing"));

    // The same when the connection is closed on its return.
    let c = pool.get().expect("checkout");
    pool.dispose();
    trip.0.store(true, Ordering::SeqCst);
    assert!(panic::catch_unwind(AssertUnwindSafe(|| drop(c))).is_err());
    assert_eq!(pool.status().checked_out, 0);
    drop(pool.get().expect("the pool is not left closing"));
}

#[test]
fn static_zero_timeout_fails_at_once_from_another_thread() {
    let script = Script::new();
    let pool = StaticPool::builder(script.connector())
        .strategy(StaticConfig::default().timeout(Duration::ZERO))
        .build()
        .expect("pool");
    let _held = pool.get().expect("checkout");
    let other = pool.clone();
    let err = std::thread::spawn(move || other.get().map(drop)).join().expect("join");
    let Err(CheckoutError::Timeout(t)) = err else { panic!("{err:?}") };
    assert!(t.to_string().contains("timeout 0.00"), "{t}");
    assert_eq!(pool.strategy().timeout(), Some(Duration::ZERO));
}

#[test]
fn assertion_message_without_backtrace() {
    let script = Script::new();
    let pool = AssertionPool::builder(script.connector())
        .strategy(AssertionConfig::default().store_traceback(false))
        .build()
        .expect("pool");
    let _c = pool.get().expect("checkout");
    let err = pool.get().map(drop).expect_err("refused");
    assert!(matches!(err, CheckoutError::Unavailable(_)));
    assert_eq!(err.to_string(), "connection is already checked out");
}

// The backtrace is the core's record of the checkout, the one `leak_threshold` keeps:
// with that setting on, the message shows it even without `store_traceback`.
#[test]
fn assertion_message_shares_the_leak_record() {
    let script = Script::new();
    let pool = AssertionPool::builder(script.connector())
        .strategy(AssertionConfig::default().store_traceback(false))
        .leak_threshold(Duration::from_secs(60))
        .build()
        .expect("pool");
    let c = pool.get().expect("checkout");
    let message = pool.get().map(drop).expect_err("refused").to_string();
    assert!(message.starts_with("connection is already checked out at:\n"), "{message}");
    assert!(message.contains("assertion_message_shares_the_leak_record"), "{message}");
    drop(c);
    let again = pool.get().expect("returned, so free again");
    drop(again);
}

#[test]
fn assertion_message_with_backtrace() {
    let script = Script::new();
    let pool = AssertionPool::new(script.connector()).expect("pool");
    let _c = pool.get().expect("checkout");
    let message = pool.get().map(drop).expect_err("refused").to_string();
    let trace = message
        .strip_prefix("connection is already checked out at:\n")
        .unwrap_or_else(|| panic!("{message}"));
    assert!(trace.contains("assertion_message_with_backtrace"), "the first checkout: {trace}");
}

#[test]
fn assertion_recreate_keeps_store_traceback() {
    let script = Script::new();
    let pool = AssertionPool::builder(script.connector())
        .strategy(AssertionConfig::default().store_traceback(false))
        .build()
        .expect("pool");
    let again = pool.recreate();
    assert!(!again.strategy().store_traceback());
    let _c = again.get().expect("checkout");
    assert_eq!(
        again.get().map(drop).expect_err("refused").to_string(),
        "connection is already checked out"
    );
}

#[test]
fn assertion_dispose_while_checked_out() {
    let script = Script::new();
    let pool = AssertionPool::new(script.connector()).expect("pool");
    let mut old = pool.get().expect("checkout");
    let (a, rec) = (old.id(), PooledConnection::record(&old).expect("record").id());
    pool.dispose();
    assert_eq!(pool.status().checked_out, 0, "dispose forgets the checkout, as SQLAlchemy's");
    assert_eq!(script.log().calls_for(a), vec![Call::Connect(a)], "not closed under its holder");

    // A checkout now succeeds, on a new record, while the old holder still has its own.
    let new = pool.get().expect("checkout after dispose");
    let b = new.id();
    assert_ne!(a, b);
    assert_ne!(PooledConnection::record(&new).expect("record").id(), rec);
    assert_eq!(pool.status().checked_out, 1);
    old.execute().expect("the old holder's connection still works");

    // The late return is reset and closed; it changes no count and does not end the new
    // checkout.
    drop(old);
    assert_eq!(
        script.log().calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Close(a)]
    );
    assert_eq!(pool.status().checked_out, 1);
    assert!(pool.get().is_err(), "the new checkout still holds the pool");
    drop(new);
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (1, 0));
    assert_eq!(pool.get().expect("checkout").id(), b, "the new record is the pool's");
}

#[test]
fn assertion_dispose_keeps_the_record() {
    let script = Script::new();
    let pool = AssertionPool::new(script.connector()).expect("pool");
    let c = pool.get().expect("checkout");
    let (a, rec) = (c.id(), PooledConnection::record(&c).expect("record").id());
    drop(c);
    pool.dispose();
    assert_eq!(
        script.log().calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Close(a)]
    );
    assert_eq!(pool.status().idle, 1, "the empty record waits in the pool");
    let c = pool.get().expect("checkout");
    assert_ne!(c.id(), a, "reconnected");
    assert_eq!(PooledConnection::record(&c).expect("record").id(), rec, "on the same record");
    // A late return after dispose, with no other checkout, gives the record back.
    pool.dispose();
    drop(c);
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (1, 0));
    assert_eq!(PooledConnection::record(&pool.get().expect("checkout")).expect("record").id(), rec);
}

#[test]
fn assertion_failed_first_connect_leaves_the_pool_as_it_was() {
    let script = Script::new();
    let pool = AssertionPool::new(script.connector()).expect("pool");
    let before = pool.status();
    script.fail_connects(1);
    assert!(matches!(pool.get(), Err(CheckoutError::Connect(_))));
    assert_eq!(pool.status(), before);
    script.panic_connects(1);
    assert!(panic::catch_unwind(AssertUnwindSafe(|| pool.get().map(drop))).is_err());
    assert_eq!(pool.status(), before);
    drop(pool.get().expect("the next checkout connects"));
}

#[test]
fn status_lines() {
    let script = Script::new();
    assert_eq!(static_pool(&script).status_line(), "StaticPool");
    assert_eq!(
        AssertionPool::new(script.connector()).expect("pool").status_line(),
        "AssertionPool"
    );
}
