//! Pool events (SQLAlchemy's `PoolEventsTest`, and the event sequences of semantics §2
//! and §3).
//!
//! Most checks record events with an [`EventLog`] and compare the exact sequence:
//! `(event, connection id, record id)`. The small listeners below (fakes) refuse,
//! count or order events where a check needs that.

use std::error::Error as StdError;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use parking_lot::Mutex;
use pool_core::{
    CheckoutError, ConnectionRecord, Connector, ListenerError, PoolListener, PooledConnection,
};

use super::{needs_concurrent, needs_reuse, needs_several};
use crate::{build, Backend, Call, EventLog, Harness, Identified, Outcome, Reason, Skip, Spec};

/// One recorded event: name, connection id, record id.
type Ev = (&'static str, Option<u64>, Option<u64>);

/// The events recorded so far, without their reasons.
fn seq_all(log: &EventLog) -> Vec<Ev> {
    log.events().into_iter().map(|e| (e.name, e.conn, e.record)).collect()
}

/// The events recorded so far without `first_connect` (which only the checks about it
/// look at, as SQLAlchemy's tests listen to the events they check), without reasons.
fn seq(log: &EventLog) -> Vec<Ev> {
    seq_all(log).into_iter().filter(|e| e.0 != "first_connect").collect()
}

/// An event with a connection and a record.
fn ev(name: &'static str, conn: u64, record: u64) -> Ev {
    (name, Some(conn), Some(record))
}

/// The record id of a checked-out connection.
fn rec_id<C: Connector, S: pool_core::Strategy<C>>(c: &PooledConnection<C, S>) -> u64 {
    PooledConnection::record(c).expect("a pooled connection has a record").id()
}

/// The ids of the connections the backend opened, in order.
fn opened<B: Backend>(backend: &B) -> Vec<u64> {
    backend
        .log()
        .calls()
        .into_iter()
        .filter_map(|c| if let Call::Connect(id) = c { Some(id) } else { None })
        .collect()
}

/// A short timeout, so that a slot the pool failed to give back fails the check quickly.
const SHORT: Option<Duration> = Some(Duration::from_secs(2));

/// A pool of harness `H` on `backend` with an [`EventLog`] as its only listener.
fn logged<H: Harness, B: Backend>(backend: &B, spec: Spec) -> (crate::PoolOf<H, B>, EventLog) {
    let log = EventLog::new();
    let p = build::<H, B>(backend, spec, |b| b.listener(log.clone()));
    (p, log)
}

// ---------------------------------------------------------------------------------------
// Fakes.

/// Appends its name to a shared list on every `connect`.
#[derive(Debug, Clone)]
struct Canary {
    name: &'static str,
    out: Arc<Mutex<Vec<&'static str>>>,
}

impl<C: Connector> PoolListener<C> for Canary {
    fn connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.out.lock().push(self.name);
        Ok(())
    }
}

/// A `checkout` listener that always refuses, as a disconnect or as a plain failure.
#[derive(Debug, Clone, Default)]
struct RefuseCheckout {
    disconnect: bool,
    calls: Arc<AtomicUsize>,
}

impl<C: Connector> PoolListener<C> for RefuseCheckout {
    fn checkout(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(if self.disconnect {
            ListenerError::disconnect(Reason("connection went away"))
        } else {
            ListenerError::new(Reason("checkout refused"))
        })
    }
}

/// A `first_connect` listener that fails its first `fail_first` calls, and can be slow.
#[derive(Debug, Clone, Default)]
struct FirstConnect {
    fail_first: usize,
    delay: Option<Duration>,
    calls: Arc<AtomicUsize>,
    order: Arc<Mutex<Vec<&'static str>>>,
}

impl<C: Connector> PoolListener<C> for FirstConnect {
    fn first_connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.order.lock().push("first_connect:start");
        if let Some(delay) = self.delay {
            std::thread::sleep(delay);
        }
        self.order.lock().push("first_connect:end");
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return Err(ListenerError::new(Reason("first_connect failed")));
        }
        Ok(())
    }

    fn connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        self.order.lock().push("connect");
        Ok(())
    }
}

