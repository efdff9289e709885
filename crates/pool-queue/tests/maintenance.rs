//! The background maintenance on QueuePool with the scripted connector: `min_idle` and
//! `build_warm`, `idle_timeout`, `max_lifetime` with its jitter, `keepalive`, the worker's
//! life, and closing idle connections when the pool is dropped. Ports of r2d2's
//! `test_idle_timeout`, `idle_timeout_partial_use`, `test_max_lifetime` and `min_idle`
//! are marked as such.
//!
//! Timing: the tests wait for the worker with generous bounds (`eventually`), and
//! assert nothing about how fast it is.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use pool_conformance::observe::{eventually, maintenance_threads};
use pool_conformance::{Call, Script, ScriptedConnector};
use pool_core::{Builder, ConnectionRecord, PoolListener, PooledConnection, WarmError};
use pool_queue::{Queue, QueueConfig, QueuePool};

type Pool = QueuePool<ScriptedConnector>;

fn builder(
    script: &Script,
    name: &str,
    size: usize,
) -> Builder<ScriptedConnector, Queue<ScriptedConnector>> {
    QueuePool::builder(script.connector())
        .logging_name(name)
        .strategy(QueueConfig::default().pool_size(size).max_overflow(0))
}

fn closes(script: &Script) -> usize {
    script.log().count(|c| matches!(c, Call::Close(_)))
}

/// Opens `n` connections and returns them, so that `n` are idle.
fn open_idle(pool: &Pool, n: usize) {
    let held: Vec<_> = (0..n).map(|_| pool.get().expect("checkout")).collect();
    drop(held);
}

#[test]
fn no_setting_no_worker_and_dropping_a_pool_ends_its_worker() {
    let script = Script::new();
    let plain = builder(&script, "mt-plain", 5).build().expect("valid");
    thread::sleep(Duration::from_millis(50));
    assert_eq!(maintenance_threads("mt-plain"), 0, "no maintenance setting, no thread");
    drop(plain);

    let pool = builder(&script, "mt-life", 5)
        .idle_timeout(Duration::from_secs(60))
        .build()
        .expect("valid");
    eventually("one worker per pool", || maintenance_threads("mt-life") == 1);
    let clone = pool.clone();
    drop(pool);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(maintenance_threads("mt-life"), 1, "a handle is left");
    drop(clone);
    eventually("the worker of a dropped pool ends", || maintenance_threads("mt-life") == 0);

    let closed = builder(&script, "mt-closed", 5).min_idle(1).build().expect("valid");
    eventually("the fill", || closed.status().idle == 1);
    closed.close().expect("nothing checked out");
    eventually("the worker of a closed pool ends", || maintenance_threads("mt-closed") == 0);
    assert_eq!(closed.status().idle, 0, "close closed the idle connection; nothing refilled it");
}

// r2d2's `min_idle`: max_size 5, min_idle 2.
#[test]
fn min_idle_is_kept_after_checkouts() {
    let script = Script::new();
    let pool = builder(&script, "mt-min", 5).min_idle(2).build().expect("valid");
    eventually("two idle connections", || pool.status().idle == 2);
    assert_eq!(script.log().connects(), 2, "build itself opened nothing more");
    let held: Vec<_> = (0..3).map(|_| pool.get().expect("checkout")).collect();
    eventually("two idle again beside three held", || {
        let s = pool.status();
        s.idle == 2 && s.checked_out == 3
    });
    drop(held);
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (5, 0), "{s:?}");
}

#[test]
fn min_idle_is_replenished_after_invalidation_and_dispose() {
    let script = Script::new();
    let pool = builder(&script, "mt-repl", 4).min_idle(3).build_warm().expect("warm");
    assert_eq!(pool.status().idle, 3, "build_warm returns with min_idle open");
    let c = pool.get().expect("checkout");
    PooledConnection::invalidate(c, None);
    eventually("three idle connections after an invalidation", || {
        open_connections(&pool) == 3 && pool.status().checked_out == 0
    });
    pool.dispose();
    eventually("three idle connections after dispose", || open_connections(&pool) == 3);
    assert!(script.log().connects() >= 7, "{:?}", script.log().calls());
}

/// Idle entries that hold a connection (an invalidated record may wait unconnected).
fn open_connections(pool: &Pool) -> usize {
    let mut open = 0;
    pool.retain(|_, _| {
        open += 1;
        true
    });
    open
}

#[test]
fn build_warm_fails_fast_with_the_connect_error() {
    let script = Script::new();
    script.shutdown(true);
    let err = builder(&script, "mt-warm", 4).min_idle(2).build_warm().expect_err("server down");
    assert!(matches!(err, WarmError::Connect(_)), "{err:?}");
    let shown = err.to_string();
    assert!(shown.starts_with("could not open the pool's first connections"), "{shown}");
    assert!(shown.contains("connect failed"), "the driver's message is kept: {shown}");

    // Without min_idle it still opens one, so that a bad URL fails at start.
    script.shutdown(false);
    script.log().clear();
    let pool = builder(&script, "mt-warm1", 4).build_warm().expect("warm");
    assert_eq!((pool.status().idle, script.log().connects()), (1, 1));

    let refused = builder(&script, "mt-warm2", 2).min_idle(3).build_warm().expect_err("too many");
    assert!(matches!(refused, WarmError::Build(_)), "{refused:?}");
}

