//! `AsyncPostgresConnector` in a QueuePool, through its async checkout (`get_async`) and
//! its blocking one, against the PostgreSQL server named by `POOL_TEST_POSTGRES_URL` (for
//! example `postgres://postgres@127.0.0.1:5432/test`): issue 6's fault scenarios (killed
//! backends with and without pre-ping, a black-holed connect), the reset that sends
//! nothing when no transaction is open (checked against the server log), TLS, and where
//! the blocking methods can run. Without the variable each test prints "skipped <name>:
//! POOL_TEST_POSTGRES_URL is not set" and passes.
//!
//! Each test tags its connections with its own `application_name`, so that it kills and
//! counts only its own sessions.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pool_conformance::faults::{self, PostgresSessions};
use pool_conformance::POSTGRES_URL;
use pool_core::{CheckoutError, Connector, ResetOnReturn};
use pool_postgres::tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};
use pool_postgres::{AsyncPostgresConnection, AsyncPostgresConnector, TransactionStatus};
use pool_queue::{QueueConfig, QueuePool};
use tokio::runtime::Runtime;

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(POSTGRES_URL, test)
}

/// The application name of one test's sessions.
fn tag(test: &str) -> String {
    format!("pool-postgres-async-{test}")
}

/// The runtime that drives the connections of the blocking tests.
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    })
}

/// A connector tagged `app`, whose blocking calls from plain threads run in [`rt`].
fn connector(url: &str, app: &str) -> AsyncPostgresConnector {
    AsyncPostgresConnector::new(url)
        .unwrap()
        .with_application_name(app)
        .with_runtime(rt().handle().clone())
}

/// `SELECT 1`, waited for on a plain thread.
fn select_one(conn: &mut AsyncPostgresConnection) -> Result<(), pool_postgres::Error> {
    Ok(rt().block_on(conn.batch_execute("SELECT 1"))?)
}

/// The server process of a connection, waited for on a plain thread.
fn pid(conn: &mut AsyncPostgresConnection) -> i32 {
    rt().block_on(backend_pid(conn))
}

async fn backend_pid(client: &Client) -> i32 {
    client.query_one("SELECT pg_backend_pid()", &[]).await.unwrap().get(0)
}

/// A plain async client beside the pool, to watch and kill the pool's sessions.
async fn watcher(url: &str) -> Client {
    let config: Config = url.parse().unwrap();
    let (client, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Terminates the sessions tagged `app` and waits until they are gone; returns how many.
async fn kill_all(watcher: &Client, app: &str) -> usize {
    let killed = watcher
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND pid <> pg_backend_pid()",
            &[&app],
        )
        .await
        .unwrap()
        .len();
    for _ in 0..500 {
        let left: i64 = watcher
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&app])
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            return killed;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the killed sessions of {app} did not go away");
}

/// Whether the server says `client` is inside a transaction block.
async fn in_transaction(client: &Client) -> bool {
    let answer = client.simple_query(pool_postgres::IN_TRANSACTION_QUERY).await.unwrap();
    answer.iter().any(|m| matches!(m, SimpleQueryMessage::Row(r) if r.get(0) == Some("t")))
}

