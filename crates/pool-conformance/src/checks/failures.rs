//! Checks: every failure path gives the record back to the strategy.
//!
//! The contract (semantics §2.2 `_checkin_failed`, §2.4, and the project's requirement): a
//! failing connect, ping or listener, and a panicking connector or listener, leave the
//! pool's idle, checked-out and overflow counts exactly as before the operation, and the
//! pool keeps working. Each check runs its failure on a pool of size 1 with no overflow and
//! a short timeout, so a leaked slot shows up as a timeout on the next checkout.

use std::error::Error as StdError;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pool_core::{
    CheckoutError, ConnectionRecord, Connector, ListenerError, PoolListener, PoolStatus,
    PooledConnection, ResetState, Strategy,
};

use super::{needs_concurrent, needs_reuse};
use crate::{
    build, pool, Backend, BuilderOf, Call, EventLog, Harness, Identified, Outcome, PoolOf, Skip,
    Spec,
};

/// The checked-out connection of harness `H` on backend `B`.
type Guard<H, B> = PooledConnection<
    <B as Backend>::Connector,
    <H as Harness>::Strategy<<B as Backend>::Connector>,
>;

/// A listener that fails (or panics) in one event, a set number of times.
#[derive(Debug, Clone)]
struct Trip {
    event: &'static str,
    panic: bool,
    left: Arc<AtomicUsize>,
}

impl Trip {
    /// Returns an error from `event` once armed (events that can fail only).
    fn fail(event: &'static str) -> Self {
        Trip { event, panic: false, left: Arc::default() }
    }

    /// Panics in `event` once armed.
    fn panic(event: &'static str) -> Self {
        Trip { event, panic: true, left: Arc::default() }
    }

    /// The next `n` calls of the event trip.
    fn arm(&self, n: usize) {
        self.left.store(n, Ordering::SeqCst);
    }

    fn trips(&self, event: &str) -> bool {
        event == self.event
            && self
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }

    fn result(&self, event: &'static str) -> Result<(), ListenerError> {
        if !self.trips(event) {
            return Ok(());
        }
        if self.panic {
            panic!("scripted {event} listener panic");
        }
        Err(ListenerError::new(format!("{event} listener failed")))
    }

    fn observe(&self, event: &'static str) {
        if self.trips(event) && self.panic {
            panic!("scripted {event} listener panic");
        }
    }
}

