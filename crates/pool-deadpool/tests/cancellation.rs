//! Cancellation safety of QueuePool's `get_async` over a deadpool manager, in the spirit
//! of deadpool's own `managed_cancellation` test: under every combination of success,
//! error, delay and hang of the manager's `create` and `recycle` (the pre-ping), of the asynchronous
//! rollback on return, and of the `connect`/`checkout` listeners, a `get_async()`
//! future dropped at any await point
//!
//! - loses no slot: once the background resets have ended (or their runtime has shut
//!   down), nothing is checked out and the pool holds at most `max_size` connections;
//! - never hands one connection to two holders;
//! - never hands out a connection whose rollback did not finish (a "dirty" one);
//! - leaves a pool that works: with every gate open, all `max_size` connections can be
//!   checked out at once, all clean.
//!
//! A last test mixes threads (`get`) and tasks (`get_async`) on one QueuePool.

use std::collections::HashSet;
use std::fmt;
use std::future::{self, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pool_core::{AsyncStrategy, BoxError, ConnectionRecord, ListenerError, Pool, PoolListener};
use pool_deadpool::deadpool::managed::{Manager, Metrics, RecycleError, RecycleResult};
use pool_deadpool::{Managed, ManagerConnector, Reset};
use pool_queue::{Queue, QueueConfig};

const MAX_SIZE: usize = 2;

/// What an operation does when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Ok,
    Err,
    /// Returns `Pending` once (waking itself), then succeeds: an await point.
    Slow,
    /// Never completes.
    Never,
}

const GATES: [Gate; 4] = [Gate::Ok, Gate::Err, Gate::Slow, Gate::Never];

impl Gate {
    async fn open(self) -> Result<(), GateError> {
        match self {
            Gate::Ok => Ok(()),
            Gate::Err => Err(GateError),
            Gate::Slow => {
                YieldOnce(false).await;
                Ok(())
            }
            Gate::Never => future::pending().await,
        }
    }
}

/// Pending on the first poll (after waking its task), ready on the second.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[derive(Debug)]
struct GateError;

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("gate set to error")
    }
}

impl std::error::Error for GateError {}

/// The gates of one run; the final check opens them all.
#[derive(Debug, Clone, Copy)]
struct Gates {
    create: Gate,
    recycle: Gate,
    rollback: Gate,
    listeners: Gate,
}

impl Gates {
    const OPEN: Gates =
        Gates { create: Gate::Ok, recycle: Gate::Ok, rollback: Gate::Ok, listeners: Gate::Ok };

    fn all() -> impl Iterator<Item = Gates> {
        GATES.into_iter().flat_map(|create| {
            GATES.into_iter().flat_map(move |recycle| {
                GATES.into_iter().flat_map(move |rollback| {
                    [Gate::Ok, Gate::Err].into_iter().map(move |listeners| Gates {
                        create,
                        recycle,
                        rollback,
                        listeners,
                    })
                })
            })
        })
    }
}

/// A connection that knows whether its holder left a transaction open.
#[derive(Debug)]
struct GatedConn {
    id: u64,
    gates: Arc<Mutex<Gates>>,
    /// Set while a holder has it; cleared by a finished rollback.
    dirty: bool,
}

impl Reset for GatedConn {
    async fn rollback(&mut self) -> Result<(), BoxError> {
        let gate = self.gates.lock().rollback;
        gate.open().await?;
        self.dirty = false;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), BoxError> {
        self.rollback().await
    }
}

#[derive(Debug)]
struct GatedManager {
    gates: Arc<Mutex<Gates>>,
    next: AtomicU64,
}

impl Manager for GatedManager {
    type Type = GatedConn;
    type Error = GateError;

    async fn create(&self) -> Result<GatedConn, GateError> {
        let gate = self.gates.lock().create;
        gate.open().await?;
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        Ok(GatedConn { id, gates: Arc::clone(&self.gates), dirty: false })
    }

    async fn recycle(&self, _conn: &mut GatedConn, _: &Metrics) -> RecycleResult<GateError> {
        let gate = self.gates.lock().recycle;
        gate.open().await.map_err(RecycleError::Backend)
    }
}

type Gated = ManagerConnector<GatedManager>;

/// `connect` and `checkout` listeners that fail when the gate says so.
struct GatedListeners(Arc<Mutex<Gates>>);

