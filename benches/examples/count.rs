//! One loop of uncontended checkouts, for counting instructions with callgrind, which is
//! repeatable on a loaded machine where timings are not:
//!
//! ```sh
//! cargo build --release -p benches --example count
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/count queue-async 100000
//! ```
//!
//! The first argument picks the loop (`queue`, `queue-async`, `singleton`, `static`,
//! `deadpool`, `floor-mutex`, `floor-mutex-arc`, `floor-semaphore`); the second is the number of get+drop rounds.
//! Subtract a run of 0 rounds (the setup) and divide by the rounds: instructions per op.

use std::hint::black_box;
use std::sync::Arc;

use benches::{current_thread_runtime, DeadpoolNoop, DeadpoolNoopPool, Noop};
use parking_lot::Mutex;
use pool_queue::{QueueConfig, QueuePool};
use pool_singleton_thread::SingletonThreadPool;
use pool_static::StaticPool;

const SIZE: usize = 8;

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "queue".into());
    let rounds: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let rt = current_thread_runtime();
    let queue = || {
        QueuePool::builder(Noop)
            .strategy(QueueConfig::default().pool_size(SIZE))
            .build()
            .expect("valid")
    };
    match which.as_str() {
        "queue" => {
            let pool = queue();
            for _ in 0..rounds {
                drop(black_box(pool.get().expect("idle")));
            }
        }
        "queue-async" => {
            let pool = queue();
            rt.block_on(async {
                for _ in 0..rounds {
                    drop(black_box(pool.get_async().await.expect("idle")));
                }
            });
        }
        "singleton" => {
            let pool = SingletonThreadPool::builder(Noop).build().expect("valid");
            for _ in 0..rounds {
                drop(black_box(pool.get().expect("this thread's")));
            }
        }
        "static" => {
            let pool = StaticPool::builder(Noop).build().expect("valid");
            for _ in 0..rounds {
                drop(black_box(pool.get().expect("the one")));
            }
        }
        "deadpool" => {
            let pool = DeadpoolNoopPool::builder(DeadpoolNoop).max_size(SIZE).build().expect("ok");
            rt.block_on(async {
                for _ in 0..rounds {
                    drop(black_box(pool.get().await.expect("idle")));
                }
            });
        }
        "floor-mutex" => {
            let values = Mutex::new(vec![0u64; SIZE]);
            for _ in 0..rounds {
                let v = values.lock().pop().expect("one idle");
                values.lock().push(black_box(v));
            }
        }
        "floor-mutex-arc" => {
            let values = Arc::new(Mutex::new(vec![0u64; SIZE]));
            for _ in 0..rounds {
                let handle = black_box(Arc::clone(&values));
                let v = handle.lock().pop().expect("one idle");
                handle.lock().push(black_box(v));
            }
        }
        "floor-semaphore" => {
            let permits = tokio::sync::Semaphore::new(SIZE);
            let values = Mutex::new(vec![0u64; SIZE]);
            rt.block_on(async {
                for _ in 0..rounds {
                    let permit = permits.acquire().await.expect("open");
                    let v = values.lock().pop().expect("one idle");
                    values.lock().push(black_box(v));
                    drop(permit);
                }
            });
        }
        other => {
            eprintln!(
                "unknown loop {other:?}: queue, queue-async, singleton, static, deadpool, floor-mutex, floor-mutex-arc, floor-semaphore"
            );
            std::process::exit(2);
        }
    }
}