#[test]
fn settings_that_cannot_work_are_refused_at_build() {
    let script = Script::new();
    let err = builder(&script, "mt-bad", 2).min_idle(3).build().expect_err("min_idle > pool_size");
    assert_eq!(err.setting(), "min_idle");
    assert!(
        err.to_string().contains(
            "lower min_idle to 2 or less, or let the pool keep more (QueuePool: raise pool_size)"
        ),
        "{err}"
    );
    for (setting, b) in [
        ("idle_timeout", builder(&script, "mt-bad", 2).idle_timeout(Duration::ZERO)),
        ("max_lifetime", builder(&script, "mt-bad", 2).max_lifetime(Duration::ZERO)),
        ("keepalive", builder(&script, "mt-bad", 2).keepalive(Duration::ZERO)),
    ] {
        let err = b.build().expect_err("zero");
        assert_eq!(err.setting(), setting);
        assert!(err.to_string().contains("give it a positive duration"), "{err}");
    }
    // pool_size 0 keeps any number idle.
    builder(&script, "mt-ok", 0).min_idle(50).build().expect("unbounded idle list");
}

// r2d2's `test_idle_timeout`: five connections, one held; the four idle ones close and
// the connector refuses to open more.
#[test]
fn idle_timeout_closes_idle_connections_only() {
    let script = Script::new();
    let pool = builder(&script, "mt-idle", 5)
        .idle_timeout(Duration::from_millis(300))
        .build()
        .expect("valid");
    open_idle(&pool, 5);
    script.shutdown(true);
    let conn = pool.get().expect("an idle one");
    eventually("four idle connections closed", || closes(&script) == 4);
    assert_eq!(pool.status().idle, 0);
    drop(conn);
    assert_eq!(closes(&script), 4, "the returned one is idle from now");
    assert_eq!(pool.status().idle, 1);
}

// r2d2's `idle_timeout_partial_use`: one connection in steady use stays, the rest go.
#[test]
fn idle_timeout_keeps_the_connection_in_use() {
    let script = Script::new();
    let pool = QueuePool::builder(script.connector())
        .logging_name("mt-partial")
        .strategy(QueueConfig::default().pool_size(5).max_overflow(0).use_lifo(true))
        .idle_timeout(Duration::from_millis(400))
        .build()
        .expect("valid");
    open_idle(&pool, 5);
    script.shutdown(true);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        thread::sleep(Duration::from_millis(50));
        drop(pool.get().expect("the most recently used connection"));
    }
    eventually("four closed", || closes(&script) == 4);
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out), (1, 0), "{s:?}");
}

#[test]
fn idle_timeout_never_goes_below_min_idle() {
    let script = Script::new();
    let pool = builder(&script, "mt-floor", 5)
        .min_idle(2)
        .idle_timeout(Duration::from_millis(100))
        .build()
        .expect("valid");
    open_idle(&pool, 5);
    eventually("three closed", || closes(&script) == 3);
    thread::sleep(Duration::from_millis(400));
    assert_eq!(closes(&script), 3, "the last two stay: min_idle");
    assert_eq!(pool.status().idle, 2);
}

// r2d2's `test_max_lifetime`.
#[test]
fn max_lifetime_closes_idle_connections_and_returns_past_it() {
    let script = Script::new();
    let pool = builder(&script, "mt-life5", 5)
        .max_lifetime(Duration::from_millis(500))
        .build()
        .expect("valid");
    open_idle(&pool, 5);
    script.shutdown(true);
    let conn = pool.get().expect("checkout");
    let id = PooledConnection::record(&conn).expect("attached").id();
    eventually("the four idle ones closed", || closes(&script) == 4);
    eventually("the held one's lifetime is over", || {
        PooledConnection::record(&conn)
            .expect("attached")
            .expires_at()
            .is_some_and(|at| Instant::now() >= at)
    });
    drop(conn);
    assert_eq!(closes(&script), 5, "closed on return, not pooled");
    assert!(script.log().calls().contains(&Call::Close(id)));
    assert_eq!(pool.status().idle, 0);
    assert!(pool.get().is_err(), "the connector opens no more");
}

