//! What the benchmarks in `benches/` share: a no-op [`Connector`](pool_core::Connector)
//! and managers that let r2d2, deadpool and bb8 pool the same no-op connections, deadpool's inline
//! rusqlite manager, the SQLite workload, and the two ways a multi-threaded benchmark
//! runs its iterations ([`Workers`] for threads, [`run_tasks`] for tokio tasks).
//!
//! `cargo xtask bench` runs every benchmark and writes `docs/benchmarks.md`; the group
//! and benchmark names used here are the ones its report looks up.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;

/// The environment variable that names the PostgreSQL server the PostgreSQL group uses.
pub const POSTGRES_URL_VAR: &str = "POOL_TEST_POSTGRES_URL";

/// A connector whose connections are plain numbers: opening, resetting, pinging and
/// closing one costs nothing and never fails, so a benchmark over it measures the pool.
///
/// The same as `pool_conformance::NoopConnector`, kept here so the benchmarks do not
/// build the conformance suite and every backend it tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Noop;

impl pool_core::Connector for Noop {
    type Connection = u64;
    type Error = Infallible;
    // In-process: nothing to wait for, so a bounded connect needs no thread.
    const LOCAL: bool = true;

    fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    fn rollback(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn commit(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn ping(&self, _conn: &mut u64) -> Option<Result<(), Infallible>> {
        Some(Ok(()))
    }
}

/// An r2d2 manager of no-op connections (plain numbers): r2d2 measured alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct R2d2Noop;

impl r2d2::ManageConnection for R2d2Noop {
    type Connection = u64;
    type Error = Infallible;

    fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

/// A deadpool manager of no-op connections: deadpool measured alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadpoolNoop;

impl deadpool::managed::Manager for DeadpoolNoop {
    type Type = u64;
    type Error = Infallible;

    async fn create(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn recycle(
        &self,
        _conn: &mut u64,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<Infallible> {
        Ok(())
    }
}

/// A deadpool pool of [`DeadpoolNoop`] connections.
pub type DeadpoolNoopPool = deadpool::managed::Pool<DeadpoolNoop>;

/// A bb8 manager of no-op connections: bb8 measured alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bb8Noop;

impl bb8::ManageConnection for Bb8Noop {
    type Connection = u64;
    type Error = Infallible;

    async fn connect(&self) -> Result<u64, Infallible> {
        Ok(0)
    }

    async fn is_valid(&self, _conn: &mut u64) -> Result<(), Infallible> {
        Ok(())
    }

    fn has_broken(&self, _conn: &mut u64) -> bool {
        false
    }
}

/// The smallest deadpool manager of rusqlite connections a user would write inline:
/// `create` opens a private in-memory database, `recycle` accepts every connection.
///
/// Queries run on the task's own thread (no `spawn_blocking` hop), as in a program that
/// accepts a short blocking call inside a task.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadpoolSqlite;

impl deadpool::managed::Manager for DeadpoolSqlite {
    type Type = Connection;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Connection, rusqlite::Error> {
        Connection::open_in_memory()
    }

    async fn recycle(
        &self,
        _conn: &mut Connection,
        _metrics: &deadpool::managed::Metrics,
    ) -> deadpool::managed::RecycleResult<rusqlite::Error> {
        Ok(())
    }
}

/// A deadpool pool of [`DeadpoolSqlite`] connections.
pub type DeadpoolSqlitePool = deadpool::managed::Pool<DeadpoolSqlite>;

/// The SQLite workload: `SELECT 1` through the connection's statement cache, as an
/// application that runs the same statement again would.
///
/// # Panics
///
/// If SQLite fails, which an in-memory database does not.
pub fn select1(conn: &Connection) -> i64 {
    conn.prepare_cached("SELECT 1")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)))
        .expect("SELECT 1 on SQLite")
}

/// A job run by every worker of a [`Workers`]: `(worker index, iterations)`.
pub type Job = Arc<dyn Fn(usize, u64) + Send + Sync>;

/// Persistent worker threads that split a benchmark's iterations between them.
///
/// Threads are started once and kept, so a sample costs no thread creation and
/// thread-bound state (SingletonThreadPool's per-thread connection) lives across samples.
/// With one worker the job runs on the caller's thread instead.
pub struct Workers {
    count: usize,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    job: Mutex<Option<(Job, u64)>>,
    start: Barrier,
    done: Barrier,
    quit: AtomicBool,
}

impl Workers {
    /// Starts `count` worker threads (none for `count == 1`).
    ///
    /// # Panics
    ///
    /// If `count` is zero.
    pub fn new(count: usize) -> Self {
        assert!(count > 0, "at least one worker");
        let shared = Arc::new(Shared {
            job: Mutex::new(None),
            start: Barrier::new(count + 1),
            done: Barrier::new(count + 1),
            quit: AtomicBool::new(false),
        });
        let threads = if count == 1 {
            Vec::new()
        } else {
            (0..count)
                .map(|index| {
                    let shared = Arc::clone(&shared);
                    std::thread::Builder::new()
                        .name(format!("bench-worker-{index}"))
                        .spawn(move || loop {
                            shared.start.wait();
                            if shared.quit.load(Ordering::Acquire) {
                                return;
                            }
                            let (job, iters) = shared.job.lock().clone().expect("a job is set");
                            job(index, share(iters, count, index));
                            shared.done.wait();
                        })
                        .expect("spawn a worker")
                })
                .collect()
        };
        Workers { count, shared, threads }
    }

    /// How many threads run a job.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Runs `job` on every worker, `iters` iterations in all, and returns the wall time
    /// from the moment they are released to the moment the last one finishes.
    pub fn run(&self, iters: u64, job: &Job) -> Duration {
        if self.count == 1 {
            let start = Instant::now();
            job(0, iters);
            return start.elapsed();
        }
        *self.shared.job.lock() = Some((Arc::clone(job), iters));
        self.shared.start.wait();
        let start = Instant::now();
        self.shared.done.wait();
        start.elapsed()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        self.shared.quit.store(true, Ordering::Release);
        self.shared.start.wait();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Workers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Workers").field("count", &self.count).finish_non_exhaustive()
    }
}

/// The iterations worker `index` of `count` runs out of `iters`.
fn share(iters: u64, count: usize, index: usize) -> u64 {
    let count = count as u64;
    let index = index as u64;
    iters / count + u64::from(index < iters % count)
}

/// Runs `iters` iterations split between `tasks` tasks spawned on `rt`, and returns the
/// wall time from the first spawn to the last task's end.
///
/// `task(index, iterations)` makes each task's future.
pub fn run_tasks<F, Fut>(
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    iters: u64,
    task: F,
) -> Duration
where
    F: Fn(usize, u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let start = Instant::now();
    let handles: Vec<_> =
        (0..tasks).map(|index| rt.spawn(task(index, share(iters, tasks, index)))).collect();
    rt.block_on(async {
        for handle in handles {
            handle.await.expect("a benchmark task does not panic");
        }
    });
    start.elapsed()
}

/// A tokio runtime with `workers` worker threads and every driver on, as the async pools
/// run in the multi-threaded benchmarks.
///
/// # Panics
///
/// If the runtime cannot be built.
pub fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// A single-threaded tokio runtime with every driver on: the one-caller benchmarks drive
/// async pools with it, one `block_on` per criterion sample.
///
/// # Panics
///
/// If the runtime cannot be built.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_iterations() {
        for iters in [0, 1, 7, 64, 1001] {
            for count in [1, 2, 4, 16] {
                let total: u64 = (0..count).map(|i| share(iters, count, i)).sum();
                assert_eq!(total, iters, "{iters} iterations on {count} workers");
            }
        }
    }

    #[test]
    fn workers_run_every_iteration() {
        let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let workers = Workers::new(3);
        let counter = Arc::clone(&done);
        let job: Job = Arc::new(move |_, n| {
            counter.fetch_add(n, Ordering::Relaxed);
        });
        workers.run(100, &job);
        workers.run(5, &job);
        assert_eq!(done.load(Ordering::Relaxed), 105);
    }

    #[test]
    fn select1_returns_one() {
        let conn = Connection::open_in_memory().expect("in-memory SQLite");
        assert_eq!(select1(&conn), 1);
        assert_eq!(select1(&conn), 1);
    }
}
