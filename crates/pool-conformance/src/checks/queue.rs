//! QueuePool's sizing, overflow, timeout and ordering (SQLAlchemy's `QueuePoolTest`, and
//! the `QueuePool` contract of semantics §1.2).
//!
//! The counts are read through [`PoolStatus`]: `(size, idle, overflow, checked_out)` are
//! SQLAlchemy's `(size(), checkedin(), overflow(), checkedout())`. Checks whose behaviour
//! any bounded pool shares also run for pools without QueuePool's counts (an async pool
//! over deadpool): those follow `(idle, checked_out, waiting)` instead (`basic_counts`).

use std::fmt;
use std::thread;
use std::time::{Duration, Instant};

use pool_core::{
    CheckoutError, PoolStatus, PooledConnection, ResetOnReturn, Strategy, TimeoutError,
};

use super::{
    needs, needs_bounded_wait, needs_concurrent, needs_counts, needs_overflow, needs_pool_counts,
};
use crate::{build, pool, Backend, Call, Harness, Identified, Outcome, Skip, Spec};

/// A connection checked out of the pool a check builds for `H` on `B`.
pub(crate) type Guard<H, B> = PooledConnection<
    <B as Backend>::Connector,
    <H as Harness>::Strategy<<B as Backend>::Connector>,
>;

/// `(size, idle, overflow, checked_out)`, the tuple SQLAlchemy's tests compare.
pub(crate) fn counts(s: PoolStatus) -> (usize, usize, isize, usize) {
    (s.pool_size, s.idle, s.overflow, s.checked_out)
}

/// `(idle, checked_out, waiting)`: the counts of any pool that keeps connections and makes
/// callers wait, compared where a pool does not report QueuePool's counts.
pub(crate) fn basic_counts(s: PoolStatus) -> (usize, usize, usize) {
    (s.idle, s.checked_out, s.waiting)
}

/// The name the harness's strategy uses in its messages (`"QueuePool"`).
fn pool_name<H: Harness, B: Backend>() -> &'static str {
    <H::Strategy<B::Connector> as Strategy<B::Connector>>::NAME
}

/// The `Debug` form of the strategy settings the harness makes for `spec`; the settings
/// type is generic, so its rendering is the only view a check has of it.
fn config_text<H: Harness, B: Backend>(spec: &Spec) -> String {
    format!("{:?}", H::config::<B::Connector>(spec))
}

/// Polls `cond` until it holds, failing the check after 5 s.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up after 5 s waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The timeout a checkout failed with; anything else fails the check.
pub(crate) fn expect_timeout<T, E: fmt::Debug>(
    result: Result<T, CheckoutError<E>>,
) -> TimeoutError {
    match result {
        Err(CheckoutError::Timeout(e)) => e,
        Err(other) => panic!("expected a timeout, got {other:?}"),
        Ok(_) => panic!("expected a timeout, got a connection"),
    }
}

