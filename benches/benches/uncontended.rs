//! Group 1, uncontended checkout and return of a no-op connection on one thread: every
//! strategy of the workspace, r2d2, deadpool and bb8, beside three floors (a
//! `parking_lot::Mutex<Vec<_>>` pop and push, the same through a cloned `Arc` as a pool's
//! handle holds one, a crossbeam `ArrayQueue` pop and push).
//!
//! Every pool holds 8 connections, all opened before measuring, and keeps its default
//! settings otherwise (r2d2 and bb8 test each connection on checkout, deadpool recycles
//! it: with no-op connections those calls cost only the pools' own bookkeeping).
//!
//! The async pools are driven by one current-thread tokio runtime through criterion's
//! `b.to_async(&rt)`: criterion calls `block_on` once per sample and awaits the checkout
//! in a loop inside it, so a figure is the pool's own future polled to completion, with
//! no runtime entry and exit per iteration (that would add to the async rows a cost the
//! sync rows do not pay). A single-threaded runtime is enough: nothing waits, and none
//! of these checkouts needs a worker.
//!
//! `cargo bench -p benches --bench uncontended`; `cargo xtask bench` runs it with the
//! other groups and writes `docs/benchmarks.md`.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use benches::{current_thread_runtime, Bb8Noop, DeadpoolNoop, DeadpoolNoopPool, Noop, R2d2Noop};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use parking_lot::Mutex;
use pool_core::ResetOnReturn;
use pool_null::NullPool;
use pool_queue::{QueueConfig, QueuePool};
use pool_singleton_thread::SingletonThreadPool;
use pool_static::{AssertionConfig, AssertionPool, StaticPool};

/// The group name `cargo xtask bench` reads back from `target/criterion`.
const GROUP: &str = "uncontended";
/// How many connections each pool keeps.
const SIZE: usize = 8;

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));

    // The floors: the cheapest way to take a value out of a shared container and put it
    // back, with a lock and without.
    let floor = Mutex::new(vec![0u64; SIZE]);
    group.bench_function("floor: Mutex<Vec>", |b| {
        b.iter(|| {
            let conn = floor.lock().pop().expect("one idle");
            floor.lock().push(black_box(conn));
        })
    });
    // The same with the `Arc` clone and drop of a handle that outlives its `Pool` value,
    // which every pool here pays: what of a pool's time is that alone.
    let shared = Arc::new(Mutex::new(vec![0u64; SIZE]));
    group.bench_function("floor: Mutex<Vec> + Arc handle", |b| {
        b.iter(|| {
            let handle = black_box(Arc::clone(&shared));
            let conn = handle.lock().pop().expect("one idle");
            handle.lock().push(black_box(conn));
        })
    });
    let queue = ArrayQueue::new(SIZE);
    for _ in 0..SIZE {
        queue.push(0u64).expect("room");
    }
    group.bench_function("floor: ArrayQueue", |b| {
        b.iter(|| {
            let conn = queue.pop().expect("one idle");
            queue.push(black_box(conn)).expect("room");
        })
    });

    // The workspace's strategies, each with its default settings (reset on return: a
    // rollback, which a no-op connection answers at once).
    let pool = QueuePool::builder(Noop)
        .strategy(QueueConfig::default().pool_size(SIZE))
        .build()
        .expect("valid");
    drop(pool.get().expect("warm"));
    group.bench_function("QueuePool", |b| b.iter(|| black_box(pool.get().expect("idle"))));

    let no_reset = QueuePool::builder(Noop)
        .strategy(QueueConfig::default().pool_size(SIZE))
        .reset_on_return(ResetOnReturn::Nothing)
        .build()
        .expect("valid");
    drop(no_reset.get().expect("warm"));
    group.bench_function("QueuePool (reset: none)", |b| {
        b.iter(|| black_box(no_reset.get().expect("idle")))
    });

    // NullPool opens and closes a connection per checkout: with no-op connections that
    // is its bookkeeping alone.
    let null = NullPool::builder(Noop).build().expect("valid");
    group.bench_function("NullPool", |b| b.iter(|| black_box(null.get().expect("connects"))));

    let singleton = SingletonThreadPool::builder(Noop).build().expect("valid");
    drop(singleton.get().expect("warm"));
    group.bench_function("SingletonThreadPool", |b| {
        b.iter(|| black_box(singleton.get().expect("this thread's")))
    });

    let shared = StaticPool::builder(Noop).build().expect("valid");
    drop(shared.get().expect("warm"));
    group.bench_function("StaticPool", |b| b.iter(|| black_box(shared.get().expect("free"))));

    // AssertionPool captures a backtrace at every checkout by default (to report where a
    // second checkout's connection was taken); without it, it is a flag and a mutex.
    let assertion = AssertionPool::builder(Noop).build().expect("valid");
    drop(assertion.get().expect("warm"));
    group.bench_function("AssertionPool", |b| b.iter(|| black_box(assertion.get().expect("free"))));
    let assertion_bare = AssertionPool::builder(Noop)
        .strategy(AssertionConfig::default().store_traceback(false))
        .build()
        .expect("valid");
    drop(assertion_bare.get().expect("warm"));
    group.bench_function("AssertionPool (store_traceback off)", |b| {
        b.iter(|| black_box(assertion_bare.get().expect("free")))
    });

    // The peers, with their defaults but for the size.
    let r2d2 = r2d2::Pool::builder().max_size(SIZE as u32).build(R2d2Noop).expect("r2d2 builds");
    group.bench_function("r2d2", |b| b.iter(|| black_box(r2d2.get().expect("idle"))));

    let rt = current_thread_runtime();
    let deadpool =
        DeadpoolNoopPool::builder(DeadpoolNoop).max_size(SIZE).build().expect("deadpool builds");
    rt.block_on(async { drop(deadpool.get().await.expect("warm")) });
    group.bench_function("deadpool", |b| {
        b.to_async(&rt).iter(|| async { black_box(deadpool.get().await.expect("idle")) })
    });

    let bb8 =
        rt.block_on(bb8::Pool::builder().max_size(SIZE as u32).build(Bb8Noop)).expect("bb8 builds");
    group.bench_function("bb8", |b| {
        b.to_async(&rt).iter(|| async { black_box(bb8.get().await.expect("idle")) })
    });

    // QueuePool's own async front end, driven like deadpool above.
    let queue_async = QueuePool::builder(Noop)
        .strategy(QueueConfig::default().pool_size(SIZE))
        .build()
        .expect("valid");
    rt.block_on(async { drop(queue_async.get_async().await.expect("warm")) });
    group.bench_function("QueuePool (async)", |b| {
        b.to_async(&rt).iter(|| async { black_box(queue_async.get_async().await.expect("idle")) })
    });

    // The async floor: a tokio semaphore counting the idle values of a `Mutex<Vec>`.
    let permits = tokio::sync::Semaphore::new(SIZE);
    let values = Mutex::new(vec![0u64; SIZE]);
    group.bench_function("floor: Semaphore+Mutex<Vec>", |b| {
        b.to_async(&rt).iter(|| async {
            let permit = permits.acquire().await.expect("open");
            let conn = values.lock().pop().expect("one idle per permit");
            values.lock().push(black_box(conn));
            drop(permit);
        })
    });

    group.finish();
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
