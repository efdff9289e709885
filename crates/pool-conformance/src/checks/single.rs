//! Pools of exactly one connection (SQLAlchemy's `AssertionPoolTest`, `StaticPoolTest`
//! and `PoolDialectTest.test_assertion_pool`; semantics §1.6 and §1.7).
//!
//! A second checkout while the connection is out never opens a second connection: on
//! the thread that holds it, it fails at once with [`CheckoutError::Unavailable`]; on
//! another thread it waits with the pool's timeout (StaticPool, `caps().bounded_wait`)
//! or fails at once (AssertionPool).

use std::time::{Duration, Instant};

use pool_core::{CheckoutError, PooledConnection, Strategy};

use super::needs;
use super::queue::expect_timeout;
use crate::{pool, Backend, Call, Harness, Identified, Outcome, Spec};

/// Skips unless the pool holds one connection for everyone.
fn needs_single<H: Harness>() -> Outcome {
    needs::<H>(
        |c| c.single_connection,
        "the pool holds more than one connection (caps().single_connection)",
    )
}

/// The spec of a check that makes the holder ask again: a short timeout where that
/// second checkout waits instead of being refused.
fn holder_spec<H: Harness>() -> Spec {
    if H::caps().refuses_holder {
        Spec::default()
    } else {
        Spec::default().with_timeout(Some(Duration::from_millis(200)))
    }
}

/// Asserts what a second checkout by the holder gets: refused at once, or (where the
/// pool cannot tell the holder from anyone else) a timeout after waiting.
fn expect_holder_refused<H: Harness, T, E: std::fmt::Debug>(
    result: Result<T, CheckoutError<E>>,
    what: &str,
) {
    if H::caps().refuses_holder {
        expect_refused(result, what);
    } else {
        expect_timeout(result);
    }
}

/// Asserts that `result` is the refusal of a second checkout.
fn expect_refused<T, E: std::fmt::Debug>(result: Result<T, CheckoutError<E>>, what: &str) {
    match result {
        Err(CheckoutError::Unavailable(message)) => assert!(
            message.contains("already checked out"),
            "{what}: the message should say the connection is already checked out: {message:?}"
        ),
        Err(other) => panic!("{what}: expected CheckoutError::Unavailable, got {other:?}"),
        Ok(_) => panic!("{what}: a second checkout got a connection"),
    }
}

// test_pool.py AssertionPoolTest.test_connect_error: a second simultaneous connect() fails
// (SQLAlchemy: AssertionError). Here: on the thread that holds the connection, at once,
// with CheckoutError::Unavailable, opening nothing and changing no count.
/// A second checkout on the holding thread fails at once and changes nothing (a holding
/// task, which the pool cannot recognise, waits and times out instead).
pub fn single_connect_error<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_single::<H>()?;
    let p = pool::<H, B>(backend, holder_spec::<H>());
    let c1 = H::get(&p).expect("checkout");
    let before = p.status();
    assert_eq!((before.pool_size, before.checked_out), (1, 1));
    let started = Instant::now();
    expect_holder_refused::<H, _, _>(H::get(&p), "second checkout on the holding thread");
    assert!(started.elapsed() < Duration::from_secs(10), "the refusal must not wait");
    assert_eq!(p.status(), before, "a refused checkout changes no count");
    assert_eq!(backend.log().calls(), vec![Call::Connect(c1.conn_id())], "nothing opened");
    drop(c1);
    Ok(())
}

// test_pool.py AssertionPoolTest.test_connect_multiple: connect/close cycles in sequence
// work, then a second concurrent connect() fails. The cycles share the one connection.
/// Sequential checkouts work; a second concurrent one fails.
pub fn single_connect_multiple<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_single::<H>()?;
    let p = pool::<H, B>(backend, holder_spec::<H>());
    let c1 = H::get(&p).expect("first checkout");
    let a = c1.conn_id();
    drop(c1);
    let c2 = H::get(&p).expect("second checkout, after the first was returned");
    assert_eq!(c2.conn_id(), a);
    drop(c2);
    let mut c3 = H::get(&p).expect("third checkout");
    assert_eq!(c3.conn_id(), a);
    expect_holder_refused::<H, _, _>(H::get(&p), "a checkout while the third is out");
    B::exercise(&mut c3).expect("the holder's connection is untouched by the refusal");
    drop(c3);
    assert_eq!(
        backend.log().calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Rollback(a), Call::Rollback(a)],
        "one connection, reset at each of its three returns"
    );
    assert_eq!(p.status().checked_out, 0);
    Ok(())
}

// test_pool.py StaticPoolTest.test_connect: sequential checkouts return the same DBAPI
// connection. Here also the same record, opened once, and (semantics §1.6) made at the
// first checkout, not when the pool is built.
/// Sequential checkouts share one connection on one record, opened at the first.
pub fn static_connect<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_single::<H>()?;
    let p = pool::<H, B>(backend, Spec::default());
    assert_eq!(backend.log().connects(), 0, "nothing is opened before the first checkout");
    assert_eq!((p.status().idle, p.status().checked_out), (0, 0));
    let c = H::get(&p).expect("checkout");
    let (a, rec) = (c.conn_id(), PooledConnection::record(&c).expect("record").id());
    drop(c);
    assert_eq!((p.status().idle, p.status().checked_out), (1, 0));
    for _ in 0..5 {
        let mut c = H::get(&p).expect("checkout");
        assert_eq!(c.conn_id(), a, "the same connection");
        assert_eq!(PooledConnection::record(&c).map(|r| r.id()), Some(rec), "the same record");
        B::exercise(&mut c).expect("usable");
    }
    assert_eq!(backend.log().connects(), 1);
    Ok(())
}

