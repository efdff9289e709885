//! The soak (issue 14): many threads (and tasks) check out, use and return connections
//! while every fault the scripted connector and a listener can make is injected at
//! random: connect, ping, rollback and close failures, connect and rollback panics,
//! listener errors and panics (checkout, reset, checkin, close, detach), holders that
//! panic, invalidate, soft-invalidate, detach or kill their connection, waits that time
//! out, and a dispose now and then. At the end:
//!
//! - no connection was ever held by two callers at once;
//! - no caller waited past its timeout plus a margin;
//! - the counts are exact: nothing checked out or waiting, and the pool's checkout count
//!   is the callers' own tally of successful checkouts;
//! - once the pool is dropped, every connection that was opened was closed exactly once.
//!
//! `SQLPOOL_SOAK_CHECKOUTS` sets the blocking run's checkouts (default 20,000, for a
//! debug `cargo test`); CI runs a million (`.ci/run`); the test binary is
//! compiled optimized either way (`[profile.dev.package.pool-soak]`). The async run does
//! a tenth as many, over tasks that are cancelled at random.

use std::collections::HashSet;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pool_conformance::{Script, ScriptedConnector};
use pool_core::{AsyncStrategy, CheckoutError, Pool, PooledConnection, Strategy};
use pool_queue::{Queue, QueueConfig};
use pool_soak::{faulty_pool, Faults, Rng, INJECTED};
use pool_static::{Static, StaticConfig};

/// Threads of the blocking run.
const THREADS: usize = 64;
/// How far past its timeout a caller may be woken on a loaded machine.
const MARGIN: Duration = Duration::from_secs(5);
/// The longest timeout a caller asks for.
const MAX_TIMEOUT_MS: u64 = 50;

fn checkouts() -> usize {
    std::env::var("SQLPOOL_SOAK_CHECKOUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

/// What every caller saw, merged.
#[derive(Default)]
struct Tally {
    /// Successful checkouts.
    checkouts: AtomicUsize,
    /// Connections seen held by two callers at once.
    held_twice: Mutex<Vec<u64>>,
    /// The worst time past its timeout a caller waited.
    worst_overshoot: Mutex<Duration>,
    /// The connections held now.
    held: Mutex<HashSet<u64>>,
}

impl Tally {
    fn claim(&self, id: u64) {
        if !self.held.lock().insert(id) {
            self.held_twice.lock().push(id);
        }
    }

    fn release(&self, id: u64) {
        self.held.lock().remove(&id);
    }

    fn waited(&self, started: Instant, timeout: Duration) {
        let over = started.elapsed().saturating_sub(timeout);
        let mut worst = self.worst_overshoot.lock();
        *worst = (*worst).max(over);
    }
}

/// Arms one fault at random (or none, most of the time).
fn inject(rng: &mut Rng, script: &Script, faults: &Faults) {
    match rng.below(400) {
        0 => script.fail_connects(1),
        1 => script.panic_connects(1),
        2 => script.fail_pings(1, rng.below(2) == 0),
        3 => script.fail_rollbacks(1),
        4 => script.panic_rollbacks(1),
        5 => script.fail_closes(1),
        6 => faults.checkout_errors.store(1, Ordering::Relaxed),
        7 => faults.checkout_panics.store(1, Ordering::Relaxed),
        8 => faults.reset_panics.store(1, Ordering::Relaxed),
        9 => faults.checkin_panics.store(1, Ordering::Relaxed),
        10 => faults.close_panics.store(1, Ordering::Relaxed),
        11 => faults.detach_panics.store(1, Ordering::Relaxed),
        _ => {}
    }
}

/// What a holder does with its connection before giving it back (any of it may panic
/// through an armed listener or rollback; the panic is caught by the caller).
fn hold<S: Strategy<ScriptedConnector>>(
    rng: &mut Rng,
    script: &Script,
    tally: &Tally,
    mut c: PooledConnection<ScriptedConnector, S>,
) {
    let id = c.id();
    match rng.below(100) {
        0..=2 => {
            tally.release(id);
            PooledConnection::invalidate(c, None);
        }
        3..=4 => {
            PooledConnection::soft_invalidate(&mut c, None);
            tally.release(id);
        }
        5..=6 => {
            // The detach may panic (a listener); the handle stays ours either way.
            let detached =
                panic::catch_unwind(AssertUnwindSafe(|| PooledConnection::detach(&mut c)));
            tally.release(id);
            drop(c);
            if let Err(p) = detached {
                panic::resume_unwind(p);
            }
        }
        7 => {
            script.kill(id);
            let err = c.execute().expect_err("a killed connection fails");
            tally.release(id);
            assert!(PooledConnection::handle_error(c, &err).is_none(), "a disconnect invalidates");
        }
        8 => {
            // The holder itself panics: the connection is dropped while unwinding.
            tally.release(id);
            let _held = c;
            panic!("{INJECTED} holder panic");
        }
        9 => {
            tally.release(id);
            PooledConnection::close_after_reset(c);
        }
        _ => {
            if rng.below(8) == 0 {
                std::thread::yield_now();
            }
            tally.release(id);
            drop(c);
        }
    }
}

/// After the run: nothing out, counts exact; then, with the pool dropped, every
/// connection opened was closed exactly once.
fn verify<S: Strategy<ScriptedConnector>>(
    what: &str,
    pool: Pool<ScriptedConnector, S>,
    script: &Script,
    tally: &Tally,
) {
    let twice = tally.held_twice.lock().clone();
    assert!(twice.is_empty(), "{what}: connections held by two callers at once: {twice:?}");
    let worst = *tally.worst_overshoot.lock();
    assert!(worst <= MARGIN, "{what}: a caller waited {worst:?} past its timeout");
    let st = pool.status();
    assert_eq!((st.checked_out, st.waiting), (0, 0), "{what}: nothing is out: {st:?}");
    let stats = pool.statistics();
    assert_eq!(
        stats.checkouts as usize,
        tally.checkouts.load(Ordering::Relaxed),
        "{what}: the pool's checkouts are the callers' tally: {stats}"
    );
    drop(pool);
    let opened = script.log().closed_once().unwrap_or_else(|e| panic!("{what}: {e}"));
    println!("{what}: {stats}; {opened} connections, each closed once");
}

/// The blocking run on strategy `S`: `total` checkouts over [`THREADS`] threads.
fn soak_blocking<S: Strategy<ScriptedConnector>>(what: &str, config: S::Config, total: usize) {
    let (script, faults, pool) = faulty_pool::<S>(config);
    let tally = Tally::default();
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (pool, script, faults, tally, start) = (&pool, &script, &faults, &tally, &start);
            s.spawn(move || {
                let mut rng = Rng::new(t as u64 + 1);
                start.wait();
                for i in 0..total / THREADS {
                    inject(&mut rng, script, faults);
                    if t == 0 && i % 200 == 199 {
                        let _ = panic::catch_unwind(AssertUnwindSafe(|| pool.dispose()));
                    }
                    let timeout = Duration::from_millis(rng.below(MAX_TIMEOUT_MS + 1));
                    let started = Instant::now();
                    let got = panic::catch_unwind(AssertUnwindSafe(|| pool.get_timeout(timeout)));
                    tally.waited(started, timeout);
                    let c = match got {
                        Ok(Ok(c)) => c,
                        Ok(Err(CheckoutError::Timeout(_) | CheckoutError::Connect(_))) => continue,
                        Ok(Err(CheckoutError::Listener(_) | CheckoutError::Ping(_))) => continue,
                        Ok(Err(other)) => panic!("{what}: unexpected checkout error: {other}"),
                        Err(_) => continue, // an injected panic in the checkout
                    };
                    tally.checkouts.fetch_add(1, Ordering::Relaxed);
                    tally.claim(c.id());
                    let _ =
                        panic::catch_unwind(AssertUnwindSafe(|| hold(&mut rng, script, tally, c)));
                }
            });
        }
    });
    verify(what, pool, &script, &tally);
}