/// A `connect` listener that fails while `fail` is set.
#[derive(Debug, Clone, Default)]
struct ConnectGate {
    fail: Arc<AtomicBool>,
}

impl<C: Connector> PoolListener<C> for ConnectGate {
    fn connect(
        &self,
        _conn: &mut C::Connection,
        _record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        if self.fail.load(Ordering::SeqCst) {
            Err(ListenerError::new(Reason("it failed")))
        } else {
            Ok(())
        }
    }
}

/// A flag a `connect` listener sets in the connection's `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ImportantFlag;

/// A `connect` listener that sets [`ImportantFlag`] in the record's `info`.
#[derive(Debug, Clone, Copy, Default)]
struct SetFlag;

impl<C: Connector> PoolListener<C> for SetFlag {
    fn connect(
        &self,
        _conn: &mut C::Connection,
        record: &mut ConnectionRecord<C>,
    ) -> Result<(), ListenerError> {
        record.info_mut().insert(ImportantFlag);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// PoolEventsTest.

// test_pool.py PoolEventsTest.test_close: the close event does not fire on a normal
// checkin (that is reset, checkin); it fires once, with the connection and its record,
// when dispose closes the idle connection.
/// A normal close gives reset, checkin; `dispose` gives one close.
pub fn close_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    drop(c);
    assert_eq!(
        seq(&log),
        [ev("connect", a, r), ev("checkout", a, r), ev("reset", a, r), ev("checkin", a, r)]
    );
    log.clear();
    p.dispose();
    assert_eq!(seq(&log), [ev("close", a, r)], "dispose closes the idle connection once");
    p.dispose();
    assert_eq!(log.count("close"), 1);
    Ok(())
}

// test_pool.py PoolEventsTest.test_detach: detach fires with the connection and the
// record it leaves, and nothing else fires.
/// `detach` fires with the connection and its record.
pub fn detach_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let mut c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    log.clear();
    PooledConnection::detach(&mut c);
    assert_eq!(seq(&log), [ev("detach", a, r)]);
    log.clear();
    PooledConnection::detach(&mut c);
    assert_eq!(seq(&log), [], "a second detach does nothing");
    Ok(())
}

// test_pool.py PoolEventsTest.test_detach_close and semantics §2.7: closing a detached
// connection fires reset (with no record) and close_detached, in that order, and no
// checkin; the connection is rolled back and closed gracefully.
/// Closing a detached connection gives reset(no record), close_detached; no checkin.
pub fn detach_close_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    PooledConnection::detach(&mut c);
    log.clear();
    backend.log().clear();
    PooledConnection::close(c);
    assert_eq!(seq(&log), [("reset", Some(a), None), ("close_detached", Some(a), None)]);
    assert_eq!(backend.log().calls(), [Call::Rollback(a), Call::Close(a)]);
    Ok(())
}

// test_pool.py PoolEventsTest.test_first_connect_event: first_connect fires with the
// first connection and its record, before connect.
/// `first_connect` fires on the first connect, before `connect`.
pub fn first_connect_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    assert_eq!(
        seq_all(&log),
        [ev("first_connect", a, r), ev("connect", a, r), ev("checkout", a, r)]
    );
    Ok(())
}

// test_pool.py PoolEventsTest.test_first_connect_event_fires_once: two connections open
// at once give one first_connect and two connects; later checkouts add none.
/// `first_connect` fires once however many connections are opened.
pub fn first_connect_event_fires_once<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_concurrent::<H>()?;
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c1 = H::get(&p).expect("checkout");
    let c2 = H::get(&p).expect("checkout");
    assert_eq!(log.count("first_connect"), 1);
    assert_eq!(log.count("connect"), 2);
    drop((c1, c2));
    for _ in 0..5 {
        drop(H::get(&p).expect("checkout"));
    }
    let (c1, c2, c3) = (H::get(&p), H::get(&p), H::get(&p));
    drop((c1, c2, c3));
    assert_eq!(log.count("first_connect"), 1, "first_connect fires once per pool");
    assert_eq!(log.count("connect"), backend.log().connects());
    Ok(())
}

