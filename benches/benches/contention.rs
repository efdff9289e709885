//! Group 2, contention: T callers share a pool of 8 no-op connections and check out,
//! hold (0 or about 1 µs, spinning) and return as fast as they can for a fixed time.
//!
//! Callers are OS threads for the sync pools (QueuePool, r2d2, a `Mutex` + `Condvar`
//! floor) and tasks on a two-worker tokio runtime for the async ones (deadpool, bb8),
//! with T in {1, 2, 4, 16, 64}. For each row it reports throughput, the p50 and p99 of
//! acquire latency (an hdrhistogram of one checkout in 8, timed from the call to the
//! connection in hand, so the clock costs the other 7 nothing), and fairness: the
//! min/max ratio of per-caller checkouts and how many callers went 100 ms or more
//! without one (a caller that never got one counts too), with the longest such gap.
//! Progress is watched from outside: each caller bumps its own counter and the main
//! thread reads them all every millisecond, so no caller reads a clock to track it.
//!
//! Criterion is poor at this kind of measurement, so this is a small harness of its own:
//! `cargo bench -p benches --bench contention [-- --quick]`. It prints a table and writes
//! the rows as JSON to `$CONTENTION_JSON` (default `target/bench-results/contention.json`),
//! which `cargo xtask bench` turns into a table of `docs/benchmarks.md`. Set
//! `CONTENTION_SECS` to change the run length (default 1 s a row, 0.2 s with `--quick`)
//! and `CONTENTION_THREADS` to run one thread count only. At the end the 64-thread,
//! no-hold rows of QueuePool and r2d2 run five more times each, alternating, and their
//! p99s are kept (`repeats_64_threads_no_hold`): how stable the tail is from run to run.
//! Run without `--bench` (as by `cargo test --benches`) it runs every row for a few
//! milliseconds and writes nothing.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use benches::{multi_thread_runtime, Bb8Noop, DeadpoolNoop, DeadpoolNoopPool, Noop, R2d2Noop};
use hdrhistogram::Histogram;
use parking_lot::{Condvar, Mutex};
use pool_queue::{QueueConfig, QueuePool};

/// Connections in every pool.
const SIZE: usize = 8;
/// A caller that makes no progress for this long counts as stalled.
const STALL: Duration = Duration::from_millis(100);
/// One checkout in this many is timed.
const SAMPLE_EVERY: u64 = 8;
/// Extra runs of the 64-thread, no-hold row of QueuePool and r2d2, for the tail's
/// stability from run to run.
const REPEATS: usize = 5;
/// Worker threads of the runtime the async pools run on (the machines have two cores).
const ASYNC_WORKERS: usize = 2;

/// A per-caller counter on its own cache line, so counting costs no sharing.
#[repr(align(128))]
#[derive(Default)]
struct Counter(AtomicU64);

/// What one row measured.
struct Measured {
    secs: f64,
    ops: u64,
    per_caller: Vec<u64>,
    latency: Histogram<u64>,
    longest_gap: Vec<Duration>,
}

/// What a caller returns: its checkouts and its sampled acquire latencies.
type CallerResult = (u64, Histogram<u64>);

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

