//! `AsyncMySqlConnector` (mysql_async) in a QueuePool, through its async checkout
//! (`get_async`) and its blocking one, against the MySQL or MariaDB server named by
//! `POOL_TEST_MYSQL_URL` (for example `mysql://root@127.0.0.1:3306/test`): the round trip,
//! reset on return, killed sessions with and without pre-ping, cut connections, connect
//! errors that carry the server's message, a connect cancelled half way, the pool's
//! timeouts over a driver that has none, and where the blocking methods can run. Without
//! the variable each test prints "skipped <name>: POOL_TEST_MYSQL_URL is not set" and
//! passes.
//!
//! As in `mariadb.rs`, each pool records the id of every connection it opens and kills
//! and counts only those.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pool_conformance::faults::{self, FaultProxy, ProxyMode};
use pool_conformance::MYSQL_URL;
use pool_core::{
    CheckoutError, ConnectionRecord, Connector, ListenerError, Operation, PoolListener,
    PooledConnection, ResetOnReturn,
};
use pool_mysql::mysql::prelude::Queryable as _;
use pool_mysql::mysql_async::prelude::Queryable;
use pool_mysql::mysql_async::{Conn, Error, Opts, OptsBuilder};
use pool_mysql::{is_runtime_error, AsyncMySqlConnector};
use pool_queue::{QueueConfig, QueuePool};
use tokio::runtime::Runtime;

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(MYSQL_URL, test)
}

/// The runtime that drives the connections of the blocking tests.
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    })
}

/// A blocking connection beside the pool (the sync driver), to watch and kill sessions.
fn watcher(url: &str) -> pool_mysql::mysql::Conn {
    let opts = pool_mysql::mysql::Opts::from_url(url).unwrap();
    pool_mysql::mysql::Conn::new(opts).expect("the test server accepts connections")
}

/// The ids of every connection a pool opened: its sessions on the server.
#[derive(Debug, Clone, Default)]
struct Sessions(Arc<Mutex<HashSet<u32>>>);

impl PoolListener<AsyncMySqlConnector> for Sessions {
    fn connect(
        &self,
        conn: &mut Conn,
        _record: &mut ConnectionRecord<AsyncMySqlConnector>,
    ) -> Result<(), ListenerError> {
        self.0.lock().unwrap().insert(conn.id());
        Ok(())
    }
}

impl Sessions {
    /// The pool's sessions the server still has.
    fn alive(&self, url: &str) -> Vec<u32> {
        let ids: Vec<u64> =
            watcher(url).query("SELECT ID FROM information_schema.PROCESSLIST").unwrap();
        let mine = self.0.lock().unwrap();
        ids.into_iter()
            .filter_map(|id| u32::try_from(id).ok())
            .filter(|id| mine.contains(id))
            .collect()
    }

    /// Kills every session of the pool and waits until the server has let them go;
    /// returns how many.
    fn kill(&self, url: &str) -> usize {
        let alive = self.alive(url);
        let mut watcher = watcher(url);
        for id in &alive {
            // It may have ended since: "Unknown thread id" is fine.
            let _ = watcher.query_drop(format!("KILL {id}"));
        }
        assert!(faults::wait_until(Duration::from_secs(5), || self.alive(url).is_empty()));
        alive.len()
    }
}

/// A connector for `url`, whose blocking calls from plain threads run in [`rt`].
fn connector(url: &str) -> AsyncMySqlConnector {
    AsyncMySqlConnector::new(url).unwrap().with_runtime(rt().handle().clone())
}

/// `SELECT 1`, waited for on a plain thread.
fn select_one(conn: &mut Conn) -> Result<(), Error> {
    rt().block_on(conn.query_drop("SELECT 1"))
}

/// The URL's options pointed at `addr`, over TCP only.
fn at(url: &str, addr: SocketAddr) -> OptsBuilder {
    OptsBuilder::from_opts(Opts::from_url(url).unwrap())
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .prefer_socket(false)
}

/// The server's address, from the URL.
fn server_addr(url: &str) -> (String, u16) {
    let opts = Opts::from_url(url).unwrap();
    (opts.ip_or_hostname().to_string(), opts.tcp_port())
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
    let connector = AsyncMySqlConnector::new(&url).unwrap();
    let mut conn = connector.connect_async().await.unwrap();
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    connector.ping_async(&mut conn).await.expect("MySQL can ping").unwrap();
    connector.rollback_async(&mut conn).await.unwrap();
    connector.commit_async(&mut conn).await.unwrap();
    assert!(!connector.is_broken(&mut conn));
    connector.close(conn).unwrap();
    let shown = format!("{connector:?}");
    assert!(shown.starts_with("AsyncMySqlConnector") && shown.contains("runtime: true"), "{shown}");
}