impl<C: Connector> PoolListener<C> for Trip {
    fn first_connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.result("first_connect")
    }
    fn connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.result("connect")
    }
    fn checkout(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.result("checkout")
    }
    fn reset(
        &self,
        _conn: &mut C::Connection,
        _record: Option<&mut ConnectionRecord<C>>,
        _state: ResetState,
    ) -> Result<(), ListenerError> {
        self.result("reset")
    }
    fn checkin(&self, _conn: Option<&mut C::Connection>, _record: &mut ConnectionRecord<C>) {
        self.observe("checkin");
    }
    fn invalidate(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
        _reason: Option<&(dyn StdError + 'static)>,
    ) {
        self.observe("invalidate");
    }
    fn soft_invalidate(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
        _reason: Option<&(dyn StdError + 'static)>,
    ) {
        self.observe("soft_invalidate");
    }
    fn close(&self, _conn: &mut C::Connection, _record: &mut ConnectionRecord<C>) {
        self.observe("close");
    }
    fn close_detached(&self, _conn: &mut C::Connection) {
        self.observe("close_detached");
    }
    fn detach(&self, _conn: &mut C::Connection, _record: &mut ConnectionRecord<C>) {
        self.observe("detach");
    }
}

/// The counts a failure must leave as they were: (idle, checked out, overflow).
fn counts(s: PoolStatus) -> (usize, usize, isize) {
    (s.idle, s.checked_out, s.overflow)
}

/// A pool of size 1, no overflow, a short timeout: a leaked slot makes the next checkout
/// time out.
fn tight<H: Harness, B: Backend>(
    backend: &B,
    configure: impl FnOnce(BuilderOf<H, B>) -> BuilderOf<H, B>,
) -> PoolOf<H, B> {
    let spec = Spec::sized(1, Some(0)).with_timeout(Some(Duration::from_millis(500)));
    build::<H, B>(backend, spec, configure)
}

/// Asserts the counts are `before`'s, then that the pool still hands out a working
/// connection, which it returns.
fn recovered<H: Harness, B: Backend>(
    p: &PoolOf<H, B>,
    before: PoolStatus,
    what: &str,
) -> Guard<H, B> {
    assert_eq!(
        counts(p.status()),
        counts(before),
        "{what}: (idle, checked out, overflow) must be as before the failure"
    );
    let mut c = H::get(p).unwrap_or_else(|e| {
        panic!("{what}: the pool no longer hands out connections (slot leaked?): {e}")
    });
    B::exercise(&mut c).unwrap_or_else(|e| panic!("{what}: the new connection fails: {e:?}"));
    c
}

/// Runs `f`, which must panic; the panic is caught.
fn expect_panic<R>(what: &str, f: impl FnOnce() -> R) {
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    assert!(result.is_err(), "{what}: the panic must propagate to the caller");
}

/// How many times the connection `id` was closed (gracefully or not) since the log was
/// last cleared.
fn closes_of<B: Backend>(backend: &B, id: u64) -> usize {
    backend.log().calls().into_iter().filter(|c| c.is_close() && c.id() == id).count()
}

/// A pool whose only record has been checked out once and returned.
fn warmed<H: Harness, B: Backend>(
    backend: &B,
    configure: impl FnOnce(BuilderOf<H, B>) -> BuilderOf<H, B>,
) -> (PoolOf<H, B>, u64, u64) {
    let p = tight::<H, B>(backend, configure);
    let c = H::get(&p).expect("warm-up checkout");
    let ids = (c.conn_id(), PooledConnection::record(&c).expect("record").id());
    drop(c);
    (p, ids.0, ids.1)
}

fn record_id<C: Connector, S: Strategy<C>>(c: &PooledConnection<C, S>) -> u64 {
    PooledConnection::record(c).expect("a pooled connection has a record").id()
}

/// The id of `c`, checked out after [`warmed`]: in a pool that keeps connections it must
/// be the warmed-up connection `id`; a pool that keeps none (NullPool) opened a new one.
fn rechecked<H: Harness, B: Backend>(c: &Guard<H, B>, id: u64) -> u64 {
    if H::caps().reuses_connections {
        assert_eq!(c.conn_id(), id, "the idle connection is checked out again");
    }
    c.conn_id()
}

/// Asserts that `c` is on record `rec` in a pool that keeps its records; a pool that
/// keeps none (NullPool) makes a new record for every checkout.
fn same_record<H: Harness, B: Backend>(c: &Guard<H, B>, rec: u64) {
    if H::caps().reuses_connections {
        assert_eq!(record_id(c), rec, "the same record is checked out again");
    }
}

/// The connector calls of a failed checkout after [`warmed`] whose connection was then
/// closed abruptly: the warmed-up connection `id` is terminated, or, in a pool that keeps
/// no connection (NullPool), a new one is opened and terminated. Returns the connection.
fn terminated_at_checkout<H: Harness>(calls: &[Call], id: u64) -> u64 {
    if H::caps().reuses_connections {
        assert_eq!(calls, [Call::Terminate(id)]);
        return id;
    }
    let &[Call::Connect(x), Call::Terminate(y)] = calls else {
        panic!("a new connection, opened then terminated: {calls:?}")
    };
    assert_eq!(x, y);
    x
}

// semantics §2.2 step 1 and §1.2 _do_get (`_dec_overflow` on creator failure); test_pool.py
// QueuePoolTest.test_overflow_reset_on_failed_connect for the overflow part: a failing
// connect of a brand-new entry leaves the counts as they were, and the connector's error is
// the source of CheckoutError::Connect.
/// A failing connect of a new entry changes no count; the error carries the connector's error.
pub fn failures_connect_new_entry<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let p = tight::<H, B>(backend, |b| b);
    let before = p.status();
    script.fail_connects(1);
    let err = match H::get(&p) {
        Err(e) => e,
        Ok(c) => panic!("the connect was scripted to fail, got {c:?}"),
    };
    assert!(matches!(err, CheckoutError::Connect(_)), "{err:?}");
    let source = StdError::source(&err).expect("CheckoutError::Connect has a source");
    assert_eq!(source.to_string(), "connect failed");
    assert!(
        source.downcast_ref::<<B::Connector as Connector>::Error>().is_some(),
        "the source is the connector's own error"
    );
    assert_eq!(backend.log().connects(), 0);
    drop(recovered::<H, B>(&p, before, "failing connect of a new entry"));

    if H::caps().overflow && H::caps().concurrent_checkouts {
        // A (2, 3) pool with three out (overflow 1): a failed connect keeps overflow at 1.
        let p = pool::<H, B>(backend, Spec::sized(2, Some(3)));
        let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("checkout")).collect();
        let before = p.status();
        assert_eq!(before.overflow, 1);
        script.fail_connects(1);
        assert!(matches!(H::get(&p), Err(CheckoutError::Connect(_))));
        assert_eq!(counts(p.status()), counts(before), "overflow is reverted");
        drop(held);
    }
    Ok(())
}

