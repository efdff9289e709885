//! `Pool::retain` on QueuePool beyond the conformance check: several idle connections
//! judged one by one, and a predicate that panics half way loses nothing.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pool_conformance::{Script, ScriptedConnector};
use pool_queue::{QueueConfig, QueuePool};

fn pool_of_four() -> QueuePool<ScriptedConnector> {
    let pool = QueuePool::builder(Script::new().connector())
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .build()
        .expect("valid settings");
    let held: Vec<_> = (0..4).map(|_| pool.get().expect("checkout")).collect();
    drop(held);
    assert_eq!(pool.status().idle, 4);
    pool
}

#[test]
fn retain_judges_every_idle_connection_once() {
    let pool = pool_of_four();
    let mut seen = Vec::new();
    let closed = pool.retain(|_, record| {
        seen.push(record.id());
        record.id() % 2 == 0
    });
    seen.sort_unstable();
    assert_eq!(seen, [1, 2, 3, 4]);
    assert_eq!(closed, 2, "the odd records");
    let status = pool.status();
    assert_eq!((status.idle, status.checked_out, status.overflow), (2, 0, -2), "{status:?}");
    let held: Vec<_> = (0..4).map(|_| pool.get().expect("room for four again")).collect();
    assert_eq!(pool.status().checked_out, 4);
    drop(held);
}

#[test]
fn a_panicking_predicate_puts_every_connection_back() {
    let pool = pool_of_four();
    let mut calls = 0;
    let caught = catch_unwind(AssertUnwindSafe(|| {
        pool.retain(|_, _| {
            calls += 1;
            if calls == 2 {
                panic!("the predicate failed");
            }
            false
        })
    }));
    assert!(caught.is_err(), "the panic reaches the caller");
    let status = pool.status();
    // The first was closed before the panic; the one being judged and the two after it
    // went back.
    assert_eq!((status.idle, status.checked_out, status.overflow), (3, 0, -1), "{status:?}");
    let held: Vec<_> = (0..4).map(|_| pool.get().expect("no slot was lost")).collect();
    drop(held);
}
