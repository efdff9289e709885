//! QueuePool's statistics (issue 13, part 1) under contention, sync and async, against the
//! tests' own tally; and their one-line display.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use pool_conformance::{Call, Script, ScriptedConnector};
use pool_core::{CheckoutError, CloseCause, PooledConnection};
use pool_queue::{QueueConfig, QueuePool};

fn pool(script: &Script, size: usize, overflow: usize) -> QueuePool<ScriptedConnector> {
    QueuePool::builder(script.connector())
        .strategy(QueueConfig::default().pool_size(size).max_overflow(overflow))
        .build()
        .expect("a valid pool")
}

/// Every connection opened is closed (and counted under a cause) or still open.
fn assert_closes_balance(script: &Script, stats: &pool_core::Statistics) {
    let log = script.log();
    let closed = log.count(|c| matches!(c, Call::Close(_) | Call::Terminate(_)));
    assert_eq!(stats.closes.total() as usize, closed, "{stats}");
    assert_eq!(stats.connects as usize - closed, log.open(), "{stats}");
}

#[test]
fn counts_are_exact_under_contention() {
    let script = Script::new();
    let p = pool(&script, 2, 2);
    let (ok, timeouts, invalidated) =
        (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
    thread::scope(|s| {
        for t in 0..16usize {
            let (p, ok, timeouts, invalidated) = (&p, &ok, &timeouts, &invalidated);
            s.spawn(move || {
                for i in 0..400usize {
                    // Short bounds time out under this contention; long ones wait.
                    let wait = Duration::from_micros(if (t + i) % 3 == 0 { 50 } else { 100_000 });
                    match p.get_timeout(wait) {
                        Ok(c) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if (t * 400 + i) % 23 == 0 {
                                invalidated.fetch_add(1, Ordering::Relaxed);
                                PooledConnection::invalidate(c, None);
                            } else {
                                thread::yield_now();
                                drop(c);
                            }
                        }
                        Err(CheckoutError::Timeout(_)) => {
                            timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(other) => panic!("nothing else was scripted to fail: {other}"),
                    }
                }
            });
        }
    });
    let s = p.statistics();
    eprintln!("{s}");
    assert_eq!(s.checkouts as usize, ok.load(Ordering::Relaxed), "{s}");
    assert_eq!(s.timeouts as usize, timeouts.load(Ordering::Relaxed), "{s}");
    assert_eq!(
        s.closes.get(CloseCause::Invalidated) as usize,
        invalidated.load(Ordering::Relaxed),
        "{s}"
    );
    assert!(s.waits >= s.timeouts, "{s}");
    assert_eq!(s.acquire_time.len(), s.checkouts, "one acquire sample a checkout: {s}");
    assert_eq!(s.failed_connects, 0, "{s}");
    assert_closes_balance(&script, &s);
}

#[test]
fn cancelled_async_checkouts_are_not_counted() {
    let script = Script::new();
    let p = pool(&script, 2, 1);
    let ok = Arc::new(AtomicUsize::new(0));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let tasks: Vec<_> = (0..32u64)
            .map(|t| {
                let (p, ok) = (p.clone(), Arc::clone(&ok));
                tokio::spawn(async move {
                    for i in 0..200u64 {
                        // Some checkouts are given up at once, some after a while, most
                        // are not: the dropped futures must count as nothing.
                        let patience = Duration::from_micros((t * 7 + i * 13) % 300);
                        if let Ok(Ok(c)) = tokio::time::timeout(patience, p.get_async()).await {
                            ok.fetch_add(1, Ordering::Relaxed);
                            tokio::task::yield_now().await;
                            drop(c);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("no task panicked");
        }
    });
    let s = p.statistics();
    eprintln!("{s}");
    assert_eq!(s.checkouts as usize, ok.load(Ordering::Relaxed), "{s}");
    assert_eq!(s.timeouts, 0, "the pool's own timeout was never reached: {s}");
    assert_closes_balance(&script, &s);
}

#[test]
fn the_display_is_one_line_for_a_log() {
    let script = Script::new();
    let p = pool(&script, 1, 0);
    assert_eq!(
        p.statistics().to_string(),
        "0 checkouts, 0 waited, 0 timeouts; 0 connects (0 failed); 0 closed"
    );
    let c = p.get().expect("checkout");
    assert!(matches!(p.get_timeout(Duration::from_millis(20)), Err(CheckoutError::Timeout(_))));
    PooledConnection::invalidate(c, None);
    drop(p.get().expect("checkout"));
    let shown = p.statistics().to_string();
    assert!(!shown.contains('\n'), "{shown}");
    assert!(shown.starts_with("2 checkouts, 1 waited (mean "), "{shown}");
    assert!(shown.contains(", 1 timeouts; 2 connects (0 failed, p50 "), "{shown}");
    assert!(shown.ends_with("; 1 closed (invalidated 1)"), "{shown}");
}

#[test]
fn leak_threshold_also_times_holds() {
    let script = Script::new();
    let p = QueuePool::builder(script.connector())
        .leak_threshold(Duration::from_secs(60))
        .build()
        .expect("a valid pool");
    let c = p.get().expect("checkout");
    thread::sleep(Duration::from_millis(20));
    drop(c);
    let s = p.statistics();
    assert_eq!(s.hold_time.len(), 1, "{s}");
    assert!(s.hold_time.min() >= Duration::from_millis(19).as_nanos() as u64, "{s}");
    assert!(s.to_string().contains("; hold p50 "), "{s}");
}
