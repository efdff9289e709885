//! Group 4, PostgreSQL `SELECT 1` per checkout, on 1 and on 16 threads, against the server
//! named by `POOL_TEST_POSTGRES_URL` (for example `postgres://postgres@127.0.0.1:5432/test`).
//! Without it the group prints "skipped: POOL_TEST_POSTGRES_URL is not set" and measures
//! nothing.
//!
//! Each iteration checks a connection out, runs `SELECT 1` with the simple query protocol
//! (one round trip, no statement to prepare, the same call for every client) and returns
//! it. Rows: QueuePool over pool-postgres's `PostgresConnector` with its default reset (a
//! `ROLLBACK` only when the transaction status it reads off the socket says one is open:
//! nothing here), QueuePool over r2d2_postgres's manager through `pool-r2d2` (its reset
//! on return is a `ROLLBACK`, one more round trip, since r2d2_postgres's client cannot
//! tell whether a transaction is open; the row with reset off shows the pool without
//! it), r2d2_postgres
//! with its default `test_on_check_out` (an empty query, one more round trip) and
//! without, deadpool-postgres with its default fast recycling (nothing sent at return),
//! QueuePool's `get_async` over pool-postgres's `AsyncPostgresConnector` (tokio-postgres)
//! with its default reset (which sends nothing when no transaction is open) and with
//! none, and one direct connection per thread as the floor. Each pool holds as many connections as there are threads.
//!
//! Threads are persistent workers ([`Workers`]); deadpool-postgres and the async
//! QueuePool run as tasks, one `block_on` per sample on a current-thread runtime for 1 and
//! 16 tasks on a two-worker runtime for 16.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use benches::{
    current_thread_runtime, multi_thread_runtime, run_tasks, Job, Workers, POSTGRES_URL_VAR,
};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use deadpool_postgres::{ManagerConfig, RecyclingMethod};
use parking_lot::Mutex;
use pool_core::{Connector, ResetOnReturn};
use pool_postgres::{AsyncPostgresConnector, PostgresConnector};
use pool_queue::{QueueConfig, QueuePool};
use pool_r2d2::R2d2Connector;
use postgres::{Client, NoTls};
use r2d2_postgres::PostgresConnectionManager;
use tokio::runtime::Runtime;

/// The group name `cargo xtask bench` reads back from `target/criterion`.
const GROUP: &str = "postgres SELECT 1";

fn select1(client: &mut Client) {
    client.simple_query("SELECT 1").expect("SELECT 1 on PostgreSQL");
}

/// `SELECT 1` per checkout from a warm QueuePool of `threads` connections over `connector`.
fn queue_job<C: Connector + Send + Sync>(
    connector: C,
    reset: ResetOnReturn,
    threads: usize,
    select1: fn(&mut C::Connection),
) -> Job {
    let pool = QueuePool::builder(connector)
        .strategy(QueueConfig::default().pool_size(threads).max_overflow(0))
        .reset_on_return(reset)
        .build()
        .expect("valid");
    let held: Vec<_> = (0..threads).map(|_| pool.get().expect("connects")).collect();
    drop(held);
    Arc::new(move |_, n| {
        for _ in 0..n {
            select1(&mut pool.get().expect("a connection"));
        }
    })
}

fn bench_job(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, workers: &Workers, job: Job) {
    group.bench_function(BenchmarkId::new(name, workers.count()), |b| {
        b.iter_custom(|iters| workers.run(iters, &job))
    });
}

