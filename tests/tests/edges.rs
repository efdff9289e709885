//! The edges of every setting (issue 14, part 5): zero, one and the largest count,
//! `Duration::ZERO`, a nanosecond and `Duration::MAX`, for every strategy. Each either
//! works (the pool builds and hands out a working connection, through `get`,
//! `get_timeout(ZERO)` and `get_timeout(MAX)` and, where the strategy waits
//! asynchronously, their async twins) or is refused at `build` with a
//! `BuildError` that names the setting. None panics, aborts or hangs.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::Duration;

use pool_core::{AsyncStrategy, Builder, CheckoutError, Pool, ResetOnReturn, Strategy};
use pool_null::Null;
use pool_queue::{Queue, QueueConfig};
use pool_singleton_thread::{SingletonThread, SingletonThreadConfig};
use pool_sqlite::SqliteConnector;
use pool_static::{Assertion, Static, StaticConfig};

type B<S> = Builder<SqliteConnector, S>;
type Setting<S> = (String, Box<dyn Fn(B<S>) -> B<S> + Send + Sync>);

const COUNTS: [usize; 3] = [0, 1, usize::MAX];
const DURATIONS: [Duration; 3] = [Duration::ZERO, Duration::from_nanos(1), Duration::MAX];

/// A setting of the builder at `value`, named for the report.
fn setting<S: Strategy<SqliteConnector>, T: std::fmt::Debug + Copy + Send + Sync + 'static>(
    name: &str,
    value: T,
    apply: fn(B<S>, T) -> B<S>,
) -> Setting<S> {
    (format!("{name}({value:?})"), Box::new(move |b| apply(b, value)))
}

/// The settings every strategy's builder has, at each edge.
fn core_settings<S: Strategy<SqliteConnector>>() -> Vec<Setting<S>> {
    let mut all = Vec::new();
    for d in DURATIONS {
        all.push(setting::<S, _>("recycle", d, |b, d| b.recycle(d)));
        all.push(setting::<S, _>("connect_timeout", d, |b, d| b.connect_timeout(d)));
        all.push(setting::<S, _>("connect_retry", d, |b, d| b.connect_retry(d)));
        all.push(setting::<S, _>("ping_timeout", d, |b, d| b.pre_ping(true).ping_timeout(d)));
        all.push(setting::<S, _>("reset_timeout", d, |b, d| b.reset_timeout(d)));
        all.push(setting::<S, _>("idle_timeout", d, |b, d| b.idle_timeout(d)));
        all.push(setting::<S, _>("max_lifetime", d, |b, d| b.max_lifetime(d)));
        all.push(setting::<S, _>("keepalive", d, |b, d| b.keepalive(d)));
        all.push(setting::<S, _>("leak_threshold", d, |b, d| b.leak_threshold(d)));
        all.push(setting::<S, _>("export_metrics", d, |b, d| b.export_metrics(d)));
    }
    for n in COUNTS {
        all.push(setting::<S, _>("min_idle", n, |b, n| b.min_idle(n)));
    }
    all.push(setting::<S, _>("reset_on_return", ResetOnReturn::Nothing, |b, m| {
        b.reset_on_return(m)
    }));
    all.push(setting::<S, _>("logging_name", "", |b, n| b.logging_name(n)));
    all
}

fn queue_settings() -> Vec<Setting<Queue<SqliteConnector>>> {
    let mut all = core_settings();
    for n in COUNTS {
        all.push(setting("pool_size", n, |b: B<_>, n| {
            b.strategy(QueueConfig::default().pool_size(n))
        }));
        all.push(setting("max_overflow", n, |b: B<_>, n| {
            b.strategy(QueueConfig::default().max_overflow(n))
        }));
        all.push(setting("pool_size and max_overflow", n, |b: B<_>, n| {
            b.strategy(QueueConfig::default().pool_size(n).max_overflow(n))
        }));
    }
    for d in DURATIONS {
        all.push(setting("timeout", d, |b: B<_>, d| b.strategy(QueueConfig::default().timeout(d))));
        all.push(setting("fair_after", d, |b: B<_>, d| {
            b.strategy(QueueConfig::default().fair_after(d))
        }));
    }
    all
}

fn static_settings() -> Vec<Setting<Static<SqliteConnector>>> {
    let mut all = core_settings();
    for d in DURATIONS {
        all.push(setting("timeout", d, |b: B<_>, d| {
            b.strategy(StaticConfig::default().timeout(d))
        }));
    }
    all
}

fn singleton_settings() -> Vec<Setting<SingletonThread<SqliteConnector>>> {
    let mut all = core_settings();
    for n in COUNTS {
        all.push(setting("pool_size", n, |b: B<_>, n| {
            b.strategy(SingletonThreadConfig::default().pool_size(n))
        }));
    }
    all
}

