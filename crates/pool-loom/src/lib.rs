#![doc = include_str!("../README.md")]

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pool_core::{CheckoutError, Connector, PooledConnection};
use pool_queue::{Queue, QueueConfig, QueuePool};

/// The most connections one model opens.
const MOST: usize = 8;

/// What the connector saw: connections opened, each one's closes, and which are held.
///
/// Its counters are plain atomics, outside the model: they observe the pool and add no
/// interleavings of their own. (The conformance suite's scripted connector and call log
/// check the same things, but pool-conformance would pull every driver into the loom
/// build, which this package keeps to pool-core and pool-queue.)
#[derive(Debug, Default)]
pub struct Tally {
    opened: AtomicUsize,
    closes: [AtomicUsize; MOST],
    held: [AtomicBool; MOST],
    fail_next: AtomicBool,
}

impl Tally {
    /// Connections opened so far.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Closes of all connections so far.
    pub fn closed(&self) -> usize {
        self.closes.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Asserts that every connection opened was closed exactly once.
    pub fn assert_closed_once(&self) {
        for (id, closes) in self.closes[..self.opened()].iter().enumerate() {
            assert_eq!(closes.load(Ordering::SeqCst), 1, "connection {id} closed that many times");
        }
    }

    /// Makes the next connect attempt fail.
    pub fn fail_next_connect(&self) {
        self.fail_next.store(true, Ordering::SeqCst);
    }

    /// Marks connection `id` held, asserting that nobody else holds it.
    pub fn hold(&self, id: usize) {
        assert!(
            !self.held[id].swap(true, Ordering::SeqCst),
            "connection {id} handed to two holders"
        );
    }

    /// Marks connection `id` no longer held (before it goes back).
    pub fn unhold(&self, id: usize) {
        assert!(self.held[id].swap(false, Ordering::SeqCst), "connection {id} was not held");
    }
}

/// A connector whose connections are numbers, counted in a [`Tally`]; it never blocks
/// and fails only when told to, so the only interleavings are the pool's.
#[derive(Debug, Clone, Default)]
pub struct Counted(pub Arc<Tally>);

impl Connector for Counted {
    type Connection = usize;
    type Error = io::Error;

    // No thread for a bounded connect: the model's threads are all loom's.
    const LOCAL: bool = true;

    fn connect(&self) -> io::Result<usize> {
        if self.0.fail_next.swap(false, Ordering::SeqCst) {
            return Err(io::Error::other("connect failed as the model asked"));
        }
        let id = self.0.opened.fetch_add(1, Ordering::SeqCst);
        assert!(id < MOST, "the model opened more than {MOST} connections");
        Ok(id)
    }

    fn rollback(&self, _conn: &mut usize) -> io::Result<()> {
        Ok(())
    }

    fn commit(&self, _conn: &mut usize) -> io::Result<()> {
        Ok(())
    }

    fn close(&self, conn: usize) -> io::Result<()> {
        assert!(!self.0.held[conn].load(Ordering::SeqCst), "connection {conn} closed while held");
        self.0.closes[conn].fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// How returned connections reach a waiter: the two paths of QueuePool's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fairness {
    /// `fair_after(ZERO)`: every return is handed to the longest waiter (a grant).
    HandOff,
    /// `fair_after(Duration::MAX)`: a return goes idle and wakes a waiter to compete.
    Compete,
}

impl Fairness {
    /// Both paths, for a model to run on each.
    pub const BOTH: [Fairness; 2] = [Fairness::HandOff, Fairness::Compete];
}

/// How a model's waiter checks out: the two front ends, one line of waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    /// `Pool::get` on a thread (parked while it waits).
    Blocking,
    /// `Pool::get_async` in a task (woken through its waker).
    Async,
}

impl Front {
    /// Checks out of `pool` through this front end.
    pub fn get(self, pool: &QueuePool<Counted>) -> Checkout {
        match self {
            Front::Blocking => pool.get(),
            Front::Async => block_on(pool.get_async()),
        }
    }
}

/// A checkout's outcome in the models.
pub type Checkout = Result<PooledConnection<Counted, Queue<Counted>>, CheckoutError<io::Error>>;

/// Every pairing of the two paths from a return to a waiter and the two front ends.
pub fn cases() -> impl Iterator<Item = (Fairness, Front)> {
    Fairness::BOTH.into_iter().flat_map(|f| [(f, Front::Blocking), (f, Front::Async)])
}

/// A QueuePool over a fresh [`Counted`] connector, with `pool_size` connections, no
/// overflow, the given wait bound (`None`: for ever) and fairness, and no operation
/// timeouts (they would need tokio's timer, which the model does not have).
pub fn pool(
    pool_size: usize,
    timeout: Option<Duration>,
    fairness: Fairness,
) -> (QueuePool<Counted>, Arc<Tally>) {
    let tally = Arc::new(Tally::default());
    let fair_after = match fairness {
        Fairness::HandOff => Duration::ZERO,
        Fairness::Compete => Duration::MAX,
    };
    let mut config =
        QueueConfig::default().pool_size(pool_size).max_overflow(0).fair_after(fair_after);
    config = match timeout {
        Some(timeout) => config.timeout(timeout),
        None => config.wait_forever(),
    };
    let pool = QueuePool::builder(Counted(Arc::clone(&tally)))
        .strategy(config)
        .connect_timeout(None)
        .ping_timeout(None)
        .reset_timeout(None)
        .build()
        .expect("the model's settings are valid");
    (pool, tally)
}

/// Runs `f` under loom's model checker (every interleaving, within
/// `LOOM_MAX_PREEMPTIONS`), or, without `--cfg loom`, a few hundred times on real
/// threads as a smoke test.
pub fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    #[cfg(loom)]
    loom::model(f);
    #[cfg(not(loom))]
    for _ in 0..200 {
        f();
    }
}

/// A thread of the model.
pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Joiner<T> {
    #[cfg(loom)]
    return Joiner(loom::thread::spawn(f));
    #[cfg(not(loom))]
    return Joiner(std::thread::spawn(f));
}

/// A model thread to join.
#[derive(Debug)]
pub struct Joiner<T>(
    #[cfg(loom)] loom::thread::JoinHandle<T>,
    #[cfg(not(loom))] std::thread::JoinHandle<T>,
);

impl<T> Joiner<T> {
    /// Waits for the thread, resuming its panic.
    pub fn join(self) -> T {
        self.0.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Drives `future` to completion on the calling model thread (loom's executor, or a
/// current-thread tokio runtime with its timer).
pub fn block_on<F: Future>(future: F) -> F::Output {
    #[cfg(loom)]
    return loom::future::block_on(future);
    #[cfg(not(loom))]
    return tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(future);
}

/// Polls `future` once, with a waker that does nothing: a task that starts a checkout
/// and is then cancelled.
pub fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let future = std::pin::pin!(future);
    future.poll(&mut Context::from_waker(Waker::noop()))
}
