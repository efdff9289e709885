//! Group 3, SQLite `SELECT 1` per checkout, on 1 and on 4 threads: check a connection out,
//! run `SELECT 1` through its statement cache, return it.
//!
//! Rows: QueuePool (over `pool-sqlite` and over r2d2_sqlite through `pool-r2d2`),
//! SingletonThreadPool and StaticPool against one direct rusqlite connection per thread
//! (the floor) and against the connections in a `Mutex<Vec>` any thread takes from (the
//! floor of a shared pool), r2d2_sqlite with and without `test_on_check_out`, deadpool with an
//! inline rusqlite manager, QueuePool's `get_async` with the query inline or in
//! `spawn_blocking`; NullPool against opening a connection per query (its floor).
//! Every database is a private `:memory:` one; each pool holds as many connections as
//! there are threads (StaticPool holds one, which the threads take in turn).
//!
//! Threads are persistent workers that split each sample's iterations ([`Workers`]);
//! a figure is the wall time of a sample divided by the queries it ran, so its inverse is
//! the aggregate rate. deadpool's rows run as tasks instead: on one thread, one `block_on`
//! per sample on a current-thread runtime (as in group 1); on 4, four tasks on a
//! two-worker runtime (the machines have two cores), each query running inline in its
//! task.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use benches::{
    current_thread_runtime, multi_thread_runtime, run_tasks, select1, DeadpoolSqlite,
    DeadpoolSqlitePool, Job, Workers,
};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use parking_lot::Mutex;
use pool_null::NullPool;
use pool_queue::{QueueConfig, QueuePool};
use pool_r2d2::R2d2Connector;
use pool_singleton_thread::SingletonThreadPool;
use pool_sqlite::SqliteConnector;
use pool_static::StaticPool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

/// The group name `cargo xtask bench` reads back from `target/criterion`.
const GROUP: &str = "sqlite SELECT 1";

fn bench_job(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, workers: &Workers, job: Job) {
    group.bench_function(BenchmarkId::new(name, workers.count()), |b| {
        b.iter_custom(|iters| workers.run(iters, &job))
    });
}

