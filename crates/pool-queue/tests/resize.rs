//! `resize` (issue 12, part 5, deadpool's `resize`) on QueuePool: shrinking closes idle
//! connections now and checked-out ones only as they come back, growing serves the
//! callers that wait, and sizes that cannot be built are refused with nothing changed.

use std::thread;
use std::time::{Duration, Instant};

use pool_conformance::{Call, Script};
use pool_queue::{Overflow, QueueConfig, QueuePool, Resize};

fn pool(script: &Script, size: usize) -> QueuePool<pool_conformance::ScriptedConnector> {
    QueuePool::builder(script.connector())
        .strategy(QueueConfig::default().pool_size(size).max_overflow(0))
        .build()
        .expect("valid settings")
}

fn closes(script: &Script) -> usize {
    script.log().count(|c| matches!(c, Call::Close(_) | Call::Terminate(_)))
}

#[test]
fn shrinking_closes_idle_connections_now() {
    let script = Script::new();
    let pool = pool(&script, 4);
    drop((0..4).map(|_| pool.get().expect("checkout")).collect::<Vec<_>>());
    pool.resize(2, Overflow::Limited(0)).expect("valid sizes");
    assert_eq!(closes(&script), 2);
    let s = pool.status();
    assert_eq!((s.pool_size, s.max_size, s.idle, s.overflow), (2, Some(2), 2, 0), "{s:?}");
    assert_eq!(pool.strategy().size(), 2);
}

#[test]
fn shrinking_under_load_never_takes_a_connection_from_its_holder() {
    let script = Script::new();
    let pool = pool(&script, 4);
    let held: Vec<_> = (0..4).map(|_| pool.get().expect("checkout")).collect();
    pool.resize(1, Overflow::Limited(0)).expect("valid sizes");
    assert_eq!(closes(&script), 0, "nothing held is closed");
    assert_eq!(pool.status().checked_out, 4);
    drop(held);
    assert_eq!(closes(&script), 3, "the returns beyond the new size are closed");
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out, s.overflow), (1, 0, 0), "{s:?}");
    // At the new limit: a second checkout waits (and here times out at once).
    let _one = pool.get().expect("the one connection");
    assert!(pool.try_get().is_err(), "the pool holds one connection now");
}

#[test]
fn growing_serves_the_callers_that_wait() {
    let script = Script::new();
    let pool = QueuePool::builder(script.connector())
        .strategy(
            QueueConfig::default().pool_size(1).max_overflow(0).timeout(Duration::from_secs(30)),
        )
        .build()
        .expect("valid settings");
    let held = pool.get().expect("the only connection");
    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let asked = Instant::now();
            let got = pool.get().map(drop);
            (got, asked.elapsed())
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.status().waiting == 0 {
            assert!(Instant::now() < deadline, "the waiter never queued");
            thread::sleep(Duration::from_millis(5));
        }
        pool.resize(2, Overflow::Limited(0)).expect("valid sizes");
        let (got, waited) = waiter.join().expect("no panic");
        got.expect("the waiter got a new connection");
        assert!(waited < Duration::from_secs(10), "served at the resize, not the timeout");
    });
    drop(held);
    assert_eq!(pool.status().idle, 2);
}

#[test]
fn sizes_that_cannot_be_built_are_refused_and_change_nothing() {
    let script = Script::new();
    let pool = pool(&script, 3);
    let err = pool.resize(usize::MAX, Overflow::Limited(1)).expect_err("does not fit");
    assert!(err.to_string().contains("does not fit in a usize"), "{err}");
    assert_eq!(pool.status().pool_size, 3);
    assert_eq!(pool.status().max_size, Some(3));
}
