//! Checks: the checkout path (pre-ping, recycle, pool-wide invalidation), SQLAlchemy's
//! `_ConnectionFairy._checkout` loop and `_ConnectionRecord.get_connection`.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use pool_core::{CheckoutError, Connector, PooledConnection, Strategy};

use super::{needs_concurrent, needs_reuse};
use crate::{build, pool, Backend, Call, EventLog, Harness, Identified, Outcome, Spec};

/// The record id of a checked-out connection.
fn record_id<C: Connector, S: Strategy<C>>(c: &PooledConnection<C, S>) -> u64 {
    PooledConnection::record(c).expect("a pooled connection has a record").id()
}

// semantics §2.2 step 4 (#4524): with pre_ping, a connection taken from the pool is pinged
// once per checkout; a connection the checkout itself opened (a new entry, or an emptied
// record reconnecting) is fresh and is not pinged.
/// Pre-ping pings a pooled connection exactly once and never a connection this checkout opened.
pub fn checkout_pre_ping_pooled_once<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let p = build::<H, B>(backend, Spec::default(), |b| b.pre_ping(true));

    let c = H::get(&p).expect("first checkout");
    let id = c.conn_id();
    assert_eq!(log.calls(), vec![Call::Connect(id)], "a new connection must not be pinged");
    drop(c);

    log.clear();
    let c = H::get(&p).expect("second checkout");
    assert_eq!(c.conn_id(), id, "the pooled connection is reused");
    assert_eq!(log.calls(), vec![Call::Ping(id)], "a pooled connection is pinged exactly once");

    // An invalidated record reconnects at its next checkout: that connection is fresh.
    PooledConnection::invalidate(c, None);
    log.clear();
    let c = H::get(&p).expect("checkout after an invalidation");
    let fresh = c.conn_id();
    assert_ne!(fresh, id);
    assert_eq!(
        log.calls(),
        vec![Call::Connect(fresh)],
        "a connection opened by the checkout (reconnect of an emptied record) must not be pinged"
    );
    drop(c);

    // Freshness lasts one checkout only.
    log.clear();
    let c = H::get(&p).expect("checkout of the reconnected connection");
    assert_eq!(c.conn_id(), fresh);
    assert_eq!(log.calls(), vec![Call::Ping(fresh)], "freshness is consumed by one checkout");
    Ok(())
}

// semantics §2.2 step 4 (verified: a ping returning False): a ping that reports a disconnect
// invalidates the connection and the pool (InvalidatePoolError), reconnects without pinging
// the new connection, and every idle connection opened before is replaced at its own next
// checkout, again without a ping: exactly one ping in all.
/// A disconnect on ping invalidates the pool; the old idle connections are replaced unpinged.
pub fn checkout_ping_disconnect_invalidates_pool<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    needs_reuse::<H>()?;
    needs_concurrent::<H>()?;
    let log = backend.log();
    let events = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| b.pre_ping(true).listener(events.clone()));

    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("checkout")).collect();
    let old: HashSet<u64> = held.iter().map(|c| c.conn_id()).collect();
    drop(held);
    let generation = p.generation();

    log.clear();
    events.clear();
    script.fail_pings(1, true);
    let first = H::get(&p).expect("a disconnect on ping reconnects and succeeds");
    let new = first.conn_id();
    let calls = log.calls();
    let &[Call::Ping(x), Call::Terminate(y), Call::Connect(z)] = calls.as_slice() else {
        panic!("expected ping, terminate, connect; got {calls:?}")
    };
    assert!(old.contains(&x), "the pinged connection is a pooled one: {calls:?}");
    assert_eq!((y, z), (x, new), "the pinged connection is terminated and replaced: {calls:?}");
    assert_eq!(p.generation(), generation + 1, "a disconnect on ping invalidates the pool");
    assert_eq!(
        events.named_ids(),
        vec![
            ("invalidate", Some(x)),
            ("close", Some(x)),
            ("connect", Some(new)),
            ("checkout", Some(new)),
        ]
    );
    assert_eq!(events.events()[0].reason.as_deref(), Some("ping: connection lost"));

    // The other idle connections belong to the invalidated generation: each is replaced at
    // its own checkout, and the replacement is fresh, so not pinged.
    let mut replaced = vec![x];
    let mut held = vec![first];
    for _ in 0..2 {
        log.clear();
        let c = H::get(&p).expect("checkout of a stale idle connection");
        let calls = log.calls();
        let &[Call::Terminate(stale), Call::Connect(opened)] = calls.as_slice() else {
            panic!("a stale idle connection must be replaced without a ping; got {calls:?}")
        };
        assert!(old.contains(&stale) && !replaced.contains(&stale), "{calls:?}");
        assert_eq!(opened, c.conn_id());
        replaced.push(stale);
        held.push(c);
    }
    assert_eq!(p.generation(), generation + 1, "replacing stale connections does not invalidate");
    let current: HashSet<u64> = held.iter().map(|c| c.conn_id()).collect();
    drop(held);

    // The replacements are ordinary pooled connections now: pinged once each.
    log.clear();
    let c = H::get(&p).expect("checkout after the replacements");
    assert!(current.contains(&c.conn_id()));
    assert_eq!(log.calls(), vec![Call::Ping(c.conn_id())]);
    Ok(())
}