/// Waits until every return of `pool` has finished (they run as tasks).
async fn returned<C: Connector>(pool: &QueuePool<C>) {
    for _ in 0..1000 {
        if pool.status().checked_out == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("a return did not finish: {:?}", pool.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_pings_and_resets_without_blocking() {
    let Some(url) = url("connects_pings_and_resets_without_blocking") else { return };
    let app = tag("settings");
    let connector = AsyncPostgresConnector::new(&url)
        .unwrap()
        .with_application_name(&app)
        .with_connect_timeout(Duration::from_secs(3));
    assert_eq!(connector.config().get_connect_timeout(), Some(&Duration::from_secs(3)));
    let mut conn = connector.connect_async().await.unwrap();
    let shown: String = conn.query_one("SHOW application_name", &[]).await.unwrap().get(0);
    assert_eq!(shown, app);
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);

    connector.ping_async(&mut conn).await.expect("PostgreSQL can ping").unwrap();
    connector.rollback_async(&mut conn).await.unwrap();
    connector.commit_async(&mut conn).await.unwrap();
    conn.batch_execute("BEGIN; SELECT 1").await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
    connector.rollback_async(&mut conn).await.unwrap();
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle);
    // In an aborted transaction COMMIT rolls back without an error.
    conn.batch_execute("BEGIN").await.unwrap();
    conn.batch_execute("SELECT 1/0").await.unwrap_err();
    connector.commit_async(&mut conn).await.unwrap();
    assert!(!in_transaction(&conn).await);
    assert!(!connector.is_broken(&mut conn));
    assert!(format!("{conn:?}").contains("transaction_status: Idle"), "{conn:?}");
    connector.close(conn).unwrap();
}

// The blocking methods: from a plain thread (in the connector's runtime), from a
// multi-thread runtime's worker (block_in_place), refused on a current-thread runtime and
// without any runtime.
#[test]
fn blocking_calls_run_where_they_cannot_deadlock() {
    let Some(url) = url("blocking_calls_run_where_they_cannot_deadlock") else { return };
    let app = tag("blocking");
    let pool = QueuePool::builder(connector(&url, &app)).pre_ping(true).build().unwrap();
    {
        let conn = pool.get().unwrap();
        rt().block_on(conn.batch_execute("BEGIN; SELECT 1")).unwrap();
    }
    let mut conn = pool.get().unwrap(); // pinged: pre_ping
    assert_eq!(conn.transaction_status(), TransactionStatus::Idle, "rolled back on return");
    select_one(&mut conn).unwrap();
    drop(conn);

    // A worker of a multi-thread runtime may use the blocking checkout.
    let pool = rt().block_on(async move {
        tokio::spawn(async move {
            let conn = pool.get().unwrap();
            conn.batch_execute("BEGIN").await.unwrap();
            drop(conn);
            pool
        })
        .await
        .unwrap()
    });
    assert_eq!(pool.status().idle, 1);

    // On a current-thread runtime's thread the blocking calls refuse at once.
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = current.block_on(async { pool.connector().connect() }).unwrap_err();
    assert!(err.is_runtime() && !pool.connector().is_disconnect(&err), "{err:?}");
    assert!(err.to_string().contains("would deadlock"), "{err}");
    assert!(std::error::Error::source(&err).is_none());
    // There the async checkout works.
    current.block_on(async {
        let conn = pool.get_async().await.unwrap();
        conn.batch_execute("SELECT 1").await.unwrap();
    });

    // With no runtime at all, a connect says what is missing.
    let bare = AsyncPostgresConnector::new(&url).unwrap();
    let err = bare.connect().unwrap_err();
    assert!(err.is_runtime(), "{err:?}");
    assert!(err.to_string().contains("needs a tokio runtime"), "{err}");
}

// Issue 6, proof 1, pre-ping on, through the async checkout: every checkout after the
// kill succeeds on a new session; the first dead connection found invalidates the pool
// generation, so the others are replaced without a ping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backends_are_replaced_with_pre_ping_async() {
    let Some(url) = url("killed_backends_are_replaced_with_pre_ping_async") else { return };
    let app = tag("pre-ping-async");
    let watcher = watcher(&url).await;
    let connector = AsyncPostgresConnector::new(&url).unwrap().with_application_name(&app);
    let pool = QueuePool::builder(connector)
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true)
        .build()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.get_async().await.unwrap());
    }
    let mut old = Vec::new();
    for conn in &held {
        old.push(backend_pid(conn).await);
    }
    drop(held);
    returned(&pool).await;
    assert_eq!(kill_all(&watcher, &app).await, 4);

    let generation = pool.generation();
    let mut held = Vec::new();
    for _ in 0..4 {
        let conn = pool.get_async().await.expect("pre-ping reconnects");
        let new = backend_pid(&conn).await;
        assert!(!old.contains(&new), "a killed backend was handed out: {new}");
        held.push(conn);
    }
    assert_eq!(pool.generation(), generation + 1, "one disconnect, one invalidation");
}

