//! NullPool's own behaviour (semantics §1.4 and `NullPoolTest`), on the scripted connector:
//! the event order of a return and of an invalidation, no pre-ping, the checked-out count.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pool_conformance::{Call, EventLog, Reason, Script, ScriptedConnector};
use pool_core::{ConnectionRecord, Connector, PoolListener, PooledConnection};
use pool_null::NullPool;

fn logged(script: &Script) -> (NullPool<ScriptedConnector>, EventLog) {
    let events = EventLog::new();
    let pool = NullPool::builder(script.connector())
        .listener(events.clone())
        .build()
        .expect("a NullPool builds");
    (pool, events)
}

// semantics §1.4 (verified): connect then close gives connect, checkout, reset, checkin,
// close; the connection is rolled back, then closed gracefully.
#[test]
fn connect_then_close_events() {
    let script = Script::new();
    let (pool, events) = logged(&script);
    drop(pool.get().expect("checkout")); // the first one also runs first_connect
    events.clear();
    script.log().clear();
    let c = pool.get().expect("checkout");
    let a = c.id();
    drop(c);
    assert_eq!(
        events.named_ids(),
        [
            ("connect", Some(a)),
            ("checkout", Some(a)),
            ("reset", Some(a)),
            ("checkin", Some(a)),
            ("close", Some(a)),
        ]
    );
    assert_eq!(script.log().calls(), [Call::Connect(a), Call::Rollback(a), Call::Close(a)]);
}

// semantics §1.4 (verified): invalidate gives invalidate, close, checkin with no
// connection; the connection is terminated once, and the empty record is not closed again.
#[test]
fn invalidate_events() {
    let script = Script::new();
    let (pool, events) = logged(&script);
    let c = pool.get().expect("checkout");
    let a = c.id();
    events.clear();
    PooledConnection::invalidate(c, Some(&Reason("gone")));
    assert_eq!(
        events.named_ids(),
        [("invalidate", Some(a)), ("close", Some(a)), ("checkin", None)]
    );
    assert_eq!(script.log().calls(), [Call::Connect(a), Call::Terminate(a)], "closed once");
    assert_eq!(pool.status().checked_out, 0);
}

// semantics §1.4: pre_ping never pings, because every connection is fresh.
#[test]
fn pre_ping_never_pings() {
    let script = Script::new();
    let pool = NullPool::builder(script.connector()).pre_ping(true).build().expect("builds");
    for _ in 0..3 {
        let mut c = pool.get().expect("checkout");
        c.execute().expect("usable");
    }
    let log = script.log();
    assert_eq!(log.connects(), 3);
    assert_eq!(log.count(|c| matches!(c, Call::Ping(_))), 0, "{log:?}");
}

// test_pool.py NullPoolTest.test_reconnect: connect and close, connect and invalidate, then
// connect: the creator was called at least twice. Here: exactly once per checkout, each
// connection new, the closed one closed gracefully, the invalidated one terminated.
#[test]
fn reconnect() {
    let script = Script::new();
    let pool = NullPool::new(script.connector()).expect("builds");
    let c1 = pool.get().expect("checkout");
    let a = c1.id();
    PooledConnection::close(c1);
    let c2 = pool.get().expect("checkout");
    let b = c2.id();
    PooledConnection::invalidate(c2, None);
    let mut c3 = pool.get().expect("checkout after invalidate");
    let c = c3.id();
    c3.execute().expect("the new connection works");
    assert!(a != b && b != c && a != c, "a new connection every time");
    let log = script.log();
    assert!(log.connects() >= 2);
    assert_eq!(log.connects(), 3);
    assert_eq!(log.calls_for(a), [Call::Connect(a), Call::Rollback(a), Call::Close(a)]);
    assert_eq!(log.calls_for(b), [Call::Connect(b), Call::Terminate(b)]);
    assert_eq!(log.calls_for(c), [Call::Connect(c)]);
}

// Differences from SQLAlchemy: status counts the connections checked out; dispose has
// nothing to close (checked-out connections are closed when they come back); a detached
// connection stops counting.
#[test]
fn status_counts_checked_out() {
    let script = Script::new();
    let pool = NullPool::new(script.connector()).expect("builds");
    assert_eq!(pool.status_line(), "NullPool");
    let a = pool.get().expect("checkout");
    let mut b = pool.get().expect("checkout");
    let s = pool.status();
    assert_eq!((s.pool_size, s.idle, s.overflow, s.checked_out, s.waiting), (0, 0, 0, 2, 0));
    assert_eq!(pool.strategy().checkedout(), 2);

    pool.dispose();
    assert_eq!(script.log().open(), 2, "dispose closes nothing");
    assert_eq!(pool.status().checked_out, 2);

    PooledConnection::detach(&mut b);
    assert_eq!(pool.status().checked_out, 1, "a detached connection no longer counts");
    drop(a);
    assert_eq!(pool.status().checked_out, 0);
    assert_eq!(script.log().open(), 1, "the detached connection is still open");
    drop(b);
    assert_eq!(script.log().open(), 0, "closed when its holder drops it");
    assert_eq!(pool.status_line(), "NullPool");
}

/// A listener whose `close` panics once armed.
#[derive(Debug, Clone, Default)]
struct PanickingClose {
    armed: Arc<AtomicBool>,
}

impl<C: Connector> PoolListener<C> for PanickingClose {
    fn close(&self, _conn: &mut C::Connection, _record: &mut ConnectionRecord<C>) {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("close listener panic");
        }
    }
}

// The checked-out count comes down even when a close listener panics during the return.
#[test]
fn close_listener_panic_still_uncounts() {
    let script = Script::new();
    let trip = PanickingClose::default();
    let pool =
        NullPool::builder(script.connector()).listener(trip.clone()).build().expect("builds");
    let c = pool.get().expect("checkout");
    assert_eq!(pool.status().checked_out, 1);
    trip.armed.store(true, Ordering::SeqCst);
    let result = panic::catch_unwind(AssertUnwindSafe(move || drop(c)));
    assert!(result.is_err(), "the listener's panic reaches the caller");
    assert_eq!(pool.status().checked_out, 0, "the count came down while unwinding");
    let mut c = pool.get().expect("the pool keeps working");
    c.execute().expect("usable");
    drop(c);
    assert_eq!(pool.status().checked_out, 0);
}