// Reset on return through the async checkout: a row inserted in a transaction left open
// is rolled back; in commit mode it is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_on_return_for_real() {
    let Some(url) = url("reset_on_return_for_real") else { return };
    let table = "pool_mysql_async_reset";
    let mut watcher = watcher(&url);
    watcher.query_drop(format!("DROP TABLE IF EXISTS {table}")).unwrap();
    watcher.query_drop(format!("CREATE TABLE {table} (x INT) ENGINE=InnoDB")).unwrap();
    for (mode, kept) in [(ResetOnReturn::Rollback, 0_i64), (ResetOnReturn::Commit, 1)] {
        watcher.query_drop(format!("TRUNCATE {table}")).unwrap();
        let pool = QueuePool::builder(AsyncMySqlConnector::new(&url).unwrap())
            .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
            .reset_on_return(mode)
            .build()
            .unwrap();
        let mut conn = pool.get_async().await.unwrap();
        let id = conn.id();
        conn.query_drop("START TRANSACTION").await.unwrap();
        conn.query_drop(format!("INSERT INTO {table} VALUES (1)")).await.unwrap();
        drop(conn);
        let mut next = pool.get_async().await.unwrap();
        assert_eq!(next.id(), id, "the same connection");
        let rows: Option<i64> =
            next.query_first(format!("SELECT COUNT(*) FROM {table}")).await.unwrap();
        assert_eq!(rows, Some(kept), "{mode}");
        let seen: Option<i64> =
            watcher.query_first(format!("SELECT COUNT(*) FROM {table}")).unwrap();
        assert_eq!(seen, Some(kept), "{mode}");
    }
    watcher.query_drop(format!("DROP TABLE {table}")).unwrap();
}

// Killed sessions, pre-ping on, through the async checkout: every checkout after the kill
// succeeds on a new session; the first dead connection found invalidates the pool
// generation, so the others are replaced without a ping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sessions_are_replaced_with_pre_ping_async() {
    let Some(url) = url("killed_sessions_are_replaced_with_pre_ping_async") else { return };
    let sessions = Sessions::default();
    let pool = QueuePool::builder(AsyncMySqlConnector::new(&url).unwrap())
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true)
        .listener(sessions.clone())
        .build()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.get_async().await.unwrap());
    }
    let old: Vec<u32> = held.iter().map(|c| c.id()).collect();
    drop(held);
    returned(&pool).await;
    let killer = sessions.clone();
    let url2 = url.clone();
    let killed = tokio::task::spawn_blocking(move || killer.kill(&url2)).await.unwrap();
    assert_eq!(killed, 4);

    let generation = pool.generation();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut conn = pool.get_async().await.expect("pre-ping reconnects");
        assert!(!old.contains(&conn.id()), "a killed session was handed out: {}", conn.id());
        conn.query_drop("SELECT 1").await.expect("a new session works");
        held.push(conn);
    }
    assert_eq!(pool.generation(), generation + 1, "one disconnect, one invalidation");
}

// Without pre-ping, a killed session fails its first use with a disconnect; the driver
// then counts it broken, and handle_error (or the return) replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_session_is_a_disconnect_and_broken() {
    let Some(url) = url("a_killed_session_is_a_disconnect_and_broken") else { return };
    let sessions = Sessions::default();
    let pool = QueuePool::builder(AsyncMySqlConnector::new(&url).unwrap())
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .listener(sessions.clone())
        .build()
        .unwrap();
    let mut conn = pool.get_async().await.unwrap();
    let old = conn.id();
    let killer = sessions.clone();
    let url2 = url.clone();
    assert_eq!(tokio::task::spawn_blocking(move || killer.kill(&url2)).await.unwrap(), 1);
    let err = conn.query_drop("SELECT 1").await.unwrap_err();
    assert!(pool.connector().is_disconnect(&err), "{err:?}");
    assert!(pool.connector().is_broken(&mut conn), "the driver knows it is disconnected");
    assert!(PooledConnection::handle_error(conn, &err).is_none(), "a disconnect consumes it");
    let mut next = pool.get_async().await.unwrap();
    assert_ne!(next.id(), old);
    next.query_drop("SELECT 1").await.unwrap();

    // A statement the server refuses is not a disconnect, and the session stays.
    let err = next.query_drop("SELEC 1").await.unwrap_err();
    assert!(!pool.connector().is_disconnect(&err), "{err:?}");
    assert!(!pool.connector().is_broken(&mut next));
}

