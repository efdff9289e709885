//! Per-operation timeouts (`connect_timeout`, `ping_timeout`, `reset_timeout`) on
//! QueuePool's two front ends, with a connector whose operations can be made to hang:
//! the timed-out checkout gets an error naming the operation, the slot is freed, the
//! connection that timed out is closed, never pooled, and the pool goes on working.
//! (The timeouts are asserted with margins of seconds; nothing here asserts speed.)

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pool_core::{CheckoutError, Connector, Operation, OperationTimeout};
use pool_queue::{QueueConfig, QueuePool};

/// What hangs, and what was closed.
#[derive(Debug, Default)]
struct Knobs {
    hang_connect: AtomicBool,
    hang_ping: AtomicBool,
    hang_reset: AtomicBool,
    panic_connect: AtomicBool,
    next: AtomicU64,
    terminated: AtomicUsize,
    closed: AtomicUsize,
}

/// A connector whose connect, ping and rollback hang while their knob is on: the async
/// methods stay pending forever, the blocking connect sleeps for `BLOCKING_HANG`.
#[derive(Debug, Clone, Default)]
struct Stalling(Arc<Knobs>);

const BLOCKING_HANG: Duration = Duration::from_millis(1500);
const BOUND: Duration = Duration::from_millis(200);
/// Far more than any bound here: a caller that waits this long was not bounded.
const HUNG: Duration = Duration::from_secs(20);

#[derive(Debug)]
struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

impl Connector for Stalling {
    type Connection = u64;
    type Error = Failed;
    const ASYNC_IO: bool = true;

    fn connect(&self) -> Result<u64, Failed> {
        if self.0.panic_connect.load(Ordering::SeqCst) {
            panic!("connect panicked");
        }
        if self.0.hang_connect.load(Ordering::SeqCst) {
            std::thread::sleep(BLOCKING_HANG);
        }
        Ok(self.0.next.fetch_add(1, Ordering::SeqCst))
    }

    fn rollback(&self, _conn: &mut u64) -> Result<(), Failed> {
        Ok(())
    }

    fn commit(&self, _conn: &mut u64) -> Result<(), Failed> {
        Ok(())
    }

    fn ping(&self, _conn: &mut u64) -> Option<Result<(), Failed>> {
        Some(Ok(()))
    }

    /// A hanging blocking ping waits out its bound, as a driver's socket timeout would,
    /// and reports it.
    fn ping_within(
        &self,
        conn: &mut u64,
        bound: Duration,
    ) -> Result<Option<Result<(), Failed>>, OperationTimeout> {
        if self.0.hang_ping.load(Ordering::SeqCst) {
            std::thread::sleep(bound);
            return Err(OperationTimeout::new(Operation::Ping, bound));
        }
        Ok(self.ping(conn))
    }

    /// A hanging blocking rollback, likewise.
    fn rollback_within(
        &self,
        conn: &mut u64,
        bound: Duration,
    ) -> Result<Result<(), Failed>, OperationTimeout> {
        if self.0.hang_reset.load(Ordering::SeqCst) {
            std::thread::sleep(bound);
            return Err(OperationTimeout::new(Operation::Reset, bound));
        }
        Ok(self.rollback(conn))
    }

    fn close(&self, _conn: u64) -> Result<(), Failed> {
        self.0.closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn terminate(&self, _conn: u64) -> Result<(), Failed> {
        self.0.terminated.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn connect_async(&self) -> impl Future<Output = Result<u64, Failed>> + Send {
        let knobs = Arc::clone(&self.0);
        async move {
            if knobs.hang_connect.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            Ok(knobs.next.fetch_add(1, Ordering::SeqCst))
        }
    }

    fn ping_async(
        &self,
        _conn: &mut u64,
    ) -> impl Future<Output = Option<Result<(), Failed>>> + Send {
        let hang = self.0.hang_ping.load(Ordering::SeqCst);
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Some(Ok(()))
        }
    }

    fn rollback_async(&self, _conn: &mut u64) -> impl Future<Output = Result<(), Failed>> + Send {
        let hang = self.0.hang_reset.load(Ordering::SeqCst);
        async move {
            if hang {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    }
}

/// A listener that only makes the return take its observed path.
#[derive(Debug)]
struct Observer;

impl pool_core::PoolListener<Stalling> for Observer {}

fn pool(connector: &Stalling) -> QueuePool<Stalling> {
    QueuePool::builder(connector.clone())
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0).timeout(HUNG))
        .connect_timeout(BOUND)
        .ping_timeout(BOUND)
        .reset_timeout(BOUND)
        .pre_ping(true)
        .build()
        .expect("valid settings")
}

fn operation_of<E>(err: &CheckoutError<E>) -> Option<Operation> {
    match err {
        CheckoutError::OperationTimeout(t) => Some(t.operation),
        _ => None,
    }
}

fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    done()
}