/// Records each pre-ping error it hears as the driver's, and keeps the rest of the pool.
#[derive(Debug, Default, Clone)]
struct OnlyThisOne(std::sync::Arc<std::sync::Mutex<Vec<(bool, bool)>>>);

impl pool_core::PoolListener<AsyncPostgresConnector> for OnlyThisOne {
    fn handle_error(&self, ctx: &mut pool_core::ErrorContext<'_>) {
        let drivers = ctx.error().downcast_ref::<pool_postgres::Error>().is_some();
        self.0.lock().unwrap().push((drivers, ctx.is_disconnect()));
        ctx.set_invalidate_pool_on_disconnect(false);
    }
}

// Issue 16 against the server: a killed session's pre-ping error reaches a `handle_error`
// listener as the driver's own error, already judged a disconnect by the connector; the
// listener keeps the rest of the pool, so each dead idle connection is found by its own
// ping (two verdicts), and the generation stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_error_hears_a_killed_session_at_pre_ping() {
    let Some(url) = url("handle_error_hears_a_killed_session_at_pre_ping") else { return };
    let app = tag("handle-error");
    let watcher = watcher(&url).await;
    let heard = OnlyThisOne::default();
    let connector = AsyncPostgresConnector::new(&url).unwrap().with_application_name(&app);
    let pool = QueuePool::builder(connector)
        .strategy(QueueConfig::default().pool_size(2).max_overflow(0))
        .pre_ping(true)
        .listener(heard.clone())
        .build()
        .unwrap();
    let held = [pool.get_async().await.unwrap(), pool.get_async().await.unwrap()];
    drop(held);
    returned(&pool).await;
    assert_eq!(kill_all(&watcher, &app).await, 2);

    let generation = pool.generation();
    let mut held = Vec::new();
    for _ in 0..2 {
        let conn = pool.get_async().await.expect("pre-ping reconnects");
        conn.batch_execute("SELECT 1").await.expect("a live session");
        held.push(conn);
    }
    assert_eq!(*heard.0.lock().unwrap(), [(true, true), (true, true)], "one verdict per dead ping");
    assert_eq!(pool.generation(), generation, "the listener kept the rest of the pool");
}

// Issue 6, proof 1, with the blocking checkout: pre-ping on, then off with handle_error.
#[test]
fn killed_backends_are_replaced_with_pre_ping() {
    let Some(url) = url("killed_backends_are_replaced_with_pre_ping") else { return };
    let app = tag("pre-ping");
    let sessions = PostgresSessions::new(&url, &app);
    faults::killed_replaced_with_pre_ping(
        QueuePool::builder(connector(&url, &app)),
        pid,
        select_one,
        || sessions.kill(),
        || sessions.count(),
    );
}

#[test]
fn killed_backend_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_backend_without_pre_ping_through_handle_error") else { return };
    let app = tag("no-pre-ping");
    let sessions = PostgresSessions::new(&url, &app);
    faults::killed_without_pre_ping_through_handle_error(
        QueuePool::builder(connector(&url, &app)),
        pid,
        select_one,
        |conn| Ok(rt().block_on(conn.batch_execute("SELEC 1"))?),
        || sessions.kill(),
        || sessions.count(),
    );
}

