//! `AsyncRedisConnector` (the redis crate's `MultiplexedConnection` on tokio) in a
//! QueuePool, through its async checkout (`get_async`) and its blocking one, against the
//! Redis server named by `POOL_TEST_REDIS_URL` (for example `redis://127.0.0.1:6379/`):
//! the round trip, reset on return (`MULTI`, `WATCH`), killed connections with and without
//! pre-ping, cut connections, connect errors that carry the server's answer, a connect
//! cancelled half way, the pool's timeouts over a driver whose own are off, and where the
//! blocking methods can run. Without the variable each test prints "skipped <name>:
//! POOL_TEST_REDIS_URL is not set" and passes.
//!
//! Each test names its connections (`CLIENT SETNAME`) after itself, and kills and counts
//! only those. Keys start with `pool-redis-async:` and are deleted by the test that made
//! them.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pool_conformance::faults::{self, FaultProxy, ProxyMode};
use pool_conformance::REDIS_URL;
use pool_core::{CheckoutError, Connector, Operation, PooledConnection, ResetOnReturn};
use pool_queue::{QueueConfig, QueuePool};
use pool_redis::redis::aio::MultiplexedConnection;
use pool_redis::redis::{self, AsyncCommands, Client, Connection, RedisError, Value};
use pool_redis::{is_runtime_error, AsyncRedisConnector};
use tokio::runtime::Runtime;

/// The server's URL, or `None` after saying the test is skipped.
fn url(test: &str) -> Option<String> {
    faults::server_url_or_skip(REDIS_URL, test)
}

/// The client name of one test's connections.
fn tag(test: &str) -> String {
    format!("pool-redis-async-{test}")
}

/// The runtime that drives the connections of the blocking tests.
fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
    })
}

/// A plain sync connection beside the pool, to watch and to kill the pool's connections.
fn watcher(url: &str) -> Connection {
    Client::open(url).unwrap().get_connection().expect("the test server accepts connections")
}

/// The ids of the connections named `name`.
fn named(url: &str, name: &str) -> Vec<i64> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut watcher(url)).unwrap();
    let wanted = format!("name={name}");
    list.lines()
        .filter(|line| line.split(' ').any(|field| field == wanted))
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(|id| id.parse().unwrap())
        .collect()
}

/// Kills every connection named `name` and waits until they are gone; returns how many.
fn kill(url: &str, name: &str) -> usize {
    let ids = named(url, name);
    let mut watcher = watcher(url);
    for id in &ids {
        let _: i64 =
            redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut watcher).unwrap();
    }
    assert!(faults::wait_until(Duration::from_secs(5), || named(url, name).is_empty()));
    ids.len()
}

/// [`kill`] from async code.
async fn kill_async(url: &str, name: &str) -> usize {
    let (url, name) = (url.to_owned(), name.to_owned());
    tokio::task::spawn_blocking(move || kill(&url, &name)).await.unwrap()
}

/// A connector named `name`, whose blocking calls from plain threads run in [`rt`].
fn connector(url: &str, name: &str) -> AsyncRedisConnector {
    AsyncRedisConnector::new(url)
        .unwrap()
        .with_client_name(name)
        .with_runtime(rt().handle().clone())
}

async fn client_id(conn: &mut MultiplexedConnection) -> i64 {
    redis::cmd("CLIENT").arg("ID").query_async(conn).await.unwrap()
}

/// `PING`, waited for on a plain thread.
fn ping(conn: &mut MultiplexedConnection) -> Result<(), RedisError> {
    rt().block_on(redis::cmd("PING").exec_async(conn))
}

/// The server's address, from the URL.
fn server_addr(url: &str) -> (String, u16) {
    match Client::open(url).unwrap().get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        other => panic!("the fault proxy needs a TCP server, not {other:?}"),
    }
}

