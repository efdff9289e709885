//! One connection per thread (SQLAlchemy's `SingletonThreadPoolTest`), and nested holds.

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use pool_core::{CheckoutError, ConnectionRecord, Connector, PoolListener, PooledConnection};

use super::{needs, then_closed};
use crate::{build, pool, Backend, Call, Harness, Identified, Outcome, Spec};

fn needs_thread_affine<H: Harness>() -> Outcome {
    needs::<H>(|c| c.thread_affine, "connections are not bound to threads (caps().thread_affine)")
}

// semantics §2.4 (`fairy._counter`) and §1.5 (`_checkout_existing`): a nested hold on a
// connection counts, and only the outermost holder resets and returns it. In Rust the
// nested hold is a borrow of the outer handle (`PooledConnection::nest`).
/// A nested hold counts, derefs to the same connection, and returns nothing.
pub fn nested_hold_returns_nothing<H: Harness, B: Backend>(backend: &B) -> Outcome {
    let log = backend.log();
    let p = pool::<H, B>(backend, Spec::default());
    let mut outer = H::get(&p).expect("checkout");
    let id = outer.conn_id();
    log.clear();
    for _ in 0..2 {
        let mut inner = PooledConnection::nest(&mut outer);
        assert_eq!(inner.conn_id(), id, "the same connection");
        assert_eq!(PooledConnection::nesting(inner.outer()), 2);
        B::exercise(&mut inner).expect("usable through the nested hold");
    }
    assert!(log.calls().is_empty(), "a nested hold resets and returns nothing: {:?}", log.calls());
    assert_eq!(PooledConnection::nesting(&outer), 1);
    drop(outer);
    assert_eq!(
        log.calls(),
        then_closed::<H>(vec![Call::Rollback(id)], id),
        "the outermost return resets once"
    );
    Ok(())
}

// semantics §1.5 (`connect()` returns the thread's live fairy again): a second checkout on
// a thread that holds its connection cannot hand out a second owner of it in Rust; it is
// refused at once with an error that says what to do, and leaves the pool as it was.
/// A second checkout on a thread that holds its connection is refused with a clear error.
pub fn thread_second_checkout_refused<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_thread_affine::<H>()?;
    let p = pool::<H, B>(backend, Spec::default());
    let c = H::get(&p).expect("checkout");
    let before = p.status();
    let err = H::get(&p).expect_err("the thread already holds its connection");
    assert!(matches!(err, CheckoutError::Unavailable(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("already holds its connection") && text.contains("nest"), "{text}");
    assert_eq!(p.status(), before);
    let id = c.conn_id();
    drop(c);
    assert_eq!(
        H::get(&p).expect("after the return").conn_id(),
        id,
        "the thread keeps its connection"
    );
    Ok(())
}

// semantics §1.5 `_do_get`: each thread has its own connection, kept between its
// checkouts, and two threads never share one.
/// Each thread gets its own connection, the same one at each checkout.
pub fn thread_own_connection<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_thread_affine::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(4, None));
    let barrier = std::sync::Barrier::new(3);
    let ids: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let (p, barrier) = (&p, &barrier);
                s.spawn(move || {
                    let first = H::get(p).expect("checkout");
                    let id = first.conn_id();
                    barrier.wait(); // all three hold theirs at once
                    drop(first);
                    (id, H::get(p).expect("again").conn_id())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    });
    for (first, again) in &ids {
        assert_eq!(first, again, "a thread gets its own connection back");
    }
    let distinct: HashSet<u64> = ids.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), 3, "threads holding at once have distinct connections");
    Ok(())
}

// issue 3 (SingletonThreadPool): a thread that ends gives its connection back; a thread
// that starts later adopts it instead of connecting.
/// The connection of a thread that ended is adopted by a new thread.
pub fn thread_exit_gives_connection_back<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_thread_affine::<H>()?;
    let p = pool::<H, B>(backend, Spec::sized(1, None));
    let first = std::thread::scope(|s| s.spawn(|| H::get(&p).expect("checkout").conn_id()).join());
    let first = first.expect("no panic");
    let second = std::thread::scope(|s| s.spawn(|| H::get(&p).expect("checkout").conn_id()).join());
    assert_eq!(second.expect("no panic"), first, "the ended thread's connection was adopted");
    assert_eq!(backend.log().connects(), 1);
    Ok(())
}

/// Records which connections are held, and fails if one is closed while held.
#[derive(Debug, Clone, Default)]
struct InUse {
    held: Arc<Mutex<HashSet<u64>>>,
    closed_in_use: Arc<Mutex<Vec<u64>>>,
}

impl<C> PoolListener<C> for InUse
where
    C: Connector,
    C::Connection: Identified,
{
    fn close(&self, conn: &mut C::Connection, _record: &mut ConnectionRecord<C>) {
        if self.held.lock().contains(&conn.conn_id()) {
            self.closed_in_use.lock().push(conn.conn_id());
        }
    }
}

// test_pool.py SingletonThreadPoolTest.test_cleanup: 10 threads x 10 checkouts on a pool
// of 3 keep at most 3 connections once they are done (SQLAlchemy allows 4 for a known
// race), and unlike SQLAlchemy's cleanup (§5.1) no connection is closed while in use.
/// 10 threads x 10 checkouts keep at most pool_size connections and never close one in use.
pub fn thread_cleanup<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_thread_affine::<H>()?;
    let watch = InUse::default();
    let p = build::<H, B>(backend, Spec::sized(3, None), |b| b.listener(watch.clone()));
    std::thread::scope(|s| {
        for _ in 0..10 {
            let (p, watch) = (&p, &watch);
            s.spawn(move || {
                for _ in 0..10 {
                    let mut c = H::get(p).expect("checkout");
                    let id = c.conn_id();
                    watch.held.lock().insert(id);
                    B::exercise(&mut c).expect("usable");
                    std::thread::yield_now();
                    watch.held.lock().remove(&id);
                }
            });
        }
    });
    assert!(
        watch.closed_in_use.lock().is_empty(),
        "closed while in use: {:?}",
        watch.closed_in_use.lock()
    );
    let status = p.status();
    assert_eq!(status.checked_out, 0);
    assert!(status.idle <= 3, "at most pool_size kept: {status:?}");
    assert_eq!(backend.log().open(), status.idle, "every kept connection is open, no other is");
    Ok(())
}