// A killed session: the next use fails with a disconnect and the client is then broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_is_a_disconnect_and_broken() {
    let Some(url) = url("a_killed_session_is_a_disconnect_and_broken") else { return };
    let app = tag("killed");
    let connector = AsyncPostgresConnector::new(&url).unwrap().with_application_name(&app);
    let mut conn = connector.connect_async().await.unwrap();
    assert_eq!(kill_all(&watcher(&url).await, &app).await, 1);
    let first = pool_postgres::Error::from(conn.batch_execute("SELECT 1").await.unwrap_err());
    assert!(connector.is_disconnect(&first), "{first:?}");
    assert!(connector.is_broken(&mut conn), "the client knows it is closed");
    let second = connector.ping_async(&mut conn).await.unwrap().unwrap_err();
    assert!(second.as_postgres().is_some_and(|e| e.is_closed()), "{second:?}");
    assert!(connector.is_disconnect(&second));
}

// Issue 6, proof 4 (timeouts): a black-holed connect fails after the connect timeout,
// through the blocking checkout (the shared scenario) and the async one.
#[test]
fn connect_timeout_fires_as_configured() {
    let Some(_url) = url("connect_timeout_fires_as_configured") else { return };
    let limit = Duration::from_secs(1);
    let to_hole = |hole: std::net::SocketAddr| {
        let mut config = Config::new();
        config.host("127.0.0.1").port(hole.port()).user("postgres");
        AsyncPostgresConnector::from_config(config)
            .with_connect_timeout(limit)
            .with_runtime(rt().handle().clone())
    };
    let took = faults::connect_timeout_fires(limit, to_hole);
    println!("blocking: connect timeout {limit:?} fired after {took:?}");

    let hole = faults::BlackHole::new().unwrap();
    let pool = QueuePool::builder(to_hole(hole.addr()))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    let took = rt().block_on(async {
        let asked = Instant::now();
        match pool.get_async().await {
            Err(CheckoutError::Connect(e)) => assert!(pool.connector().is_disconnect(&e), "{e}"),
            Err(e) => panic!("failed otherwise: {e}"),
            Ok(_) => panic!("connected to a black hole"),
        }
        asked.elapsed()
    });
    assert!(took >= limit.mul_f64(0.9) && took < limit * 3, "{took:?}");
    assert_eq!(pool.status().checked_out, 0);
    println!("async: connect timeout {limit:?} fired after {took:?}");
}

// Issue 6, proof 3: a transaction left open is rolled back on return (committed in
// commit mode), through the async checkout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_on_return_for_real() {
    let Some(url) = url("reset_on_return_for_real") else { return };
    let watcher = watcher(&url).await;
    let table = "pool_postgres_async_reset";
    watcher
        .batch_execute(&format!("DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (x int)"))
        .await
        .unwrap();
    for (mode, kept) in [(ResetOnReturn::Rollback, 0_i64), (ResetOnReturn::Commit, 1)] {
        watcher.batch_execute(&format!("TRUNCATE {table}")).await.unwrap();
        let pool = QueuePool::builder(AsyncPostgresConnector::new(&url).unwrap())
            .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
            .reset_on_return(mode)
            .build()
            .unwrap();
        let conn = pool.get_async().await.unwrap();
        let pid = backend_pid(&conn).await;
        conn.batch_execute(&format!("BEGIN; INSERT INTO {table} VALUES (1)")).await.unwrap();
        drop(conn);
        let next = pool.get_async().await.unwrap();
        assert_eq!(backend_pid(&next).await, pid, "the same connection");
        let rows: i64 =
            watcher.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0);
        assert_eq!(rows, kept, "{mode}");
        assert!(!in_transaction(&next).await);
    }
    watcher.batch_execute(&format!("DROP TABLE {table}")).await.unwrap();
}