// The same two scenarios through the blocking checkout, from plain threads.
#[test]
fn killed_sessions_are_replaced_with_pre_ping_blocking() {
    let Some(url) = url("killed_sessions_are_replaced_with_pre_ping_blocking") else { return };
    let sessions = Sessions::default();
    faults::killed_replaced_with_pre_ping(
        QueuePool::builder(connector(&url)).listener(sessions.clone()),
        |conn: &mut Conn| conn.id(),
        select_one,
        || sessions.kill(&url),
        || sessions.alive(&url).len(),
    );
}

#[test]
fn killed_session_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_session_without_pre_ping_through_handle_error") else { return };
    let sessions = Sessions::default();
    faults::killed_without_pre_ping_through_handle_error(
        QueuePool::builder(connector(&url)).listener(sessions.clone()),
        |conn: &mut Conn| conn.id(),
        select_one,
        |conn| rt().block_on(conn.query_drop("SELEC 1")),
        || sessions.kill(&url),
        || sessions.alive(&url).len(),
    );
}

// A server that drops every connection (the proxy cuts them), through the blocking
// checkout: with pre-ping the next checkouts work; without it the first use fails with a
// disconnect, once.
#[test]
fn cut_connections_are_replaced() {
    let Some(url) = url("cut_connections_are_replaced") else { return };
    faults::cut_connections_are_replaced(
        server_addr(&url),
        |proxy| AsyncMySqlConnector::from_opts(at(&url, proxy)).with_runtime(rt().handle().clone()),
        select_one,
    );
}

// A failed connect carries the server's whole message, through both checkouts.
#[test]
fn connect_errors_carry_the_server_message() {
    let Some(url) = url("connect_errors_carry_the_server_message") else { return };
    let cases = [
        ("pool_mysql_no_such_database", "Unknown database 'pool_mysql_no_such_database'"),
        ("test", "Access denied for user 'pool_mysql_nobody'"),
    ];
    for (db, expected) in cases {
        let mut opts = at(&url, "127.0.0.1:1".parse().unwrap());
        let (host, port) = server_addr(&url);
        opts = opts.ip_or_hostname(host).tcp_port(port).db_name(Some(db));
        if db == "test" {
            opts = opts.user(Some("pool_mysql_nobody")).pass(Some("wrong"));
        }
        let pool = QueuePool::builder(
            AsyncMySqlConnector::from_opts(opts).with_runtime(rt().handle().clone()),
        )
        .build()
        .unwrap();
        let blocking = match pool.get() {
            Err(CheckoutError::Connect(e)) => e.to_string(),
            other => panic!("expected a connect error: {:?}", other.map(|_| ())),
        };
        let in_task = rt().block_on(async {
            match pool.get_async().await {
                Err(CheckoutError::Connect(e)) => e.to_string(),
                other => panic!("expected a connect error: {:?}", other.map(|_| ())),
            }
        });
        for message in [blocking, in_task] {
            assert!(message.contains(expected), "{message}");
        }
        assert_eq!(pool.status().checked_out, 0);
    }

    // Nothing listening: an I/O error naming the address, a disconnect.
    let pool = QueuePool::builder(
        AsyncMySqlConnector::from_opts(at(&url, "127.0.0.1:1".parse().unwrap()))
            .with_runtime(rt().handle().clone()),
    )
    .build()
    .unwrap();
    match pool.get() {
        Err(CheckoutError::Connect(e)) => {
            assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
            assert!(pool.connector().is_disconnect(&e), "{e:?}");
        }
        other => panic!("expected a connect error: {:?}", other.map(|_| ())),
    }
}