// semantics §2.2 step 1.2 (`_checkin_failed` after get_connection fails): an emptied
// pooled record that fails to reconnect is checked back in (checkin fires with no
// connection) and reconnects at a later checkout.
/// A failing reconnect of a pooled record returns the record; counts are unchanged.
pub fn failures_connect_reconnect<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let script = backend.script()?;
    let events = EventLog::new();
    let p = tight::<H, B>(backend, |b| b.listener(events.clone()));
    let c = H::get(&p).expect("checkout");
    let rec = record_id(&c);
    PooledConnection::invalidate(c, None);
    let before = p.status();
    events.clear();
    backend.log().clear();
    script.fail_connects(1);
    assert!(matches!(H::get(&p), Err(CheckoutError::Connect(_))));
    assert_eq!(events.named_ids(), vec![("checkin", None)]);
    assert!(backend.log().calls().is_empty());
    let c = recovered::<H, B>(&p, before, "failing reconnect of a pooled record");
    assert_eq!(record_id(&c), rec, "the same record reconnects");
    Ok(())
}

// project requirement (SQLAlchemy 1.4.46 catches BaseException in the checkout for the
// same reason, #8974): a panicking connect, of a new entry or of a pooled record, gives the
// slot back while unwinding.
/// A panicking connect gives the slot back, for a new entry and for a pooled record.
pub fn failures_connect_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let p = tight::<H, B>(backend, |b| b);
    let before = p.status();
    script.panic_connects(1);
    expect_panic("panicking connect of a new entry", || H::get(&p));
    let c = recovered::<H, B>(&p, before, "panicking connect of a new entry");
    let rec = record_id(&c);
    if !H::caps().reuses_connections {
        return Ok(()); // no pooled record to reconnect
    }

    PooledConnection::invalidate(c, None);
    let before = p.status();
    script.panic_connects(1);
    expect_panic("panicking reconnect", || H::get(&p));
    let c = recovered::<H, B>(&p, before, "panicking reconnect of a pooled record");
    assert_eq!(record_id(&c), rec);
    Ok(())
}

// semantics §2.2 (a do_ping raising a non-disconnect error takes the BaseException branch:
// invalidate and check in).
/// A ping failing with a non-disconnect error returns the record; counts are unchanged.
pub fn failures_ping_error<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?; // only a pooled connection is pinged
    let script = backend.script()?;
    let (p, id, _) = warmed::<H, B>(backend, |b| b.pre_ping(true));
    let before = p.status();
    backend.log().clear();
    script.fail_pings(1, false);
    assert!(matches!(H::get(&p), Err(CheckoutError::Ping(_))));
    assert_eq!(backend.log().calls(), vec![Call::Ping(id), Call::Terminate(id)]);
    drop(recovered::<H, B>(&p, before, "failing ping"));
    Ok(())
}

// semantics §2.2 loop (`except DisconnectionError`: a failing reconnect calls
// `_checkin_failed` and re-raises): a disconnect on ping followed by a failing reconnect
// fails the checkout with the connect error and returns the record.
/// A disconnect on ping followed by a failing reconnect returns the record.
pub fn failures_ping_disconnect_reconnect_fails<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?; // only a pooled connection is pinged
    let script = backend.script()?;
    let events = EventLog::new();
    let (p, id, rec) = warmed::<H, B>(backend, |b| b.pre_ping(true).listener(events.clone()));
    let before = p.status();
    let generation = p.generation();
    backend.log().clear();
    events.clear();
    script.fail_pings(1, true);
    script.fail_connects(1);
    assert!(matches!(H::get(&p), Err(CheckoutError::Connect(_))));
    assert_eq!(backend.log().calls(), vec![Call::Ping(id), Call::Terminate(id)]);
    assert_eq!(
        events.named_ids(),
        vec![("invalidate", Some(id)), ("close", Some(id)), ("checkin", None)]
    );
    assert_eq!(p.generation(), generation + 1, "the disconnect still invalidated the pool");
    backend.log().clear();
    let c = recovered::<H, B>(&p, before, "disconnect on ping, then a failing reconnect");
    assert_eq!(record_id(&c), rec);
    assert_eq!(backend.log().calls(), vec![Call::Connect(c.conn_id())], "fresh: no ping");
    Ok(())
}

