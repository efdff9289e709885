//! StaticPool and AssertionPool under real threads: one holder at a time, no second
//! connection, no deadlock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use pool_conformance::{Call, Script};
use pool_core::CheckoutError;
use pool_static::{AssertionPool, StaticConfig, StaticPool};

/// How long a whole test may take before it counts as a deadlock.
const DEADLOCK: Duration = Duration::from_secs(30);

/// Runs `f` on a thread and fails if it has not finished within [`DEADLOCK`].
fn within_deadline(what: &str, f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    match finished.recv_timeout(DEADLOCK) {
        Ok(()) => runner.join().expect("the test thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The test thread panicked: surface its panic.
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: not finished after {DEADLOCK:?}"),
    }
}

// Issue 3: StaticPool with 8 threads x 20 checkouts: every checkout gets the one
// connection, opened once; never two holders at once; nothing deadlocks.
#[test]
fn static_pool_threads_share_one_connection_in_turn() {
    within_deadline("8 threads x 20 checkouts", || {
        const THREADS: usize = 8;
        const CHECKOUTS: usize = 20;
        let script = Script::new();
        let pool = StaticPool::builder(script.connector())
            .strategy(StaticConfig::default().timeout(Duration::from_secs(20)))
            .build()
            .expect("pool");
        let in_use = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (pool, in_use, start) = (pool.clone(), Arc::clone(&in_use), Arc::clone(&start));
                thread::spawn(move || {
                    start.wait();
                    let mut ids = Vec::with_capacity(CHECKOUTS);
                    for i in 0..CHECKOUTS {
                        let mut c = pool.get().expect("checkout within the timeout");
                        let holders = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(holders <= 1, "{holders} holders at once");
                        c.execute().expect("usable");
                        if i % 4 == 0 {
                            thread::yield_now(); // hold it a little while others queue up
                        }
                        ids.push(c.id());
                        in_use.fetch_sub(1, Ordering::SeqCst);
                        drop(c);
                    }
                    ids
                })
            })
            .collect();
        let ids: Vec<u64> =
            workers.into_iter().flat_map(|w| w.join().expect("a worker panicked")).collect();
        assert_eq!(ids.len(), THREADS * CHECKOUTS);
        assert!(ids.iter().all(|&id| id == ids[0]), "every checkout got the same connection");
        let connects: Vec<_> =
            script.log().calls().into_iter().filter(|c| matches!(c, Call::Connect(_))).collect();
        assert_eq!(connects, vec![Call::Connect(ids[0])], "exactly one connect");
        assert_eq!(
            script.log().count(|c| c == Call::Rollback(ids[0])),
            THREADS * CHECKOUTS,
            "each checkout was reset once"
        );
        let s = pool.status();
        assert_eq!((s.pool_size, s.idle, s.checked_out, s.waiting), (1, 1, 0, 0));
    });
}

// Issue 3: a waiter gives up with a TimeoutError when the holder keeps the connection past
// the timeout; the holder is not disturbed, and the next checkout after the return works.
#[test]
fn static_pool_waiter_times_out() {
    within_deadline("a waiter that times out", || {
        let script = Script::new();
        let timeout = Duration::from_millis(200);
        let pool = StaticPool::builder(script.connector())
            .strategy(StaticConfig::default().timeout(timeout))
            .build()
            .expect("pool");
        let mut held = pool.get().expect("checkout");
        let waiter = {
            let pool = pool.clone();
            thread::spawn(move || {
                let started = Instant::now();
                let result = pool.get().map(|c| c.id());
                (result, started.elapsed())
            })
        };
        let (result, waited) = waiter.join().expect("the waiter");
        let err = match result {
            Err(CheckoutError::Timeout(e)) => e,
            other => panic!("expected a timeout, got {other:?}"),
        };
        assert!(waited >= timeout, "gave up after {waited:?}, before {timeout:?}");
        assert_eq!(err.pool, "StaticPool");
        assert_eq!((err.pool_size, err.overflow, err.checked_out, err.waiting), (1, 0, 1, 0));
        assert_eq!(err.timeout, timeout);
        assert!(
            err.to_string().starts_with(
                "StaticPool limit of size 1 overflow 0 reached, connection timed out, timeout 0.20"
            ),
            "{err}"
        );
        held.execute().expect("the holder still has a working connection");
        assert_eq!(pool.status().waiting, 0);
        let id = held.id();
        drop(held);
        let other = pool.clone();
        let again = thread::spawn(move || other.get().expect("checkout after the return").id());
        assert_eq!(again.join().expect("join"), id);
    });
}