/// Spins for `hold` (reading the clock, as the work would take time).
fn hold_for(hold: Duration) {
    if hold.is_zero() {
        return;
    }
    let until = Instant::now() + hold;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Watches the callers' counters every millisecond for `secs`, then sets `stop`.
/// Returns the measured time and each caller's longest gap between two observed changes.
fn watch(counters: &[Counter], stop: &AtomicBool, secs: f64) -> (f64, Vec<Duration>) {
    let start = Instant::now();
    let run = Duration::from_secs_f64(secs);
    let mut last_seen: Vec<u64> = vec![0; counters.len()];
    let mut last_change: Vec<Instant> = vec![start; counters.len()];
    let mut longest: Vec<Duration> = vec![Duration::ZERO; counters.len()];
    loop {
        std::thread::sleep(Duration::from_millis(1));
        let now = Instant::now();
        for (i, counter) in counters.iter().enumerate() {
            let seen = counter.0.load(Ordering::Relaxed);
            if seen != last_seen[i] {
                last_seen[i] = seen;
                last_change[i] = now;
            } else {
                longest[i] = longest[i].max(now - last_change[i]);
            }
        }
        if now - start >= run {
            stop.store(true, Ordering::Relaxed);
            return ((now - start).as_secs_f64(), longest);
        }
    }
}

/// The loop every caller runs until `stop`: time one acquire in [`SAMPLE_EVERY`], hold,
/// return, count.
macro_rules! caller_loop {
    ($stop:expr, $counter:expr, $hold:expr, $acquire:expr) => {{
        let mut ops = 0u64;
        let mut latency = histogram();
        while !$stop.load(Ordering::Relaxed) {
            let conn = if ops.is_multiple_of(SAMPLE_EVERY) {
                let t = Instant::now();
                let conn = $acquire;
                latency.saturating_record(t.elapsed().as_nanos() as u64);
                conn
            } else {
                $acquire
            };
            hold_for($hold);
            drop(conn);
            ops += 1;
            $counter.0.store(ops, Ordering::Relaxed);
        }
        (ops, latency)
    }};
}

/// Runs `threads` OS threads that call `acquire` in a loop for `secs`.
fn run_sync<G>(
    threads: usize,
    hold: Duration,
    secs: f64,
    acquire: impl Fn() -> G + Sync,
) -> Measured {
    let stop = AtomicBool::new(false);
    let counters: Vec<Counter> = (0..threads).map(|_| Counter::default()).collect();
    let go = Barrier::new(threads + 1);
    let (results, (secs, longest_gap)) = std::thread::scope(|s| {
        let handles: Vec<_> = counters
            .iter()
            .map(|counter| {
                let (stop, go, acquire) = (&stop, &go, &acquire);
                s.spawn(move || -> CallerResult {
                    go.wait();
                    caller_loop!(stop, counter, hold, acquire())
                })
            })
            .collect();
        go.wait();
        let watched = watch(&counters, &stop, secs);
        let results: Vec<CallerResult> =
            handles.into_iter().map(|h| h.join().expect("a caller does not panic")).collect();
        (results, watched)
    });
    measured(results, secs, longest_gap)
}

/// An async pool as the harness drives it: one checkout, awaited.
trait AsyncCheckout: Send + Sync + 'static {
    /// The checked-out connection; returned when dropped.
    type Conn<'a>: Send
    where
        Self: 'a;

    /// Checks a connection out (no timeout is expected).
    fn acquire(&self) -> impl Future<Output = Self::Conn<'_>> + Send;
}

impl AsyncCheckout for DeadpoolNoopPool {
    type Conn<'a> = deadpool::managed::Object<DeadpoolNoop>;

    async fn acquire(&self) -> Self::Conn<'_> {
        self.get().await.expect("no error")
    }
}

impl AsyncCheckout for QueuePool<Noop> {
    type Conn<'a> = pool_core::PooledConnection<Noop, pool_queue::Queue<Noop>>;

    async fn acquire(&self) -> Self::Conn<'_> {
        self.get_async().await.expect("no timeout")
    }
}

impl AsyncCheckout for bb8::Pool<Bb8Noop> {
    type Conn<'a> = bb8::PooledConnection<'a, Bb8Noop>;

    async fn acquire(&self) -> Self::Conn<'_> {
        self.get().await.expect("no timeout")
    }
}

/// Runs `tasks` tasks on `rt` that each check out of `pool` in a loop for `secs`.
fn run_async<P: AsyncCheckout>(
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    hold: Duration,
    secs: f64,
    pool: P,
) -> Measured {
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Arc<Vec<Counter>> = Arc::new((0..tasks).map(|_| Counter::default()).collect());
    let pool = Arc::new(pool);
    let (go, _) = tokio::sync::watch::channel(false);
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let (stop, counters, pool) = (stop.clone(), counters.clone(), pool.clone());
            let mut ready = go.subscribe();
            rt.spawn(async move {
                ready.wait_for(|go| *go).await.expect("the sender lives");
                let pool = &*pool;
                caller_loop!(stop, counters[i], hold, pool.acquire().await)
            })
        })
        .collect();
    go.send_replace(true);
    let (secs, longest_gap) = watch(&counters, &stop, secs);
    let results: Vec<CallerResult> = rt.block_on(async {
        let mut results = Vec::with_capacity(tasks);
        for handle in handles {
            results.push(handle.await.expect("a task does not panic"));
        }
        results
    });
    measured(results, secs, longest_gap)
}