/// Runs SQLAlchemy's `_do_testqueuepool` on a (3 + unlimited) pool, returning each
/// connection with `give_back`.
fn accounting<H: Harness, B: Backend>(backend: &B, give_back: fn(Guard<H, B>)) -> Outcome {
    needs_overflow::<H>()?;
    needs_counts::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(3, None));
    let st = || counts(p.status());
    let c1 = H::get(&p).expect("checkout 1");
    assert_eq!(st(), (3, 0, -2, 1));
    let c2 = H::get(&p).expect("checkout 2");
    assert_eq!(st(), (3, 0, -1, 2));
    let c3 = H::get(&p).expect("checkout 3");
    assert_eq!(st(), (3, 0, 0, 3));
    let c4 = H::get(&p).expect("checkout 4");
    assert_eq!(st(), (3, 0, 1, 4));
    let c5 = H::get(&p).expect("checkout 5");
    assert_eq!(st(), (3, 0, 2, 5));
    let c6 = H::get(&p).expect("checkout 6");
    assert_eq!(st(), (3, 0, 3, 6));
    let ids = [&c1, &c2, &c3, &c4, &c5, &c6].map(|c| c.conn_id());
    give_back(c4);
    give_back(c3);
    give_back(c2);
    assert_eq!(st(), (3, 3, 3, 3), "three returned into a pool of size 3 are all kept");
    give_back(c1);
    give_back(c5);
    give_back(c6);
    assert_eq!(st(), (3, 3, 0, 0), "returns to a full pool close the connection");
    let closed: Vec<Call> = backend.log().calls().into_iter().filter(|c| c.is_close()).collect();
    assert_eq!(
        closed,
        vec![Call::Close(ids[0]), Call::Close(ids[4]), Call::Close(ids[5])],
        "the three returned last, to a full pool, are closed gracefully"
    );
    let c1 = H::get(&p).expect("checkout again");
    let c2 = H::get(&p).expect("checkout again");
    assert_eq!(st(), (3, 1, 0, 2));
    give_back(c2);
    assert_eq!(st(), (3, 2, 0, 1));
    give_back(c1);
    assert_eq!(st(), (3, 3, 0, 0));
    assert_eq!(backend.log().connects(), 6, "the kept connections are reused");
    Ok(())
}

// test_pool.py QueuePoolTest.test_queuepool_close: (size, idle, overflow, checked_out)
// over six checkouts and explicit closes of a (3 + unlimited) pool.
/// The QueuePool counts follow SQLAlchemy's exact sequence when connections are closed.
pub fn queuepool_close_accounting<H: Harness, B: Backend>(backend: &B) -> Outcome {
    accounting::<H, B>(backend, PooledConnection::close)
}

// test_pool.py QueuePoolTest.test_queuepool_del: the same accounting with the connections
// returned by the garbage collector; in Rust, dropping the guard is that return, made
// deterministic.
/// The QueuePool counts follow SQLAlchemy's exact sequence when guards are dropped.
pub fn queuepool_drop_accounting<H: Harness, B: Backend>(backend: &B) -> Outcome {
    accounting::<H, B>(backend, drop)
}

// test_pool.py QueuePoolTest.test_timeout_accessor: `timeout()` gives back the configured
// value. The strategy is generic here, so the check compares the settings the pool keeps
// with those the harness made (through their `Debug` form), and reads the configured
// timeout back from a timeout error, which reports it rather than the time measured.
/// The pool keeps the configured timeout, and its timeout errors report that value.
pub fn timeout_accessor<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    needs_concurrent::<H>()?; // the thread that holds the connection waits for another
    let spec = Spec::sized(1, Some(0)).with_timeout(Some(Duration::from_secs(123)));
    let other = spec.with_timeout(Some(Duration::from_secs(124)));
    assert_ne!(
        config_text::<H, B>(&spec),
        config_text::<H, B>(&other),
        "the harness must carry the timeout into the strategy's settings"
    );
    let p = pool::<H, B>(backend, spec);
    assert_eq!(format!("{:?}", p.strategy_config()), config_text::<H, B>(&spec));
    assert_eq!(format!("{:?}", p.recreate().strategy_config()), config_text::<H, B>(&spec));

    let configured = Duration::from_millis(150);
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(configured)));
    let _held = H::get(&p).expect("the only connection");
    let err = expect_timeout(H::get(&p));
    assert_eq!(err.timeout, configured, "the error reports the configured timeout");
    assert!(err.to_string().contains("timeout 0.15"), "message: {err}");
    Ok(())
}

/// The size and overflow a timeout error of `p` names: QueuePool's `queue` values, or for
/// a pool without QueuePool's counts those its status reports (a pool over deadpool has
/// one limit, its size, and overflow 0).
fn limit_in_message<H: Harness, B: Backend>(
    p: &crate::PoolOf<H, B>,
    queue: (usize, isize),
) -> (usize, isize) {
    if H::caps().queue_counts {
        queue
    } else {
        let st = p.status();
        (st.pool_size, st.overflow)
    }
}

