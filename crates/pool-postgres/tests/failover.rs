//! A PostgreSQL failover under a pool (issue 17, part 2): a primary (127.0.0.1:5433)
//! streaming to a standby (127.0.0.1:5434), both named in the connector's URL with
//! `target_session_attrs=read-write`.
//!
//! `POOL_TEST_FAILOVER` holds the command that sets up and drives the two clusters
//! (`bash .ci/failover`, which `.ci/run` sets; each test runs its `setup` first). Without
//! it each test prints "skipped <name>: ..." and passes.

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pool_core::{Connector, PooledConnection};
use pool_postgres::postgres::{Client, NoTls};
use pool_postgres::{
    AsyncPostgresConnector, Error, PostgresConnection, PostgresConnector, TargetSession,
};
use pool_queue::{QueueConfig, QueuePool};

/// The variable holding the command that drives the two clusters.
const FAILOVER: &str = "POOL_TEST_FAILOVER";
/// Both servers, the primary first, for a pool that must write.
const WRITER_URL: &str =
    "postgres://postgres@127.0.0.1:5433,127.0.0.1:5434/postgres?target_session_attrs=read-write";
/// The same servers, with no preference.
const ANY_URL: &str = "postgres://postgres@127.0.0.1:5433,127.0.0.1:5434/postgres";
/// The first server alone (the primary at setup).
const A: &str = "postgres://postgres@127.0.0.1:5433/postgres";

/// The failover command, or `None` after saying the test is skipped.
fn command(test: &str) -> Option<String> {
    let command = std::env::var(FAILOVER).ok().filter(|c| !c.is_empty());
    if command.is_none() {
        println!("skipped {test}: {FAILOVER} (the command that drives the two clusters) is unset");
    }
    command
}

/// One test at a time: they share the two clusters.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `command` with `args` (`setup`, `stop A`, ...), failing the test if it fails.
fn drive(command: &str, args: &str) {
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{command} {args}"))
        .status()
        .unwrap_or_else(|e| panic!("could not run {command} {args}: {e}"));
    assert!(status.success(), "{command} {args} failed: {status}");
}

fn direct(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// A fresh pair of clusters with the probe table on the primary.
fn set_up(command: &str) {
    drive(command, "setup");
    direct(A)
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS failover_probe (port int, at timestamptz DEFAULT now())",
        )
        .expect("the probe table");
}

/// Writes one row and returns the port of the server that took it.
fn write(conn: &mut PostgresConnection) -> Result<i32, Error> {
    let row = conn.query_one(
        "INSERT INTO failover_probe (port) VALUES (inet_server_port()) RETURNING port",
        &[],
    )?;
    Ok(row.get(0))
}

/// A writing pool of four over both servers, with pre-ping.
fn writers() -> QueuePool<PostgresConnector> {
    let connector = PostgresConnector::new(WRITER_URL)
        .unwrap()
        .with_connect_timeout(Duration::from_secs(1))
        .with_application_name("pool-failover");
    assert_eq!(connector.target_session(), TargetSession::ReadWrite);
    QueuePool::builder(connector)
        .strategy(
            QueueConfig::default().pool_size(4).max_overflow(0).timeout(Duration::from_secs(2)),
        )
        .pre_ping(true)
        .build()
        .unwrap()
}

// The primary crashes under load and the standby is promoted: requests fail while
// there is no primary (a disconnect found by pre-ping or by a write, then connects that
// find no server accepting writes), and the pool writes to the new primary soon after
// its promotion, with no slot lost. Then the old primary comes back as a standby of the
// new one: new connections skip it, and the pool never writes to it.
#[test]
fn the_pool_follows_a_failover() {
    let test = "the_pool_follows_a_failover";
    let Some(command) = command(test) else { return };
    let _one = serial();
    set_up(&command);
    let pool = writers();
    let stop = AtomicBool::new(false);
    let (failed, succeeded) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let writes: Mutex<Vec<(Instant, i32)>> = Mutex::new(Vec::new());
    let promoted = std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let outcome = pool.get().map_err(drop).and_then(|mut conn| {
                        write(&mut conn).map_err(|e| {
                            let _ = PooledConnection::handle_error(conn, &e);
                        })
                    });
                    match outcome {
                        Ok(port) => {
                            succeeded.fetch_add(1, Ordering::Relaxed);
                            writes.lock().unwrap().push((Instant::now(), port));
                        }
                        Err(()) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        drive(&command, "stop A");
        let crashed = Instant::now();
        std::thread::sleep(Duration::from_millis(200));
        drive(&command, "promote B");
        let promoted = Instant::now();
        println!("failover: no primary for {:?}", promoted - crashed);
        let deadline = promoted + Duration::from_secs(10);
        while Instant::now() < deadline
            && !writes.lock().unwrap().iter().any(|(at, _)| *at >= promoted)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        promoted
    });
    let writes = writes.into_inner().unwrap();
    let first = writes.iter().filter(|(at, _)| *at >= promoted).map(|(at, _)| *at).min();
    let first = first.expect("the pool wrote to the new primary");
    let recovered_in = first - promoted;
    println!(
        "failover: {} writes, {} failed, first write {recovered_in:?} after the promotion",
        succeeded.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert!(writes.iter().any(|(at, port)| *at < promoted && *port == 5433), "A took writes");
    assert!(writes.iter().filter(|(at, _)| *at >= promoted).all(|(_, port)| *port == 5434));
    assert!(recovered_in < Duration::from_secs(5), "took {recovered_in:?}");
    assert!(failed.load(Ordering::Relaxed) > 0, "the crash was seen");
    let st = pool.status();
    assert_eq!((st.checked_out, st.waiting), (0, 0), "no slot lost: {st:?}");

    // The old primary returns as a standby of the new one.
    drive(&command, "rejoin A");
    let standby: bool = direct(A).query_one("SELECT pg_is_in_recovery()", &[]).unwrap().get(0);
    assert!(standby, "A is a standby now");
    pool.dispose();
    let held: Vec<_> = (0..4).map(|_| pool.get().expect("connects to the primary")).collect();
    for mut conn in held {
        assert_eq!(write(&mut conn).expect("writes"), 5434, "never to the old primary");
    }
}