// semantics §2.3 step 5 (first_connect runs under a mutex; concurrent first connects
// wait for it): four threads connect at once while first_connect is slow. It runs once,
// and no connect listener runs before it has finished.
/// Concurrent first connects: `first_connect` runs once and the others wait for it.
pub fn first_connect_concurrent<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_several::<H>()?;
    const THREADS: usize = 4;
    let fake = FirstConnect { delay: Some(Duration::from_millis(50)), ..FirstConnect::default() };
    let p = build::<H, B>(
        backend,
        Spec::sized(THREADS, Some(0)).with_timeout(Some(Duration::from_secs(5))),
        |b| b.listener(fake.clone()),
    );
    let all_out = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let c = H::get(&p).expect("checkout");
                all_out.wait();
                drop(c);
            });
        }
    });
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1, "first_connect ran once");
    let order = fake.order.lock().clone();
    let mut wanted = vec!["first_connect:start", "first_connect:end"];
    wanted.extend(["connect"; THREADS]);
    assert_eq!(order, wanted, "no connect listener ran before first_connect finished");
    assert_eq!(backend.log().connects(), THREADS);
    Ok(())
}

// semantics §2.3 step 5 (exec_once_unless_exception): a first_connect that fails refuses
// that connection (our pool closes it at once; SQLAlchemy leaves it to the garbage
// collector) and leaves the counts as before; the next connect runs first_connect again,
// and once it has succeeded it never runs again.
/// A failed `first_connect` is retried on the next connect, then never again.
pub fn first_connect_retried_after_failure<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let fake = FirstConnect { fail_first: 1, ..FirstConnect::default() };
    let p = build::<H, B>(backend, Spec::sized(2, Some(0)).with_timeout(SHORT), |b| {
        b.listener(fake.clone())
    });
    let before = p.status();
    let err = H::get(&p).expect_err("first_connect refused the connection");
    assert!(matches!(err, CheckoutError::Listener(ref e) if !e.is_disconnect()), "{err}");
    assert_eq!(p.status(), before, "a refused connection leaves the counts as before");
    let a = opened(backend)[0];
    assert_eq!(backend.log().calls_for(a), [Call::Connect(a), Call::Terminate(a)]);
    assert_eq!(fake.order.lock().iter().filter(|e| **e == "connect").count(), 0);

    let c1 = H::get(&p).expect("first_connect runs again and succeeds");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 2);
    drop(c1);
    if H::caps().concurrent_checkouts {
        // A second connection is opened, and first_connect does not run for it.
        let (c1, c2) = (H::get(&p).expect("checkout"), H::get(&p).expect("checkout"));
        drop((c1, c2));
    } else {
        p.invalidate_all();
        drop(H::get(&p).expect("a replacement connection"));
    }
    // A pool that keeps no connection (NullPool) opened both of the last two anew.
    let opened = if H::caps().reuses_connections { 3 } else { 4 };
    assert_eq!(backend.log().connects(), opened, "a third connection was opened");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 2, "not again after a success");
    Ok(())
}

// test_pool.py PoolEventsTest.test_connect_event: connect fires with the new connection
// and its record; it does not fire again when the same idle connection is checked out.
/// `connect` fires for a new connection only.
pub fn connect_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    assert_eq!(log.events().iter().filter(|e| e.name == "connect").count(), 1);
    assert!(seq(&log).contains(&ev("connect", a, r)));
    drop(c);
    if H::caps().reuses_connections {
        drop(H::get(&p).expect("checkout"));
        assert_eq!(log.count("connect"), 1, "a reused connection is not connected again");
    }
    Ok(())
}

