//! The async pool over deadpool-postgres's own `Manager`, on the PostgreSQL server named
//! by `POOL_TEST_POSTGRES_URL` (for example `postgres://postgres@127.0.0.1:5432/test`).
//! Without it each test prints "skipped: POOL_TEST_POSTGRES_URL is not set" and passes.

use std::time::Duration;

use pool_core::ResetOnReturn;
use pool_deadpool::deadpool_postgres::tokio_postgres::{Config, NoTls};
use pool_deadpool::deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod};
use pool_deadpool::ManagerConnector;
use pool_queue::{QueueConfig, QueuePool};

type Pg = ManagerConnector<Manager>;

/// The server's configuration, or `None` (after saying so) when the variable is unset.
fn config() -> Option<Config> {
    match pool_conformance::server_url(pool_conformance::POSTGRES_URL) {
        Ok(url) => Some(url.parse().expect("POOL_TEST_POSTGRES_URL parses")),
        Err(pool_conformance::Skip(why)) => {
            println!("skipped: {why}");
            None
        }
    }
}

/// deadpool-postgres's manager, unchanged, with `recycle` verifying the connection by a
/// round trip (the pre-ping).
fn pool(config: &Config, reset: ResetOnReturn, tag: &str) -> QueuePool<Pg> {
    let mut config = config.clone();
    config.application_name(tag);
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Verified },
    );
    QueuePool::builder(ManagerConnector::new(manager))
        .pre_ping(true)
        .reset_on_return(reset)
        .strategy(
            QueueConfig::default().pool_size(2).max_overflow(0).timeout(Duration::from_secs(10)),
        )
        .build()
        .expect("valid settings")
}

/// A table only this test uses.
async fn table(pool: &QueuePool<Pg>, name: &str) {
    let conn = pool.get_async().await.expect("checkout");
    conn.batch_execute(&format!("DROP TABLE IF EXISTS {name}; CREATE TABLE {name} (x int)"))
        .await
        .expect("create table");
}

async fn count(pool: &QueuePool<Pg>, name: &str) -> i64 {
    let conn = pool.get_async().await.expect("checkout");
    conn.query_one(&format!("SELECT count(*) FROM {name}"), &[]).await.expect("count").get(0)
}

/// A holder inserts a row in an open transaction and drops the connection: with
/// rollback on return the next holder does not see the row; with commit it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_on_return_for_real() {
    let Some(config) = config() else { return };
    for (mode, expected) in [(ResetOnReturn::Rollback, 0), (ResetOnReturn::Commit, 1)] {
        let pool = pool(&config, mode, "pool_deadpool_reset");
        let name = format!("pool_deadpool_reset_{}", expected);
        table(&pool, &name).await;
        let conn = pool.get_async().await.expect("checkout");
        conn.batch_execute(&format!("BEGIN; INSERT INTO {name} VALUES (1)")).await.expect("insert");
        drop(conn);
        // The return runs in the background for a real server: wait until it is done.
        for _ in 0..1000 {
            if pool.status().checked_out == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(pool.status().checked_out, 0, "the return finished");
        assert_eq!(count(&pool, &name).await, expected, "{mode:?}");
        let conn = pool.get_async().await.expect("checkout");
        conn.batch_execute(&format!("DROP TABLE {name}")).await.expect("drop table");
    }
}

/// With pre-ping on, killing every backend of the pool (`pg_terminate_backend`) is
/// invisible to the next checkouts: `recycle` fails, the pool invalidates its older
/// connections and connects again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backends_are_replaced_with_pre_ping() {
    let Some(config) = config() else { return };
    let tag = "pool_deadpool_killed";
    let pool = pool(&config, ResetOnReturn::Rollback, tag);
    let held = [pool.get_async().await.expect("first"), pool.get_async().await.expect("second")];
    let mut pids = Vec::new();
    for conn in &held {
        pids.push(
            conn.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get::<_, i32>(0),
        );
    }
    drop(held);
    while pool.status().checked_out > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let generation = pool.generation();

    assert_eq!(kill_all(&config, tag).await, 2, "both of the pool's backends were found");

    for _ in 0..4 {
        let conn = pool.get_async().await.expect("a checkout after the kill succeeds");
        let pid: i32 = conn.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get(0);
        assert!(!pids.contains(&pid), "a killed backend was handed out");
    }
    assert!(pool.generation() > generation, "the disconnect invalidated the pool generation");
}

/// Terminates every session tagged `tag` and waits until the server has ended them;
/// returns how many there were.
async fn kill_all(config: &Config, tag: &str) -> u64 {
    let (watcher, connection) = config.connect(NoTls).await.expect("a watcher connection");
    tokio::spawn(connection);
    let killed = watcher
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&tag],
        )
        .await
        .expect("terminate");
    for _ in 0..400 {
        let left: i64 = watcher
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&tag])
            .await
            .expect("count")
            .get(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    killed
}