/// Exhausts a (3 + 0) pool with `timeout`, then checks that the next checkout times out
/// after at least `timeout` and well before `limit`.
fn times_out<H: Harness, B: Backend>(backend: &B, timeout: Duration, limit: Duration) {
    let p = pool::<H, B>(backend, Spec::sized(3, Some(0)).with_timeout(Some(timeout)));
    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("within pool_size")).collect();
    let start = Instant::now();
    let err = expect_timeout(H::get(&p));
    let waited = start.elapsed();
    assert!(waited >= timeout, "timed out after {waited:?}, before the {timeout:?} asked for");
    assert!(waited < limit, "timed out only after {waited:?}");
    let (size, overflow) = limit_in_message::<H, B>(&p, (3, 0));
    let expected = format!(
        "{} limit of size {size} overflow {overflow} reached, connection timed out, timeout {:.2}",
        pool_name::<H, B>(),
        timeout.as_secs_f64()
    );
    assert!(err.to_string().starts_with(&expected), "message: {err}");
    assert_eq!((err.pool_size, err.overflow, err.checked_out), (size, overflow, 3));
    drop(held);
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (3, 3, 0, 0), "a timeout leaves the counts alone");
    } else {
        assert_eq!(basic_counts(p.status()), (3, 0, 0), "a timeout leaves the counts alone");
    }
}

// test_pool.py QueuePoolTest.test_timeout: with (3 + 0) all out, the fourth checkout
// raises TimeoutError after the timeout (2 s there, 1 s here), with SQLAlchemy's message
// (naming, for a pool without QueuePool's counts, the size and overflow it reports).
/// A checkout of an exhausted pool fails with a timeout after the configured time.
pub fn timeout_fires<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    needs_pool_counts::<H>()?;
    times_out::<H, B>(backend, Duration::from_secs(1), Duration::from_secs(10));
    Ok(())
}

// test_pool.py QueuePoolTest.test_timeout_subsecond_precision: a fractional timeout is
// honoured (0.5 s), not rounded to whole seconds.
/// A sub-second timeout is honoured.
pub fn timeout_subsecond_precision<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    needs_pool_counts::<H>()?;
    times_out::<H, B>(backend, Duration::from_millis(500), Duration::from_secs(5));
    Ok(())
}

// semantics §1.2 (`timeout`): a zero timeout raises at once, with "timeout 0.00" in
// SQLAlchemy's message; the overflow in the message is the current one (for a pool
// without QueuePool's counts, the size and overflow it reports).
/// A zero timeout fails an exhausted pool's checkout at once.
pub fn timeout_zero_fails_at_once<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    needs_pool_counts::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(2, Some(1)).with_timeout(Some(Duration::ZERO)));
    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("within size + overflow")).collect();
    let start = Instant::now();
    let err = expect_timeout(H::get(&p));
    assert!(start.elapsed() < Duration::from_secs(1), "a zero timeout must not wait");
    let (size, overflow) = limit_in_message::<H, B>(&p, (2, 1));
    let expected = format!(
        "{} limit of size {size} overflow {overflow} reached, connection timed out, timeout 0.00",
        pool_name::<H, B>()
    );
    assert!(err.to_string().starts_with(&expected), "message: {err}");
    assert_eq!(err.checked_out, 3);
    drop(held);
    Ok(())
}