// semantics §2.3 `__connect` step 6 and §5.2 item 3: a failing connect (or first_connect)
// listener refuses the connection. For a new entry SQLAlchemy leaves the connection to the
// garbage collector; our core closes it at once (documented difference). For a pooled
// record the connection is invalidated and the record checked in
// (test_connect_event_fails_invalidates).
/// A failing connect or first_connect listener leaves the counts as they were.
pub fn failures_connect_listener_error<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    let trip = Trip::fail("connect");
    let events = EventLog::new();
    let p = tight::<H, B>(backend, |b| b.listener(trip.clone()).listener(events.clone()));

    // A brand-new entry.
    let before = p.status();
    trip.arm(1);
    match H::get(&p) {
        Err(CheckoutError::Listener(e)) => {
            assert!(e.to_string().contains("connect listener failed"), "{e}");
            assert!(!e.is_disconnect());
        }
        other => panic!("expected CheckoutError::Listener, got {other:?}"),
    }
    let calls = log.calls();
    let &[Call::Connect(x), Call::Terminate(y)] = calls.as_slice() else {
        panic!("the refused connection is closed at once: {calls:?}")
    };
    assert_eq!(x, y);
    let c = recovered::<H, B>(&p, before, "failing connect listener, new entry");
    let rec = record_id(&c);

    // A pooled record reconnecting after an invalidation (a pool that keeps no
    // connection has no such record).
    PooledConnection::invalidate(c, None);
    if H::caps().reuses_connections {
        let before = p.status();
        log.clear();
        events.clear();
        trip.arm(1);
        assert!(matches!(H::get(&p), Err(CheckoutError::Listener(_))));
        let calls = log.calls();
        let &[Call::Connect(x), Call::Terminate(y)] = calls.as_slice() else {
            panic!("the refused reconnection is terminated: {calls:?}")
        };
        assert_eq!(x, y);
        assert_eq!(
            events.named_ids(),
            vec![("invalidate", Some(x)), ("close", Some(x)), ("checkin", None)]
        );
        let c = recovered::<H, B>(&p, before, "failing connect listener, pooled record");
        assert_eq!(record_id(&c), rec);
        drop(c);
    }

    // first_connect: refused, then run again (and passed) at the next connect.
    let first = Trip::fail("first_connect");
    let p = tight::<H, B>(backend, |b| b.listener(first.clone()));
    let before = p.status();
    first.arm(1);
    assert!(matches!(H::get(&p), Err(CheckoutError::Listener(_))));
    drop(recovered::<H, B>(&p, before, "failing first_connect listener"));
    Ok(())
}

// project requirement: a panicking connect listener gives the slot back while unwinding,
// for a new entry and for a pooled record (whose connection is terminated).
/// A panicking connect listener leaves the counts as they were.
pub fn failures_connect_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    let trip = Trip::panic("connect");
    let p = tight::<H, B>(backend, |b| b.listener(trip.clone()));
    let before = p.status();
    trip.arm(1);
    expect_panic("panicking connect listener, new entry", || H::get(&p));
    let c = recovered::<H, B>(&p, before, "panicking connect listener, new entry");
    if !H::caps().reuses_connections {
        return Ok(()); // no pooled record to reconnect
    }

    PooledConnection::invalidate(c, None);
    let before = p.status();
    log.clear();
    trip.arm(1);
    expect_panic("panicking connect listener, pooled record", || H::get(&p));
    let calls = log.calls();
    let &[Call::Connect(x), Call::Terminate(y)] = calls.as_slice() else {
        panic!("the connection is terminated while unwinding: {calls:?}")
    };
    assert_eq!(x, y);
    drop(recovered::<H, B>(&p, before, "panicking connect listener, pooled record"));
    Ok(())
}

// semantics §2.2 (verified 1.4.46+: a checkout listener raising a non-disconnect error
// gives `checkout, invalidate, close, checkin(None)` and the error propagates).
/// A failing checkout listener invalidates the connection and returns the record.
pub fn failures_checkout_listener_error<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let trip = Trip::fail("checkout");
    let events = EventLog::new();
    let (p, id, rec) =
        warmed::<H, B>(backend, |b| b.listener(events.clone()).listener(trip.clone()));
    let before = p.status();
    backend.log().clear();
    events.clear();
    trip.arm(1);
    assert!(matches!(H::get(&p), Err(CheckoutError::Listener(_))));
    let id = terminated_at_checkout::<H>(&backend.log().calls(), id);
    let mut expected = vec![
        ("checkout", Some(id)),
        ("invalidate", Some(id)),
        ("close", Some(id)),
        ("checkin", None),
    ];
    if !H::caps().reuses_connections {
        expected.insert(0, ("connect", Some(id)));
    }
    assert_eq!(events.named_ids(), expected);
    let c = recovered::<H, B>(&p, before, "failing checkout listener");
    same_record::<H, B>(&c, rec);
    drop(c);

    // On a brand-new entry the record now exists and waits, empty, in the pool; nothing
    // stays checked out and the only slot can be used again.
    let p = tight::<H, B>(backend, |b| b.listener(trip.clone()));
    trip.arm(1);
    assert!(matches!(H::get(&p), Err(CheckoutError::Listener(_))));
    assert_eq!(p.status().checked_out, 0);
    drop(H::get(&p).expect("the slot of the refused new entry is available"));
    Ok(())
}

// project requirement: a panicking checkout listener gives the slot back while unwinding
// and the connection is terminated.
/// A panicking checkout listener leaves the counts as they were.
pub fn failures_checkout_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let trip = Trip::panic("checkout");
    let (p, id, rec) = warmed::<H, B>(backend, |b| b.listener(trip.clone()));
    let before = p.status();
    backend.log().clear();
    trip.arm(1);
    expect_panic("panicking checkout listener", || H::get(&p));
    terminated_at_checkout::<H>(&backend.log().calls(), id);
    let c = recovered::<H, B>(&p, before, "panicking checkout listener");
    same_record::<H, B>(&c, rec);
    Ok(())
}