// A checkout dropped while its connect waits on a server that says nothing loses no
// slot; once the server answers again the pool connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_cancelled_half_way_loses_no_slot() {
    let Some(url) = url("a_connect_cancelled_half_way_loses_no_slot") else { return };
    let proxy = FaultProxy::start(server_addr(&url)).unwrap();
    proxy.set_mode(ProxyMode::Stall);
    let pool = QueuePool::builder(AsyncMySqlConnector::from_opts(at(&url, proxy.addr())))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .build()
        .unwrap();
    for _ in 0..3 {
        let attempt = tokio::time::timeout(Duration::from_millis(200), pool.get_async()).await;
        assert!(attempt.is_err(), "the stalled connect cannot finish");
        assert_eq!(pool.status().checked_out, 0, "the cancelled checkout gave its slot back");
    }
    proxy.release_stalled();
    proxy.set_mode(ProxyMode::Relay);
    let mut conn = pool.get_async().await.expect("the slot is free and the server answers");
    conn.query_drop("SELECT 1").await.unwrap();
}

// The driver has no connect timeout; the pool's bounds a connect to a server that
// accepts and says nothing, through both checkouts, and frees the slot.
#[test]
fn the_pool_timeouts_bound_a_silent_server() {
    let Some(url) = url("the_pool_timeouts_bound_a_silent_server") else { return };
    let limit = Duration::from_millis(500);
    let proxy = FaultProxy::start(server_addr(&url)).unwrap();
    proxy.set_mode(ProxyMode::Stall);
    let pool = QueuePool::builder(
        AsyncMySqlConnector::from_opts(at(&url, proxy.addr())).with_runtime(rt().handle().clone()),
    )
    .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
    .connect_timeout(limit)
    .build()
    .unwrap();
    let timed_out = |result: Result<_, CheckoutError<Error>>, op: Operation| match result {
        Err(CheckoutError::OperationTimeout(t)) => assert_eq!(t.operation, op, "{t}"),
        Err(e) => panic!("failed otherwise: {e}"),
        Ok(_) => panic!("a silent server answered"),
    };
    timed_out(pool.get().map(drop), Operation::Connect);
    timed_out(rt().block_on(pool.get_async()).map(drop), Operation::Connect);
    assert_eq!(pool.status().checked_out, 0);
}

// The blocking methods: from a plain thread (in the connector's runtime), from a
// multi-thread runtime's worker (block_in_place), refused on a current-thread runtime and
// without any runtime.
#[test]
fn blocking_calls_run_where_they_cannot_deadlock() {
    let Some(url) = url("blocking_calls_run_where_they_cannot_deadlock") else { return };
    let pool = QueuePool::builder(connector(&url)).pre_ping(true).build().unwrap();
    {
        let mut conn = pool.get().unwrap();
        rt().block_on(conn.query_drop("START TRANSACTION")).unwrap();
    }
    let mut conn = pool.get().unwrap(); // pinged: pre_ping
    select_one(&mut conn).unwrap();
    drop(conn);

    let pool = rt().block_on(async move {
        tokio::spawn(async move {
            let mut conn = pool.get().unwrap();
            conn.query_drop("SELECT 1").await.unwrap();
            drop(conn);
            pool
        })
        .await
        .unwrap()
    });
    assert_eq!(pool.status().idle, 1);

    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = current.block_on(async { pool.connector().connect() }).unwrap_err();
    assert!(is_runtime_error(&err) && !pool.connector().is_disconnect(&err), "{err:?}");
    assert!(err.to_string().contains("could deadlock"), "{err}");
    current.block_on(async {
        let mut conn = pool.get_async().await.unwrap();
        conn.query_drop("SELECT 1").await.unwrap();
    });

    let bare = AsyncMySqlConnector::new(&url).unwrap();
    let err = bare.connect().unwrap_err();
    assert!(is_runtime_error(&err), "{err:?}");
    assert!(err.to_string().contains("needs a tokio runtime"), "{err}");
}

// A server that goes silent on established connections, through the blocking checkout:
// the pre-ping and the reset on return give up at ping_timeout and reset_timeout (the
// driver's futures, dropped at the bound).
#[test]
fn silent_server_bounds_blocking_ping_and_reset() {
    let Some(url) = url("silent_server_bounds_blocking_ping_and_reset") else { return };
    let (ping, reset) = faults::silent_server_bounds_blocking_ping_and_reset(
        server_addr(&url),
        |proxy| AsyncMySqlConnector::from_opts(at(&url, proxy)).with_runtime(rt().handle().clone()),
        |conn: &mut Conn| conn.id(),
        |conn| rt().block_on(conn.query_drop("START TRANSACTION")),
    );
    println!(
        "mysql_async: a silent pre-ping gave up after {ping:?}, a silent reset after {reset:?}"
    );
}