fn measured(results: Vec<CallerResult>, secs: f64, longest_gap: Vec<Duration>) -> Measured {
    let mut latency = histogram();
    for (_, h) in &results {
        latency.add(h).expect("same bounds");
    }
    let per_caller: Vec<u64> = results.iter().map(|r| r.0).collect();
    Measured { secs, ops: per_caller.iter().sum(), per_caller, latency, longest_gap }
}

/// The floor: a `Mutex<Vec<_>>` of idle connections and a `Condvar` that callers wait on
/// when it is empty, woken one per return.
///
/// Both from parking_lot: its `notify_one` costs nothing when nobody waits, where the
/// standard library's makes a futex system call on every return.
struct Floor {
    idle: Mutex<Vec<u64>>,
    returned: Condvar,
}

struct FloorGuard<'a> {
    floor: &'a Floor,
    conn: u64,
}

impl Floor {
    fn new(size: usize) -> Self {
        Floor { idle: Mutex::new(vec![0; size]), returned: Condvar::new() }
    }

    fn get(&self) -> FloorGuard<'_> {
        let mut idle = self.idle.lock();
        loop {
            if let Some(conn) = idle.pop() {
                return FloorGuard { floor: self, conn };
            }
            self.returned.wait(&mut idle);
        }
    }
}

impl Drop for FloorGuard<'_> {
    fn drop(&mut self) {
        self.floor.idle.lock().push(self.conn);
        self.floor.returned.notify_one();
    }
}

/// One row of the results, as printed and as written to JSON.
struct Row {
    pool: &'static str,
    callers: &'static str,
    threads: usize,
    hold: Duration,
    m: Measured,
}

impl Row {
    fn ops_per_sec(&self) -> f64 {
        self.m.ops as f64 / self.m.secs
    }

    fn fairness(&self) -> f64 {
        let min = self.m.per_caller.iter().copied().min().unwrap_or(0);
        let max = self.m.per_caller.iter().copied().max().unwrap_or(0);
        min as f64 / max.max(1) as f64
    }

    fn stalled(&self) -> usize {
        self.m
            .per_caller
            .iter()
            .zip(&self.m.longest_gap)
            .filter(|(ops, gap)| **ops == 0 || **gap >= STALL)
            .count()
    }

    fn longest_stall(&self) -> Duration {
        self.m.longest_gap.iter().copied().max().unwrap_or_default()
    }

    fn json(&self) -> serde_json::Value {
        let q = |p: f64| self.m.latency.value_at_quantile(p);
        serde_json::json!({
            "pool": self.pool,
            "callers": self.callers,
            "threads": self.threads,
            "hold_ns": self.hold.as_nanos() as u64,
            "secs": self.m.secs,
            "ops": self.m.ops,
            "ops_per_sec": self.ops_per_sec(),
            "p50_ns": q(0.50),
            "p99_ns": q(0.99),
            "max_ns": self.m.latency.max(),
            "samples": self.m.latency.len(),
            "min_ops": self.m.per_caller.iter().min(),
            "max_ops": self.m.per_caller.iter().max(),
            "fairness": self.fairness(),
            "stalled": self.stalled(),
            "longest_stall_ms": self.longest_stall().as_secs_f64() * 1e3,
        })
    }

    fn print(&self) {
        println!(
            "{:<32} {:>7} {:>6} {:>12.0} {:>10} {:>10} {:>8.3} {:>8} {:>11.1?}",
            self.pool,
            self.threads,
            format!("{:?}", self.hold),
            self.ops_per_sec(),
            format!("{:.1?}", Duration::from_nanos(self.m.latency.value_at_quantile(0.5))),
            format!("{:.1?}", Duration::from_nanos(self.m.latency.value_at_quantile(0.99))),
            self.fairness(),
            self.stalled(),
            self.longest_stall(),
        );
    }
}