// deadpool's `rt_tokio_1` case: a create that never finishes, with a wait timeout set,
// must not hang `get_async`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_that_never_answers_fails_get_async_and_frees_the_slot() {
    let connector = Stalling::default();
    let pool = pool(&connector);
    connector.0.hang_connect.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let err = pool.get_async().await.expect_err("the connect never answers");
    assert!(started.elapsed() < HUNG, "get_async was not bounded");
    assert_eq!(operation_of(&err), Some(Operation::Connect), "{err}");
    assert!(err.is_timeout());
    assert!(
        err.to_string().starts_with("connect timed out after 0.20 s (connect_timeout)"),
        "{err}"
    );
    assert_eq!(pool.status().checked_out, 0);
    assert_eq!(pool.status().overflow, -1, "the slot was freed");
    connector.0.hang_connect.store(false, Ordering::SeqCst);
    let conn = pool.get_async().await.expect("the pool works again");
    drop(conn);
}

#[test]
fn a_connect_that_never_answers_fails_get_and_its_late_connection_is_closed() {
    let connector = Stalling::default();
    let pool = pool(&connector);
    connector.0.hang_connect.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let err = pool.get().expect_err("the connect takes longer than its bound");
    assert!(started.elapsed() < BLOCKING_HANG, "get waited for the whole connect");
    assert_eq!(operation_of(&err), Some(Operation::Connect), "{err}");
    assert_eq!(pool.status().overflow, -1, "the slot was freed");
    assert!(
        wait_until(HUNG, || connector.0.terminated.load(Ordering::SeqCst) == 1),
        "the connection that arrived late was closed on the connect's thread"
    );
    connector.0.hang_connect.store(false, Ordering::SeqCst);
    drop(pool.get().expect("the pool works again"));
    assert_eq!(connector.0.terminated.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panicking_connect_on_the_bounded_thread_panics_the_caller_and_frees_the_slot() {
    let connector = Stalling::default();
    let pool = pool(&connector);
    connector.0.panic_connect.store(true, Ordering::SeqCst);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.get()));
    let payload = caught.expect_err("the connect's panic reaches the caller");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"connect panicked"));
    assert_eq!(pool.status().overflow, -1, "the slot was freed");
    connector.0.panic_connect.store(false, Ordering::SeqCst);
    drop(pool.get().expect("the pool works again"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_that_never_answers_fails_the_checkout_and_closes_the_connection() {
    let connector = Stalling::default();
    let pool = pool(&connector);
    let first = *pool.get_async().await.expect("connects");
    connector.0.hang_ping.store(true, Ordering::SeqCst);
    let err = pool.get_async().await.expect_err("the ping never answers");
    assert_eq!(operation_of(&err), Some(Operation::Ping), "{err}");
    assert!(err.to_string().contains("(ping_timeout)"), "{err}");
    assert_eq!(connector.0.terminated.load(Ordering::SeqCst), 1, "the pinged connection");
    assert_eq!(pool.status().checked_out, 0);
    connector.0.hang_ping.store(false, Ordering::SeqCst);
    let conn = pool.get_async().await.expect("a new connection");
    assert_ne!(*conn, first, "the connection whose ping hung was not handed out again");
}

/// Declares a ping that timed out a disconnect (SQLAlchemy's `handle_error`).
#[derive(Debug)]
struct SilenceIsGone;

impl pool_core::PoolListener<Stalling> for SilenceIsGone {
    fn handle_error(&self, ctx: &mut pool_core::ErrorContext<'_>) {
        if ctx.is_pre_ping() && ctx.error().is::<pool_core::OperationTimeout>() {
            ctx.set_disconnect(true);
        }
    }
}

// Issue 16: a `handle_error` listener can count a pre-ping that never answers as a
// disconnect; the checkout then replaces the connection (fresh, so not pinged) and
// succeeds instead of failing, and the pool generation moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_timeout_declared_a_disconnect_replaces_the_connection() {
    let connector = Stalling::default();
    let pool = QueuePool::builder(connector.clone())
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0).timeout(HUNG))
        .ping_timeout(BOUND)
        .pre_ping(true)
        .listener(SilenceIsGone)
        .build()
        .expect("valid settings");
    let first = *pool.get_async().await.expect("connects");
    let generation = pool.generation();
    connector.0.hang_ping.store(true, Ordering::SeqCst);
    let conn = pool.get_async().await.expect("replaced instead of failing");
    assert_ne!(*conn, first);
    assert_eq!(connector.0.terminated.load(Ordering::SeqCst), 1, "the silent connection");
    assert_eq!(pool.generation(), generation + 1, "a disconnect invalidates the pool");
    connector.0.hang_ping.store(false, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_that_never_answers_invalidates_the_connection() {
    let connector = Stalling::default();
    let pool = pool(&connector);
    let conn = pool.get_async().await.expect("connects");
    let first = *conn;
    connector.0.hang_reset.store(true, Ordering::SeqCst);
    drop(conn);
    let settled = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || wait_until(HUNG, || pool.status().checked_out == 0))
    };
    assert!(settled.await.unwrap(), "the return ended at the reset's bound");
    assert_eq!(connector.0.terminated.load(Ordering::SeqCst), 1, "closed, not pooled");
    connector.0.hang_reset.store(false, Ordering::SeqCst);
    let conn = pool.get_async().await.expect("a new connection");
    assert_ne!(*conn, first);
}

