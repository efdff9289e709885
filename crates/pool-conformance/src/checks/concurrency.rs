//! Real threads on one pool: limits under contention, timeouts, waiters, fairness, and
//! connects outside the pool's lock (SQLAlchemy's threaded `QueuePoolTest` cases).
//!
//! Every check uses `std::thread::scope`, joins every thread before asserting, and bounds
//! each wait, so a failure reports instead of hanging. A pool without QueuePool's counts
//! (an async pool over deadpool: one limit, no overflow) runs them too, its counts
//! followed through `(idle, checked_out, waiting)`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use pool_core::{CheckoutError, CloseCause, PooledConnection};

use super::queue::{basic_counts, counts, expect_timeout, wait_until};
use super::{needs_bounded_wait, needs_concurrent, needs_pool_counts};
use crate::{pool, Backend, Call, Harness, Identified, Outcome, Skip, Spec};

/// Skips unless several threads can hold connections, wait at the limit, and the check
/// can follow the counts ([`needs_pool_counts`]).
fn needs_threads<H: Harness>() -> Outcome {
    needs_concurrent::<H>()?;
    needs_bounded_wait::<H>()?;
    needs_pool_counts::<H>()
}

/// Asserts that a pool of `size` (and no overflow in use) is at rest with all `size` of
/// its connections idle: QueuePool's `(size, idle, overflow, checked_out)`, or for a pool
/// without those counts its `(idle, checked_out, waiting)`.
fn assert_all_idle<H: Harness, B: Backend>(p: &crate::PoolOf<H, B>, size: usize) {
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (size, size, 0, 0));
    } else {
        assert_eq!(basic_counts(p.status()), (size, 0, 0));
    }
}

/// Joins every handle, then re-raises the first panic: no thread is left running when a
/// check fails.
fn join_all<T>(handles: Vec<thread::ScopedJoinHandle<'_, T>>) -> Vec<T> {
    let results: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        .collect()
}

/// SQLAlchemy's `_test_overflow`: 40 threads x 10 checkouts on a (5 + `max_overflow`)
/// pool, each holding its connection about 1 ms, while a monitor samples the status.
fn overflow_under_threads<H: Harness, B: Backend>(backend: &B, max_overflow: usize) {
    const SIZE: usize = 5;
    let limit = SIZE + max_overflow;
    let p = pool::<H, B>(
        backend,
        Spec::sized(SIZE, Some(max_overflow)).with_timeout(Some(Duration::from_secs(30))),
    );
    let held = AtomicUsize::new(0);
    let peak_held = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let (workers, monitor) = thread::scope(|s| {
        let monitor = s.spawn(|| {
            let (mut peak_overflow, mut peak_out) = (isize::MIN, 0);
            while !done.load(Ordering::Acquire) {
                let st = p.status();
                peak_overflow = peak_overflow.max(st.overflow);
                peak_out = peak_out.max(st.checked_out);
                thread::sleep(Duration::from_micros(50));
            }
            (peak_overflow, peak_out)
        });
        let workers: Vec<_> = (0..40)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..10 {
                        let mut c = H::get(&p).expect("a generous timeout never fires here");
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        peak_held.fetch_max(now, Ordering::SeqCst);
                        B::exercise(&mut c).expect("a checked-out connection works");
                        thread::sleep(Duration::from_millis(1));
                        held.fetch_sub(1, Ordering::SeqCst);
                        drop(c);
                    }
                })
            })
            .collect();
        let workers: Vec<_> = workers.into_iter().map(|h| h.join()).collect();
        done.store(true, Ordering::Release);
        (workers, monitor.join())
    });
    for w in workers {
        w.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    }
    let (peak_overflow, peak_out) = monitor.expect("monitor thread");
    let peak_held = peak_held.into_inner();
    assert!(peak_held <= limit, "{peak_held} held at once, limit {limit}");
    assert!(peak_out <= limit, "status showed {peak_out} checked out, limit {limit}");
    if H::caps().overflow {
        assert!(
            peak_overflow <= max_overflow as isize,
            "status showed overflow {peak_overflow}, max_overflow {max_overflow}"
        );
    }
    let st = p.status();
    assert_eq!((st.checked_out, st.waiting), (0, 0), "every connection came back: {st:?}");
    if H::caps().queue_counts {
        assert_eq!(st.idle as isize, SIZE as isize + st.overflow, "every entry is idle: {st:?}");
        assert!(st.idle <= SIZE, "overflow connections were closed on return: {st:?}");
    } else {
        // Without QueuePool's counts: every connection kept is idle, within the limit.
        assert!(st.idle <= limit, "more idle than the limit {limit}: {st:?}");
    }
    assert_eq!(backend.log().open(), st.idle, "no connection leaked or closed twice");
    if max_overflow == 0 {
        assert!(backend.log().connects() <= SIZE, "no overflow: never more than {SIZE} opened");
    }
}