fn through(addr: SocketAddr) -> String {
    format!("redis://{addr}/")
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

/// A pool of one connection, so that the next holder gets the same connection.
fn single(url: &str, name: &str, mode: ResetOnReturn) -> QueuePool<AsyncRedisConnector> {
    QueuePool::builder(AsyncRedisConnector::new(url).unwrap().with_client_name(name))
        .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
        .reset_on_return(mode)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connects_named_pings_and_resets_without_blocking() {
    let Some(url) = url("connects_named_pings_and_resets_without_blocking") else { return };
    let name = tag("named");
    let connector = AsyncRedisConnector::new(&url).unwrap().with_client_name(&name);
    let mut conn = connector.connect_async().await.unwrap();
    let got: String = redis::cmd("CLIENT").arg("GETNAME").query_async(&mut conn).await.unwrap();
    assert_eq!(got, name);
    connector.ping_async(&mut conn).await.expect("Redis can ping").unwrap();
    connector.rollback_async(&mut conn).await.unwrap();
    connector.commit_async(&mut conn).await.unwrap();
    assert!(!connector.is_broken(&mut conn));
    connector.close(conn).unwrap();
    let shown = format!("{connector:?}");
    assert!(shown.contains(&name) && shown.contains("runtime: true"), "{shown}");

    // The driver's 500 ms response timeout is off: a command that blocks for a second
    // returns its answer.
    let mut conn = connector.connect_async().await.unwrap();
    let popped: Option<(String, String)> =
        conn.blpop("pool-redis-async:never-pushed", 1.0).await.unwrap();
    assert_eq!(popped, None);

    // A name Redis refuses fails the connect.
    let refused = AsyncRedisConnector::new(&url).unwrap().with_client_name("a b");
    assert!(refused.connect_async().await.is_err());
}

// Reset on return through the async checkout: a MULTI left open is discarded (its queued
// SET never runs, and the next holder's commands run at once); in commit mode it is
// executed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_on_return_ends_an_open_multi() {
    let Some(url) = url("reset_on_return_ends_an_open_multi") else { return };
    let mut watcher = watcher(&url);
    let key = "pool-redis-async:multi";
    for (mode, kept) in [(ResetOnReturn::Rollback, None), (ResetOnReturn::Commit, Some(1))] {
        redis::cmd("DEL").arg(key).exec(&mut watcher).unwrap();
        let pool = single(&url, &tag("multi"), mode);
        let mut conn = pool.get_async().await.unwrap();
        let id = client_id(&mut conn).await;
        redis::cmd("MULTI").exec_async(&mut *conn).await.unwrap();
        let queued: String =
            redis::cmd("SET").arg(key).arg(1).query_async(&mut *conn).await.unwrap();
        assert_eq!(queued, "QUEUED");
        drop(conn);

        let mut next = pool.get_async().await.unwrap();
        assert_eq!(client_id(&mut next).await, id, "the same connection");
        let value: Option<i64> = next.get(key).await.unwrap();
        assert_eq!(value, kept, "{mode}: and GET ran at once, not queued");
        let seen: Option<i64> = redis::cmd("GET").arg(key).query(&mut watcher).unwrap();
        assert_eq!(seen, kept, "{mode}");
    }
    redis::cmd("DEL").arg(key).exec(&mut watcher).unwrap();
}

// Reset on return forgets WATCHed keys, through the async checkout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_on_return_forgets_watched_keys() {
    let Some(url) = url("reset_on_return_forgets_watched_keys") else { return };
    let mut watcher = watcher(&url);
    let (watched, other) = ("pool-redis-async:watched", "pool-redis-async:other");
    for mode in [ResetOnReturn::Rollback, ResetOnReturn::Commit, ResetOnReturn::Nothing] {
        let pool = single(&url, &tag("watch"), mode);
        let mut conn = pool.get_async().await.unwrap();
        redis::cmd("WATCH").arg(watched).exec_async(&mut *conn).await.unwrap();
        drop(conn);
        returned(&pool).await;
        redis::cmd("SET").arg(watched).arg(1).exec(&mut watcher).unwrap();

        let mut next = pool.get_async().await.unwrap();
        redis::cmd("MULTI").exec_async(&mut *next).await.unwrap();
        redis::cmd("SET").arg(other).arg(2).exec_async(&mut *next).await.unwrap();
        let result: Value = redis::cmd("EXEC").query_async(&mut *next).await.unwrap();
        let aborted = result == Value::Nil;
        assert_eq!(aborted, mode == ResetOnReturn::Nothing, "{mode}: {result:?}");
        redis::cmd("DEL").arg(watched).arg(other).exec(&mut watcher).unwrap();
    }
}