fn postgres(c: &mut Criterion) {
    let url = match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            println!("skipped: {POSTGRES_URL_VAR} is not set");
            return;
        }
    };
    let config: postgres::Config = url.parse().expect("POOL_TEST_POSTGRES_URL parses");
    let async_config: deadpool_postgres::tokio_postgres::Config =
        url.parse().expect("POOL_TEST_POSTGRES_URL parses");

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    for threads in [1usize, 16] {
        let workers = Workers::new(threads);

        let direct: Arc<Vec<Mutex<Client>>> = Arc::new(
            (0..threads)
                .map(|_| Mutex::new(config.connect(NoTls).expect("connect to PostgreSQL")))
                .collect(),
        );
        bench_job(
            &mut group,
            "direct connection",
            &workers,
            Arc::new(move |index, n| {
                let mut client = direct[index].lock();
                for _ in 0..n {
                    select1(&mut client);
                }
            }),
        );

        let connector = PostgresConnector::new(&url).expect("the URL parses");
        let job = queue_job(connector, ResetOnReturn::Rollback, threads, |conn| select1(conn));
        bench_job(&mut group, "QueuePool (PostgresConnector)", &workers, job);

        for (name, reset) in [
            ("QueuePool (r2d2_postgres connector)", ResetOnReturn::Rollback),
            ("QueuePool (r2d2_postgres connector, reset: none)", ResetOnReturn::Nothing),
        ] {
            let manager = PostgresConnectionManager::new(config.clone(), NoTls);
            let job = queue_job(R2d2Connector::new(manager), reset, threads, select1);
            bench_job(&mut group, name, &workers, job);
        }

        for (name, test) in
            [("r2d2_postgres", true), ("r2d2_postgres (test_on_check_out off)", false)]
        {
            let pool = r2d2::Pool::builder()
                .max_size(threads as u32)
                .test_on_check_out(test)
                .build(PostgresConnectionManager::new(config.clone(), NoTls))
                .expect("r2d2 builds");
            bench_job(
                &mut group,
                name,
                &workers,
                Arc::new(move |_, n| {
                    for _ in 0..n {
                        select1(&mut pool.get().expect("a connection"));
                    }
                }),
            );
        }

        // deadpool-postgres: the connection tasks live on the runtime that opened them,
        // so each thread count gets its own runtime and pool.
        let rt = if threads == 1 { current_thread_runtime() } else { multi_thread_runtime(2) };
        let manager = deadpool_postgres::Manager::from_config(
            async_config.clone(),
            deadpool_postgres::tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(threads)
            .build()
            .expect("deadpool-postgres builds");
        rt.block_on(async {
            let mut held = Vec::new();
            for _ in 0..threads {
                held.push(pool.get().await.expect("connects"));
            }
        });
        group.bench_function(BenchmarkId::new("deadpool-postgres", threads), |b| {
            b.iter_custom(|iters| {
                let pool = pool.clone();
                time_tasks(&rt, threads, iters, move || {
                    let pool = pool.clone();
                    async move {
                        let client = pool.get().await.expect("a connection");
                        client.simple_query("SELECT 1").await.expect("SELECT 1");
                    }
                })
            })
        });

        // pool-postgres's native async connector in QueuePool, through get_async on the
        // same runtime: with the default reset (rollback, which sends nothing when no
        // transaction is open) and with none, as deadpool-postgres returns connections.
        for (name, reset) in [
            ("QueuePool (async, AsyncPostgresConnector)", ResetOnReturn::Rollback),
            ("QueuePool (async, AsyncPostgresConnector, reset: none)", ResetOnReturn::Nothing),
        ] {
            let connector =
                AsyncPostgresConnector::new(&url).expect("POOL_TEST_POSTGRES_URL parses");
            let queue = QueuePool::builder(connector)
                .strategy(QueueConfig::default().pool_size(threads).max_overflow(0))
                .reset_on_return(reset)
                .build()
                .expect("valid");
            rt.block_on(async {
                let mut held = Vec::new();
                for _ in 0..threads {
                    held.push(queue.get_async().await.expect("connects"));
                }
            });
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    let queue = queue.clone();
                    time_tasks(&rt, threads, iters, move || {
                        let queue = queue.clone();
                        async move {
                            let conn = queue.get_async().await.expect("a connection");
                            conn.simple_query("SELECT 1").await.expect("SELECT 1");
                        }
                    })
                })
            });
            // Close the connections while their runtime still runs.
            queue.dispose();
        }
        // Close the connections while their runtime still runs.
        pool.close();
        drop(pool);
        drop(rt);
    }
    group.finish();
}

/// Times `iters` runs of `op` on `rt`: one after another in one `block_on` for one task,
/// split across `tasks` tasks otherwise.
fn time_tasks<F, Fut>(rt: &Runtime, tasks: usize, iters: u64, op: F) -> Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if tasks == 1 {
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..iters {
                op().await;
            }
        });
        start.elapsed()
    } else {
        run_tasks(rt, tasks, iters, |_, n| {
            let op = op.clone();
            async move {
                for _ in 0..n {
                    op().await;
                }
            }
        })
    }
}

criterion_group!(benches, postgres);
criterion_main!(benches);