// test_pool.py QueuePoolTest.test_no_overflow: 40 threads x 10 checkouts with
// max_overflow 0; overflow never goes above 0 and every connection comes back.
/// Under 40 threads, a pool without overflow never exceeds its size.
pub fn threads_no_overflow<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    overflow_under_threads::<H, B>(backend, 0);
    Ok(())
}

// test_pool.py QueuePoolTest.test_max_overflow: the same with max_overflow 5; overflow
// peaks at 5 or less.
/// Under 40 threads, overflow never exceeds `max_overflow`.
pub fn threads_max_overflow<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    if !H::caps().overflow {
        return Err(Skip::because("no overflow (caps().overflow)"));
    }
    overflow_under_threads::<H, B>(backend, 5);
    Ok(())
}

// test_pool.py QueuePoolTest.test_timeout_race: threads that find the pool exhausted at
// the same moment each wait out the whole timeout; none gives up early.
/// Concurrent waiters each time out no earlier than the timeout.
pub fn timeout_not_early<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    let timeout = Duration::from_millis(200);
    let p = pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(timeout)));
    let held = H::get(&p).expect("the only connection");
    let start = Barrier::new(6);
    let waits = thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let t = Instant::now();
                    let err = expect_timeout(H::get(&p));
                    (t.elapsed(), err)
                })
            })
            .collect();
        join_all(handles)
    });
    for (waited, err) in &waits {
        assert!(*waited >= timeout, "a waiter gave up after {waited:?} ({err})");
        assert!(*waited < Duration::from_secs(5), "a waiter timed out only after {waited:?}");
        assert_eq!(err.timeout, timeout);
    }
    assert_eq!(p.status().waiting, 0, "timed-out waiters leave the queue");
    drop(held);
    assert_all_idle::<H, B>(&p, 1);
    Ok(())
}

// semantics §1.2 (`_do_get`): a caller waits only while the pool is at its limit, and a
// connection returned is given to a waiter. 16 threads x 20 short checkouts on a (2 + 0)
// pool need far less than the 5 s timeout per waiter, so no checkout may time out.
/// Heavy contention on a small pool causes no spurious timeout.
pub fn no_early_timeout_under_contention<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    let p =
        pool::<H, B>(backend, Spec::sized(2, Some(0)).with_timeout(Some(Duration::from_secs(5))));
    let start = Barrier::new(16);
    let failures: Vec<String> = thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let mut failures = Vec::new();
                    for _ in 0..20 {
                        match H::get(&p) {
                            Ok(c) => {
                                thread::sleep(Duration::from_micros(500));
                                drop(c);
                            }
                            Err(e) => failures.push(e.to_string()),
                        }
                    }
                    failures
                })
            })
            .collect();
        join_all(handles).into_iter().flatten().collect()
    });
    assert!(failures.is_empty(), "{} checkouts failed: {:?}", failures.len(), failures);
    assert_all_idle::<H, B>(&p, 2);
    assert!(backend.log().connects() <= 2);
    Ok(())
}

// test_pool.py QueuePoolTest.test_notify_waiters: with a (1 + 0) pool held and callers
// waiting, invalidating the held connection hands its (now empty) record on; the first
// waiter reconnects and every waiter is served in turn.
/// Waiters are served after the held connection is invalidated.
pub fn waiters_served_after_invalidate<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    let p =
        pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(Duration::from_secs(10))));
    let c1 = H::get(&p).expect("the only connection");
    let id1 = c1.conn_id();
    let served = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let c = H::get(&p).expect("every waiter is served");
                    thread::sleep(Duration::from_millis(5));
                    c.conn_id()
                })
            })
            .collect();
        wait_until("four waiters", || p.status().waiting == 4);
        PooledConnection::invalidate(c1, None);
        join_all(handles)
    });
    let log = backend.log();
    assert_eq!(log.count(|c| matches!(c, Call::Terminate(_))), 1);
    assert_eq!(log.calls_for(id1).last(), Some(&Call::Terminate(id1)));
    assert_eq!(log.connects(), 2, "one reconnect serves every waiter");
    assert!(served.iter().all(|&id| id != id1), "no waiter got the invalidated connection");
    assert!(served.windows(2).all(|w| w[0] == w[1]), "one connection passed along: {served:?}");
    assert_all_idle::<H, B>(&p, 1);
    Ok(())
}