// Issue 10: the README's "Coming from deadpool" recipe for PostgreSQL
// (examples/from-deadpool-postgres), built as it builds the pool (deadpool-postgres's
// default manager, `Manager::new`, fast recycling; max_size 4; pre-ping; no setting
// about disconnects): after the server killed every backend, every checkout succeeds on
// a new session and the pool generation moves by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recipe_recovers_from_killed_backends_with_no_setting() {
    let Some(config) = config() else { return };
    let tag = "pool_deadpool_recipe_killed";
    let mut tagged = config.clone();
    tagged.application_name(tag);
    let manager = Manager::new(tagged, NoTls);
    let pool = QueuePool::builder(ManagerConnector::new(manager))
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true)
        .build()
        .expect("valid settings");

    let mut held = Vec::new();
    let mut pids = Vec::new();
    for _ in 0..4 {
        let conn = pool.get_async().await.expect("checkout");
        pids.push(
            conn.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get::<_, i32>(0),
        );
        held.push(conn);
    }
    drop(held);
    while pool.status().checked_out > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let generation = pool.generation();
    assert_eq!(kill_all(&config, tag).await, 4);

    let mut held = Vec::new();
    for _ in 0..4 {
        let conn = pool.get_async().await.expect("a checkout after the kill succeeds");
        let pid: i32 = conn.query_one("SELECT pg_backend_pid()", &[]).await.expect("pid").get(0);
        assert!(!pids.contains(&pid), "a killed backend was handed out");
        held.push(conn);
    }
    assert_eq!(pool.generation(), generation + 1, "one disconnect, one invalidation");
}

// Issue 10: deadpool-postgres's errors are classified by the connection type, with no
// setting: a refused connect is a disconnect, an SQL error is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_errors_are_classified_with_no_setting() {
    use pool_core::Connector;
    use pool_deadpool::ManagerError;
    let Some(config) = config() else { return };
    let refused: Config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
    let connector = ManagerConnector::new(Manager::new(refused, NoTls));
    let Err(err) = connector.connect_async().await else { panic!("nothing listens on port 1") };
    assert!(connector.is_disconnect(&err), "{err:?}");

    let connector = ManagerConnector::new(Manager::new(config, NoTls));
    let conn = connector.connect_async().await.expect("connect");
    let sql = conn.batch_execute("SELEC 1").await.unwrap_err();
    assert!(!connector.is_disconnect(&ManagerError::Reset(sql.into())), "an SQL error");
}

/// Issue 10: a return asks whether a transaction is open and sends `ROLLBACK` only when
/// one is, so the server logs no "there is no transaction in progress" warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returns_leave_no_warning_in_the_server_log() {
    let Some(config) = config() else { return };
    let Some(log) = pool_conformance::faults::postgres_log("returns_leave_no_warning") else {
        return;
    };
    let pool = pool(&config, ResetOnReturn::Rollback, "pool-deadpool-quiet-reset");
    let conn = pool.get_async().await.unwrap();
    let pid: i32 = conn.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0);
    conn.batch_execute("SET log_statement = 'all'").await.unwrap();
    drop(conn);
    let start = std::fs::metadata(&log).unwrap().len();
    let rounds = 50;
    for i in 0..rounds {
        let conn = pool.get_async().await.unwrap();
        if conn.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get::<_, i32>(0) != pid {
            continue; // the other connection of the pool
        }
        if i % 5 == 0 {
            conn.batch_execute("BEGIN; SELECT 1").await.unwrap();
        }
    }
    let conn = pool.get_async().await.unwrap();
    drop(conn);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = pool_conformance::faults::logged_by_backend(&log, start, pid);
    let warnings = lines.iter().filter(|l| l.contains("there is no transaction in progress"));
    assert_eq!(warnings.count(), 0, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.ends_with("statement: ROLLBACK")),
        "an open transaction was rolled back: {lines:#?}"
    );
}

// Issue 11: a server that goes silent on established connections, through the blocking
// checkout: the pre-ping (the manager's `recycle`) and the reset on return give up at
// ping_timeout and reset_timeout (the manager's futures, dropped at the bound).
#[test]
fn silent_server_bounds_blocking_ping_and_reset() {
    use pool_deadpool::deadpool_postgres::tokio_postgres::config::Host;
    let Some(config) = config() else { return };
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let runtime = pool_conformance::harnesses::async_runtime();
    let (ping, reset) = pool_conformance::faults::silent_server_bounds_blocking_ping_and_reset(
        (host, port),
        |proxy| {
            // `Config::host` adds a host: parse a configuration of the proxy alone.
            let through: Config =
                format!("postgres://postgres@{proxy}/test").parse().expect("parses");
            let manager = Manager::from_config(
                through,
                NoTls,
                ManagerConfig { recycling_method: RecyclingMethod::Verified },
            );
            ManagerConnector::new(manager).with_runtime(runtime.handle().clone())
        },
        |conn| {
            runtime
                .block_on(conn.query_one("SELECT pg_backend_pid()", &[]))
                .unwrap()
                .get::<_, i32>(0)
        },
        |conn| {
            let begun = runtime.block_on(conn.batch_execute("BEGIN"));
            begun.map_err(|e| pool_deadpool::ManagerError::Reset(e.into()))
        },
    );
    println!("deadpool-postgres: a silent pre-ping gave up after {ping:?}, a silent reset after {reset:?}");
}