// Killed connections, pre-ping on, through the async checkout: every checkout after the
// kill succeeds on a new connection; the first failed PING invalidates the generation, so
// the others are replaced without a ping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_are_replaced_with_pre_ping_async() {
    let Some(url) = url("killed_connections_are_replaced_with_pre_ping_async") else { return };
    let name = tag("pre-ping-async");
    let pool = QueuePool::builder(AsyncRedisConnector::new(&url).unwrap().with_client_name(&name))
        .strategy(QueueConfig::default().pool_size(4).max_overflow(0))
        .pre_ping(true)
        .build()
        .unwrap();
    let mut held = Vec::new();
    let mut old = Vec::new();
    for _ in 0..4 {
        let mut conn = pool.get_async().await.unwrap();
        old.push(client_id(&mut conn).await);
        held.push(conn);
    }
    drop(held);
    returned(&pool).await;
    assert_eq!(kill_async(&url, &name).await, 4);

    let generation = pool.generation();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut conn = pool.get_async().await.expect("pre-ping reconnects");
        let new = client_id(&mut conn).await;
        assert!(!old.contains(&new), "a killed connection was handed out: {new}");
        held.push(conn);
    }
    assert_eq!(pool.generation(), generation + 1, "one disconnect, one invalidation");
}

// Without pre-ping, a killed connection fails its first use with a disconnect, and
// handle_error replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_connection_is_a_disconnect() {
    let Some(url) = url("a_killed_connection_is_a_disconnect") else { return };
    let name = tag("killed");
    let pool = single(&url, &name, ResetOnReturn::Rollback);
    let mut conn = pool.get_async().await.unwrap();
    let old = client_id(&mut conn).await;
    assert_eq!(kill_async(&url, &name).await, 1);
    let err = redis::cmd("PING").exec_async(&mut *conn).await.unwrap_err();
    assert!(pool.connector().is_disconnect(&err), "{err:?}");
    assert!(PooledConnection::handle_error(conn, &err).is_none(), "a disconnect consumes it");
    let mut next = pool.get_async().await.unwrap();
    assert_ne!(client_id(&mut next).await, old);

    // A command the server refuses is not a disconnect, and the connection stays.
    let err = redis::cmd("NOSUCHCOMMAND").exec_async(&mut *next).await.unwrap_err();
    assert!(!pool.connector().is_disconnect(&err), "{err:?}");
    redis::cmd("PING").exec_async(&mut *next).await.unwrap();
}

// The same two scenarios through the blocking checkout, from plain threads.
#[test]
fn killed_connections_are_replaced_with_pre_ping_blocking() {
    let Some(url) = url("killed_connections_are_replaced_with_pre_ping_blocking") else { return };
    let name = tag("pre-ping");
    faults::killed_replaced_with_pre_ping(
        QueuePool::builder(connector(&url, &name)),
        |conn| rt().block_on(client_id(conn)),
        ping,
        || kill(&url, &name),
        || named(&url, &name).len(),
    );
}

#[test]
fn killed_connection_without_pre_ping_through_handle_error() {
    let Some(url) = url("killed_connection_without_pre_ping_through_handle_error") else { return };
    let name = tag("no-pre-ping");
    faults::killed_without_pre_ping_through_handle_error(
        QueuePool::builder(connector(&url, &name)),
        |conn| rt().block_on(client_id(conn)),
        ping,
        |conn| rt().block_on(redis::cmd("NOSUCHCOMMAND").exec_async(conn)),
        || kill(&url, &name),
        || named(&url, &name).len(),
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
        |proxy| {
            AsyncRedisConnector::new(&through(proxy)).unwrap().with_runtime(rt().handle().clone())
        },
        ping,
    );
}