// Issue 10: the async returns send nothing when no transaction is open and `ROLLBACK`
// when one is, so the server's log gets no "there is no transaction in progress"
// warning, whatever the holder did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_sends_nothing_when_idle() {
    let Some(url) = url("reset_sends_nothing_when_idle") else { return };
    let Some(log) = faults::postgres_log("reset_sends_nothing_when_idle") else { return };
    let connector = AsyncPostgresConnector::new(&url).unwrap().with_application_name(&tag("quiet"));
    let pool = QueuePool::builder(connector)
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    let conn = pool.get_async().await.unwrap();
    let pid = backend_pid(&conn).await;
    conn.batch_execute("SET log_statement = 'all'").await.unwrap();
    drop(conn);
    returned(&pool).await;
    let start = std::fs::metadata(&log).unwrap().len();

    let rounds = 200;
    let mut left_open = 0;
    for i in 0..rounds {
        let mut conn = pool.get_async().await.unwrap();
        assert_eq!(conn.transaction_status(), TransactionStatus::Idle, "round {i}");
        let _: i32 = conn.query_one("SELECT 1", &[]).await.unwrap().get(0);
        match i % 5 {
            0 => {
                conn.execute("SELECT $1::int", &[&i]).await.unwrap();
            }
            1 => {
                conn.batch_execute("SELEC 1").await.unwrap_err();
            }
            2 => {
                let tx = conn.transaction().await.unwrap();
                tx.batch_execute("SELECT 1").await.unwrap();
                tx.commit().await.unwrap();
            }
            _ => {
                conn.batch_execute("BEGIN; SELECT 1").await.unwrap();
                assert_eq!(conn.transaction_status(), TransactionStatus::InTransaction);
                if i % 10 == 3 {
                    conn.batch_execute("SELECT 1/0").await.unwrap_err();
                }
                left_open += 1;
            }
        }
        drop(conn);
    }
    let conn = pool.get_async().await.unwrap();
    assert!(!in_transaction(&conn).await, "the last return ended the open transaction");
    drop(conn);
    returned(&pool).await;
    drop(pool);

    // The server writes its log asynchronously; give it a moment.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = faults::logged_by_backend(&log, start, pid);
    let warnings: Vec<_> =
        lines.iter().filter(|l| l.contains("there is no transaction in progress")).collect();
    assert!(warnings.is_empty(), "{} warnings, first: {:?}", warnings.len(), warnings.first());
    let rollbacks = lines.iter().filter(|l| l.ends_with("statement: ROLLBACK")).count();
    println!(
        "{rounds} async returns: {rollbacks} ROLLBACK statements sent, {left_open} transactions \
         left open, {} log lines, 0 warnings",
        lines.len()
    );
    assert_eq!(rollbacks, left_open, "a ROLLBACK only where a transaction was open");
}

// TLS (the `tls` feature): the connection is encrypted, its socket is not watched, and
// its reset asks first, so a return still leaves nothing open and no warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_reset_by_asking_first() {
    use pool_postgres::native_tls::TlsConnector;
    use pool_postgres::postgres_native_tls::MakeTlsConnector;

    let Some(url) = url("tls_connections_reset_by_asking_first") else { return };
    let watcher = watcher(&url).await;
    let ssl: bool = watcher.query_one("SHOW ssl", &[]).await.unwrap().get::<_, String>(0) == "on";
    if !ssl {
        println!("skipped tls_connections_reset_by_asking_first: the server has ssl = off");
        return;
    }
    // The test server's certificate is self-signed.
    let tls = TlsConnector::builder().danger_accept_invalid_certs(true).build().unwrap();
    let connector = AsyncPostgresConnector::new(&url).unwrap().with_tls(MakeTlsConnector::new(tls));
    let pool = QueuePool::builder(connector).pre_ping(true).build().unwrap();
    let conn = pool.get_async().await.unwrap();
    let encrypted: bool = conn
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "the session is encrypted");
    assert_eq!(conn.transaction_status(), TransactionStatus::Unknown, "not watched");
    conn.batch_execute("BEGIN; SELECT 1").await.unwrap();
    drop(conn);
    let conn = pool.get_async().await.unwrap();
    assert!(!in_transaction(&conn).await, "rolled back after asking");
}