// The blocking front end: a pre-ping the connector gives up on at ping_timeout fails the
// checkout with the ping's timeout and terminates the connection; a reset it gives up on
// at reset_timeout terminates the connection instead of pooling it. Both on the return's
// fast path (no listener) and its observed path (a listener).
#[test]
fn blocking_pings_and_resets_are_bounded_through_the_connector() {
    for observed in [false, true] {
        let connector = Stalling::default();
        let mut builder = QueuePool::builder(connector.clone())
            .strategy(QueueConfig::default().pool_size(1).max_overflow(0).timeout(HUNG))
            .ping_timeout(BOUND)
            .reset_timeout(BOUND)
            .pre_ping(true);
        if observed {
            builder = builder.listener(Observer);
        }
        let pool = builder.build().expect("valid settings");
        let first = *pool.get().expect("connects");
        connector.0.hang_ping.store(true, Ordering::SeqCst);
        let err = pool.get().expect_err("the ping hangs");
        assert_eq!(operation_of(&err), Some(Operation::Ping), "{err}");
        assert_eq!(connector.0.terminated.load(Ordering::SeqCst), 1, "the pinged connection");
        assert_eq!(pool.status().checked_out, 0);
        connector.0.hang_ping.store(false, Ordering::SeqCst);

        let conn = pool.get().expect("a new connection");
        let second = *conn;
        assert_ne!(second, first);
        connector.0.hang_reset.store(true, Ordering::SeqCst);
        drop(conn);
        assert_eq!(connector.0.terminated.load(Ordering::SeqCst), 2, "closed, not pooled");
        assert_eq!(pool.status().checked_out, 0);
        connector.0.hang_reset.store(false, Ordering::SeqCst);
        assert_ne!(*pool.get().expect("a new connection"), second, "observed: {observed}");
    }
}

#[test]
fn the_defaults_bound_every_operation_and_zero_is_refused() {
    let config = QueuePool::builder(Stalling::default()).build().unwrap();
    let config = config.config();
    assert_eq!(config.connect_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(config.ping_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(config.reset_timeout(), Some(Duration::from_secs(30)));
    for build in [
        QueuePool::builder(Stalling::default()).connect_timeout(Duration::ZERO).build(),
        QueuePool::builder(Stalling::default()).ping_timeout(Duration::ZERO).build(),
        QueuePool::builder(Stalling::default()).reset_timeout(Duration::ZERO).build(),
    ] {
        let err = build.expect_err("zero is refused");
        assert!(err.to_string().contains("give it a positive duration, or None"), "{err}");
    }
    let unbounded = QueuePool::builder(Stalling::default()).connect_timeout(None).build().unwrap();
    assert_eq!(unbounded.config().connect_timeout(), None);
}
