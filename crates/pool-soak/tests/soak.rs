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
//! debug `cargo test`); CI runs a million in release mode (`.ci/run`). The async run does
//! a tenth as many, over tasks that are cancelled at random.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::Poll;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pool_conformance::{Call, Script, ScriptedConnector};
use pool_core::{
    AsyncStrategy, CheckoutError, ConnectionRecord, ListenerError, Pool, PoolListener,
    PooledConnection, ResetState, Strategy,
};
use pool_queue::{Queue, QueueConfig};
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

/// A small, fast, seedable generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// A listener whose events fail or panic when armed (each arm trips one call).
#[derive(Default)]
struct Faults {
    checkout_errors: AtomicUsize,
    checkout_panics: AtomicUsize,
    reset_panics: AtomicUsize,
    checkin_panics: AtomicUsize,
    close_panics: AtomicUsize,
    detach_panics: AtomicUsize,
}

fn trip(budget: &AtomicUsize) -> bool {
    budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
}

type Conn = pool_conformance::ScriptedConnection;

/// The message of every panic this test injects (the panic hook stays quiet for them).
const INJECTED: &str = "soak: injected";

impl PoolListener<ScriptedConnector> for Faults {
    fn checkout(
        &self,
        _: &mut Conn,
        _: &mut ConnectionRecord<ScriptedConnector>,
    ) -> Result<(), ListenerError> {
        if trip(&self.checkout_panics) {
            panic!("{INJECTED} checkout listener panic");
        }
        if trip(&self.checkout_errors) {
            return Err(ListenerError::new("soak: checkout refused"));
        }
        Ok(())
    }
    fn reset(
        &self,
        _: &mut Conn,
        _: Option<&mut ConnectionRecord<ScriptedConnector>>,
        _: ResetState,
    ) -> Result<(), ListenerError> {
        if trip(&self.reset_panics) {
            panic!("{INJECTED} reset listener panic");
        }
        Ok(())
    }
    fn checkin(&self, _: Option<&mut Conn>, _: &mut ConnectionRecord<ScriptedConnector>) {
        if trip(&self.checkin_panics) {
            panic!("{INJECTED} checkin listener panic");
        }
    }
    fn close(&self, _: &mut Conn, _: &mut ConnectionRecord<ScriptedConnector>) {
        if trip(&self.close_panics) {
            panic!("{INJECTED} close listener panic");
        }
    }
    fn detach(&self, _: &mut Conn, _: &mut ConnectionRecord<ScriptedConnector>) {
        if trip(&self.detach_panics) {
            panic!("{INJECTED} detach listener panic");
        }
    }
}

/// The listener a pool holds, sharing the test's [`Faults`].
struct Shared(Arc<Faults>);

impl PoolListener<ScriptedConnector> for Shared {
    fn checkout(
        &self,
        c: &mut Conn,
        r: &mut ConnectionRecord<ScriptedConnector>,
    ) -> Result<(), ListenerError> {
        self.0.checkout(c, r)
    }
    fn reset(
        &self,
        c: &mut Conn,
        r: Option<&mut ConnectionRecord<ScriptedConnector>>,
        state: ResetState,
    ) -> Result<(), ListenerError> {
        self.0.reset(c, r, state)
    }
    fn checkin(&self, c: Option<&mut Conn>, r: &mut ConnectionRecord<ScriptedConnector>) {
        self.0.checkin(c, r)
    }
    fn close(&self, c: &mut Conn, r: &mut ConnectionRecord<ScriptedConnector>) {
        self.0.close(c, r)
    }
    fn detach(&self, c: &mut Conn, r: &mut ConnectionRecord<ScriptedConnector>) {
        self.0.detach(c, r)
    }
}

/// Quiets the panics this test injects (and the scripted connector's), keeping any other.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !(text.starts_with(INJECTED) || text.starts_with("scripted")) {
                default(info);
            }
        }));
    });
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
    // Dropping closes the idle connections on a thread of its own (waited for, up to a
    // bound); give a late one a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut opened: HashMap<u64, usize> = HashMap::new();
        for call in script.log().calls() {
            match call {
                Call::Connect(id) => {
                    opened.entry(id).or_insert(0);
                }
                call if call.is_close() => *opened.entry(call.id()).or_insert(0) += 1,
                _ => {}
            }
        }
        let wrong: Vec<_> = opened.iter().filter(|(_, n)| **n != 1).collect();
        if wrong.is_empty() {
            println!("{what}: {stats}; {} connections, each closed once", opened.len());
            return;
        }
        let twice: Vec<_> = wrong.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{what}: connections closed more than once: {twice:?}");
        assert!(
            Instant::now() < deadline,
            "{what}: connections never closed: {:?}",
            wrong.iter().map(|(id, _)| **id).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A pool of strategy `S` over a fresh script, with pre-ping and the faults' listener.
fn faulty_pool<S: Strategy<ScriptedConnector>>(
    config: S::Config,
) -> (Script, Arc<Faults>, Pool<ScriptedConnector, S>) {
    quiet_injected_panics();
    let script = Script::new();
    let faults = Arc::new(Faults::default());
    let pool = Pool::builder(script.connector())
        .pre_ping(true)
        .listener(Shared(Arc::clone(&faults)))
        .strategy(config)
        .build()
        .expect("valid settings");
    (script, faults, pool)
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
