//! The pool's background maintenance against the PostgreSQL server named by
//! `POOL_TEST_POSTGRES_URL`, counted in the server's own `pg_stat_activity`: `min_idle`
//! and `build_warm` (and its error, with the server's message), a keepalive that finds
//! killed sessions and a refill that replaces them, `idle_timeout` and `max_lifetime`
//! closing server sessions, and a dropped pool saying goodbye to the server. The
//! blocking connector's worker is a thread; the async connector's, built inside a
//! runtime, is a task on it. Without the variable each test prints "skipped <name>:
//! POOL_TEST_POSTGRES_URL is not set" and passes.

use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

use pool_conformance::faults::{self, PostgresSessions};
use pool_conformance::observe::{eventually, maintenance_threads};
use pool_conformance::POSTGRES_URL;
use pool_core::WarmError;
use pool_postgres::{AsyncPostgresConnector, PostgresConnector};
use pool_queue::{QueueConfig, QueuePool};

fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(POSTGRES_URL, test)
}

#[test]
fn min_idle_keepalive_and_refill_against_the_server() {
    let Some(url) = url("min_idle_keepalive_and_refill_against_the_server") else { return };
    let app = "pool-maint-keepalive";
    let sessions = PostgresSessions::new(&url, app);
    let connector = PostgresConnector::new(&url).unwrap().with_application_name(app);
    let pool = QueuePool::builder(connector)
        .logging_name("pg-keep")
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .min_idle(3)
        .keepalive(Duration::from_millis(200))
        .build_warm()
        .expect("the server is up");
    assert_eq!(sessions.count(), 3, "build_warm returns with min_idle sessions open");
    // The thread names itself once it runs.
    eventually("a blocking connector's worker is a thread", || maintenance_threads("pg-keep") == 1);

    assert_eq!(sessions.kill(), 3);
    // The keepalive finds each dead session, invalidates it, and the fill reopens it,
    // without a single checkout.
    eventually("three live sessions again", || sessions.count() == 3 && pool.status().idle == 3);
    let mut conn = pool.get().expect("a live connection");
    conn.batch_execute("SELECT 1").expect("it works");
    drop(conn);

    drop(pool);
    eventually("the dropped pool closed its sessions", || sessions.count() == 0);
}

#[test]
fn build_warm_reports_the_servers_message() {
    let Some(url) = url("build_warm_reports_the_servers_message") else { return };
    let (base, _db) = url.rsplit_once('/').expect("a database in the URL");
    let wrong = format!("{base}/no_such_database_for_pool_tests");
    let err = QueuePool::builder(PostgresConnector::new(&wrong).unwrap())
        .build_warm()
        .expect_err("the database does not exist");
    assert!(matches!(err, WarmError::Connect(_)), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("no_such_database_for_pool_tests"), "{shown}");
    assert!(shown.contains("does not exist"), "the server's own words: {shown}");
}

#[test]
fn idle_timeout_and_max_lifetime_on_an_async_connector_run_as_a_task() {
    let Some(url) = url("idle_timeout_and_max_lifetime_on_an_async_connector_run_as_a_task") else {
        return;
    };
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let app = "pool-maint-async";
    let sessions = PostgresSessions::new(&url, app);
    let connector = AsyncPostgresConnector::new(&url)
        .unwrap()
        .with_application_name(app)
        .with_runtime(rt.handle().clone());
    let pool = rt
        .block_on(async {
            QueuePool::builder(connector)
                .logging_name("pg-async")
                .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
                .min_idle(1)
                .idle_timeout(Duration::from_millis(300))
                .max_lifetime(Duration::from_secs(1))
                .build_warm_async()
                .await
        })
        .expect("the server is up");
    assert_eq!(maintenance_threads("pg-async"), 0, "the worker is a task on the runtime");
    assert_eq!(sessions.count(), 1);

    let held = rt.block_on(futures_join(&pool));
    assert_eq!(sessions.count(), 4);
    drop(held);
    eventually("idle_timeout closes down to min_idle", || {
        sessions.count() == 1 && pool.status().idle == 1
    });

    // max_lifetime replaces the one kept by min_idle: its server process changes.
    let mut pids = HashSet::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let conn = pool.get().expect("checkout");
        let pid: i32 = rt.block_on(conn.query_one("SELECT pg_backend_pid()", &[])).unwrap().get(0);
        pids.insert(pid);
        drop(conn);
        thread::sleep(Duration::from_millis(100));
    }
    assert!(pids.len() >= 3, "a session per lifetime of about 1 s: {pids:?}");
    eventually("at most what the pool may keep", || sessions.count() <= 4);

    pool.close().expect("nothing checked out");
    eventually("close ended every session", || sessions.count() == 0);
}

/// Four connections checked out at once through `get_async`.
async fn futures_join<C: pool_core::Connector>(
    pool: &QueuePool<C>,
) -> Vec<pool_core::PooledConnection<C, pool_queue::Queue<C>>> {
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.get_async().await.expect("checkout"));
    }
    held
}