fn sqlite(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 4] {
        let workers = Workers::new(threads);

        // The floor: each thread uses its own connection directly.
        let direct: Arc<Vec<Mutex<Connection>>> = Arc::new(
            (0..threads).map(|_| Mutex::new(Connection::open_in_memory().expect("open"))).collect(),
        );
        bench_job(
            &mut group,
            "direct connection",
            &workers,
            Arc::new(move |index, n| {
                let conn = direct[index].lock();
                for _ in 0..n {
                    select1(&conn);
                }
            }),
        );

        // A floor for pools: the connections in a `Mutex<Vec>`, any thread taking any
        // one, as in a pool of as many as there are threads but with no pool logic. What
        // separates it from the direct row is the connections moving between threads
        // (and cores) and the lock's line bouncing, which every shared pool pays.
        let floor: Arc<Mutex<Vec<Connection>>> = Arc::new(Mutex::new(
            (0..threads).map(|_| Connection::open_in_memory().expect("open")).collect(),
        ));
        bench_job(
            &mut group,
            "floor: Mutex<Vec<Connection>>",
            &workers,
            Arc::new(move |_, n| {
                for _ in 0..n {
                    let conn = floor.lock().pop().expect("one per thread");
                    select1(&conn);
                    floor.lock().push(conn);
                }
            }),
        );

        let queue = QueuePool::builder(SqliteConnector::memory())
            .strategy(QueueConfig::default().pool_size(threads).max_overflow(0))
            .build()
            .expect("valid");
        warm(threads, || queue.get().expect("connects"));
        bench_job(
            &mut group,
            "QueuePool",
            &workers,
            Arc::new(move |_, n| {
                for _ in 0..n {
                    select1(&queue.get().expect("a connection"));
                }
            }),
        );

        let adapted = QueuePool::builder(R2d2Connector::new(SqliteConnectionManager::memory()))
            .strategy(QueueConfig::default().pool_size(threads).max_overflow(0))
            .build()
            .expect("valid");
        warm(threads, || adapted.get().expect("connects"));
        bench_job(
            &mut group,
            "QueuePool (r2d2_sqlite connector)",
            &workers,
            Arc::new(move |_, n| {
                for _ in 0..n {
                    select1(&adapted.get().expect("a connection"));
                }
            }),
        );

        let singleton =
            SingletonThreadPool::builder(SqliteConnector::memory()).build().expect("valid");
        bench_job(
            &mut group,
            "SingletonThreadPool",
            &workers,
            Arc::new(move |_, n| {
                for _ in 0..n {
                    select1(&singleton.get().expect("this thread's connection"));
                }
            }),
        );

        let shared = StaticPool::builder(SqliteConnector::memory()).build().expect("valid");
        drop(shared.get().expect("connects"));
        bench_job(
            &mut group,
            "StaticPool",
            &workers,
            Arc::new(move |_, n| {
                for _ in 0..n {
                    select1(&shared.get().expect("the connection"));
                }
            }),
        );

        for (name, test) in [("r2d2_sqlite", false), ("r2d2_sqlite (test_on_check_out)", true)] {
            let pool = r2d2::Pool::builder()
                .max_size(threads as u32)
                .test_on_check_out(test)
                .build(SqliteConnectionManager::memory())
                .expect("r2d2 builds");
            bench_job(
                &mut group,
                name,
                &workers,
                Arc::new(move |_, n| {
                    for _ in 0..n {
                        select1(&pool.get().expect("a connection"));
                    }
                }),
            );
        }

        let deadpool = DeadpoolSqlitePool::builder(DeadpoolSqlite)
            .max_size(threads)
            .build()
            .expect("deadpool builds");
        // Built out here: criterion calls the closure below once per sample.
        let single = current_thread_runtime();
        let multi = multi_thread_runtime(2);
        group.bench_function(
            BenchmarkId::new("deadpool (inline rusqlite manager)", threads),
            |b| {
                if threads == 1 {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        single.block_on(async {
                            for _ in 0..iters {
                                select1(&deadpool.get().await.expect("a connection"));
                            }
                        });
                        start.elapsed()
                    })
                } else {
                    b.iter_custom(|iters| {
                        run_tasks(&multi, threads, iters, |_, n| {
                            let pool = deadpool.clone();
                            async move {
                                for _ in 0..n {
                                    select1(&pool.get().await.expect("a connection"));
                                }
                            }
                        })
                    })
                }
            },
        );
        drop(deadpool);

        // QueuePool's async front end, run like deadpool above: SQLite's calls are quick
        // and in-process, so the query runs inline in the task; against handing each query
        // to tokio's blocking pool (`spawn_blocking`), what a task would do with a slow one.
        let queue_async = QueuePool::builder(SqliteConnector::memory())
            .strategy(QueueConfig::default().pool_size(threads).max_overflow(0))
            .build()
            .expect("valid");
        warm(threads, || queue_async.get().expect("a connection"));
        for (name, offload) in
            [("QueuePool (async, inline)", false), ("QueuePool (async, spawn_blocking)", true)]
        {
            let job = |_: usize, n: u64| {
                let pool = queue_async.clone();
                async move {
                    for _ in 0..n {
                        let conn = pool.get_async().await.expect("a connection");
                        if offload {
                            tokio::task::spawn_blocking(move || select1(&conn))
                                .await
                                .expect("the query does not panic");
                        } else {
                            select1(&conn);
                        }
                    }
                }
            };
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    if threads == 1 {
                        let start = Instant::now();
                        single.block_on(job(0, iters));
                        start.elapsed()
                    } else {
                        run_tasks(&multi, threads, iters, job)
                    }
                })
            });
        }
        drop(queue_async);

        // NullPool against its own floor: a new connection for every query.
        let null = NullPool::builder(SqliteConnector::memory()).build().expect("valid");
        bench_job(
            &mut group,
            "NullPool",
            &workers,
            Arc::new(move |_, n| {
                for _ in 0..n {
                    select1(&null.get().expect("connects"));
                }
            }),
        );
        bench_job(
            &mut group,
            "open per query",
            &workers,
            Arc::new(|_, n| {
                for _ in 0..n {
                    select1(&Connection::open_in_memory().expect("open"));
                }
            }),
        );
    }
    group.finish();
}

/// Opens `count` connections at once (held together, then returned), so the measurement
/// starts with the pool full.
fn warm<G>(count: usize, get: impl Fn() -> G) {
    let held: Vec<G> = (0..count).map(|_| get()).collect();
    drop(held);
}

criterion_group!(benches, sqlite);
criterion_main!(benches);