// semantics §3 reset event ("If it raises an Exception, the record is invalidated and
// checked in") and §2.4 "Reset raising".
/// A failing reset listener invalidates the connection (no rollback) and returns the slot.
pub fn failures_reset_listener_error<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let trip = Trip::fail("reset");
    let events = EventLog::new();
    let (p, id, rec) =
        warmed::<H, B>(backend, |b| b.listener(events.clone()).listener(trip.clone()));
    let before = p.status();
    let c = H::get(&p).expect("checkout");
    let id = rechecked::<H, B>(&c, id);
    backend.log().clear();
    events.clear();
    trip.arm(1);
    drop(c); // the error is logged and swallowed
    assert_eq!(backend.log().calls(), vec![Call::Terminate(id)], "no rollback after the failure");
    assert_eq!(
        events.named_ids(),
        vec![("reset", Some(id)), ("invalidate", Some(id)), ("close", Some(id)), ("checkin", None)]
    );
    let c = recovered::<H, B>(&p, before, "failing reset listener");
    same_record::<H, B>(&c, rec);
    Ok(())
}

// semantics §2.4 and §5.2 item 1: SQLAlchemy leaks the slot when reset raises a
// BaseException; our core gives it back while unwinding (documented difference), with the
// connection terminated. The panic propagates out of the drop.
/// A panicking reset listener propagates out of the drop and leaves the counts as they were.
pub fn failures_reset_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let trip = Trip::panic("reset");
    let (p, id, _) = warmed::<H, B>(backend, |b| b.listener(trip.clone()));
    let before = p.status();
    let c = H::get(&p).expect("checkout");
    let id = rechecked::<H, B>(&c, id);
    backend.log().clear();
    trip.arm(1);
    expect_panic("panicking reset listener", move || drop(c));
    assert_eq!(backend.log().calls(), vec![Call::Terminate(id)]);
    drop(recovered::<H, B>(&p, before, "panicking reset listener"));
    Ok(())
}

// issue 14, defect 1: a detached connection's return runs the reset (listeners and the
// connector's rollback) before closing it; a panic there must still close it, once, as
// it does for a pooled connection.
/// A detached connection whose reset panics is still closed, once.
pub fn failures_detached_return_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    // A connection checked out of `p` and detached, and its id; the log cleared.
    let detached = |p: &PoolOf<H, B>| {
        let mut c = H::get(p).expect("checkout");
        PooledConnection::detach(&mut c);
        backend.log().clear();
        let id = c.conn_id();
        (c, id)
    };
    let reset = Trip::panic("reset");
    let (p, _, _) = warmed::<H, B>(backend, |b| b.listener(reset.clone()));
    let before = p.status();
    let (c, id) = detached(&p);
    reset.arm(1);
    expect_panic("panicking reset listener of a detached connection", move || drop(c));
    assert_eq!(backend.log().calls(), vec![Call::Terminate(id)], "closed once, abruptly");
    drop(recovered::<H, B>(&p, before, "panicking reset listener of a detached connection"));

    let close_detached = Trip::panic("close_detached");
    let (p, _, _) = warmed::<H, B>(backend, |b| b.listener(close_detached.clone()));
    let (c, id) = detached(&p);
    close_detached.arm(1);
    expect_panic("panicking close_detached listener", move || drop(c));
    assert_eq!(closes_of(backend, id), 1, "closed once: {:?}", backend.log().calls());

    let Ok(script) = backend.script() else { return Ok(()) };
    let (c, id) = detached(&p);
    script.panic_rollbacks(1);
    expect_panic("panicking rollback of a detached connection", move || drop(c));
    assert_eq!(backend.log().calls(), vec![Call::Rollback(id), Call::Terminate(id)]);
    Ok(())
}

// issue 14, defect 2: a panicking `detach` listener must not leave the handle broken (no
// connection, nothing to reach) nor drop the connection unclosed. The detach is done
// when the listeners run, so it stands: the handle keeps the detached connection.
/// A panicking detach listener leaves a detached, usable handle that closes its connection.
pub fn failures_detach_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let trip = Trip::panic("detach");
    let (p, _, _) = warmed::<H, B>(backend, |b| b.listener(trip.clone()));
    let before = p.status();
    let mut c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    backend.log().clear();
    trip.arm(1);
    expect_panic("panicking detach listener", || PooledConnection::detach(&mut c));
    assert!(PooledConnection::is_detached(&c), "the detach stands");
    assert!(PooledConnection::record(&c).is_none(), "the record went back to the pool");
    B::exercise(&mut c).expect("the detached connection is usable");
    let _ = PooledConnection::info(&c);
    assert_eq!(closes_of(backend, id), 0, "not closed while held");
    drop(c);
    assert_eq!(closes_of(backend, id), 1, "closed once on drop: {:?}", backend.log().calls());
    drop(recovered::<H, B>(&p, before, "panicking detach listener"));
    Ok(())
}

