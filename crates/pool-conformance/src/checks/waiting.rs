//! Per-call waiting (issue 12, part 6): `try_get` never waits for a connection to come
//! back, `get_timeout` waits at most its own bound instead of the pool's; both sync
//! (`Pool::try_get`, `Pool::get_timeout`) and async (`try_get_async`,
//! `get_async_timeout`), through [`Harness::get_within`].

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::queue::expect_timeout;
use super::{needs_bounded_wait, needs_concurrent, needs_overflow};
use crate::{pool, Backend, Harness, Identified, Outcome, Spec};

/// The pool's own timeout in these checks: far longer than any per-call bound, so a
/// checkout that took it was not bounded by the call.
const POOL_TIMEOUT: Duration = Duration::from_secs(30);
/// Far below [`POOL_TIMEOUT`], far above any scheduling delay: the bound on a call that
/// must not wait out the pool's timeout.
const PROMPT: Duration = Duration::from_secs(10);

// r2d2's `try_get` test and deadpool's `wait: Some(0)` timeout: with every connection held,
// a checkout that must not wait fails at once, whatever the pool's own timeout; once a
// connection is idle it takes that one.
/// `try_get` fails at once when every connection is held, and takes an idle one.
pub fn try_get_never_waits<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(POOL_TIMEOUT)));
    // Another thread holds the only connection (a StaticPool refuses its own holder).
    let id = held_elsewhere::<H, B>(&p, || {
        let asked = Instant::now();
        let err = expect_timeout(H::get_within(&p, Duration::ZERO));
        assert!(asked.elapsed() < PROMPT, "try_get waited {:?}", asked.elapsed());
        assert_eq!(err.timeout, Duration::ZERO, "the error names the call's bound: {err}");
        assert_eq!(p.status().waiting, 0, "it never queued");
    });
    let again = H::get_within(&p, Duration::ZERO).expect("an idle connection is taken at once");
    assert_eq!(again.conn_id(), id, "the idle connection");
    Ok(())
}

/// Runs `while_held` while another thread holds a connection of `p`, then lets that
/// thread return it; returns its id.
pub(crate) fn held_elsewhere<H: Harness, B: Backend>(
    p: &crate::PoolOf<H, B>,
    while_held: impl FnOnce(),
) -> u64 {
    let (taken, got) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    thread::scope(|s| {
        s.spawn(move || {
            let c = H::get(p).expect("the holder's checkout");
            taken.send(c.conn_id()).expect("the caller listens");
            let _ = released.recv();
            drop(c);
        });
        let id = got.recv().expect("the holder checked out");
        while_held();
        release.send(()).expect("the holder listens");
        id
    })
}

// r2d2's `try_get` test: a pool below its limit hands out a connection (here a new one,
// opened by the call: that is not waiting for another holder), and one at its limit
// fails at once.
/// `try_get` opens a new connection when the pool may grow.
pub fn try_get_opens_when_the_pool_may_grow<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_overflow::<H>()?;
    needs_concurrent::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(1, Some(1)).with_timeout(Some(POOL_TIMEOUT)));
    let first = H::get(&p).expect("the pooled connection");
    let second = H::get_within(&p, Duration::ZERO).expect("the overflow connection");
    assert_ne!(first.conn_id(), second.conn_id());
    expect_timeout(H::get_within(&p, Duration::ZERO));
    Ok(())
}

// r2d2's `get_timeout` test: the call's bound replaces the pool's, in both directions: a
// short one gives up before the pool's timeout, and a connection returned within it is
// handed over.
/// `get_timeout` waits its own bound, and gets a connection returned within it.
pub fn get_timeout_bounds_the_wait<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_bounded_wait::<H>()?;
    let bound = Duration::from_millis(200);
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(POOL_TIMEOUT)));
    held_elsewhere::<H, B>(&p, || {
        let asked = Instant::now();
        let err = expect_timeout(H::get_within(&p, bound));
        let waited = asked.elapsed();
        assert!(waited >= bound, "gave up after {waited:?}, before its bound {bound:?}");
        assert!(waited < PROMPT, "waited {waited:?}: the pool's timeout, not the call's");
        assert_eq!(err.timeout, bound, "{err}");
        assert_eq!(p.status().waiting, 0, "the timed-out caller left the line");
    });

    // Another thread holds the connection and returns it while this one waits.
    let (taken, go) = mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            let c = H::get(&p).expect("the holder's checkout");
            taken.send(c.conn_id()).expect("the waiter listens");
            thread::sleep(Duration::from_millis(100));
            drop(c);
        });
        let id = go.recv().expect("the holder checked out");
        let c = H::get_within(&p, PROMPT).expect("the returned connection, within the bound");
        assert_eq!(c.conn_id(), id, "the connection the holder returned");
    });
    Ok(())
}