// pool-queue's fairness contract (QueueConfig::fair_after, 500 µs by default; BRIEF
// "fair waiting"): once the longest waiter has waited past the bound, the next returned
// connection is handed to it, so callers that keep arriving cannot overtake it without
// bound. SQLAlchemy's condition-based queue makes no such promise. The async pool over
// deadpool keeps it too: deadpool's waiters queue on tokio's semaphore, which hands each
// returned permit to the longest waiter. Here W has waited 20 ms (forty times the bound)
// when the holder starts a tight drop-and-get loop, joined by three more barging threads;
// no barging checkout may succeed before W is served.
/// The longest waiter is served before callers that keep hammering the pool.
pub fn longest_waiter_served_first<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    let p =
        pool::<H, B>(backend, Spec::sized(1, Some(0)).with_timeout(Some(Duration::from_secs(10))));
    let a = H::get(&p).expect("the only connection");
    let w_done = AtomicBool::new(false);
    let overtakes = AtomicUsize::new(0);
    let (w_got, released) = thread::scope(|s| {
        let w = s.spawn(|| {
            let c = H::get(&p).expect("the longest waiter is served");
            let got = Instant::now();
            w_done.store(true, Ordering::SeqCst);
            drop(c);
            got
        });
        wait_until("the first waiter", || p.status().waiting == 1);
        thread::sleep(Duration::from_millis(20));
        let released = Instant::now();
        let hard_stop = released + Duration::from_secs(3);
        // Each barger gets and drops as fast as it can until W has been served and
        // 300 ms have passed (or a hard stop, if W starves).
        let (p, w_done, overtakes) = (&p, &w_done, &overtakes);
        let hammer = move || loop {
            let now = Instant::now();
            let w_served = w_done.load(Ordering::SeqCst);
            if (w_served && now >= released + Duration::from_millis(300)) || now >= hard_stop {
                return;
            }
            let c = H::get(p).expect("a barging checkout");
            if !w_done.load(Ordering::SeqCst) {
                overtakes.fetch_add(1, Ordering::SeqCst);
            }
            drop(c);
        };
        let bargers: Vec<_> = (0..3).map(|_| s.spawn(hammer)).collect();
        drop(a);
        hammer();
        let got = w.join();
        join_all(bargers);
        (got, released)
    });
    let w_got = w_got.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let wait = w_got.saturating_duration_since(released);
    let overtakes = overtakes.into_inner();
    assert_eq!(overtakes, 0, "the longest waiter was overtaken {overtakes} times ({wait:?})");
    assert!(wait < Duration::from_secs(2), "the longest waiter was served only after {wait:?}");
    assert_all_idle::<H, B>(&p, 1);
    Ok(())
}

// test_pool.py QueuePoolTest.test_hanging_connect_within_overflow: a connect that hangs
// does not hold up other callers. With one connection idle-to-be and another caller
// stuck in a 500 ms connect, a checkout of the idle connection completes before that
// connect could have returned: connects run outside the pool's lock.
/// A slow connect does not block checkouts of idle connections.
pub fn hanging_connect_does_not_block<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    let script = backend.script()?;
    let delay = Duration::from_millis(500);
    let p =
        pool::<H, B>(backend, Spec::sized(2, Some(0)).with_timeout(Some(Duration::from_secs(10))));
    let c1 = H::get(&p).expect("first connection");
    let id1 = c1.conn_id();
    script.connect_delay(Some(delay));
    let outcome = thread::scope(|s| {
        let slow = s.spawn(|| {
            let started = Instant::now();
            let c = H::get(&p).expect("the slow connect succeeds");
            (started, Instant::now(), c.conn_id())
        });
        // The slow caller has taken the second slot: QueuePool counts it as checked out
        // while it connects; a pool without QueuePool's counts may count it either way,
        // but counts it.
        wait_until("the slow connect to start", || {
            let st = p.status();
            if H::caps().queue_counts {
                st.checked_out == 2
            } else {
                st.idle + st.checked_out == 2
            }
        });
        drop(c1);
        let fast = s.spawn(|| {
            let c = H::get(&p).expect("the idle connection");
            (Instant::now(), c.conn_id())
        });
        let fast = fast.join();
        let slow = slow.join();
        (fast, slow)
    });
    script.connect_delay(None);
    let (fast_done, fast_id) = outcome.0.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    let (slow_started, slow_done, slow_id) =
        outcome.1.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert_eq!(fast_id, id1, "the fast caller took the idle connection");
    assert_ne!(slow_id, id1);
    assert!(
        fast_done < slow_started + delay,
        "the idle checkout waited for the slow connect ({:?} after it started)",
        fast_done - slow_started
    );
    assert!(fast_done < slow_done);
    assert_all_idle::<H, B>(&p, 2);
    Ok(())
}