/// The async run on strategy `S`: `total` checkouts over 64 tasks on a two-thread
/// runtime; a checkout is cancelled at random (its future dropped at a random moment),
/// and some holders are aborted while they hold.
fn soak_async<S: AsyncStrategy<ScriptedConnector>>(what: &str, config: S::Config, total: usize) {
    let (script, faults, pool) = faulty_pool::<S>(config);
    let tally = Arc::new(Tally::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..64usize {
            let (pool, script, faults, tally) =
                (pool.clone(), script.clone(), Arc::clone(&faults), Arc::clone(&tally));
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng::new(1_000 + t as u64);
                for _ in 0..total / 64 {
                    inject(&mut rng, &script, &faults);
                    let timeout = Duration::from_millis(rng.below(MAX_TIMEOUT_MS + 1));
                    let started = Instant::now();
                    // A checkout listener may panic: caught as a blocking caller would.
                    let checkout = caught(pool.get_async_timeout(timeout));
                    let got = if rng.below(10) == 0 {
                        // Cancelled: the future is dropped after a random moment.
                        let cancel = Duration::from_micros(rng.below(2_000));
                        match tokio::time::timeout(cancel, checkout).await {
                            Ok(got) => got,
                            Err(_) => continue,
                        }
                    } else {
                        checkout.await
                    };
                    tally.waited(started, timeout);
                    let Some(Ok(c)) = got else { continue };
                    tally.checkouts.fetch_add(1, Ordering::Relaxed);
                    tally.claim(c.id());
                    if rng.below(50) == 0 {
                        // A holder aborted while it holds: the connection is dropped with
                        // the task, wherever it stopped.
                        tally.release(c.id());
                        let holder = tokio::spawn(async move {
                            tokio::task::yield_now().await;
                            drop(c);
                        });
                        holder.abort();
                        let _ = holder.await;
                        continue;
                    }
                    let mut rng2 = Rng::new(rng.below(u64::MAX));
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                        hold(&mut rng2, &script, &tally, c)
                    }));
                    tokio::task::yield_now().await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("a soak task ended without panicking");
        }
    });
    drop(runtime);
    let tally = Arc::try_unwrap(tally).unwrap_or_else(|_| panic!("every task has ended"));
    verify(what, pool, &script, &tally);
}

/// Runs `f`, catching a panic in any of its polls (`None`).
async fn caught<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(move |cx| {
        match panic::catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Some(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    })
    .await
}

fn queue_config() -> QueueConfig {
    QueueConfig::default().pool_size(8).max_overflow(4).timeout(Duration::from_millis(100))
}

#[test]
fn queue_pool_under_faults_threads() {
    soak_blocking::<Queue<_>>("QueuePool", queue_config(), checkouts());
}

#[test]
fn queue_pool_under_faults_tasks() {
    soak_async::<Queue<_>>("QueuePool (async)", queue_config(), checkouts() / 10);
}

#[test]
fn static_pool_under_faults_threads() {
    let config = StaticConfig::default().timeout(Duration::from_millis(100));
    soak_blocking::<Static<_>>("StaticPool", config, checkouts() / 10);
}

#[test]
fn static_pool_under_faults_tasks() {
    let config = StaticConfig::default().timeout(Duration::from_millis(100));
    soak_async::<Static<_>>("StaticPool (async)", config, checkouts() / 20);
}