// test_pool.py PoolEventsTest.test_connect_insert_event: a listener registered with
// listen_first (SQLAlchemy's insert=True) runs before those registered earlier:
// two, one, three.
/// `listen_first` puts a listener in front: two, one, three.
pub fn connect_insert_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = build::<H, B>(backend, Spec::default(), |b| b);
    let out = Arc::new(Mutex::new(Vec::new()));
    p.listen(Canary { name: "one", out: out.clone() });
    p.listen_first(Canary { name: "two", out: out.clone() });
    p.listen(Canary { name: "three", out: out.clone() });
    let _c = H::get(&p).expect("checkout");
    assert_eq!(*out.lock(), ["two", "one", "three"]);
    Ok(())
}

// semantics §3 (ordering: registration order, insert prepends) and the instance-level
// half of test_pool.py PoolEventsTest.test_listen_targets_scope: listeners given to the
// builder run first, in order, then those added with listen, in order; listen_first goes
// in front of all of them.
/// Listeners run in registration order: builder, then `listen`; `listen_first` first.
pub fn listener_registration_order<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let out = Arc::new(Mutex::new(Vec::new()));
    let canary = |name| Canary { name, out: out.clone() };
    let p = build::<H, B>(backend, Spec::default(), |b| {
        b.listener(canary("b1")).listener(canary("b2"))
    });
    p.listen(canary("l1"));
    p.listen(canary("l2"));
    p.listen_first(canary("f1"));
    p.listen_first(canary("f2"));
    let _c = H::get(&p).expect("checkout");
    assert_eq!(*out.lock(), ["f2", "f1", "b1", "b2", "l1", "l2"]);
    Ok(())
}

// test_pool.py PoolEventsTest.test_listen_targets_scope (class-level part): SQLAlchemy
// lets listeners target the Pool class, the Engine class, an engine or a pool, and orders
// class-level ones first.
/// Class-level and engine-level listener targets (not expressible).
pub fn listen_targets_class_level<H: Harness, B: Backend>(_backend: &B) -> Outcome {
    Err(Skip::because(
        "listeners attach to one pool instance (builder, listen, listen_first); there is no \
         pool-type or engine-level registry whose listeners could run before them",
    ))
}

// test_pool.py PoolEventsTest.test_listen_targets_per_subclass, as far as it applies: in
// SQLAlchemy a listener reaches only the pools of the class it was registered on. Here
// every listener belongs to one pool: another pool of the same type and connector never
// sees it, while a pool recreated from it does.
/// A listener reaches its own pool (and its recreations), no other pool.
pub fn listeners_scoped_to_pool<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let other = build::<H, B>(backend, Spec::default(), |b| b);
    drop(H::get(&other).expect("checkout"));
    assert_eq!(seq_all(&log), [], "another pool's events reached this listener");
    drop(H::get(&p).expect("checkout"));
    assert_eq!(log.count("checkout"), 1);
    Ok(())
}

// test_pool.py PoolEventsTest.test_connect_event_fires_subsequent: two connections open
// at once give two connect events, one per connection.
/// Two connections at once give two `connect` events.
pub fn connect_event_fires_subsequent<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_concurrent::<H>()?;
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c1 = H::get(&p).expect("checkout");
    let c2 = H::get(&p).expect("checkout");
    let connects: Vec<_> =
        log.events().into_iter().filter(|e| e.name == "connect").map(|e| e.conn).collect();
    assert_eq!(connects, [Some(c1.conn_id()), Some(c2.conn_id())]);
    Ok(())
}

// test_pool.py PoolEventsTest.test_connect_on_previously_recreated: listeners are carried
// into a pool recreated before any use: one connect on each pool. Their once-only state
// is not carried, so first_connect fires on each (semantics §3).
/// Listeners carry into a pool recreated before use; `first_connect` fires on each.
pub fn connect_on_previously_recreated<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let p2 = p.recreate();
    let c1 = H::get(&p).expect("checkout");
    let c2 = H::get(&p2).expect("checkout");
    assert_eq!(log.count("connect"), 2);
    assert_eq!(log.count("first_connect"), 2, "first_connect fires again on a recreated pool");
    drop((c1, c2));
    Ok(())
}