// issue 14, "found by reading": a connection dropped while its thread unwinds from a
// panic (its holder panicked) used to run the `reset` and `checkin` listeners; a listener
// that panicked there aborted the process. While unwinding, the return runs no listener
// and no reset (the holder stopped half way, the connection's state is unknown): the
// connection is closed abruptly and its slot freed.
/// A connection dropped during a panic is closed without listeners, and the slot comes back.
pub fn failures_return_while_unwinding<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let reset = Trip::panic("reset");
    let checkin = Trip::panic("checkin");
    let (p, _, _) =
        warmed::<H, B>(backend, |b| b.listener(reset.clone()).listener(checkin.clone()));
    let before = p.status();
    for detach in [false, true] {
        let mut c = H::get(&p).expect("checkout");
        if detach {
            PooledConnection::detach(&mut c);
        }
        let id = c.conn_id();
        backend.log().clear();
        reset.arm(1);
        checkin.arm(1);
        expect_panic("a holder that panics", move || {
            let _held = c;
            panic!("the holder panics");
        });
        assert_eq!(backend.log().calls(), vec![Call::Terminate(id)], "closed once, abruptly");
        assert!(reset.trips("reset") && checkin.trips("checkin"), "no listener ran");
        drop(recovered::<H, B>(&p, before, "a connection dropped while unwinding"));
    }
    Ok(())
}

// semantics §2.4 "Reset raising" (verified): a failing rollback is swallowed, the
// connection invalidated and the record returned.
/// A failing rollback leaves the counts as they were.
pub fn failures_rollback_error<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let (p, id, rec) = warmed::<H, B>(backend, |b| b);
    let before = p.status();
    let c = H::get(&p).expect("checkout");
    let id = rechecked::<H, B>(&c, id);
    backend.log().clear();
    script.fail_rollbacks(1);
    drop(c);
    assert_eq!(backend.log().calls(), vec![Call::Rollback(id), Call::Terminate(id)]);
    let c = recovered::<H, B>(&p, before, "failing rollback");
    same_record::<H, B>(&c, rec);
    Ok(())
}

// semantics §2.4 rough edge and §5.2 item 1 (verified): a KeyboardInterrupt during the
// rollback leaks SQLAlchemy's slot for good (a 1+0 pool then always times out). Our core
// gives the slot back while unwinding and terminates the connection (documented
// difference).
/// A panicking rollback propagates and still gives the slot back.
pub fn failures_rollback_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let (p, id, _) = warmed::<H, B>(backend, |b| b);
    let before = p.status();
    let c = H::get(&p).expect("checkout");
    let id = rechecked::<H, B>(&c, id);
    backend.log().clear();
    script.panic_rollbacks(1);
    expect_panic("panicking rollback", move || drop(c));
    assert_eq!(backend.log().calls(), vec![Call::Rollback(id), Call::Terminate(id)]);
    drop(recovered::<H, B>(&p, before, "panicking rollback"));
    Ok(())
}

// project requirement: checkin listeners observe only (they cannot fail), but one can
// panic; so can a finalizer. The record still goes back to the strategy.
/// A panicking checkin listener or finalizer still gives the slot back.
pub fn failures_checkin_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let trip = Trip::panic("checkin");
    let (p, _, _) = warmed::<H, B>(backend, |b| b.listener(trip.clone()));
    let before = p.status();
    let c = H::get(&p).expect("checkout");
    trip.arm(1);
    expect_panic("panicking checkin listener", move || drop(c));
    drop(recovered::<H, B>(&p, before, "panicking checkin listener"));

    let mut c = H::get(&p).expect("checkout");
    PooledConnection::record_mut(&mut c)
        .expect("record")
        .add_finalizer(|_| panic!("scripted finalizer panic"));
    expect_panic("panicking finalizer", move || drop(c));
    drop(recovered::<H, B>(&p, before, "panicking finalizer"));
    Ok(())
}

// project requirement: invalidate and soft_invalidate listeners observe only, but can
// panic. A hard invalidation still closes the connection and returns the record; a soft
// one leaves the connection checked out and usable.
/// A panicking invalidate or soft_invalidate listener leaves the counts as they were.
pub fn failures_invalidate_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let hard = Trip::panic("invalidate");
    let soft = Trip::panic("soft_invalidate");
    let (p, _, rec) = warmed::<H, B>(backend, |b| b.listener(hard.clone()).listener(soft.clone()));
    let before = p.status();

    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    backend.log().clear();
    hard.arm(1);
    expect_panic("panicking invalidate listener", move || PooledConnection::invalidate(c, None));
    assert_eq!(backend.log().calls(), vec![Call::Terminate(id)], "the connection is still closed");
    let mut c = recovered::<H, B>(&p, before, "panicking invalidate listener");
    same_record::<H, B>(&c, rec);
    assert_ne!(c.conn_id(), id, "the invalidated connection is not handed out again");

    soft.arm(1);
    expect_panic("panicking soft_invalidate listener", || {
        PooledConnection::soft_invalidate(&mut c, None)
    });
    B::exercise(&mut c).expect("the connection is still usable");
    drop(c);
    drop(recovered::<H, B>(&p, before, "panicking soft_invalidate listener"));

    // The same through invalidate_pool.
    let c = H::get(&p).expect("checkout");
    hard.arm(1);
    expect_panic("panicking invalidate listener (pool)", move || {
        PooledConnection::invalidate_pool(c, None)
    });
    drop(recovered::<H, B>(&p, before, "panicking invalidate listener via invalidate_pool"));
    Ok(())
}