impl GatedListeners {
    fn result(&self) -> Result<(), ListenerError> {
        match self.0.lock().listeners {
            Gate::Err => Err(ListenerError::new("listener gate set to error")),
            _ => Ok(()),
        }
    }
}

impl PoolListener<Gated> for GatedListeners {
    fn connect(
        &self,
        _conn: &mut Managed<GatedConn>,
        _record: &mut ConnectionRecord<Gated>,
    ) -> Result<(), ListenerError> {
        self.result()
    }

    fn checkout(
        &self,
        _conn: &mut Managed<GatedConn>,
        _record: &mut ConnectionRecord<Gated>,
    ) -> Result<(), ListenerError> {
        self.result()
    }
}

/// Who holds which connection now; a second holder of one connection is a failure.
#[derive(Debug, Default, Clone)]
struct Holders(Arc<Mutex<HashSet<u64>>>);

impl Holders {
    /// Takes a freshly checked-out connection: it must be clean and held by no one else.
    /// The holder lets go when the returned [`Hold`] is dropped: declare it after the
    /// connection, so that it is dropped first, also when the task holding both is
    /// aborted (a `give_back` call after an await would then never run, and the next
    /// holder of the connection would look like a second one).
    #[must_use]
    fn take(&self, conn: &mut GatedConn, gates: Gates) -> Hold {
        assert!(
            !conn.dirty,
            "connection {} handed out before its rollback finished ({gates:?})",
            conn.id
        );
        assert!(
            self.0.lock().insert(conn.id),
            "connection {} handed to two holders ({gates:?})",
            conn.id
        );
        conn.dirty = true; // the holder leaves a transaction open
        Hold { holders: self.clone(), id: conn.id }
    }
}

/// One holder's claim on a connection, released when dropped.
#[derive(Debug)]
struct Hold {
    holders: Holders,
    id: u64,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.holders.0.lock().remove(&self.id);
    }
}

/// An async strategy under test, configured for `MAX_SIZE` connections and a 5 s wait
/// (QueuePool's here; another async strategy with a bounded size would fit too).
trait Subject: AsyncStrategy<Gated> {
    fn config() -> Self::Config;
}

impl Subject for Queue<Gated> {
    fn config() -> QueueConfig {
        QueueConfig::default().pool_size(MAX_SIZE).max_overflow(0).timeout(Duration::from_secs(5))
    }
}