// test_pool.py PoolEventsTest.test_connect_on_subsequently_recreated: the same with the
// pool recreated after a connect.
/// Listeners carry into a pool recreated after use.
pub fn connect_on_subsequently_recreated<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    drop(H::get(&p).expect("checkout"));
    let p2 = p.recreate();
    drop(H::get(&p2).expect("checkout"));
    assert_eq!(log.count("connect"), 2);
    Ok(())
}

// test_pool.py PoolEventsTest.test_checkout_event: checkout fires with the connection and
// its record at every checkout, including a re-checkout of an idle connection.
/// `checkout` fires at every checkout.
pub fn checkout_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    assert_eq!(seq(&log).last(), Some(&ev("checkout", a, r)));
    assert_eq!(log.count("checkout"), 1);
    drop(c);
    let c = H::get(&p).expect("checkout");
    assert_eq!(log.count("checkout"), 2);
    assert_eq!(seq(&log).last(), Some(&ev("checkout", c.conn_id(), rec_id(&c))));
    Ok(())
}

// test_pool.py PoolEventsTest.test_checkout_event_fires_subsequent: two connections out at
// once give two checkout events.
/// Two checkouts at once give two `checkout` events.
pub fn checkout_event_fires_subsequent<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_concurrent::<H>()?;
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c1 = H::get(&p).expect("checkout");
    let c2 = H::get(&p).expect("checkout");
    let outs: Vec<_> =
        log.events().into_iter().filter(|e| e.name == "checkout").map(|e| e.conn).collect();
    assert_eq!(outs, [Some(c1.conn_id()), Some(c2.conn_id())]);
    Ok(())
}

// test_pool.py PoolEventsTest.test_checkout_event_on_subsequently_recreated: the checkout
// listener fires on the original pool and on the pool recreated from it.
/// `checkout` listeners carry over to a recreated pool.
pub fn checkout_event_on_subsequently_recreated<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c1 = H::get(&p).expect("checkout");
    let p2 = p.recreate();
    let c2 = H::get(&p2).expect("checkout");
    assert_eq!(log.count("checkout"), 2);
    drop((c1, c2));
    Ok(())
}

// test_pool.py PoolEventsTest.test_checkin_event: checkin does not fire at checkout; it
// fires at close, with the connection and its record, after reset.
/// `checkin` fires at close, not at checkout.
pub fn checkin_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    assert_eq!(log.count("checkin"), 0);
    log.clear();
    PooledConnection::close(c);
    let events = seq(&log);
    assert_eq!(events.iter().filter(|e| e.0 == "checkin").count(), 1);
    assert_eq!(events[..2], [ev("reset", a, r), ev("checkin", a, r)]);
    Ok(())
}

// test_pool.py PoolEventsTest.test_reset_event: reset does not fire at checkout; it fires
// at close, with the connection and its record, before the rollback.
/// `reset` fires at close, before the rollback, not at checkout.
pub fn reset_event<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    assert_eq!(log.count("reset"), 0);
    log.clear();
    drop(c);
    assert_eq!(seq(&log)[0], ev("reset", a, r));
    assert_eq!(log.count("reset"), 1);
    assert!(backend.log().calls().contains(&Call::Rollback(a)));
    Ok(())
}