// test_pool.py StaticPoolTest.test_recreate: the recreated pool has the same creator. Here:
// the same connector (its connections show in the same log) and the same settings, and
// its own connection: the original's is neither shared nor closed.
/// `recreate` keeps the connector and settings; the new pool opens its own connection.
pub fn static_recreate<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_single::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    let p2 = p.recreate();
    assert_eq!(format!("{:?}", p2.strategy_config()), format!("{:?}", p.strategy_config()));
    let d = H::get(&p2).expect("the recreated pool does not wait for the original's connection");
    let b = d.conn_id();
    assert_ne!(a, b, "the recreated pool opens its own connection");
    assert_eq!(log.calls(), vec![Call::Connect(a), Call::Connect(b)], "through the same connector");
    drop((c, d));
    assert_eq!(log.calls_for(a), vec![Call::Connect(a), Call::Rollback(a)], "not closed");
    Ok(())
}

// test_pool.py PoolDialectTest.test_assertion_pool: connect, close, dispose, recreate,
// connect, close on the original pool gives the canary R, CL, R: dispose closes the one
// connection gracefully, recreate closes nothing, the next checkout opens a new one.
/// Connect, close, dispose, recreate, connect, close: rollback, close, rollback.
pub fn single_pool_dialect_calls<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_single::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let a = H::get(&p).expect("checkout").conn_id();
    p.dispose();
    let _p2 = p.recreate();
    let c = H::get(&p).expect("checkout after dispose and recreate");
    let b = c.conn_id();
    drop(c);
    assert_ne!(a, b, "the disposed connection is not handed out again");
    assert_eq!(
        log.calls(),
        vec![
            Call::Connect(a),
            Call::Rollback(a),
            Call::Close(a),
            Call::Connect(b),
            Call::Rollback(b),
        ],
        "the canary R, CL, R"
    );
    Ok(())
}

// semantics §1.6 (StaticPool, 1.4.3 #6145: dispose closes the shared connection) and §1.7
// (AssertionPool: dispose clears the checked-out flag and closes the connection): a
// connection checked out during dispose is not closed under its holder; it is reset and
// closed, once, when it comes back, and then nothing is checked out.
/// `dispose` while checked out closes the connection once, when it comes back.
pub fn single_dispose_while_checked_out<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_single::<H>()?;
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let mut c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    p.dispose();
    assert_eq!(log.calls_for(a), vec![Call::Connect(a)], "not closed under its holder");
    B::exercise(&mut c).expect("still usable by its holder");
    drop(c);
    assert_eq!(
        log.calls_for(a),
        vec![Call::Connect(a), Call::Rollback(a), Call::Close(a)],
        "reset, then closed once, when it came back"
    );
    let s = p.status();
    assert_eq!(s.checked_out, 0, "{s:?}");
    let c = H::get(&p).expect("checkout after the disposed connection came back");
    assert_ne!(c.conn_id(), a, "a new connection");
    drop(c);
    assert_eq!(log.open(), 1, "one connection open: the new one");
    Ok(())
}

// semantics §1.6 (StaticPool shares its one connection between concurrent callers; in Rust
// they take turns) and §1.7 (AssertionPool refuses any second checkout): a checkout from
// another thread while the connection is out either waits for it, up to the pool's
// timeout, and then fails with SQLAlchemy's timeout message (caps().bounded_wait), or
// fails at once. Either way no second connection is opened, and once the connection is
// back the other thread gets the same one.
/// Another thread waits for the one connection (with a timeout) or is refused at once.
pub fn single_other_thread<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_single::<H>()?;
    let timeout = Duration::from_millis(100);
    let p = pool::<H, B>(backend, Spec::default().with_timeout(Some(timeout)));
    let c = H::get(&p).expect("checkout");
    let a = c.conn_id();
    std::thread::scope(|s| {
        s.spawn(|| {
            let started = Instant::now();
            if H::caps().bounded_wait {
                let err = expect_timeout(H::get(&p));
                assert!(started.elapsed() >= timeout, "gave up before the timeout");
                let name = <H::Strategy<B::Connector> as Strategy<B::Connector>>::NAME;
                let expected = format!(
                    "{name} limit of size 1 overflow 0 reached, connection timed out, timeout 0.10"
                );
                assert!(err.to_string().starts_with(&expected), "message: {err}");
                assert_eq!(
                    (err.pool_size, err.overflow, err.checked_out, err.waiting),
                    (1, 0, 1, 0)
                );
            } else {
                expect_refused(H::get(&p), "a checkout from another thread");
            }
            assert!(started.elapsed() < Duration::from_secs(10), "waited far too long");
        })
        .join()
        .expect("the other thread's assertions");
    });
    assert_eq!(p.status().waiting, 0);
    drop(c);
    let other = std::thread::scope(|s| {
        s.spawn(|| H::get(&p).expect("checkout once it is back").conn_id()).join().expect("join")
    });
    assert_eq!(other, a, "the other thread gets the same connection");
    assert_eq!(backend.log().connects(), 1, "no second connection was opened");
    Ok(())
}