fn pool<S: Subject>(gates: &Arc<Mutex<Gates>>) -> Pool<Gated, S> {
    let manager = GatedManager { gates: Arc::clone(gates), next: AtomicU64::new(0) };
    Pool::builder(ManagerConnector::new(manager))
        .pre_ping(true)
        .listener(GatedListeners(Arc::clone(gates)))
        .strategy(S::config())
        .build()
        .expect("valid settings")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// One checkout polled `steps` times by hand, then dropped (or, if it finished, the
/// connection used and dropped).
fn checkout_dropped_after<S: Subject>(
    pool: &Pool<Gated, S>,
    holders: &Holders,
    gates: Gates,
    steps: usize,
) {
    let mut fut = pin!(pool.get_async());
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..steps {
        if let Poll::Ready(result) = fut.as_mut().poll(&mut cx) {
            if let Ok(mut conn) = result {
                let _hold = holders.take(&mut conn, gates);
            }
            return;
        }
    }
}

/// Waits until no connection is checked out (background resets done), or the deadline.
async fn settled<S: Subject>(pool: &Pool<Gated, S>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if pool.status().checked_out == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    pool.status().checked_out == 0
}

/// With every gate open, the pool serves `MAX_SIZE` holders at once, all clean.
fn assert_works<S: Subject>(pool: &Pool<Gated, S>, shared: &Arc<Mutex<Gates>>, gates: Gates) {
    *shared.lock() = Gates::OPEN;
    let status = pool.status();
    assert_eq!(status.checked_out, 0, "a slot is still checked out: {status:?} ({gates:?})");
    assert!(status.idle <= MAX_SIZE, "more connections than max_size: {status:?} ({gates:?})");
    runtime().block_on(async {
        let holders = Holders::default();
        let mut held = Vec::new();
        for _ in 0..MAX_SIZE {
            let mut conn = tokio::time::timeout(Duration::from_secs(5), pool.get_async())
                .await
                .unwrap_or_else(|_| panic!("a slot was lost: checkout hung ({gates:?})"))
                .unwrap_or_else(|e| {
                    panic!("checkout failed with every gate open: {e} ({gates:?})")
                });
            let hold = holders.take(&mut conn, gates);
            held.push((hold, conn)); // the hold is dropped before the connection
        }
        assert_eq!(pool.status().checked_out, MAX_SIZE);
        drop(held);
        assert!(settled(pool, Duration::from_secs(5)).await, "returns did not finish ({gates:?})");
    });
}

/// Every await point: the checkout future is dropped after 0, 1, 2, ... polls.
fn dropped_at_each_step<S: Subject>() {
    for gates in Gates::all() {
        let shared = Arc::new(Mutex::new(gates));
        let pool = pool::<S>(&shared);
        let holders = Holders::default();
        let rt = runtime();
        rt.block_on(async {
            for steps in 0..8 {
                checkout_dropped_after(&pool, &holders, gates, steps);
                // A return whose rollback waits finishes in the background; one that
                // never finishes keeps its slot until the runtime goes.
                if gates.rollback != Gate::Never {
                    assert!(
                        settled(&pool, Duration::from_secs(5)).await,
                        "a return never finished after {steps} steps ({gates:?}): {:?}",
                        pool.status()
                    );
                }
            }
        });
        // Shutting the runtime down drops unfinished returns: their connections are
        // closed and their slots released.
        drop(rt);
        assert_works(&pool, &shared, gates);
    }
}

/// deadpool's test: eight tasks keep checking out under timeouts of a few nanoseconds,
/// so their futures are dropped wherever the clock says; then they are aborted.
fn dropped_by_timeouts_under_load<S: Subject>() {
    for gates in Gates::all() {
        let shared = Arc::new(Mutex::new(gates));
        let pool = pool::<S>(&shared);
        let holders = Holders::default();
        let rt = runtime();
        rt.block_on(async {
            let tasks: Vec<_> = (0..8u64)
                .map(|i| {
                    let pool = pool.clone();
                    let holders = holders.clone();
                    tokio::spawn(async move {
                        loop {
                            let got =
                                tokio::time::timeout(Duration::from_nanos(i), pool.get_async())
                                    .await;
                            if let Ok(Ok(mut conn)) = got {
                                let _hold = holders.take(&mut conn, gates);
                                tokio::task::yield_now().await;
                            }
                            tokio::time::sleep(Duration::from_nanos(i)).await;
                        }
                    })
                })
                .collect();
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let status = pool.status();
                assert!(status.idle + status.checked_out <= MAX_SIZE, "{status:?} ({gates:?})");
            }
            for task in &tasks {
                task.abort();
            }
            for task in tasks {
                let joined = task.await;
                assert!(
                    joined.as_ref().is_err_and(|e| e.is_cancelled()),
                    "a task failed: {joined:?}"
                );
            }
        });
        drop(rt);
        assert_works(&pool, &shared, gates);
    }
}

#[test]
fn queue_dropped_at_each_step() {
    dropped_at_each_step::<Queue<Gated>>();
}

#[test]
fn queue_dropped_by_timeouts_under_load() {
    dropped_by_timeouts_under_load::<Queue<Gated>>();
}

/// Threads blocked in `get` and tasks awaiting `get_async` wait in one line on one
/// QueuePool: every one of them is served, no connection is held twice, and the counts
/// come back to zero checked out.
#[test]
fn queue_threads_and_tasks_share_one_pool() {
    const ROUNDS: usize = 200;
    let shared = Arc::new(Mutex::new(Gates::OPEN));
    let pool = pool::<Queue<Gated>>(&shared);
    let holders = Holders::default();
    let rt = runtime();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (pool, holders) = (pool.clone(), holders.clone());
            std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    let mut conn = pool.get().expect("a thread's checkout");
                    let _hold = holders.take(&mut conn, Gates::OPEN);
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pool, holders) = (pool.clone(), holders.clone());
                tokio::spawn(async move {
                    for _ in 0..ROUNDS {
                        let mut conn = pool.get_async().await.expect("a task's checkout");
                        let _hold = holders.take(&mut conn, Gates::OPEN);
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a task panicked");
        }
    });
    for thread in threads {
        thread.join().expect("a thread panicked");
    }
    rt.block_on(async {
        assert!(settled(&pool, Duration::from_secs(5)).await, "returns did not finish");
    });
    let status = pool.status();
    assert_eq!((status.checked_out, status.waiting), (0, 0), "{status:?}");
    assert!(status.idle <= MAX_SIZE, "{status:?}");
}