// test_pool.py PoolEventsTest.test_checkin_event_gc: SQLAlchemy returns a fairy that
// the garbage collector collects unclosed with reset then checkin, keeping the
// connection pooled (sync dialects; its asyncio variants detach instead). Dropping a
// guard is the deterministic analogue: reset, checkin, rolled back and kept idle.
/// Dropping an unclosed guard gives reset, checkin and keeps the connection pooled.
pub fn checkin_event_on_drop<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let (a, r) = {
        let c = H::get(&p).expect("checkout");
        log.clear();
        (c.conn_id(), rec_id(&c))
    };
    assert_eq!(seq(&log), [ev("reset", a, r), ev("checkin", a, r)]);
    assert_eq!(backend.log().calls_for(a), [Call::Connect(a), Call::Rollback(a)]);
    assert_eq!(p.status().idle, 1, "kept in the pool");
    Ok(())
}

// test_pool.py PoolEventsTest.test_checkin_event_on_subsequently_recreated: checkin
// listeners fire on the original and on the recreated pool.
/// `checkin` listeners carry over to a recreated pool.
pub fn checkin_event_on_subsequently_recreated<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let c1 = H::get(&p).expect("checkout");
    let p2 = p.recreate();
    let c2 = H::get(&p2).expect("checkout");
    assert_eq!(log.count("checkin"), 0);
    drop(c1);
    assert_eq!(log.count("checkin"), 1);
    drop(c2);
    assert_eq!(log.count("checkin"), 2);
    Ok(())
}

/// Soft- or hard-invalidates a fresh checkout with `reason`; returns the connection id,
/// the record id and the events from the invalidation on (the connection is then
/// returned).
fn invalidate_events<H: Harness, B: Backend>(
    backend: &B,
    soft: bool,
    reason: Option<&(dyn StdError + 'static)>,
) -> (u64, u64, EventLog) {
    let (p, log) = logged::<H, B>(backend, Spec::default());
    let mut c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    log.clear();
    if soft {
        PooledConnection::soft_invalidate(&mut c, reason);
        drop(c);
    } else {
        PooledConnection::invalidate(c, reason);
    }
    (a, r, log)
}

// test_pool.py PoolEventsTest.test_soft_invalidate_event_no_exception: soft_invalidate
// fires with the connection, its record and no reason; the close that follows does not
// fire it again.
/// `soft_invalidate` fires with no reason, once.
pub fn soft_invalidate_event_no_exception<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (a, r, log) = invalidate_events::<H, B>(backend, true, None);
    let events = log.events();
    assert_eq!((events[0].name, events[0].conn, events[0].record), ev("soft_invalidate", a, r));
    assert_eq!(events[0].reason, None);
    assert_eq!(log.count("soft_invalidate"), 1, "not fired again by the close");
    assert_eq!(log.count("invalidate"), 0);
    Ok(())
}

// test_pool.py PoolEventsTest.test_soft_invalidate_event_exception: the reason given to
// soft_invalidate reaches the event.
/// `soft_invalidate` receives the reason.
pub fn soft_invalidate_event_exception<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (a, r, log) = invalidate_events::<H, B>(backend, true, Some(&Reason("soft reason")));
    let events = log.events();
    assert_eq!((events[0].name, events[0].conn, events[0].record), ev("soft_invalidate", a, r));
    assert_eq!(events[0].reason.as_deref(), Some("soft reason"));
    Ok(())
}

// test_pool.py PoolEventsTest.test_invalidate_event_no_exception: invalidate fires with the
// connection, its record and no reason.
/// `invalidate` fires with no reason.
pub fn invalidate_event_no_exception<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (a, r, log) = invalidate_events::<H, B>(backend, false, None);
    let events = log.events();
    assert_eq!((events[0].name, events[0].conn, events[0].record), ev("invalidate", a, r));
    assert_eq!(events[0].reason, None);
    assert_eq!(log.count("invalidate"), 1);
    Ok(())
}

// test_pool.py PoolEventsTest.test_invalidate_event_exception: the reason given to
// invalidate reaches the event.
/// `invalidate` receives the reason.
pub fn invalidate_event_exception<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (a, r, log) = invalidate_events::<H, B>(backend, false, Some(&Reason("hard reason")));
    let events = log.events();
    assert_eq!((events[0].name, events[0].conn, events[0].record), ev("invalidate", a, r));
    assert_eq!(events[0].reason.as_deref(), Some("hard reason"));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Exact sequences of semantics §2 and §3.