// test_pool.py QueuePoolTest.test_overflow_reset_on_failed_connect: with (2 + 3) and three
// out, overflow is 1; a connect that fails leaves it at 1. A pool without QueuePool's
// counts (the one over deadpool: a limit of 5, no overflow) must likewise leave every
// count as it was: a place kept for the failed connect would show as idle or checked out.
/// A failed connect gives its slot (QueuePool: its overflow slot) back.
pub fn overflow_reset_on_failed_connect<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_pool_counts::<H>()?;
    if H::caps().queue_counts {
        needs_overflow::<H>()?;
    }
    let script = backend.script()?;
    let p = pool::<H, B>(backend, Spec::sized(2, Some(3)));
    let held: Vec<_> = (0..3).map(|_| H::get(&p).expect("within size + overflow")).collect();
    if H::caps().queue_counts {
        assert_eq!(p.status().overflow, 1);
    }
    let before = p.status();
    script.fail_connects(1);
    match H::get(&p) {
        Err(CheckoutError::Connect(_)) => {}
        Err(other) => panic!("expected the connect error, got {other:?}"),
        Ok(_) => panic!("the connect was scripted to fail"),
    }
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (2, 0, 1, 3), "the failed connect left the counts alone");
    } else {
        assert_eq!(p.status(), before, "the failed connect left the counts alone");
        assert_eq!(basic_counts(before), (0, 3, 0));
    }
    let c = H::get(&p).expect("the next connect works");
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (2, 0, 2, 4));
    } else {
        assert_eq!(basic_counts(p.status()), (0, 4, 0));
    }
    drop(c);
    drop(held);
    Ok(())
}

// semantics §1.2 (`status()`), verified there: a size-1 pool after one checkout and
// return; note the double space after the size.
/// The status line is SQLAlchemy's, byte for byte.
pub fn status_line_format<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs::<H>(|c| c.queue_counts, "no QueuePool status line (caps().queue_counts)")?;
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)));
    drop(H::get(&p).expect("checkout"));
    assert_eq!(
        p.status_line(),
        "Pool size: 1  Connections in pool: 1 Current Overflow: 0 Current Checked out connections: 0"
    );
    let c = H::get(&p).expect("checkout");
    assert_eq!(
        p.status_line(),
        "Pool size: 1  Connections in pool: 0 Current Overflow: 0 Current Checked out connections: 1"
    );
    drop(c);
    Ok(())
}

// test_pool.py QueuePoolTest.test_overflow_no_gc and semantics §1.2 (`_do_return_conn`):
// five rounds of four checkouts on a (2 + 2) pool; each round two overflow connections
// are returned to a full pool and closed (`close`, not terminate), so ten of twelve
// connections are closed once and the two pooled ones never.
/// A connection returned to a full pool is closed gracefully and its overflow freed.
pub fn overflow_closed_on_return<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_overflow::<H>()?;
    needs_counts::<H>()?;
    let events = crate::EventLog::new();
    let p = build::<H, B>(backend, Spec::sized(2, Some(2)), |b| b.listener(events.clone()));
    for _ in 0..5 {
        let conns: Vec<_> = (0..4).map(|_| H::get(&p).expect("within size + overflow")).collect();
        assert_eq!(p.status().overflow, 2);
        drop(conns);
        assert_eq!(counts(p.status()), (2, 2, 0, 0));
    }
    let log = backend.log();
    assert_eq!(log.connects(), 12);
    assert_eq!(log.count(|c| matches!(c, Call::Terminate(_))), 0, "a full pool closes gracefully");
    let mut closes_per_conn: Vec<usize> = (1..=12)
        .map(|id| log.calls_for(id).into_iter().filter(|c| matches!(c, Call::Close(_))).count())
        .collect();
    closes_per_conn.sort_unstable();
    assert_eq!(closes_per_conn, [0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    assert_eq!(events.count("close"), 10, "each close fires the close event");
    assert_eq!(log.open(), 2);
    Ok(())
}

// test_pool.py QueuePoolTest.test_dispose_closes_pooled: dispose closes the idle
// connection only; one checked out during dispose comes back normally and is the next
// one handed out.
/// Dispose closes idle connections and leaves checked-out ones alone.
pub fn dispose_closes_pooled_only<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_pool_counts::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(2, Some(0)).with_timeout(None));
    let c1 = H::get(&p).expect("checkout");
    let c2 = H::get(&p).expect("checkout");
    let (id1, id2) = (c1.conn_id(), c2.conn_id());
    drop(c1);
    let log = backend.log();
    assert_eq!(log.count(Call::is_close), 0);
    p.dispose();
    assert_eq!(log.calls_for(id1), vec![Call::Connect(id1), Call::Rollback(id1), Call::Close(id1)]);
    assert!(
        log.calls_for(id2).iter().all(|c| !c.is_close()),
        "a checked-out connection is not closed"
    );
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (2, 0, -1, 1));
    } else {
        assert_eq!(basic_counts(p.status()), (0, 1, 0));
    }
    drop(c2);
    assert!(log.calls_for(id2).iter().all(|c| !c.is_close()), "returned after dispose: kept");
    let c3 = H::get(&p).expect("checkout after dispose");
    assert_eq!(c3.conn_id(), id2, "the connection returned after dispose is handed out next");
    Ok(())
}