// semantics §2.2 (a do_ping that raises a non-disconnect error): the checkout fails with
// that error, the connection is invalidated (closed) and its record checked back in; the
// pool generation is not touched.
/// A ping failing with a non-disconnect error fails the checkout with `CheckoutError::Ping`.
pub fn checkout_ping_error_fails<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    needs_reuse::<H>()?;
    let log = backend.log();
    let events = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| b.pre_ping(true).listener(events.clone()));
    let c = H::get(&p).expect("first checkout");
    let (id, rec) = (c.conn_id(), record_id(&c));
    drop(c);
    let before = p.status();
    let generation = p.generation();

    log.clear();
    events.clear();
    script.fail_pings(1, false);
    match H::get(&p) {
        Err(CheckoutError::Ping(e)) => assert_eq!(e.to_string(), "ping: syntax error"),
        other => panic!("expected CheckoutError::Ping, got {other:?}"),
    }
    assert_eq!(log.calls(), vec![Call::Ping(id), Call::Terminate(id)]);
    assert_eq!(
        events.named_ids(),
        vec![("invalidate", Some(id)), ("close", Some(id)), ("checkin", None)]
    );
    assert_eq!(p.status(), before, "a failed ping leaves the counts as they were");
    assert_eq!(p.generation(), generation, "only a disconnect invalidates the pool");

    log.clear();
    let c = H::get(&p).expect("the record reconnects at its next checkout");
    assert_eq!(record_id(&c), rec);
    assert_eq!(log.calls(), vec![Call::Connect(c.conn_id())], "the reconnect is not pinged");
    Ok(())
}

// semantics §1.1 pre_ping (verified with the stub dialect): without ping support, the
// checkout of a pooled connection fails (our CheckoutError::PingUnsupported for SQLAlchemy's
// NotImplementedError) after the record is invalidated and checked in; a fresh connection
// needs no ping, so the first checkout succeeds.
/// Pre-ping with a connector that cannot ping fails pooled checkouts with `PingUnsupported`.
pub fn checkout_ping_unsupported<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let script = backend.script()?;
    needs_reuse::<H>()?;
    script.disable_ping();
    let log = backend.log();
    let p = build::<H, B>(backend, Spec::default(), |b| b.pre_ping(true));
    let c = H::get(&p).expect("a fresh connection needs no ping");
    let id = c.conn_id();
    drop(c);
    let before = p.status();

    log.clear();
    match H::get(&p) {
        Err(CheckoutError::PingUnsupported) => {}
        other => panic!("expected CheckoutError::PingUnsupported, got {other:?}"),
    }
    assert_eq!(p.status(), before, "the failed checkout leaves the counts as they were");
    assert_eq!(log.calls(), vec![Call::Terminate(id)], "the unpingable connection is closed");

    log.clear();
    let c = H::get(&p).expect("the emptied record reconnects, fresh, without a ping");
    assert_eq!(log.calls(), vec![Call::Connect(c.conn_id())]);
    Ok(())
}