// semantics §2.6 (event order for a hard invalidate of a checked-out connection):
// invalidate, close, checkin with no connection; no reset, and the connection is closed
// abruptly, never rolled back.
/// Hard invalidate: invalidate, close, checkin(None); no reset.
pub fn hard_invalidate_sequence<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let (a, r, log) = invalidate_events::<H, B>(backend, false, None);
    assert_eq!(seq(&log), [ev("invalidate", a, r), ev("close", a, r), ("checkin", None, Some(r))]);
    assert_eq!(backend.log().calls_for(a), [Call::Connect(a), Call::Terminate(a)]);
    Ok(())
}

// semantics §2.6 (soft invalidate): soft_invalidate at once; the close is a normal
// reset, checkin; the next checkout closes it and connects a new one on the same record,
// then checkout.
/// Soft invalidate: soft_invalidate; reset, checkin; then close, connect, checkout.
pub fn soft_invalidate_sequence<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let (p, log) = logged::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT));
    let mut c = H::get(&p).expect("checkout");
    let (a, r) = (c.conn_id(), rec_id(&c));
    log.clear();
    PooledConnection::soft_invalidate(&mut c, None);
    assert_eq!(seq(&log), [ev("soft_invalidate", a, r)]);
    drop(c);
    assert_eq!(seq(&log), [ev("soft_invalidate", a, r), ev("reset", a, r), ev("checkin", a, r)]);
    log.clear();
    let c = H::get(&p).expect("checkout");
    let b = c.conn_id();
    assert_ne!(a, b);
    assert_eq!(seq(&log), [ev("close", a, r), ev("connect", b, r), ev("checkout", b, r)]);
    Ok(())
}

// semantics §2.2 (a checkout listener that always reports a disconnect): it is called
// twice, three connections are opened, the third is invalidated at once, the caller gets
// "This connection is closed", and the record is back, empty. The exact sequence:
// connect c1, checkout c1, invalidate c1, close c1, connect c2, checkout c2,
// invalidate c2, close c2, connect c3, invalidate c3, close c3, checkin None. A second
// attempt is not blocked (the slot of a 1-connection pool was returned) and leaves the
// same counts.
/// A checkout listener always disconnecting: 2 calls, 3 connections, then `Closed`.
pub fn checkout_disconnect_retries<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = EventLog::new();
    let refuse = RefuseCheckout { disconnect: true, ..RefuseCheckout::default() };
    let p = build::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT), |b| {
        b.listener(log.clone()).listener(refuse.clone())
    });
    let before = p.status();
    let err = H::get(&p).expect_err("every pass reports a disconnect");
    assert!(matches!(err, CheckoutError::Closed), "{err}");
    assert_eq!(refuse.calls.load(Ordering::SeqCst), 2, "the listener is called twice");
    let ids = opened(backend);
    assert_eq!(ids.len(), 3, "three connections are opened");
    let (c1, c2, c3) = (ids[0], ids[1], ids[2]);
    let events = seq(&log);
    let r = events[0].2.expect("connect carries the record");
    assert_eq!(
        events,
        [
            ev("connect", c1, r),
            ev("checkout", c1, r),
            ev("invalidate", c1, r),
            ev("close", c1, r),
            ev("connect", c2, r),
            ev("checkout", c2, r),
            ev("invalidate", c2, r),
            ev("close", c2, r),
            ev("connect", c3, r),
            ev("invalidate", c3, r),
            ev("close", c3, r),
            ("checkin", None, Some(r)),
        ]
    );
    let reasons: Vec<_> = log.events().into_iter().filter(|e| e.name == "invalidate").collect();
    for e in &reasons[..2] {
        let reason = e.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("connection went away"), "{reason}");
    }
    assert_eq!(backend.log().open(), 0, "every connection was closed");
    let after = p.status();
    assert_eq!(after.checked_out, before.checked_out, "nothing is left checked out");
    assert_eq!(after.waiting, 0);

    let err = H::get(&p).expect_err("the same again");
    assert!(matches!(err, CheckoutError::Closed), "not blocked by a leaked slot: {err}");
    assert_eq!(p.status(), after, "a second failure leaves the same counts");
    assert_eq!(refuse.calls.load(Ordering::SeqCst), 4);
    Ok(())
}