// semantics §5.2 item 2 (a SQLAlchemy rough edge, deliberately not reproduced): dispose
// with all three of a (2 + 1) pool out, then return all three. SQLAlchemy resets its
// overflow counter in dispose and ends at idle 2, overflow -3, checked out -3; here the
// counts come from the entries themselves and end exact. A pool without QueuePool's
// counts and without overflow (the one over deadpool: a limit of 3) ends with all three
// idle, none closed.
/// Connections returned after dispose never drive a count negative.
pub fn dispose_with_checked_out_counts<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_pool_counts::<H>()?;
    if H::caps().queue_counts {
        needs_overflow::<H>()?;
    }
    let p = pool::<H, B>(backend, Spec::sized(2, Some(1)).with_timeout(Some(Duration::ZERO)));
    let conns: Vec<_> = (0..3).map(|_| H::get(&p).expect("within size + overflow")).collect();
    p.dispose();
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (2, 0, 1, 3), "dispose does not touch checked-out entries");
    } else {
        assert_eq!(
            basic_counts(p.status()),
            (0, 3, 0),
            "dispose does not touch checked-out entries"
        );
    }
    assert_eq!(backend.log().count(Call::is_close), 0);
    drop(conns);
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (2, 2, 0, 0));
        assert_eq!(backend.log().count(Call::is_close), 1, "the third, to a full pool, is closed");
    } else {
        let st = p.status();
        assert_eq!((st.checked_out, st.waiting), (0, 0), "all three came back: {st:?}");
        assert_eq!(backend.log().open(), st.idle, "the open connections are the idle ones");
        if !H::caps().overflow {
            assert_eq!(st.idle, 3, "without overflow every returned connection is kept");
            assert_eq!(backend.log().count(Call::is_close), 0);
        }
    }
    // The bounds still hold: three at once, and not a fourth.
    let again: Vec<_> = (0..3).map(|_| H::get(&p).expect("within size + overflow")).collect();
    expect_timeout(H::get(&p));
    drop(again);
    Ok(())
}