fn queue_pool(fair_after: Option<Duration>) -> QueuePool<Noop> {
    let mut config = QueueConfig::default().pool_size(SIZE).max_overflow(0);
    if let Some(bound) = fair_after {
        config = config.fair_after(bound);
    }
    QueuePool::builder(Noop).strategy(config).build().expect("valid")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: keep it short.
    let benching = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let default_secs = if quick { 0.2 } else { 1.0 };
    let secs: f64 =
        std::env::var("CONTENTION_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(default_secs);
    let secs = if benching { secs } else { 0.005 };
    let only: Option<usize> = std::env::var("CONTENTION_THREADS").ok().and_then(|s| s.parse().ok());
    let rt = multi_thread_runtime(ASYNC_WORKERS);

    println!(
        "{:<32} {:>7} {:>6} {:>12} {:>10} {:>10} {:>8} {:>8} {:>11}",
        "pool", "callers", "hold", "ops/s", "p50", "p99", "min/max", "stalled", "max stall"
    );
    let mut rows = Vec::new();
    for threads in [1, 2, 4, 16, 64].into_iter().filter(|t| only.is_none_or(|o| o == *t)) {
        for hold in [Duration::ZERO, Duration::from_micros(1)] {
            let mut row = |pool: &'static str, callers: &'static str, m: Measured| {
                let row = Row { pool, callers, threads, hold, m };
                row.print();
                rows.push(row);
            };

            let floor = Floor::new(SIZE);
            row("Mutex+Condvar floor", "threads", run_sync(threads, hold, secs, || floor.get()));

            let pool = queue_pool(None);
            row(
                "QueuePool",
                "threads",
                run_sync(threads, hold, secs, || pool.get().expect("no timeout")),
            );
            let pool = queue_pool(Some(Duration::ZERO));
            row(
                "QueuePool (strict FIFO)",
                "threads",
                run_sync(threads, hold, secs, || pool.get().expect("no timeout")),
            );
            let pool = queue_pool(Some(Duration::from_secs(3600)));
            row(
                "QueuePool (no fairness bound)",
                "threads",
                run_sync(threads, hold, secs, || pool.get().expect("no timeout")),
            );

            let r2d2 = r2d2::Pool::builder().max_size(SIZE as u32).build(R2d2Noop).expect("r2d2");
            row(
                "r2d2",
                "threads",
                run_sync(threads, hold, secs, || r2d2.get().expect("no timeout")),
            );

            let deadpool =
                DeadpoolNoopPool::builder(DeadpoolNoop).max_size(SIZE).build().expect("deadpool");
            row("deadpool", "tasks", run_async(&rt, threads, hold, secs, deadpool));

            // QueuePool's async front end, as tasks on the same runtime.
            let pool = queue_pool(None);
            row("QueuePool (async)", "tasks", run_async(&rt, threads, hold, secs, pool));

            let bb8 = rt
                .block_on(bb8::Pool::builder().max_size(SIZE as u32).build(Bb8Noop))
                .expect("bb8");
            row("bb8", "tasks", run_async(&rt, threads, hold, secs, bb8));
        }
    }

    // The tail's stability: the 64-thread, no-hold row of QueuePool and of r2d2 again,
    // alternating, so each pair shares the machine's state of the moment.
    let mut repeats: Vec<(&str, Vec<u64>)> = vec![("QueuePool", Vec::new()), ("r2d2", Vec::new())];
    if only.is_none_or(|o| o == 64) {
        println!("\n64 threads, hold 0, {REPEATS} more runs each (p99 acquire):");
        for _ in 0..REPEATS {
            let pool = queue_pool(None);
            let m = run_sync(64, Duration::ZERO, secs, || pool.get().expect("no timeout"));
            repeats[0].1.push(m.latency.value_at_quantile(0.99));
            let r2d2 = r2d2::Pool::builder().max_size(SIZE as u32).build(R2d2Noop).expect("r2d2");
            let m = run_sync(64, Duration::ZERO, secs, || r2d2.get().expect("no timeout"));
            repeats[1].1.push(m.latency.value_at_quantile(0.99));
        }
        for (pool, p99s) in &repeats {
            let shown: Vec<String> =
                p99s.iter().map(|ns| format!("{:.1?}", Duration::from_nanos(*ns))).collect();
            println!("{pool:<32} {}", shown.join("  "));
        }
    }

    if benching {
        let path = std::env::var_os("CONTENTION_JSON").map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/bench-results/contention.json")
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the results directory");
        }
        let json = serde_json::json!({
            "quick": quick,
            "secs_per_row": secs,
            "pool_size": SIZE,
            "async_workers": ASYNC_WORKERS,
            "stall_ms": STALL.as_millis() as u64,
            "sample_every": SAMPLE_EVERY,
            "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
            "repeats_64_threads_no_hold": repeats
                .iter()
                .map(|(pool, p99s)| serde_json::json!({ "pool": pool, "p99_ns": p99s }))
                .collect::<Vec<_>>(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).expect("serializable"))
            .expect("write the contention results");
        println!("\nwrote {}", path.display());
    }
}
