//! What a checkout timeout tells its reader (issue 13, part 5): the pool's open, idle,
//! checked-out and waiting counts, and a connect error only if one failed during the wait.

use std::thread;
use std::time::Duration;

use pool_conformance::{Script, ScriptedConnector};
use pool_core::CheckoutError;
use pool_queue::{QueueConfig, QueuePool};

fn timeout_of(pool: &QueuePool<ScriptedConnector>, wait: Duration) -> pool_core::TimeoutError {
    match pool.get_timeout(wait) {
        Err(CheckoutError::Timeout(t)) => t,
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn an_old_connect_error_is_not_blamed_for_a_timeout() {
    let script = Script::new();
    let pool = QueuePool::builder(script.connector())
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .build()
        .unwrap();
    script.fail_connects(1);
    assert!(matches!(pool.get(), Err(CheckoutError::Connect(_))));
    let held: Vec<_> = (0..2).map(|_| pool.get().expect("checkout")).collect();
    thread::sleep(Duration::from_millis(50));

    let t = timeout_of(&pool, Duration::from_millis(20));
    assert_eq!(t.last_connect_error, None, "the connect failed 50 ms before a 20 ms wait");
    assert_eq!((t.open, t.idle, t.checked_out, t.waiting), (2, 0, 2, 0));
    let shown = t.to_string();
    assert!(shown.ends_with("(2 open: 0 idle, 2 checked out; 0 other callers waiting)"), "{shown}");

    // A longer wait that starts after the failure does not name it either; the core's
    // record of it says when it failed.
    let t = timeout_of(&pool, Duration::from_millis(100));
    assert_eq!(t.last_connect_error, None);
    assert_eq!(
        pool.core().connect_error_within(Duration::from_secs(60)).as_deref(),
        Some("connect failed")
    );
    drop(held);
}

#[test]
fn a_failed_connect_says_the_database_had_answered_before() {
    let script = Script::new();
    let pool = QueuePool::builder(script.connector())
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    // Never reached: no outage to speak of (the setup is the likelier culprit).
    script.fail_connects(1);
    match pool.get() {
        Err(CheckoutError::Connect(e)) => {
            assert_eq!(e.outage(), None);
            assert!(!e.to_string().contains("had accepted"), "{e}");
        }
        other => panic!("expected a connect error, got {other:?}"),
    }
    let c = pool.get().expect("the database answers");
    pool_core::PooledConnection::invalidate(c, None);
    thread::sleep(Duration::from_millis(30));
    script.fail_connects(2);
    for failures in 1..=2 {
        match pool.get() {
            Err(CheckoutError::Connect(e)) => {
                let outage = e.outage().expect("it had answered before");
                assert_eq!(outage.failures, failures);
                let shown = CheckoutError::Connect(e).to_string();
                assert!(
                    shown.contains("(the database had accepted this pool's connections; connects have failed for "),
                    "{shown}"
                );
                assert!(shown.ends_with(&format!(" s, {failures} in a row)")), "{shown}");
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
    }
    assert!(pool.get().is_ok(), "back");
}