// semantics §2.8 and §5.1 (#8974: failed checkouts must give their slot back), under
// threads: 8 threads x 50 checkouts with scripted connect failures and a fixed pattern of
// invalidations. Afterwards nothing is checked out, every entry is idle, and exactly the
// idle entries that hold a connection are open.
/// The counts are exact after a storm of failures and invalidations.
pub fn counts_exact_after_storm<H: Harness, B: Backend>(backend: &B) -> Outcome {
    needs_threads::<H>()?;
    let script = backend.script()?;
    const SIZE: usize = 3;
    const OVERFLOW: usize = 2;
    let p = pool::<H, B>(
        backend,
        Spec::sized(SIZE, Some(OVERFLOW)).with_timeout(Some(Duration::from_secs(10))),
    );
    script.fail_connects(3); // the first connects fail for certain
    let start = Barrier::new(8);
    let results = thread::scope(|s| {
        let handles: Vec<_> = (0..8usize)
            .map(|i| {
                let (p, start) = (&p, &start);
                s.spawn(move || {
                    start.wait();
                    let (mut connect_errors, mut invalidated) = (0usize, 0usize);
                    for j in 0..50usize {
                        let k = i * 50 + j;
                        if k % 17 == 0 {
                            script.fail_connects(1);
                        }
                        match H::get(p) {
                            Ok(c) => {
                                if k % 5 == 0 {
                                    PooledConnection::invalidate(c, None);
                                    invalidated += 1;
                                } else {
                                    if k % 3 == 0 {
                                        thread::yield_now();
                                    }
                                    drop(c);
                                }
                            }
                            Err(CheckoutError::Connect(_)) => connect_errors += 1,
                            Err(other) => panic!("only connects were scripted to fail: {other}"),
                        }
                    }
                    (connect_errors, invalidated)
                })
            })
            .collect();
        join_all(handles)
    });
    script.fail_connects(0);
    let connect_errors: usize = results.iter().map(|r| r.0).sum();
    let invalidated: usize = results.iter().map(|r| r.1).sum();
    assert!(connect_errors >= 1, "the scripted connect failures surfaced");
    let log = backend.log();
    assert_eq!(log.count(|c| matches!(c, Call::Terminate(_))), invalidated);

    // The statistics against the storm's own tally.
    let stats = p.statistics();
    assert_eq!(stats.checkouts as usize, 8 * 50 - connect_errors, "checkouts: {stats}");
    assert_eq!(stats.failed_connects as usize, connect_errors, "failed connects: {stats}");
    assert_eq!(stats.connects as usize, script.connect_attempts(), "connects: {stats}");
    assert_eq!(
        stats.closes.get(CloseCause::Invalidated) as usize,
        invalidated,
        "invalidations: {stats}"
    );
    // One sample per entry handed out, including those whose connect then failed.
    assert!(stats.acquire_time.len() >= stats.checkouts, "acquire samples: {stats}");

    let st = p.status();
    assert_eq!((st.checked_out, st.waiting), (0, 0), "nothing left checked out: {st:?}");
    if H::caps().queue_counts {
        assert_eq!(st.idle as isize, SIZE as isize + st.overflow, "every entry is idle: {st:?}");
        assert!(st.idle <= SIZE, "{st:?}");
    } else {
        // Without QueuePool's counts: every entry kept is idle, within the limit.
        assert!(st.idle <= SIZE + OVERFLOW, "{st:?}");
    }

    // Count the idle entries that still hold a connection: check all of them out at
    // once; the empty ones connect.
    let open_before = log.open();
    let connects_before = log.connects();
    let all: Vec<_> = (0..st.idle).map(|_| H::get(&p).expect("an idle entry")).collect();
    let connected_idle = st.idle - (log.connects() - connects_before);
    assert_eq!(open_before, connected_idle, "open connections == connected idle entries");
    if H::caps().queue_counts {
        assert_eq!(counts(p.status()), (SIZE, 0, st.overflow, st.idle));
    } else {
        assert_eq!(basic_counts(p.status()), (0, st.idle, 0));
    }
    drop(all);
    assert_eq!(log.open(), st.idle);
    Ok(())
}