/// What one setting did.
#[derive(Debug)]
enum Outcome {
    /// Built, and handed out a working connection (each front end tried).
    Works,
    /// Refused at build with this message.
    Refused(String),
}

/// Builds with `setting` and checks out (`get`, then `get_async` if `asynchronous`), on a
/// thread of its own with a deadline; panics with a report on a panic, a hang or a
/// failed checkout.
fn try_setting<S: Strategy<SqliteConnector>>(
    strategy: &str,
    (name, apply): Setting<S>,
    check_out: fn(&Pool<SqliteConnector, S>) -> Result<(), String>,
) -> (String, Outcome) {
    let (tx, rx) = mpsc::channel();
    let label = format!("{strategy} {name}");
    std::thread::spawn(move || {
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            match apply(Pool::builder(SqliteConnector::memory())).build() {
                Err(err) => Ok(Outcome::Refused(err.to_string())),
                Ok(pool) => check_out(&pool).map(|()| Outcome::Works),
            }
        }));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(Ok(outcome))) => (label, outcome),
        Ok(Ok(Err(err))) => panic!("{label}: built, but the checkout failed: {err}"),
        Ok(Err(_)) => panic!("{label}: panicked"),
        Err(_) => panic!("{label}: no answer within 20 s (hung)"),
    }
}

/// `get`, then `get_timeout` at both ends of a wait, each connection used and returned.
fn blocking<S: Strategy<SqliteConnector>>(pool: &Pool<SqliteConnector, S>) -> Result<(), String> {
    for wait in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
        let got = match wait {
            None => pool.get(),
            Some(d) => pool.get_timeout(d),
        };
        let conn = match got {
            // Not waiting at all, a checkout may find the connection in the maintenance
            // worker's hands (closing it, with idle_timeout(1ns)).
            Err(CheckoutError::Timeout(_)) if wait == Some(Duration::ZERO) => continue,
            got => got.map_err(|e| e.to_string())?,
        };
        conn.execute_batch("SELECT 1").map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn both<S: AsyncStrategy<SqliteConnector>>(pool: &Pool<SqliteConnector, S>) -> Result<(), String> {
    blocking(pool)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for wait in [None, Some(Duration::ZERO), Some(Duration::MAX)] {
            let got = match wait {
                None => pool.get_async().await,
                Some(d) => pool.get_async_timeout(d).await,
            };
            let conn = match got {
                Err(CheckoutError::Timeout(_)) if wait == Some(Duration::ZERO) => continue,
                got => got.map_err(|e| e.to_string())?,
            };
            conn.execute_batch("SELECT 1").map_err(|e| e.to_string())?;
        }
        Ok(())
    })
}

/// Panics anywhere in this test binary, also on the pools' own threads (a maintenance
/// worker catches its panics, logs them and carries on, which a test would not see).
fn panics() -> &'static Mutex<Vec<String>> {
    static PANICS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    PANICS.get_or_init(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
            panics().lock().unwrap().push(format!("{thread}: {info}"));
            default(info);
        }));
        Mutex::new(Vec::new())
    })
}

/// Every setting of `settings` on strategy `S`: none panics or hangs, and a refusal
/// names its setting.
fn check<S: Strategy<SqliteConnector>>(
    strategy: &str,
    settings: Vec<Setting<S>>,
    check_out: fn(&Pool<SqliteConnector, S>) -> Result<(), String>,
) {
    panics();
    for s in settings {
        let setting = s.0.split('(').next().unwrap_or_default().to_owned();
        let (label, outcome) = try_setting(strategy, s, check_out);
        println!("{label}: {outcome:?}");
        if let Outcome::Refused(message) = outcome {
            assert!(
                setting.split(" and ").any(|name| message.contains(name)),
                "{label}: the refusal does not name the setting: {message}"
            );
        }
    }
    // Give the pools' workers a moment: a sweep runs soon after build.
    std::thread::sleep(Duration::from_millis(100));
    let seen = panics().lock().unwrap().clone();
    assert!(seen.is_empty(), "{strategy}: panics:\n{}", seen.join("\n"));
}

// One test, so that the panics it looks for are its own.
#[test]
fn every_strategy_s_settings_at_their_edges() {
    check::<Queue<_>>("QueuePool", queue_settings(), both);
    check::<Null<_>>("NullPool", core_settings(), both);
    check::<Static<_>>("StaticPool", static_settings(), both);
    check::<Assertion<_>>("AssertionPool", core_settings(), both);
    check::<SingletonThread<_>>("SingletonThreadPool", singleton_settings(), blocking);
}
