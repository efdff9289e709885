//! Shutdown (issue 12, part 4): `Pool::close` fails new checkouts and waiting callers
//! with `PoolClosed`, closes the idle connections now and each checked-out one when it
//! comes back (every connection closed exactly once), and returns once nothing is
//! checked out, or says what is still out at its bound.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pool_core::CheckoutError;

use super::needs_bounded_wait;
use crate::{pool, Backend, Call, Harness, Identified, Outcome, Spec};

/// Far below the pool's own timeout here: a waiter failed by `close` returns within it.
const PROMPT: Duration = Duration::from_secs(10);
const POOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Each connection the log saw opened was closed (gracefully or not) exactly once.
fn each_closed_once<B: Backend>(backend: &B) {
    let calls = backend.log().calls();
    for call in &calls {
        if let Call::Connect(id) = *call {
            let closes = calls
                .iter()
                .filter(|c| matches!(c, Call::Close(i) | Call::Terminate(i) if *i == id))
                .count();
            assert_eq!(closes, 1, "connection {id} closed {closes} times: {calls:?}");
        }
    }
}

fn expect_closed<T>(result: Result<T, CheckoutError<impl std::fmt::Debug>>) {
    match result {
        Err(CheckoutError::PoolClosed) => {}
        Err(other) => panic!("expected PoolClosed, got {other:?}"),
        Ok(_) => panic!("expected PoolClosed, got a connection"),
    }
}

// deadpool's `close` tests: after close, checkouts fail at once and the idle connections
// are gone.
/// `close` closes the idle connections and refuses every checkout after it.
pub fn close_closes_idle_and_refuses_checkouts<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = pool::<H, B>(backend, Spec::sized(2, Some(0)).with_timeout(Some(POOL_TIMEOUT)));
    let c = H::get(&p).expect("checkout");
    let id = c.conn_id();
    drop(c);
    assert!(!p.is_closed());
    p.close_within(PROMPT).expect("nothing is checked out");
    assert!(p.is_closed());
    let last = backend.log().calls_for(id).last().copied();
    assert!(matches!(last, Some(Call::Close(i)) if i == id), "closed gracefully: {last:?}");
    expect_closed(H::get(&p));
    expect_closed(H::get_within(&p, Duration::ZERO));
    p.close_within(PROMPT).expect("closing again is harmless");
    assert_eq!(p.status().checked_out, 0);
    each_closed_once(backend);
    // recreate builds an open pool.
    let fresh = p.recreate();
    drop(H::get(&fresh).expect("a recreated pool is open"));
    Ok(())
}

// HikariCP's and deadpool's shutdown: a connection held during close is not taken from
// its holder; it is closed when it comes back, and close returns then.
/// `close` waits for a checked-out connection and closes it when it comes back.
pub fn close_waits_for_holders<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(POOL_TIMEOUT)));
    let (taken, got) = mpsc::channel();
    thread::scope(|s| {
        let p = &p;
        s.spawn(move || {
            let c = H::get(p).expect("the holder's checkout");
            taken.send(c.conn_id()).expect("the closer listens");
            thread::sleep(Duration::from_millis(200));
            drop(c);
        });
        let id = got.recv().expect("the holder checked out");
        let asked = Instant::now();
        p.close_within(PROMPT).expect("the holder gives it back within the bound");
        assert!(asked.elapsed() < PROMPT);
        assert_eq!(p.status().checked_out, 0);
        let last = backend.log().calls_for(id).last().copied();
        assert!(
            matches!(last, Some(Call::Close(i) | Call::Terminate(i)) if i == id),
            "closed when it came back: {last:?}"
        );
    });
    each_closed_once(backend);
    Ok(())
}

// deadpool's `close` wakes its waiters with `PoolError::Closed`: a caller waiting for a
// connection when the pool closes fails at once, not at its timeout; `close_within`
// reports the connection still out at its bound.
/// Callers waiting when the pool closes fail at once with `PoolClosed`.
pub fn close_fails_waiters<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(POOL_TIMEOUT)));
    let (taken, got) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    thread::scope(|s| {
        let p = &p;
        s.spawn(move || {
            let c = H::get(p).expect("the holder's checkout");
            taken.send(()).expect("the closer listens");
            let _ = released.recv();
            drop(c);
        });
        got.recv().expect("the holder checked out");
        let waiter = s.spawn(move || {
            let asked = Instant::now();
            let result = H::get(p);
            (result.map(drop), asked.elapsed())
        });
        let deadline = Instant::now() + PROMPT;
        while p.status().waiting == 0 {
            assert!(Instant::now() < deadline, "the waiter never queued");
            thread::sleep(Duration::from_millis(5));
        }
        let still = p.close_within(Duration::ZERO).expect_err("one connection is still out");
        assert_eq!(still.checked_out, 1, "{still}");
        let (result, waited) = waiter.join().expect("the waiter did not panic");
        expect_closed(result);
        assert!(waited < PROMPT, "the waiter was failed at once, not at its timeout");
        release.send(()).expect("the holder listens");
    });
    p.close_within(PROMPT).expect("everything came back");
    each_closed_once(backend);
    Ok(())
}