// A primary demoted under its pool, the connections staying open (what a managed
// database's failover does when the old writer lives on as a reader): every write on
// them fails with SQLSTATE 25006. Under `target_session_attrs=read-write` that error is
// a disconnect, so the first one invalidates the pool, and the next connects skip the
// now read-only server for the new primary: one failed write in all. Without it (`Any`)
// the error is an ordinary one, the connections stay, and every write keeps failing.
#[test]
fn a_demoted_primary_is_left_at_the_first_read_only_error() {
    let test = "a_demoted_primary_is_left_at_the_first_read_only_error";
    let Some(command) = command(test) else { return };
    let _one = serial();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (url, target) in [(WRITER_URL, TargetSession::ReadWrite), (ANY_URL, TargetSession::Any)] {
        set_up(&command);
        let connector = runtime.block_on(async { AsyncPostgresConnector::new(url).unwrap() });
        assert_eq!(connector.target_session(), target);
        let pool = QueuePool::builder(connector)
            .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
            .build()
            .unwrap();
        let insert = "INSERT INTO failover_probe (port) VALUES (inet_server_port()) RETURNING port";
        runtime.block_on(async {
            let held = [pool.get_async().await.unwrap(), pool.get_async().await.unwrap()];
            for conn in &held {
                let port: i32 = conn.query_one(insert, &[]).await.unwrap().get(0);
                assert_eq!(port, 5433);
            }
        });
        // Demote A without closing its sessions, and promote B.
        let mut a = direct(A);
        a.batch_execute("ALTER SYSTEM SET default_transaction_read_only = on").unwrap();
        a.batch_execute("SELECT pg_reload_conf()").unwrap();
        drive(&command, "promote B");
        std::thread::sleep(Duration::from_millis(300)); // the sessions read the reload
        let mut failures = 0;
        let mut ports = Vec::new();
        runtime.block_on(async {
            for _ in 0..6 {
                let conn = pool.get_async().await.expect("checkout");
                match conn.query_one(insert, &[]).await {
                    Ok(row) => ports.push(row.get::<_, i32>(0)),
                    Err(e) => {
                        let e = Error::from(e);
                        assert_eq!(
                            e.as_postgres().and_then(|e| e.code()).map(|c| c.code()),
                            Some("25006"),
                            "{e}"
                        );
                        assert_eq!(
                            pool.connector().is_disconnect(&e),
                            target == TargetSession::ReadWrite
                        );
                        failures += 1;
                        let _ = PooledConnection::handle_error(conn, &e);
                    }
                }
            }
        });
        match target {
            TargetSession::ReadWrite => {
                assert_eq!(failures, 1, "one read-only error, then the new primary");
                assert!(ports.iter().all(|p| *p == 5434), "{ports:?}");
            }
            _ => assert_eq!(failures, 6, "every write fails on the demoted primary"),
        }
        drop(pool);
        let _ = a.batch_execute("ALTER SYSTEM RESET default_transaction_read_only");
        let _ = a.batch_execute("SELECT pg_reload_conf()");
    }
}

// libpq's `prefer-standby`, which the driver does not offer: a reader's connections go
// to the standby while it answers, and to the primary when it does not.
#[test]
fn prefer_standby_reads_from_the_standby_while_it_answers() {
    let test = "prefer_standby_reads_from_the_standby_while_it_answers";
    let Some(command) = command(test) else { return };
    let _one = serial();
    set_up(&command);
    let connector = PostgresConnector::new(ANY_URL)
        .unwrap()
        .with_connect_timeout(Duration::from_secs(1))
        .with_target_session(TargetSession::PreferStandby);
    let pool = QueuePool::builder(connector)
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .build()
        .unwrap();
    let server = |conn: &mut PostgresConnection| -> (i32, bool) {
        let row = conn.query_one("SELECT inet_server_port(), pg_is_in_recovery()", &[]).unwrap();
        (row.get(0), row.get(1))
    };
    let mut held: Vec<_> = (0..2).map(|_| pool.get().expect("connects")).collect();
    for conn in &mut held {
        assert_eq!(server(conn), (5434, true), "the standby, though the primary is listed first");
    }
    drop(held);
    drive(&command, "stop B");
    pool.dispose();
    let mut conn = pool.get().expect("falls back to the primary");
    assert_eq!(server(&mut conn), (5433, false));
}