#[test]
fn max_lifetime_is_jittered_and_never_handed_out_past() {
    let script = Script::new();
    let lifetime = Duration::from_secs(10);
    let pool = builder(&script, "mt-jitter", 40)
        .min_idle(40)
        .max_lifetime(lifetime)
        .build_warm()
        .expect("warm");
    let mut spans = Vec::new();
    pool.retain(|_, record: &ConnectionRecord<ScriptedConnector>| {
        let opened = record.opened_at().expect("open");
        spans.push(record.expires_at().expect("max_lifetime is set") - opened);
        true
    });
    assert_eq!(spans.len(), 40);
    let floor = lifetime - lifetime / 40;
    assert!(spans.iter().all(|s| *s <= lifetime && *s >= floor), "{spans:?}");
    spans.sort();
    spans.dedup();
    assert!(spans.len() > 30, "the ends are spread, not equal: {spans:?}");

    // A short lifetime under steady checkouts: never one past its end.
    let pool = builder(&script, "mt-never", 2)
        .max_lifetime(Duration::from_millis(100))
        .build()
        .expect("valid");
    let until = Instant::now() + Duration::from_millis(800);
    while Instant::now() < until {
        // The checkout judged the connection after `asked`: its end must be later.
        let asked = Instant::now();
        let c = pool.get().expect("checkout");
        let at = PooledConnection::record(&c).expect("attached").expires_at().expect("set");
        assert!(asked < at, "handed out past its lifetime");
        drop(c);
        thread::sleep(Duration::from_millis(7));
    }
}

#[test]
fn keepalive_pings_idle_connections_and_invalidates_dead_ones() {
    let script = Script::new();
    let pool = builder(&script, "mt-keep", 3)
        .min_idle(1)
        .keepalive(Duration::from_millis(100))
        .build_warm()
        .expect("warm");
    let generation = pool.generation();
    eventually("a keepalive ping", || script.log().count(|c| matches!(c, Call::Ping(_))) >= 2);
    // Between pings the connection is back in the pool (during one it is out, briefly).
    eventually("a good connection stays idle", || pool.status().idle == 1);
    assert_eq!(script.log().connects(), 1);

    script.fail_pings(1, true);
    eventually("the dead connection replaced", || script.log().connects() == 2);
    assert!(
        script.log().calls().contains(&Call::Terminate(1)),
        "invalidated, as a failed pre-ping: {:?}",
        script.log().calls()
    );
    assert_eq!(
        pool.generation(),
        generation + 1,
        "a disconnect invalidates the pool's older connections"
    );
    eventually("one idle again", || pool.status().idle == 1);
}

/// A `close` listener that panics on its first call.
struct PanicOnce(AtomicUsize);

impl PoolListener<ScriptedConnector> for PanicOnce {
    fn close(
        &self,
        _: &mut pool_conformance::ScriptedConnection,
        _: &mut ConnectionRecord<ScriptedConnector>,
    ) {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("close listener");
        }
    }
}

#[test]
fn a_panicking_listener_in_the_worker_loses_nothing() {
    let script = Script::new();
    let pool = builder(&script, "mt-panic", 3)
        .idle_timeout(Duration::from_millis(100))
        .listener(PanicOnce(AtomicUsize::new(0)))
        .build()
        .expect("valid");
    open_idle(&pool, 3);
    eventually("every idle connection closed", || script.log().open() == 0);
    let s = pool.status();
    assert_eq!((s.idle, s.checked_out, s.overflow), (0, 0, -3), "no slot lost: {s:?}");
    open_idle(&pool, 3);
    eventually("the worker goes on", || script.log().open() == 0);
}

#[test]
fn a_failing_fill_backs_off_and_recovers() {
    let script = Script::new();
    script.shutdown(true);
    let pool = builder(&script, "mt-backoff", 3).min_idle(2).build().expect("lazy");
    thread::sleep(Duration::from_millis(1600));
    // Tries at about 0, 0.1, 0.3, 0.7 and 1.5 s: the pause doubles from 100 ms.
    let tried = script.connect_attempts();
    assert!((1..=8).contains(&tried), "{tried} connects in 1.6 s");
    script.shutdown(false);
    eventually("filled once the server is back", || pool.status().idle == 2);
    assert_eq!(pool.status().checked_out, 0);
}

#[test]
fn dropping_the_pool_closes_its_idle_connections() {
    let script = Script::new();
    let pool = builder(&script, "mt-drop", 3).build().expect("valid");
    open_idle(&pool, 3);
    let held = pool.get().expect("checkout");
    drop(pool);
    assert_eq!(closes(&script), 0, "a handle is still out");
    drop(held);
    assert_eq!(closes(&script), 3, "the last handle closes every idle connection, gracefully");
}

#[test]
fn dropping_the_pool_inside_a_runtime_does_not_wait_for_the_closes() {
    let script = Script::new();
    let pool = builder(&script, "mt-droprt", 3).build().expect("valid");
    open_idle(&pool, 3);
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move { drop(pool) });
    eventually("closed in the background", || closes(&script) == 3);
}

#[test]
fn the_worker_serves_many_pools_independently() {
    let scripts: Vec<_> = (0..4).map(|_| Script::new()).collect();
    let pools: Vec<_> = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| builder(s, &format!("mt-m{i}"), 3).min_idle(i).build().expect("valid"))
        .collect();
    for (i, pool) in pools.iter().enumerate() {
        eventually("each pool's own min_idle", || pool.status().idle == i);
        eventually("a worker where a setting is on", || {
            maintenance_threads(&format!("mt-m{i}")) == usize::from(i > 0)
        });
    }
}