// test_pool.py QueuePoolTest.test_recycle: a connection is reused while younger than
// `recycle` and replaced once older (SQLAlchemy patches time.time; we sleep past a short
// age). The replacement happens on the same record: terminate the old, connect a new one.
/// With `recycle`, a young connection is reused and an old one replaced on the same record.
pub fn checkout_recycle<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let events = EventLog::new();
    let age = Duration::from_millis(50);
    let p = build::<H, B>(backend, Spec::default(), |b| b.recycle(age).listener(events.clone()));

    let started = Instant::now();
    let c = H::get(&p).expect("first checkout");
    let (id, rec) = (c.conn_id(), record_id(&c));
    drop(c);
    let c = H::get(&p).expect("immediate reuse");
    // The connection was opened after `started`: if less than `age` has passed since, it
    // was younger than `age` at this checkout and must have been kept.
    if started.elapsed() < age {
        assert_eq!(c.conn_id(), id, "a connection younger than recycle is reused");
    }
    drop(c);

    thread::sleep(Duration::from_millis(120));
    log.clear();
    events.clear();
    let c = H::get(&p).expect("checkout after the recycle age");
    let new = c.conn_id();
    assert_ne!(new, id, "a connection older than recycle is replaced");
    assert_eq!(record_id(&c), rec, "the replacement lives on the same record");
    assert_eq!(log.calls(), vec![Call::Terminate(id), Call::Connect(new)]);
    assert_eq!(
        events.named_ids(),
        vec![("close", Some(id)), ("connect", Some(new)), ("checkout", Some(new))]
    );
    Ok(())
}

// test_pool.py QueuePoolTest.test_recycle_on_invalidate: invalidating the pool through a
// connection (`p._invalidate(c2)`, our `PooledConnection::invalidate_pool`) closes that
// connection at once and the next checkout gets a new one. SQLAlchemy sleeps 0.5 s so that
// its timestamp moves; the generation counter needs no sleep.
/// `invalidate_pool` closes the connection at once; the next checkout opens a new one.
pub fn checkout_recycle_on_invalidate<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let events = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| b.listener(events.clone()));
    let c1 = H::get(&p).expect("checkout");
    let id = c1.conn_id();
    drop(c1);
    let c2 = H::get(&p).expect("checkout");
    assert_eq!(c2.conn_id(), id, "the pooled connection is reused");
    let rec = record_id(&c2);

    log.clear();
    events.clear();
    PooledConnection::invalidate_pool(c2, None);
    assert_eq!(log.calls(), vec![Call::Terminate(id)], "the connection is closed at once");
    assert_eq!(
        events.named_ids(),
        vec![("invalidate", Some(id)), ("close", Some(id)), ("checkin", None)]
    );

    log.clear();
    let c3 = H::get(&p).expect("checkout after the invalidation");
    assert_ne!(c3.conn_id(), id);
    assert_eq!(record_id(&c3), rec);
    assert_eq!(log.calls(), vec![Call::Connect(c3.conn_id())]);
    Ok(())
}

// test_pool.py QueuePoolTest.test_recycle_on_soft_invalidate: a soft-invalidated
// connection stays usable and on its record; it is returned normally, and the next
// checkout replaces it on the same record.
/// A soft invalidation keeps the connection until its return; the next checkout replaces it.
pub fn checkout_recycle_on_soft_invalidate<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    let log = backend.log();
    let events = EventLog::new();
    let p = build::<H, B>(backend, Spec::default(), |b| b.listener(events.clone()));
    let c1 = H::get(&p).expect("checkout");
    let id = c1.conn_id();
    drop(c1);
    let mut c2 = H::get(&p).expect("checkout");
    assert_eq!(c2.conn_id(), id);
    let rec = record_id(&c2);

    log.clear();
    events.clear();
    PooledConnection::soft_invalidate(&mut c2, None);
    assert_eq!(events.named_ids(), vec![("soft_invalidate", Some(id))]);
    assert!(log.calls().is_empty(), "a soft invalidation closes nothing");
    assert_eq!(c2.conn_id(), id, "the record keeps the same connection");
    B::exercise(&mut c2).expect("a soft-invalidated connection stays usable");
    assert!(PooledConnection::record(&c2).expect("record").is_soft_invalidated());
    drop(c2);
    assert_eq!(log.calls(), vec![Call::Rollback(id)], "it is returned (and reset) normally");

    log.clear();
    events.clear();
    let c3 = H::get(&p).expect("checkout after the soft invalidation");
    let new = c3.conn_id();
    assert_ne!(new, id);
    assert_eq!(record_id(&c3), rec, "the replacement lives on the same record");
    assert_eq!(log.calls(), vec![Call::Terminate(id), Call::Connect(new)]);
    assert_eq!(
        events.named_ids(),
        vec![("close", Some(id)), ("connect", Some(new)), ("checkout", Some(new))]
    );
    Ok(())
}