// semantics §2.2 (a checkout listener raising anything but a disconnect, 1.4.46+):
// checkout, invalidate, close, checkin(None), and the error reaches the caller; the
// connection is closed and the record returned.
/// A checkout listener failing: invalidate, close, checkin(None); the error propagates.
pub fn checkout_listener_error<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = EventLog::new();
    let refuse = RefuseCheckout::default();
    let p = build::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT), |b| {
        b.listener(log.clone()).listener(refuse.clone())
    });
    let err = H::get(&p).expect_err("the listener refuses");
    match &err {
        CheckoutError::Listener(e) => {
            assert!(!e.is_disconnect());
            assert!(e.to_string().contains("checkout refused"), "{e}");
        }
        other => panic!("expected the listener's error, got {other}"),
    }
    assert_eq!(refuse.calls.load(Ordering::SeqCst), 1, "no retry");
    let ids = opened(backend);
    assert_eq!(ids.len(), 1);
    let a = ids[0];
    let events = seq(&log);
    let r = events[0].2.expect("record");
    assert_eq!(
        events,
        [
            ev("connect", a, r),
            ev("checkout", a, r),
            ev("invalidate", a, r),
            ev("close", a, r),
            ("checkin", None, Some(r)),
        ]
    );
    let invalidate = log.events().into_iter().find(|e| e.name == "invalidate");
    let reason = invalidate.and_then(|e| e.reason).unwrap_or_default();
    assert!(reason.contains("checkout refused"), "the invalidate event carries it: {reason}");
    assert_eq!(backend.log().calls_for(a), [Call::Connect(a), Call::Terminate(a)]);
    assert_eq!(p.status().checked_out, 0);
    Ok(())
}

// test_pool.py PoolEventsTest.test_connect_event_fails_invalidates: a connect listener
// that fails when a pooled record reconnects (after an invalidate) fails the checkout,
// closes the new connection and gives the slot back, so a pool of one connection is not
// blocked; once the listener works again, the next checkout connects and the other
// connect listener's info is set.
/// A failing `connect` on a record's reconnect invalidates it and returns the slot.
pub fn connect_event_fails_invalidates<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = EventLog::new();
    let gate = ConnectGate::default();
    let p = build::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(SHORT), |b| {
        b.listener(gate.clone()).listener(SetFlag).listener(log.clone())
    });
    let c = H::get(&p).expect("checkout");
    let r = rec_id(&c);
    assert!(PooledConnection::info(&c).contains::<ImportantFlag>());
    PooledConnection::invalidate(c, None);

    gate.fail.store(true, Ordering::SeqCst);
    log.clear();
    let err = H::get(&p).expect_err("the connect listener refuses the reconnect");
    assert!(matches!(err, CheckoutError::Listener(_)), "{err}");
    let b = *opened(backend).last().expect("the reconnect opened a connection");
    assert_eq!(
        seq(&log),
        [ev("invalidate", b, r), ev("close", b, r), ("checkin", None, Some(r))],
        "the refused connection is invalidated and the record checked in"
    );
    assert_eq!(backend.log().calls_for(b), [Call::Connect(b), Call::Terminate(b)]);
    assert_eq!(p.status().checked_out, 0);

    gate.fail.store(false, Ordering::SeqCst);
    let c = H::get(&p).expect("the slot was returned: the pool is not blocked");
    assert_eq!(rec_id(&c), r);
    assert!(PooledConnection::info(&c).contains::<ImportantFlag>());
    Ok(())
}