// project requirement: close listeners observe only, but can panic. The close event fires
// on a hard invalidation, on a recycle at checkout, on an overflow return and on dispose;
// in each case the slot must come back.
/// A panicking close listener leaves the counts as they were, on every path that closes.
pub fn failures_close_listener_panic<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let trip = Trip::panic("close");
    let (p, _, _) = warmed::<H, B>(backend, |b| b.listener(trip.clone()));
    let before = p.status();

    // Hard invalidation.
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    backend.log().clear();
    trip.arm(1);
    expect_panic("panicking close listener on invalidate", move || {
        PooledConnection::invalidate(c, None)
    });
    assert_eq!(backend.log().calls(), vec![Call::Terminate(id)], "the connection is still closed");
    drop(recovered::<H, B>(&p, before, "panicking close listener on invalidate"));

    // Replacement of a stale connection at checkout.
    if H::caps().reuses_connections {
        p.invalidate_all();
        trip.arm(1);
        expect_panic("panicking close listener on recycle", || H::get(&p));
        drop(recovered::<H, B>(&p, before, "panicking close listener on recycle"));
    }

    // Return of an overflow connection to a full pool.
    if H::caps().overflow && H::caps().concurrent_checkouts {
        let p = build::<H, B>(
            backend,
            Spec::sized(1, Some(1)).with_timeout(Some(Duration::from_millis(500))),
            |b| b.listener(trip.clone()),
        );
        drop(H::get(&p).expect("warm-up"));
        let before = p.status();
        let a = H::get(&p).expect("checkout");
        let b = H::get(&p).expect("overflow checkout");
        drop(b);
        let id = a.conn_id();
        backend.log().clear();
        trip.arm(1);
        expect_panic("panicking close listener on overflow return", move || drop(a));
        assert_eq!(counts(p.status()), counts(before), "overflow return");
        assert_eq!(
            closes_of(backend, id),
            1,
            "overflow return: the connection is still closed, once: {:?}",
            backend.log().calls()
        );
        let held: Vec<_> = (0..2).map(|_| H::get(&p).expect("both slots are usable")).collect();
        drop(held);
    }

    // Dispose.
    if H::caps().reuses_connections {
        let p = tight::<H, B>(backend, |b| b.listener(trip.clone()));
        let fresh = p.status();
        let c = H::get(&p).expect("warm-up");
        let id = c.conn_id();
        drop(c);
        backend.log().clear();
        trip.arm(1);
        expect_panic("panicking close listener on dispose", || p.dispose());
        assert_eq!(
            closes_of(backend, id),
            1,
            "dispose: the connection is still closed, once: {:?}",
            backend.log().calls()
        );
        drop(recovered::<H, B>(&p, fresh, "panicking close listener on dispose"));
    }
    Ok(())
}

// semantics §1.2 _do_get and §5.1: the timeout message reproduces SQLAlchemy's text
// (`QueuePool limit of size 2 overflow 1 reached, connection timed out, timeout 0.10`) with
// the overflow at the time of the timeout; we add counts after it instead of the
// sqlalche.me link.
/// The timeout error starts with SQLAlchemy's exact message and changes no count.
pub fn failures_timeout_message<H: Harness, B: Backend>(backend: &B) -> Outcome {
    if !H::caps().bounded_wait {
        return Err(Skip::because("callers never wait, so no checkout times out"));
    }
    needs_concurrent::<H>()?; // one thread exhausts the pool
    let timeout = Duration::from_millis(100);
    let p = pool::<H, B>(backend, Spec::sized(2, Some(1)).with_timeout(Some(timeout)));
    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("checkout")).collect();
    let before = p.status();
    let started = Instant::now();
    let err = match H::get(&p) {
        Err(e) => e,
        Ok(c) => panic!("a (2, 1) pool with 3 out must time out, got {c:?}"),
    };
    let waited = started.elapsed();
    assert!(waited >= timeout && waited < Duration::from_secs(5), "waited {waited:?}");
    let name = <H::Strategy<B::Connector> as Strategy<B::Connector>>::NAME;
    // A pool without overflow states its one limit, the size it reports.
    let (size, overflow): (usize, isize) =
        if H::caps().overflow { (2, 1) } else { (before.pool_size, 0) };
    let expected = format!(
        "{name} limit of size {size} overflow {overflow} reached, connection timed out, timeout 0.10"
    );
    let message = err.to_string();
    assert!(message.starts_with(&expected), "{message:?} should start with {expected:?}");
    let CheckoutError::Timeout(t) = &err else { panic!("expected a timeout, got {err:?}") };
    assert_eq!((t.pool_size, t.overflow, t.checked_out, t.waiting), (size, overflow, 3, 0));
    assert_eq!((t.open, t.idle), (3, 0), "every open connection is out");
    assert!(
        message.contains("(3 open: 0 idle, 3 checked out; 0 other callers waiting)"),
        "{message:?} should give the counts"
    );
    assert_eq!(t.last_connect_error, None, "no connect failed");
    assert_eq!(p.status(), before, "a timeout changes no count");
    drop(held);
    drop(H::get(&p).expect("checkout after the timeout"));
    Ok(())
}