// A waiter is served as soon as the holder returns the connection (with wait_forever too),
// and is counted as waiting meanwhile.
#[test]
fn static_pool_waiter_is_served_on_return() {
    within_deadline("a waiter served on return", || {
        let script = Script::new();
        let pool = StaticPool::builder(script.connector())
            .strategy(StaticConfig::default().wait_forever())
            .build()
            .expect("pool");
        let held = pool.get().expect("checkout");
        let id = held.id();
        let waiter = {
            let pool = pool.clone();
            thread::spawn(move || pool.get().expect("served once it is back").id())
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.status().waiting == 0 {
            assert!(Instant::now() < deadline, "the waiter never started waiting");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.status().checked_out, 1);
        drop(held);
        assert_eq!(waiter.join().expect("the waiter"), id);
        assert_eq!(script.log().connects(), 1);
    });
}

// Issue 3: AssertionPool under 4 racing threads: exactly one holds the connection at a
// time; the others are refused at once (no waiting) with "connection is already checked
// out"; after the holder returns it, a new checkout works.
#[test]
fn assertion_pool_racing_threads() {
    within_deadline("4 racing threads", || {
        const THREADS: usize = 4;
        const ROUNDS: usize = 50;
        let script = Script::new();
        let pool = AssertionPool::new(script.connector()).expect("pool");
        let in_use = Arc::new(AtomicUsize::new(0));
        let successes = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let pool = pool.clone();
                let (in_use, successes, start) =
                    (Arc::clone(&in_use), Arc::clone(&successes), Arc::clone(&start));
                thread::spawn(move || {
                    let mut refused = 0;
                    for _ in 0..ROUNDS {
                        start.wait(); // every round, all four race for it
                        let started = Instant::now();
                        match pool.get() {
                            Ok(mut c) => {
                                let holders = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                                assert_eq!(holders, 1, "{holders} holders at once");
                                c.execute().expect("usable");
                                successes.fetch_add(1, Ordering::SeqCst);
                                in_use.fetch_sub(1, Ordering::SeqCst);
                            }
                            Err(CheckoutError::Unavailable(message)) => {
                                assert!(
                                    message.starts_with("connection is already checked out"),
                                    "{message}"
                                );
                                assert!(
                                    started.elapsed() < Duration::from_secs(5),
                                    "a refusal must not wait"
                                );
                                refused += 1;
                            }
                            Err(other) => panic!("unexpected error: {other}"),
                        }
                    }
                    refused
                })
            })
            .collect();
        let refused: usize = workers.into_iter().map(|w| w.join().expect("a worker")).sum();
        let successes = successes.load(Ordering::SeqCst);
        assert_eq!(successes + refused, THREADS * ROUNDS);
        assert!(successes >= ROUNDS, "at least one checkout per round succeeds");
        assert_eq!(script.log().connects(), 1, "one connection for all");
        let s = pool.status();
        assert_eq!((s.idle, s.checked_out), (1, 0));
        drop(pool.get().expect("a checkout after the race"));
    });
}

// Issue 3: a refused AssertionPool checkout names where the first checkout was taken; once
// the holder (on another thread) returns the connection, the refused thread gets it.
#[test]
fn assertion_pool_refusal_then_success_across_threads() {
    within_deadline("refusal then success", || {
        let script = Script::new();
        let pool = AssertionPool::new(script.connector()).expect("pool");
        let (taken, take) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let holder = {
            let (pool, taken, take) = (pool.clone(), Arc::clone(&taken), Arc::clone(&take));
            thread::spawn(move || {
                let c = pool.get().expect("the first checkout");
                taken.wait();
                take.wait(); // hold it until the other thread has been refused
                drop(c);
            })
        };
        taken.wait();
        let err = pool.get().map(drop).expect_err("refused while the holder has it");
        let message = err.to_string();
        assert!(message.starts_with("connection is already checked out at:\n"), "{message}");
        assert!(
            message.contains("threads.rs") || message.contains("threads::"),
            "the backtrace shows the holder's checkout: {message}"
        );
        take.wait();
        holder.join().expect("the holder");
        drop(pool.get().expect("a checkout once it is back"));
        assert_eq!(script.log().connects(), 1);
    });
}