// semantics §2.6 pool._invalidate (without a connection) and §2.3: every connection opened
// before the invalidation is replaced lazily at its next checkout; nothing is closed now,
// and connections opened after it are kept.
/// `invalidate_all` replaces every older connection at its next checkout, and no newer one.
pub fn checkout_invalidate_all<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    needs_concurrent::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let held: Vec<_> = (0..2).map(|_| H::get(&p).expect("checkout")).collect();
    let old: HashSet<u64> = held.iter().map(|c| c.conn_id()).collect();
    drop(held);
    let generation = p.generation();

    log.clear();
    p.invalidate_all();
    assert_eq!(p.generation(), generation + 1);
    assert!(log.calls().is_empty(), "nothing is closed eagerly: {:?}", log.calls());

    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("checkout")).collect();
    let new: HashSet<u64> = held.iter().map(|c| c.conn_id()).collect();
    assert!(old.is_disjoint(&new), "every connection opened before is replaced");
    let terminated: HashSet<u64> = log
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Terminate(id) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(terminated, old, "each old connection is closed at its own checkout");
    assert_eq!(log.connects(), 3);
    drop(held);

    log.clear();
    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("checkout")).collect();
    let again: HashSet<u64> = held.iter().map(|c| c.conn_id()).collect();
    assert_eq!(again, new, "connections opened after the invalidation are kept");
    assert!(log.calls().is_empty(), "no replacement: {:?}", log.calls());
    Ok(())
}

// semantics §5.1 (time precision) and §2.3: SQLAlchemy compares `time.time()` with a strict
// `>`, so an invalidation in the same clock tick as a connect does not recycle that
// connection. Our generation counter has no tick: the connection is replaced whatever the
// timing.
/// An invalidation right after a connect, with no sleep, still replaces that connection.
pub fn checkout_same_tick_invalidation<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_reuse::<H>()?;
    needs_concurrent::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());

    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    drop(c);
    p.invalidate_all();
    log.clear();
    let c = H::get(&p).expect("checkout after the invalidation");
    assert_eq!(log.calls(), vec![Call::Terminate(id), Call::Connect(c.conn_id())]);
    drop(c);

    // Two connections opened back to back; invalidating the pool through one replaces the
    // other at its next checkout.
    let a = H::get(&p).expect("checkout");
    let b = H::get(&p).expect("checkout");
    let b_id = b.conn_id();
    drop(b);
    PooledConnection::invalidate_pool(a, None);
    log.clear();
    let held: Vec<_> = (0..2).map(|_| H::get(&p).expect("checkout")).collect();
    assert!(held.iter().all(|c| c.conn_id() != b_id), "the sibling must be replaced");
    assert!(log.calls().contains(&Call::Terminate(b_id)), "{:?}", log.calls());
    Ok(())
}

// semantics §2.6 pool._invalidate: the pool timestamp moves only when the connection is
// not older than the last invalidation; with generations, invalidating the pool through a
// connection of an older generation does not invalidate again.
/// `invalidate_pool` bumps the generation only for a connection of the current generation.
pub fn checkout_invalidate_pool_generation_once<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_concurrent::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let generation = p.generation();
    let a = H::get(&p).expect("checkout");
    let b = H::get(&p).expect("checkout");
    let (a_id, b_id) = (a.conn_id(), b.conn_id());
    assert_eq!(PooledConnection::record(&a).expect("record").generation(), generation);

    PooledConnection::invalidate_pool(a, None);
    assert_eq!(p.generation(), generation + 1, "the first invalidation bumps the generation");
    PooledConnection::invalidate_pool(b, None);
    assert_eq!(p.generation(), generation + 1, "a stale connection does not bump it again");
    let calls = log.calls();
    assert!(calls.contains(&Call::Terminate(a_id)) && calls.contains(&Call::Terminate(b_id)));

    let c = H::get(&p).expect("checkout");
    assert_eq!(PooledConnection::record(&c).expect("record").generation(), generation + 1);
    PooledConnection::invalidate_pool(c, None);
    assert_eq!(p.generation(), generation + 2, "a current connection bumps it");
    Ok(())
}

// semantics §2.2 step 4: without checkout listeners and without pre_ping the checkout
// returns at once; pre_ping alone decides whether there is a ping.
/// Without `pre_ping` no checkout pings, with or without listeners.
pub fn checkout_no_ping_without_pre_ping<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    let plain = pool::<H, B>(backend, Spec::default());
    for _ in 0..3 {
        drop(H::get(&plain).expect("checkout"));
    }
    let events = EventLog::new();
    let listened = build::<H, B>(backend, Spec::default(), |b| b.listener(events.clone()));
    for _ in 0..3 {
        drop(H::get(&listened).expect("checkout"));
    }
    assert_eq!(events.count("checkout"), 3);
    assert_eq!(log.count(|c| matches!(c, Call::Ping(_))), 0, "{:?}", log.calls());
    Ok(())
}