// semantics §5.1 (the timeout is widely misread): ours names a connect error that failed
// during the wait, and leaves out an older one, which says nothing about this wait (issue
// 13: a stale error sent users to the wrong place).
/// A timeout names a connect error only if it failed during the wait.
pub fn failures_timeout_names_only_recent_connect_error<H: Harness, B: Backend>(
    backend: &B,
) -> Outcome {
    let script = backend.script()?;
    if !H::caps().bounded_wait {
        return Err(Skip::because("callers never wait, so no checkout times out"));
    }
    needs_concurrent::<H>()?; // one thread exhausts the pool
    let p = pool::<H, B>(
        backend,
        Spec::sized(2, Some(1)).with_timeout(Some(Duration::from_millis(100))),
    );
    script.fail_connects(1);
    assert!(matches!(H::get(&p), Err(CheckoutError::Connect(_))));
    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("checkout")).collect();
    let err = match H::get(&p) {
        Err(e) => e,
        Ok(c) => panic!("expected a timeout, got {c:?}"),
    };
    let CheckoutError::Timeout(t) = &err else { panic!("expected a timeout, got {err:?}") };
    assert_eq!(t.last_connect_error, None, "the connect failed before the wait began");
    let message = err.to_string();
    assert!(!message.contains("connect failed"), "{message:?} names an older failure");
    let core = p.core();
    assert_eq!(
        core.connect_error_within(Duration::from_secs(600)).as_deref(),
        Some("connect failed")
    );
    thread::sleep(Duration::from_millis(20));
    assert_eq!(core.connect_error_within(Duration::from_millis(10)), None, "older than 10 ms");
    drop(held);
    Ok(())
}

// semantics §2.3 `__close` step 3: a close or terminate that fails is logged and
// swallowed (`Exception closing connection`), on every path that closes.
/// Close failures are swallowed on invalidation, recycle, overflow return and dispose.
pub fn failures_close_errors_swallowed<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    let log = backend.log();
    let spec = Spec::sized(1, Some(1)).with_timeout(Some(Duration::from_millis(500)));
    let p = pool::<H, B>(backend, spec);
    drop(H::get(&p).expect("warm-up"));
    let before = p.status();

    // Invalidation (terminate).
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    script.fail_closes(1);
    PooledConnection::invalidate(c, None);
    assert!(log.calls().contains(&Call::Terminate(id)));
    drop(recovered::<H, B>(&p, before, "failing terminate on invalidate"));

    // Recycle at checkout (terminate).
    if H::caps().reuses_connections {
        let c = H::get(&p).expect("checkout");
        let id = c.conn_id();
        drop(c);
        p.invalidate_all();
        script.fail_closes(1);
        let c = H::get(&p).expect("a failing terminate does not fail the checkout");
        assert_ne!(c.conn_id(), id);
        assert!(log.calls().contains(&Call::Terminate(id)));
        drop(c);
    }

    // Overflow return (graceful close).
    if H::caps().overflow && H::caps().concurrent_checkouts {
        let a = H::get(&p).expect("checkout");
        let b = H::get(&p).expect("overflow checkout");
        drop(b);
        let id = a.conn_id();
        script.fail_closes(1);
        drop(a);
        assert!(log.calls().contains(&Call::Close(id)));
        assert_eq!(counts(p.status()), counts(before), "overflow return");
    }

    // Dispose (graceful close).
    if H::caps().reuses_connections {
        let idle = p.status().idle;
        script.fail_closes(1);
        p.dispose();
        let kept = usize::from(H::caps().dispose_keeps_record); // an empty record
        assert_eq!(p.status().idle, kept, "dispose closed the {idle} idle connection(s)");
        assert_eq!(p.status().checked_out, 0);
        drop(H::get(&p).expect("checkout after dispose"));
    }
    Ok(())
}
