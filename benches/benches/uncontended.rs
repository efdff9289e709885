//! Uncontended checkout and return: QueuePool against the floor of a bare
//! `parking_lot::Mutex<Vec<_>>` pop and push. The full comparison with r2d2, deadpool and
//! bb8 is built by `cargo xtask bench` (see docs/benchmarks.md once it exists).

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use parking_lot::Mutex;
use pool_conformance::NoopConnector;
use pool_queue::{QueueConfig, QueuePool};

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended get+drop");

    let floor = Mutex::new(vec![0u64; 8]);
    group.bench_function("floor: Mutex<Vec>", |b| {
        b.iter(|| {
            let conn = floor.lock().pop().expect("one idle");
            floor.lock().push(black_box(conn));
        })
    });

    let pool = QueuePool::builder(NoopConnector)
        .strategy(QueueConfig::default().pool_size(8))
        .reset_on_return(pool_core::ResetOnReturn::Nothing)
        .build()
        .expect("valid");
    drop(pool.get().expect("warm"));
    group.bench_function("QueuePool", |b| b.iter(|| black_box(pool.get().expect("idle"))));

    let rollback = QueuePool::builder(NoopConnector).build().expect("valid");
    drop(rollback.get().expect("warm"));
    group.bench_function("QueuePool (reset: rollback)", |b| {
        b.iter(|| black_box(rollback.get().expect("idle")))
    });
    group.finish();
}

criterion_group!(benches, uncontended);
criterion_main!(benches);