// A failed connect carries the server's answer (a refused password) or the address
// (nothing listening), through both checkouts.
#[test]
fn connect_errors_say_what_went_wrong() {
    let Some(url) = url("connect_errors_say_what_went_wrong") else { return };
    let (host, port) = server_addr(&url);
    let cases = [
        (
            format!("redis://nosuchuser:secret@{host}:{port}/"),
            "the server answered AUTH as `nosuchuser`: WRONGPASS",
        ),
        ("redis://127.0.0.1:1/".to_owned(), "127.0.0.1:1"),
    ];
    for (url, expected) in cases {
        let pool = QueuePool::builder(
            AsyncRedisConnector::new(&url).unwrap().with_runtime(rt().handle().clone()),
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
}

// A checkout dropped while its connect waits on a server that says nothing loses no
// slot; once the server answers again the pool connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_cancelled_half_way_loses_no_slot() {
    let Some(url) = url("a_connect_cancelled_half_way_loses_no_slot") else { return };
    let proxy = FaultProxy::start(server_addr(&url)).unwrap();
    proxy.set_mode(ProxyMode::Stall);
    let pool = QueuePool::builder(AsyncRedisConnector::new(&through(proxy.addr())).unwrap())
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
    redis::cmd("PING").exec_async(&mut *conn).await.unwrap();
}

// The driver's own timeouts are off; the pool's connect_timeout bounds a connect to a
// server that accepts and says nothing, through both checkouts, and frees the slot.
#[test]
fn the_pool_connect_timeout_bounds_a_silent_server() {
    let Some(url) = url("the_pool_connect_timeout_bounds_a_silent_server") else { return };
    let limit = Duration::from_millis(1500);
    let proxy = FaultProxy::start(server_addr(&url)).unwrap();
    proxy.set_mode(ProxyMode::Stall);
    let pool = QueuePool::builder(
        AsyncRedisConnector::new(&through(proxy.addr()))
            .unwrap()
            .with_runtime(rt().handle().clone()),
    )
    .strategy(QueueConfig::default().pool_size(1).max_overflow(0))
    .connect_timeout(limit)
    .build()
    .unwrap();
    let timed_out = |result: Result<(), CheckoutError<RedisError>>, took: Duration| {
        match result {
            Err(CheckoutError::OperationTimeout(t)) => assert_eq!(t.operation, Operation::Connect),
            Err(e) => panic!("failed otherwise: {e}"),
            Ok(()) => panic!("a silent server answered"),
        }
        // Not the driver's 1 s default: the pool's bound.
        assert!(took >= limit.mul_f64(0.9) && took < limit * 3, "{took:?}");
    };
    let asked = Instant::now();
    timed_out(pool.get().map(drop), asked.elapsed());
    let asked = Instant::now();
    timed_out(rt().block_on(pool.get_async()).map(drop), asked.elapsed());
    assert_eq!(pool.status().checked_out, 0);
}

// The blocking methods: from a plain thread (in the connector's runtime), from a
// multi-thread runtime's worker (block_in_place), refused on a current-thread runtime and
// without any runtime.
#[test]
fn blocking_calls_run_where_they_cannot_deadlock() {
    let Some(url) = url("blocking_calls_run_where_they_cannot_deadlock") else { return };
    let pool =
        QueuePool::builder(connector(&url, &tag("blocking"))).pre_ping(true).build().unwrap();
    {
        let mut conn = pool.get().unwrap();
        rt().block_on(redis::cmd("MULTI").exec_async(&mut *conn)).unwrap();
    }
    let mut conn = pool.get().unwrap(); // pinged: pre_ping, after the MULTI was discarded
    ping(&mut conn).unwrap();
    drop(conn);

    let pool = rt().block_on(async move {
        tokio::spawn(async move {
            let mut conn = pool.get().unwrap();
            redis::cmd("PING").exec_async(&mut *conn).await.unwrap();
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
    assert!(err.to_string().contains("would deadlock"), "{err}");
    current.block_on(async {
        let mut conn = pool.get_async().await.unwrap();
        redis::cmd("PING").exec_async(&mut *conn).await.unwrap();
    });

    let bare = AsyncRedisConnector::new(&url).unwrap();
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
        |proxy| {
            AsyncRedisConnector::new(&through(proxy)).unwrap().with_runtime(rt().handle().clone())
        },
        |conn| rt().block_on(client_id(conn)),
        |conn| rt().block_on(redis::cmd("MULTI").exec_async(conn)),
    );
    println!(
        "redis-async: a silent pre-ping gave up after {ping:?}, a silent reset after {reset:?}"
    );
}