// test_pool.py QueuePoolTest.test_lifo: with use_lifo the most recently returned
// connection is handed out first (c3, c3, c2, c2, c1, five times over).
/// With `use_lifo`, the newest idle connection is handed out first.
pub fn lifo_order<H: Harness, B: Backend>(backend: &B) -> Outcome {
    if !H::caps().lifo {
        return Err(Skip::because("no use_lifo (caps().lifo)"));
    }
    let p = pool::<H, B>(backend, Spec::default().lifo(true));
    let pc1 = H::get(&p).expect("checkout");
    let pc2 = H::get(&p).expect("checkout");
    let pc3 = H::get(&p).expect("checkout");
    let (c1, c2, c3) = (pc1.conn_id(), pc2.conn_id(), pc3.conn_id());
    drop(pc1);
    drop(pc2);
    drop(pc3);
    for _ in 0..5 {
        let pc1 = H::get(&p).expect("checkout");
        assert_eq!(pc1.conn_id(), c3);
        drop(pc1);
        let pc1 = H::get(&p).expect("checkout");
        assert_eq!(pc1.conn_id(), c3);
        let pc2 = H::get(&p).expect("checkout");
        assert_eq!(pc2.conn_id(), c2);
        drop(pc2);
        let pc3 = H::get(&p).expect("checkout");
        assert_eq!(pc3.conn_id(), c2);
        let pc2 = H::get(&p).expect("checkout");
        assert_eq!(pc2.conn_id(), c1);
        drop(pc2);
        drop(pc3);
        drop(pc1);
    }
    assert_eq!(backend.log().connects(), 3);
    Ok(())
}

// semantics §1.2 (`use_lifo`): without it the queue is FIFO, the connection returned
// longest ago is handed out first.
/// By default the oldest idle connection is handed out first.
pub fn fifo_order<H: Harness, B: Backend>(backend: &B) -> Outcome {
    if !H::caps().lifo {
        return Err(Skip::because("no idle ordering to check (caps().lifo)"));
    }
    let p = pool::<H, B>(backend, Spec::default());
    let conns: Vec<_> = (0..3).map(|_| H::get(&p).expect("checkout")).collect();
    let ids: Vec<u64> = conns.iter().map(|c| c.conn_id()).collect();
    drop(conns); // returned in order c1, c2, c3
    let c = H::get(&p).expect("checkout");
    assert_eq!(c.conn_id(), ids[0]);
    drop(c); // now c2, c3, c1
    let a = H::get(&p).expect("checkout");
    let b = H::get(&p).expect("checkout");
    let c = H::get(&p).expect("checkout");
    assert_eq!([a.conn_id(), b.conn_id(), c.conn_id()], [ids[1], ids[2], ids[0]]);
    assert_eq!(backend.log().connects(), 3);
    Ok(())
}

// semantics §1.2 (`max_overflow`): -1 means no limit, and the pool never waits. With a
// zero timeout any wait would fail, so fifty checkouts of a size-5 pool all succeeding
// shows none waited; forty-five are closed on return.
/// Unlimited overflow never makes a caller wait.
pub fn unlimited_overflow_never_waits<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_overflow::<H>()?;
    needs_counts::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(5, None).with_timeout(Some(Duration::ZERO)));
    let conns: Vec<_> =
        (0..50).map(|i| H::get(&p).unwrap_or_else(|e| panic!("checkout {i}: {e}"))).collect();
    assert_eq!(counts(p.status()), (5, 0, 45, 50));
    drop(conns);
    assert_eq!(counts(p.status()), (5, 5, 0, 0));
    assert_eq!(backend.log().count(|c| matches!(c, Call::Close(_))), 45);
    Ok(())
}

// semantics §5.1 and §6 (#8523): pool_size 0 means no limit at all and keeps every
// connection (SQLAlchemy 2.0; in 1.4 it meant at most max_overflow connections). This is
// what pool-queue documents for `QueueConfig::pool_size(0)`. Overflow reads 0, as 2.0's
// `overflow()` does for size 0.
/// `pool_size` 0 sets no limit and keeps every returned connection.
pub fn pool_size_zero_unlimited<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_overflow::<H>()?;
    needs_counts::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(0, Some(0)).with_timeout(Some(Duration::ZERO)));
    let conns: Vec<_> =
        (0..20).map(|i| H::get(&p).unwrap_or_else(|e| panic!("checkout {i}: {e}"))).collect();
    assert_eq!(counts(p.status()), (0, 0, 0, 20));
    drop(conns);
    assert_eq!(counts(p.status()), (0, 20, 0, 0), "every returned connection is kept");
    assert_eq!(backend.log().count(Call::is_close), 0);
    let again: Vec<_> = (0..20).map(|_| H::get(&p).expect("checkout")).collect();
    assert_eq!(backend.log().connects(), 20, "the kept connections are reused");
    drop(again);
    Ok(())
}

