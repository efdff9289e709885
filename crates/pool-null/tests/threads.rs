//! NullPool under real threads: every checkout gets its own new connection, nobody
//! waits, and everything is closed at the end.

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;

use parking_lot::Mutex;
use pool_conformance::{Call, Script};
use pool_null::NullPool;

const THREADS: usize = 8;
const CHECKOUTS: usize = 20;

#[test]
fn every_checkout_gets_its_own_new_connection() {
    let script = Script::new();
    let pool = NullPool::new(script.connector()).expect("a NullPool builds");
    let seen = Arc::new(Mutex::new(Vec::new()));
    // All threads hold their first connection at the same moment: nobody waits for one.
    let together = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let pool = pool.clone();
            let seen = Arc::clone(&seen);
            let together = Arc::clone(&together);
            thread::spawn(move || {
                for i in 0..CHECKOUTS {
                    let mut conn = pool.get().expect("a NullPool never refuses a checkout");
                    conn.execute().expect("a new connection works");
                    seen.lock().push(conn.id());
                    if i == 0 {
                        together.wait();
                        assert!(pool.status().checked_out >= 1);
                        together.wait();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panicked");
    }

    let seen = seen.lock();
    assert_eq!(seen.len(), THREADS * CHECKOUTS);
    let distinct: HashSet<u64> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), THREADS * CHECKOUTS, "no connection was handed out twice");

    let log = script.log();
    assert_eq!(log.connects(), THREADS * CHECKOUTS, "one connect per checkout");
    assert_eq!(log.open(), 0, "every connection was closed on return");
    for id in distinct {
        assert_eq!(
            log.calls_for(id),
            [Call::Connect(id), Call::Rollback(id), Call::Close(id)],
            "connection {id}: opened, reset, closed gracefully"
        );
    }
    let status = pool.status();
    assert_eq!(status.checked_out, 0);
    assert_eq!((status.pool_size, status.idle, status.overflow, status.waiting), (0, 0, 0, 0));
}
