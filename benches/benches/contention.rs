//! Contention: T threads share a QueuePool of 8 no-op connections and check out and
//! return as fast as they can for a fixed time. Reports throughput, acquire latency
//! percentiles, and fairness (min/max per-thread operations, longest stall).
//!
//! Criterion is poor at this kind of measurement, so this is a small harness of its own:
//! `cargo bench -p benches --bench contention` (set `CONTENTION_SECS` to change the run
//! length, default 1 s per row).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pool_conformance::NoopConnector;
use pool_core::ResetOnReturn;
use pool_queue::{QueueConfig, QueuePool};

struct Report {
    ops: u64,
    min_ops: u64,
    max_ops: u64,
    p50: Duration,
    p99: Duration,
    longest_stall: Duration,
    stalled_threads: usize,
}

fn run(threads: usize, fair_after: Duration, hold: Duration, secs: f64) -> Report {
    let pool = QueuePool::builder(NoopConnector)
        .strategy(QueueConfig::default().pool_size(8).max_overflow(0).fair_after(fair_after))
        .reset_on_return(ResetOnReturn::Nothing)
        .build()
        .expect("valid");
    let stop = AtomicBool::new(false);
    let results: Vec<(u64, Vec<Duration>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (pool, stop) = (&pool, &stop);
                s.spawn(move || {
                    let mut ops = 0u64;
                    let mut samples = Vec::with_capacity(1 << 16);
                    let mut last = Instant::now();
                    let mut stall = Duration::ZERO;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        let conn = pool.get().expect("no timeouts at 30 s");
                        let now = Instant::now();
                        if ops.is_multiple_of(16) {
                            samples.push(now - t);
                        }
                        stall = stall.max(now - last);
                        last = now;
                        if !hold.is_zero() {
                            let until = now + hold;
                            while Instant::now() < until {
                                std::hint::spin_loop();
                            }
                        }
                        drop(conn);
                        ops += 1;
                    }
                    (ops, samples, stall)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().expect("no panic")).collect()
    });
    let mut all: Vec<Duration> = results.iter().flat_map(|r| r.1.iter().copied()).collect();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Report {
        ops: results.iter().map(|r| r.0).sum(),
        min_ops: results.iter().map(|r| r.0).min().unwrap_or(0),
        max_ops: results.iter().map(|r| r.0).max().unwrap_or(0),
        p50: pct(0.50),
        p99: pct(0.99),
        longest_stall: results.iter().map(|r| r.2).max().unwrap_or_default(),
        stalled_threads: results
            .iter()
            .filter(|r| r.2 >= Duration::from_millis(100) || r.0 == 0)
            .count(),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: keep it short.
    let benching = std::env::args().any(|a| a == "--bench");
    let secs: f64 =
        std::env::var("CONTENTION_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let secs = if benching { secs } else { 0.05 };
    println!(
        "{:>7} {:>12} {:>8} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8}",
        "threads", "fair_after", "hold", "ops/s", "min/max", "p50", "p99", "max stall", "stalled"
    );
    let only: Option<usize> = std::env::var("CONTENTION_THREADS").ok().and_then(|s| s.parse().ok());
    for threads in [1, 2, 4, 16, 64].into_iter().filter(|t| only.is_none_or(|o| o == *t)) {
        for fair_after in [Duration::ZERO, Duration::from_micros(500), Duration::from_secs(3600)] {
            for hold in [Duration::ZERO, Duration::from_micros(1)] {
                let r = run(threads, fair_after, hold, secs);
                println!(
                    "{threads:>7} {:>12} {:>8} {:>12.0} {:>10.3} {:>10.1?} {:>10.1?} {:>12.1?} {:>8}",
                    format!("{fair_after:?}"),
                    format!("{hold:?}"),
                    r.ops as f64 / secs,
                    r.min_ops as f64 / r.max_ops.max(1) as f64,
                    r.p50,
                    r.p99,
                    r.longest_stall,
                    r.stalled_threads
                );
            }
        }
    }
}