// test_pool.py QueuePoolTest.test_recreate: the recreated pool keeps size 1, reset
// "none" and overflow 0; checked here through its status, settings and behaviour (for a
// pool without QueuePool's counts, the size its status reports and its idle, checked-out
// and waiting counts).
/// `recreate` builds an empty twin with the same size, overflow and reset mode.
pub fn queue_recreate<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_pool_counts::<H>()?;
    needs_bounded_wait::<H>()?;
    let spec = Spec::sized(1, Some(0)).with_timeout(Some(Duration::ZERO));
    let p = build::<H, B>(backend, spec, |b| b.reset_on_return(ResetOnReturn::Nothing));
    drop(H::get(&p).expect("checkout"));
    let p2 = p.recreate();
    assert!(!p2.ptr_eq(&p));
    assert_eq!(backend.log().connects(), 1, "recreate opens nothing");
    if H::caps().queue_counts {
        assert_eq!(counts(p2.status()), (1, 0, -1, 0), "the twin starts empty");
    } else {
        assert_eq!(p2.status().pool_size, p.status().pool_size, "the twin has the same size");
        assert_eq!(basic_counts(p2.status()), (0, 0, 0), "the twin starts empty");
    }
    assert_eq!(p2.config().reset_on_return(), ResetOnReturn::Nothing);
    assert_eq!(format!("{:?}", p2.strategy_config()), config_text::<H, B>(&spec));
    let c = H::get(&p2).expect("checkout");
    expect_timeout(H::get(&p2)); // max_overflow 0 kept
    let id = c.conn_id();
    drop(c);
    assert_eq!(
        backend.log().calls_for(id),
        vec![Call::Connect(id)],
        "reset none: no rollback on return"
    );
    if H::caps().queue_counts {
        assert_eq!(counts(p2.status()), (1, 1, 0, 0));
    } else {
        assert_eq!(basic_counts(p2.status()), (1, 0, 0));
    }
    Ok(())
}

// test_pool.py QueuePoolTest.test_no_double_checkin: a second checkin of the same record
// warns "Double checkin attempted". Not expressible here.
/// A double checkin cannot be written in Rust.
pub fn queue_no_double_checkin<H: Harness, B: Backend>(_backend: &B) -> Outcome {
    Err(Skip::because(
        "a double checkin cannot be written: PooledConnection::close takes the connection by \
         value (compile_fail doctest in pool-core's guard.rs)",
    ))
}

// semantics §2.6 and §2.8 (hard invalidate returns an empty record to the pool), with
// test_pool.py QueuePoolTest.test_notify_waiters for the waiting side: an invalidated
// record handed to a waiting caller makes that checkout reconnect.
/// A waiter that receives an invalidated record reconnects it.
pub fn waiter_gets_invalidated_record<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_pool_counts::<H>()?;
    needs_bounded_wait::<H>()?;
    let p =
        pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(Duration::from_secs(10))));
    let c1 = H::get(&p).expect("the only connection");
    let id1 = c1.conn_id();
    let got = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let c = H::get(&p).expect("the waiter is served");
            c.conn_id()
        });
        wait_until("the waiter to queue", || p.status().waiting == 1);
        PooledConnection::invalidate(c1, None);
        waiter.join().expect("waiter thread")
    });
    assert_ne!(got, id1, "the waiter got a new connection");
    assert_eq!(
        backend.log().calls(),
        vec![Call::Connect(id1), Call::Terminate(id1), Call::Connect(got), Call::Rollback(got)]
    );
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (1, 1, 0, 0));
    } else {
        assert_eq!(basic_counts(p.status()), (1, 0, 0));
    }
    Ok(())
}
